//! `delete-without-where`: a DELETE with no WHERE clause, or one that is
//! constant true (`WHERE true`, `WHERE 1 = 1`), deletes every row; so does
//! a MERGE whose ON condition is constant true and whose unconditional
//! `WHEN MATCHED` clause deletes, and any MERGE with an unconditional `WHEN
//! NOT MATCHED BY SOURCE THEN DELETE` (PostgreSQL 17+), which deletes every
//! target row the source does not name. Found wherever the statement runs it:
//! at top level, in a `WITH` clause at any depth, under `EXPLAIN ANALYZE`,
//! `COPY (...) TO`, `PREPARE` or `CREATE TABLE ... AS`.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, always_true, nested_statements, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{CmdType, MergeStmt};

pub struct DeleteWithoutWhere;

pub static INFO: RuleInfo = RuleInfo {
    id: "delete-without-where",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "DELETE without WHERE deletes every row of the table",
    help: "add the WHERE clause you meant; to empty a table on purpose, archive it first and say so \
           with an exemption",
};

/// Whether a MERGE applies `command` to every row of its target: its ON
/// condition holds for every pair of rows, and a `WHEN MATCHED` clause
/// with no condition (or a constant true one) runs the command, so every
/// target row is matched by the first source row (a second source row
/// makes the MERGE fail). Shared with `update-without-where`.
pub(crate) fn merge_hits_every_row(m: &MergeStmt, command: CmdType) -> bool {
    use pg_query::protobuf::MergeMatchKind;
    always_true(m.join_condition.as_deref())
        && m.merge_when_clauses.iter().any(|w| {
            matches!(w.node.as_ref(), Some(NodeEnum::MergeWhenClause(w))
                if w.match_kind == MergeMatchKind::MergeWhenMatched as i32
                    && w.command_type == command as i32
                    && always_true(w.condition.as_deref()))
        })
}

/// Whether a MERGE applies `command` to every target row that no source
/// row matches: a `WHEN NOT MATCHED BY SOURCE` clause with no condition (or
/// a constant true one) runs it. Whatever the ON condition, that is every
/// row the source leaves out, and all of them when the source is empty, so
/// it reaches as far as a DELETE or UPDATE without WHERE. Shared with
/// `update-without-where`.
pub(crate) fn merge_hits_rows_missing_from_source(m: &MergeStmt, command: CmdType) -> bool {
    use pg_query::protobuf::MergeMatchKind;
    m.merge_when_clauses.iter().any(|w| {
        matches!(w.node.as_ref(), Some(NodeEnum::MergeWhenClause(w))
            if w.match_kind == MergeMatchKind::MergeWhenNotMatchedBySource as i32
                && w.command_type == command as i32
                && always_true(w.condition.as_deref()))
    })
}

impl Rule for DeleteWithoutWhere {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, statement) in rev.nodes() {
            for node in nested_statements(statement) {
                let message = match node {
                    NodeEnum::DeleteStmt(d)
                        if always_true(d.where_clause.as_deref())
                            && rev.is_existing(d.relation.as_ref(), s.index) =>
                    {
                        let name = d.relation.as_ref().map(qualified).unwrap_or_default();
                        if d.where_clause.is_some() {
                            format!(
                                "DELETE FROM {name} with a WHERE clause that is always true deletes every row"
                            )
                        } else {
                            format!("DELETE FROM {name} without WHERE deletes every row")
                        }
                    }
                    NodeEnum::MergeStmt(m)
                        if merge_hits_every_row(m, CmdType::CmdDelete)
                            && rev.is_existing(m.relation.as_ref(), s.index) =>
                    {
                        let name = m.relation.as_ref().map(qualified).unwrap_or_default();
                        format!(
                            "MERGE INTO {name} with an ON condition that is always true and an unconditional WHEN MATCHED THEN DELETE deletes every row"
                        )
                    }
                    NodeEnum::MergeStmt(m)
                        if merge_hits_rows_missing_from_source(m, CmdType::CmdDelete)
                            && rev.is_existing(m.relation.as_ref(), s.index) =>
                    {
                        let name = m.relation.as_ref().map(qualified).unwrap_or_default();
                        format!(
                            "MERGE INTO {name} with an unconditional WHEN NOT MATCHED BY SOURCE THEN DELETE deletes every row of {name} the source does not match (every row, if the source is empty)"
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

    const ID: &str = "delete-without-where";

    #[test]
    fn flags_only_unfiltered_delete() {
        assert_eq!(hits("DELETE FROM kegs;", ID).len(), 1);
        assert!(hits("DELETE FROM kegs WHERE id = 1;", ID).is_empty());
        assert!(
            hits(
                "DELETE FROM kegs USING taps WHERE taps.id = kegs.tap_id;",
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn a_where_clause_that_is_always_true_counts_as_none() {
        for sql in [
            "DELETE FROM kegs WHERE true;",
            "DELETE FROM kegs WHERE 1=1;",
            "DELETE FROM kegs WHERE 'a'='a';",
            "DELETE FROM kegs WHERE 't';",
            "DELETE FROM kegs WHERE NOT false;",
            "DELETE FROM kegs WHERE 1 = 1 AND 2 > 1;",
            "DELETE FROM kegs WHERE id = 3 OR true;",
            "DELETE FROM kegs WHERE 'true'::boolean;",
            "DELETE FROM kegs WHERE '1' = 1;",
            "DELETE FROM kegs WHERE NULL IS NULL;",
            "DELETE FROM kegs WHERE true IS TRUE;",
            "DELETE FROM kegs WHERE 1::boolean;",
            "DELETE FROM kegs WHERE 1 IN (1, 2);",
            "DELETE FROM kegs WHERE 'x' NOT IN ('a', 'b');",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(
                h[0].message.contains("always true"),
                "{sql}: {}",
                h[0].message
            );
        }
        for sql in [
            "DELETE FROM kegs WHERE false;",
            "DELETE FROM kegs WHERE 1 = 2;",
            "DELETE FROM kegs WHERE NULL = NULL;",
            "DELETE FROM kegs WHERE id = id;",
            "DELETE FROM kegs WHERE 'a' < 'b';",
            "DELETE FROM kegs WHERE true AND id = 3;",
            "DELETE FROM kegs WHERE 0::boolean;",
            "DELETE FROM kegs WHERE 3 IN (1, 2);",
            "DELETE FROM kegs WHERE 1 NOT IN (2, NULL);",
            "DELETE FROM kegs WHERE id IN (1, 2);",
            "DELETE FROM kegs WHERE id IS NOT NULL AND 1 = 1 AND emptied;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }

    #[test]
    fn a_delete_in_a_with_clause_counts_too() {
        let h = hits(
            "WITH moved AS (DELETE FROM sessions RETURNING *) INSERT INTO sessions_archive SELECT * FROM moved;",
            ID,
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
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn a_delete_nested_anywhere_counts() {
        for sql in [
            "EXPLAIN ANALYZE DELETE FROM sessions;",
            "EXPLAIN (ANALYZE, BUFFERS) WITH d AS (DELETE FROM sessions RETURNING 1) SELECT count(*) FROM d;",
            "COPY (DELETE FROM sessions RETURNING *) TO STDOUT;",
            "CREATE TABLE sessions_archive AS WITH d AS (DELETE FROM sessions RETURNING *) SELECT * FROM d;",
            "INSERT INTO sessions_archive WITH d AS (DELETE FROM sessions RETURNING *) SELECT * FROM d;",
            "SELECT * FROM (WITH d AS (DELETE FROM sessions RETURNING *) SELECT * FROM d) s;",
            "SELECT 1 UNION ALL (WITH d AS (DELETE FROM sessions RETURNING 1) SELECT * FROM d);",
            "WITH a AS (WITH d AS (DELETE FROM sessions RETURNING 1) SELECT * FROM d) SELECT * FROM a;",
            "PREPARE purge AS DELETE FROM sessions;",
            "PREPARE purge(int) AS DELETE FROM sessions WHERE 1 = 1;",
        ] {
            assert_eq!(hits(sql, ID).len(), 1, "{sql}");
        }
        for sql in [
            "EXPLAIN DELETE FROM sessions WHERE id = 1;",
            "PREPARE purge(int) AS DELETE FROM sessions WHERE id = $1;",
            "CREATE TABLE s2 AS SELECT * FROM sessions;",
            // Function bodies and rule actions run later, not here.
            "CREATE FUNCTION purge() RETURNS void LANGUAGE sql AS $$ DELETE FROM sessions $$;",
            "CREATE FUNCTION purge() RETURNS void LANGUAGE sql BEGIN ATOMIC DELETE FROM sessions; END;",
            // A table created in the revision is empty.
            "CREATE TABLE scratch (id int); EXPLAIN ANALYZE DELETE FROM scratch;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }

    #[test]
    fn a_merge_that_deletes_every_matched_row() {
        for sql in [
            "MERGE INTO sessions s USING (SELECT 1) x ON true WHEN MATCHED THEN DELETE;",
            "MERGE INTO sessions s USING (SELECT 1) x ON 1 = 1 WHEN MATCHED AND true THEN DELETE;",
            "MERGE INTO sessions s USING (SELECT 1) x ON true WHEN MATCHED AND s.id = 3 THEN UPDATE SET id = 4 WHEN MATCHED THEN DELETE;",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(
                h[0].message.starts_with("MERGE INTO sessions"),
                "{}",
                h[0].message
            );
        }
        for sql in [
            "MERGE INTO sessions s USING stale x ON s.id = x.id WHEN MATCHED THEN DELETE;",
            "MERGE INTO sessions s USING (SELECT 1) x ON true WHEN MATCHED AND s.ended THEN DELETE;",
            "MERGE INTO sessions s USING (SELECT 1) x ON true WHEN MATCHED THEN UPDATE SET id = 4;",
            "MERGE INTO sessions s USING (SELECT 1) x ON false WHEN NOT MATCHED THEN INSERT VALUES (1);",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }

    #[test]
    fn a_merge_that_deletes_every_row_the_source_leaves_out() {
        for sql in [
            "MERGE INTO sessions s USING live x ON s.id = x.id WHEN NOT MATCHED BY SOURCE THEN DELETE;",
            "MERGE INTO sessions s USING live x ON s.id = x.id WHEN MATCHED THEN UPDATE SET seen = true WHEN NOT MATCHED BY SOURCE AND 1 = 1 THEN DELETE;",
            "MERGE INTO sessions s USING live x ON s.id = x.id WHEN NOT MATCHED BY SOURCE AND s.pinned THEN UPDATE SET ended = true WHEN NOT MATCHED BY SOURCE THEN DELETE;",
            "WITH live AS (SELECT 1 AS id) MERGE INTO sessions s USING live x ON s.id = x.id WHEN NOT MATCHED BY SOURCE THEN DELETE;",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(
                h[0].message
                    .contains("WHEN NOT MATCHED BY SOURCE THEN DELETE"),
                "{}",
                h[0].message
            );
        }
        for sql in [
            "MERGE INTO sessions s USING live x ON s.id = x.id WHEN NOT MATCHED BY SOURCE AND s.ended_at < now() THEN DELETE;",
            "MERGE INTO sessions s USING live x ON s.id = x.id WHEN NOT MATCHED BY SOURCE THEN UPDATE SET ended = true;",
            "MERGE INTO sessions s USING live x ON s.id = x.id WHEN NOT MATCHED BY SOURCE THEN DO NOTHING;",
            // BY TARGET is plain NOT MATCHED: it inserts source rows.
            "MERGE INTO sessions s USING live x ON s.id = x.id WHEN NOT MATCHED BY TARGET THEN INSERT VALUES (x.id);",
            "CREATE TABLE scratch (id int); MERGE INTO scratch s USING live x ON s.id = x.id WHEN NOT MATCHED BY SOURCE THEN DELETE;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }
}
