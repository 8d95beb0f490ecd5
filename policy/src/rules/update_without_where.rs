//! `update-without-where`: an UPDATE with no WHERE clause, or one that is
//! constant true, rewrites every row (and holds row locks on all of them
//! until commit); so does a MERGE whose ON condition is constant true and
//! whose unconditional `WHEN MATCHED` clause updates, and any MERGE with an
//! unconditional `WHEN NOT MATCHED BY SOURCE THEN UPDATE` (PostgreSQL 17+),
//! which updates every target row the source does not name. Found at any
//! depth, like `delete-without-where`.

use super::delete_without_where::{merge_hits_every_row, merge_hits_rows_missing_from_source};
use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, always_true, nested_statements, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::CmdType;

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
            for node in nested_statements(statement) {
                let message = match node {
                    NodeEnum::UpdateStmt(u)
                        if always_true(u.where_clause.as_deref())
                            && rev.is_existing(u.relation.as_ref(), s.index) =>
                    {
                        let name = u.relation.as_ref().map(qualified).unwrap_or_default();
                        if u.where_clause.is_some() {
                            format!(
                                "UPDATE {name} with a WHERE clause that is always true overwrites every row"
                            )
                        } else {
                            format!("UPDATE {name} without WHERE overwrites every row")
                        }
                    }
                    NodeEnum::MergeStmt(m)
                        if merge_hits_every_row(m, CmdType::CmdUpdate)
                            && rev.is_existing(m.relation.as_ref(), s.index) =>
                    {
                        let name = m.relation.as_ref().map(qualified).unwrap_or_default();
                        format!(
                            "MERGE INTO {name} with an ON condition that is always true and an unconditional WHEN MATCHED THEN UPDATE overwrites every row"
                        )
                    }
                    NodeEnum::MergeStmt(m)
                        if merge_hits_rows_missing_from_source(m, CmdType::CmdUpdate)
                            && rev.is_existing(m.relation.as_ref(), s.index) =>
                    {
                        let name = m.relation.as_ref().map(qualified).unwrap_or_default();
                        format!(
                            "MERGE INTO {name} with an unconditional WHEN NOT MATCHED BY SOURCE THEN UPDATE overwrites every row of {name} the source does not match (every row, if the source is empty)"
                        )
                    }
                    _ => continue,
                };
                out.push(Hit::new(s.index, message));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "update-without-where";

    #[test]
    fn flags_only_unfiltered_update() {
        assert_eq!(hits("UPDATE kegs SET volume_ml = 0;", ID).len(), 1);
        assert!(hits("UPDATE kegs SET volume_ml = 0 WHERE id = 3;", ID).is_empty());
    }

    #[test]
    fn a_where_clause_that_is_always_true_counts_as_none() {
        for sql in [
            "UPDATE kegs SET volume_ml = 0 WHERE true;",
            "UPDATE kegs SET volume_ml = 0 WHERE 1=1;",
            "UPDATE kegs SET volume_ml = 0 WHERE 'a'='a';",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.contains("always true"), "{}", h[0].message);
        }
        assert!(hits("UPDATE kegs SET volume_ml = 0 WHERE 1 = 0;", ID).is_empty());
    }

    #[test]
    fn an_update_in_a_with_clause_counts_too() {
        let h = hits(
            "WITH t AS (UPDATE customers SET marketing_opt_in = false RETURNING id) SELECT count(*) FROM t;",
            ID,
        );
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn an_update_nested_anywhere_counts() {
        for sql in [
            "EXPLAIN ANALYZE UPDATE customers SET marketing_opt_in = false;",
            "COPY (UPDATE customers SET marketing_opt_in = false RETURNING id) TO STDOUT;",
            "PREPARE optout AS UPDATE customers SET marketing_opt_in = false;",
            "CREATE TABLE x AS WITH u AS (UPDATE customers SET marketing_opt_in = false RETURNING id) SELECT * FROM u;",
        ] {
            assert_eq!(hits(sql, ID).len(), 1, "{sql}");
        }
        assert!(
            hits(
                "EXPLAIN ANALYZE UPDATE customers SET marketing_opt_in = false WHERE id = 1;",
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn a_merge_that_updates_every_matched_row() {
        let h = hits(
            "MERGE INTO customers c USING (SELECT false AS v) x ON true WHEN MATCHED THEN UPDATE SET marketing_opt_in = x.v;",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.starts_with("MERGE INTO customers"),
            "{}",
            h[0].message
        );
        assert!(
            hits(
                "MERGE INTO customers c USING updates x ON c.id = x.id WHEN MATCHED THEN UPDATE SET marketing_opt_in = x.v;",
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn a_merge_that_updates_every_row_the_source_leaves_out() {
        let h = hits(
            "MERGE INTO customers c USING active x ON c.id = x.id WHEN MATCHED THEN UPDATE SET active = true WHEN NOT MATCHED BY SOURCE THEN UPDATE SET active = false;",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.contains(
                "WHEN NOT MATCHED BY SOURCE THEN UPDATE overwrites every row of customers"
            ),
            "{}",
            h[0].message
        );
        for sql in [
            "MERGE INTO customers c USING active x ON c.id = x.id WHEN NOT MATCHED BY SOURCE AND c.active THEN UPDATE SET active = false;",
            "MERGE INTO customers c USING active x ON c.id = x.id WHEN NOT MATCHED BY SOURCE THEN DELETE;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }
}
