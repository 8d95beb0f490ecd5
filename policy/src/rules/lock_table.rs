//! `lock-table`: an explicit LOCK TABLE in a migration queues every other
//! session behind it for the rest of the transaction.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::Revision;
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct LockTable;

pub static INFO: RuleInfo = RuleInfo {
    id: "lock-table",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "LOCK TABLE blocks other sessions until the migration's transaction ends",
    help: "rely on the locks the DDL takes itself and keep the transaction short; if a lock is really \
           needed, take the weakest mode that works, with lock_timeout set",
};

impl Rule for LockTable {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            if matches!(node, NodeEnum::LockStmt(_)) {
                out.push(Hit {
                    statement: s.index,
                    ..Hit::default()
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_lock_table() {
        assert_eq!(
            hits("LOCK TABLE kegs IN ACCESS EXCLUSIVE MODE;", "lock-table").len(),
            1
        );
        assert!(hits("SELECT 1;", "lock-table").is_empty());
    }
}
