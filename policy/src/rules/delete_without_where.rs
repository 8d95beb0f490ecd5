//! `delete-without-where`: DELETE with no WHERE clause deletes every row.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, qualified, with_ctes};
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct DeleteWithoutWhere;

pub static INFO: RuleInfo = RuleInfo {
    id: "delete-without-where",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "DELETE without WHERE deletes every row of the table",
    help: "add the WHERE clause you meant; to empty a table on purpose, archive it first and say so \
           with an exemption",
};

impl Rule for DeleteWithoutWhere {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, statement) in rev.nodes() {
            for node in with_ctes(statement) {
                let NodeEnum::DeleteStmt(d) = node else {
                    continue;
                };
                if d.where_clause.is_none() && rev.is_existing(d.relation.as_ref(), s.index) {
                    let name = d.relation.as_ref().map(qualified).unwrap_or_default();
                    out.push(Hit::new(
                        s.index,
                        format!("DELETE FROM {name} without WHERE deletes every row"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_only_unfiltered_delete() {
        assert_eq!(hits("DELETE FROM kegs;", "delete-without-where").len(), 1);
        assert!(hits("DELETE FROM kegs WHERE id = 1;", "delete-without-where").is_empty());
        assert!(
            hits(
                "DELETE FROM kegs USING taps WHERE taps.id = kegs.tap_id;",
                "delete-without-where"
            )
            .is_empty()
        );
    }

    #[test]
    fn a_delete_in_a_with_clause_counts_too() {
        let h = hits(
            "WITH moved AS (DELETE FROM sessions RETURNING *) INSERT INTO sessions_archive SELECT * FROM moved;",
            "delete-without-where",
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.contains("DELETE FROM sessions"),
            "{}",
            h[0].message
        );
        assert!(
            hits(
                "WITH moved AS (DELETE FROM sessions WHERE ended_at < now() RETURNING *) INSERT INTO sessions_archive SELECT * FROM moved;",
                "delete-without-where"
            )
            .is_empty()
        );
    }
}
