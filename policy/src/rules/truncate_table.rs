//! `truncate-table`: TRUNCATE deletes every row under an ACCESS EXCLUSIVE lock.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct TruncateTable;

pub static INFO: RuleInfo = RuleInfo {
    id: "truncate-table",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "TRUNCATE deletes every row of the table",
    help: "data changes do not belong in schema migrations; if the data must go, archive it first \
           and delete it in batches from a one-off job",
};

impl Rule for TruncateTable {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            let NodeEnum::TruncateStmt(t) = node else {
                continue;
            };
            let names: Vec<String> = t
                .relations
                .iter()
                .filter_map(|r| match r.node.as_ref() {
                    Some(NodeEnum::RangeVar(rv)) if rev.is_existing(Some(rv), s.index) => {
                        Some(qualified(rv))
                    }
                    _ => None,
                })
                .collect();
            if !names.is_empty() {
                out.push(Hit::new(
                    s.index,
                    format!("TRUNCATE {} deletes every row", names.join(", ")),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_truncate() {
        assert_eq!(hits("TRUNCATE kegs, taps;", "truncate-table").len(), 1);
        assert_eq!(
            hits(
                "TRUNCATE TABLE ONLY kegs RESTART IDENTITY;",
                "truncate-table"
            )
            .len(),
            1
        );
        assert!(hits("CREATE TABLE x (a int); TRUNCATE x;", "truncate-table").is_empty());
    }
}
