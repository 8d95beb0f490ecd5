//! `non-transactional-statement`: statements that cannot run inside a
//! transaction block (CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY,
//! VACUUM, ...). Such a revision is reported with `transactional: false`
//! and the executor runs it statement by statement, so a failure half-way
//! leaves it partly applied. Severity: warning when mixed with other
//! statements (partial application possible), info when the revision holds
//! nothing else but SET/RESET, error inside an explicit BEGIN block (it will
//! certainly fail). Hygiene: it never raises the risk class.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, non_transactional};
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct NonTransactionalStatement;

pub static INFO: RuleInfo = RuleInfo {
    id: "non-transactional-statement",
    severity: Severity::Warning,
    category: Category::Hygiene,
    message: "statement cannot run inside a transaction: the revision will run statement by statement, without atomicity",
    help: "put each CONCURRENTLY statement in a revision of its own (plus SET lock_timeout), make it \
           idempotent (IF NOT EXISTS / IF EXISTS), and never wrap it in BEGIN/COMMIT",
};

impl Rule for NonTransactionalStatement {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        // A second statement that changes something, transactional or not:
        // when it fails, the one before it stays applied.
        let changing = rev
            .nodes()
            .filter(|(_, n)| {
                !matches!(
                    n,
                    NodeEnum::VariableSetStmt(_) | NodeEnum::VariableShowStmt(_)
                )
            })
            .count();
        let others = changing > 1;
        for (s, node) in rev.nodes() {
            let Some(what) = non_transactional(node) else {
                continue;
            };
            let hit = if rev.in_explicit_transaction(s.index) {
                Hit {
                    severity: Some(Severity::Error),
                    ..Hit::new(
                        s.index,
                        format!(
                            "{what} cannot run inside the explicit BEGIN block around it: it will fail"
                        ),
                    )
                }
            } else if others {
                Hit::new(
                    s.index,
                    format!(
                        "{what} cannot run in a transaction; with other statements in the revision, a failure leaves it half-applied"
                    ),
                )
            } else {
                Hit {
                    severity: Some(Severity::Info),
                    ..Hit::new(
                        s.index,
                        format!(
                            "{what} cannot run in a transaction; the revision runs statement by statement"
                        ),
                    )
                }
            };
            out.push(hit);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;
    use crate::{LintConfig, Severity, lint};

    const ID: &str = "non-transactional-statement";

    #[test]
    fn alone_is_info_and_marks_report() {
        let sql =
            "SET lock_timeout = '2s'; CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON kegs (tap_id);";
        let h = hits(sql, ID);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].severity, Severity::Info);
        let r = lint(
            sql,
            Some("DROP INDEX CONCURRENTLY i;"),
            &LintConfig::default(),
        );
        assert!(!r.transactional);
    }

    #[test]
    fn moving_a_database_to_another_tablespace_cannot_run_in_a_transaction() {
        let h = hits("ALTER DATABASE beer SET TABLESPACE fast_ssd;", ID);
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.contains("ALTER DATABASE ... SET TABLESPACE"),
            "{}",
            h[0].message
        );
        assert!(hits("ALTER DATABASE beer SET work_mem = '64MB';", ID).is_empty());
    }

    #[test]
    fn reindexing_a_whole_schema_database_or_system_cannot_run_in_a_transaction() {
        for sql in [
            "REINDEX SCHEMA public;",
            "REINDEX DATABASE beer;",
            "REINDEX SYSTEM beer;",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(
                h[0].message.contains("REINDEX SCHEMA/DATABASE/SYSTEM"),
                "{}",
                h[0].message
            );
        }
        assert!(hits("REINDEX TABLE kegs;", ID).is_empty());
    }

    #[test]
    fn two_non_transactional_statements_are_a_warning() {
        let h = hits(
            "SET lock_timeout = '2s';
             CREATE INDEX CONCURRENTLY a_idx ON kegs (a);
             CREATE INDEX CONCURRENTLY b_idx ON kegs (b);",
            ID,
        );
        assert_eq!(h.len(), 2);
        assert!(h.iter().all(|h| h.severity == Severity::Warning), "{h:?}");
    }

    #[test]
    fn mixed_is_warning_and_explicit_block_is_error() {
        let h = hits(
            "ALTER TABLE kegs ADD COLUMN x int; CREATE INDEX CONCURRENTLY i ON kegs (x);",
            ID,
        );
        assert_eq!(h[0].severity, Severity::Warning);
        let h = hits(
            "BEGIN; CREATE INDEX CONCURRENTLY i ON kegs (x); COMMIT;",
            ID,
        );
        assert_eq!(h[0].severity, Severity::Error);
    }

    #[test]
    fn plain_revision_is_transactional() {
        let r = lint(
            "CREATE TABLE a (id int);",
            Some("DROP TABLE a;"),
            &LintConfig::default(),
        );
        assert!(r.transactional);
        assert!(hits("VACUUM ANALYZE kegs;", ID).len() == 1);
        assert!(hits("ANALYZE kegs;", ID).is_empty());
    }
}
