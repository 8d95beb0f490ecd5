//! `truncate-table`: TRUNCATE deletes every row under an ACCESS EXCLUSIVE
//! lock; with CASCADE it also empties every table with a foreign key to a
//! truncated one, recursively.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{DropBehavior, RangeVar};

pub struct TruncateTable;

pub static INFO: RuleInfo = RuleInfo {
    id: "truncate-table",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "TRUNCATE deletes every row of the table (with CASCADE, of every table with a foreign key to it too)",
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
            let cascade = t.behavior == DropBehavior::DropCascade as i32;
            let all: Vec<&RangeVar> = t
                .relations
                .iter()
                .filter_map(|r| match r.node.as_ref() {
                    Some(NodeEnum::RangeVar(rv)) => Some(rv),
                    _ => None,
                })
                .collect();
            let names: Vec<String> = all
                .iter()
                .filter(|rv| rev.is_existing(Some(rv), s.index))
                .map(|rv| qualified(rv))
                .collect();
            let message = match (names.is_empty(), cascade) {
                (true, false) => continue,
                // A table made in the revision is empty, but an existing
                // table the revision gave a foreign key to it is not.
                (true, true) => format!(
                    "TRUNCATE {} CASCADE also empties every table with a foreign key to {}, and every table referencing those in turn, existing ones included",
                    all.iter()
                        .map(|rv| qualified(rv))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if all.len() == 1 { "it" } else { "them" }
                ),
                (false, false) => format!("TRUNCATE {} deletes every row", names.join(", ")),
                (false, true) => format!(
                    "TRUNCATE {} CASCADE deletes every row, and also empties every table with a foreign key to {}, and every table referencing those in turn",
                    names.join(", "),
                    if all.len() == 1 { "it" } else { "them" }
                ),
            };
            out.push(Hit::new(s.index, message));
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

    #[test]
    fn cascade_says_it_empties_the_referencing_tables() {
        let h = hits("TRUNCATE kegs CASCADE;", "truncate-table");
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.starts_with(
                "TRUNCATE kegs CASCADE deletes every row, and also empties every table with a foreign key to it"
            ),
            "{}",
            h[0].message
        );
        let h = hits("TRUNCATE kegs;", "truncate-table");
        assert!(!h[0].message.contains("CASCADE"), "{}", h[0].message);
        // A new table may be referenced by an existing one.
        let h = hits(
            "CREATE TABLE x (a int PRIMARY KEY); TRUNCATE x CASCADE;",
            "truncate-table",
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.contains("existing ones included"),
            "{}",
            h[0].message
        );
    }
}
