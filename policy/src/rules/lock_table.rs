//! `lock-table`: an explicit LOCK TABLE in a migration queues every other
//! session behind it for the rest of the transaction.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::Revision;
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct LockTable;

/// `LOCKMODE` of `IN ACCESS SHARE MODE`, as PostgreSQL numbers lock modes.
const ACCESS_SHARE: i32 = 1;

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
            // ACCESS SHARE (lock mode 1) conflicts only with ACCESS
            // EXCLUSIVE: it blocks no reader or writer.
            if matches!(node, NodeEnum::LockStmt(lock) if lock.mode != ACCESS_SHARE) {
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
        assert!(hits("LOCK TABLE kegs IN ACCESS SHARE MODE;", "lock-table").is_empty());
        assert_eq!(
            hits("LOCK TABLE kegs IN SHARE MODE;", "lock-table").len(),
            1
        );
        assert_eq!(hits("LOCK kegs;", "lock-table").len(), 1);
    }
}
