//! `update-without-where`: UPDATE with no WHERE clause rewrites every row
//! (and holds row locks on all of them until commit).

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, qualified, with_ctes};
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct UpdateWithoutWhere;

pub static INFO: RuleInfo = RuleInfo {
    id: "update-without-where",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "UPDATE without WHERE overwrites every row and locks all of them until commit",
    help: "add the WHERE clause you meant; for a deliberate backfill, update in batches by primary \
           key range from a one-off job outside the migration",
};

impl Rule for UpdateWithoutWhere {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, statement) in rev.nodes() {
            for node in with_ctes(statement) {
                let NodeEnum::UpdateStmt(u) = node else {
                    continue;
                };
                if u.where_clause.is_none() && rev.is_existing(u.relation.as_ref(), s.index) {
                    let name = u.relation.as_ref().map(qualified).unwrap_or_default();
                    out.push(Hit::new(
                        s.index,
                        format!("UPDATE {name} without WHERE overwrites every row"),
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
    fn flags_only_unfiltered_update() {
        assert_eq!(
            hits("UPDATE kegs SET volume_ml = 0;", "update-without-where").len(),
            1
        );
        assert!(
            hits(
                "UPDATE kegs SET volume_ml = 0 WHERE id = 3;",
                "update-without-where"
            )
            .is_empty()
        );
    }

    #[test]
    fn an_update_in_a_with_clause_counts_too() {
        let h = hits(
            "WITH t AS (UPDATE customers SET marketing_opt_in = false RETURNING id) SELECT count(*) FROM t;",
            "update-without-where",
        );
        assert_eq!(h.len(), 1);
    }
}
