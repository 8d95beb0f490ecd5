//! `create-index-non-concurrently`: CREATE INDEX without CONCURRENTLY on a
//! table that existed before the revision blocks all writes for the whole
//! build. Indexes on tables created in the same revision are fine.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct CreateIndexNonConcurrently;

pub static INFO: RuleInfo = RuleInfo {
    id: "create-index-non-concurrently",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "CREATE INDEX without CONCURRENTLY blocks writes to the table for the whole build",
    help: "use CREATE INDEX CONCURRENTLY in a revision of its own (it cannot run in a transaction); \
           check for an INVALID index if it fails and drop it before retrying; on a partitioned \
           table, where CONCURRENTLY is refused, create the index ON ONLY the partitioned table \
           (which builds nothing), build each partition's index CONCURRENTLY, and ALTER INDEX \
           ... ATTACH PARTITION each",
};

impl Rule for CreateIndexNonConcurrently {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            let NodeEnum::IndexStmt(i) = node else {
                continue;
            };
            if i.concurrent || !rev.is_existing(i.relation.as_ref(), s.index) {
                continue;
            }
            let rel = i.relation.as_ref().map(qualified).unwrap_or_default();
            // `ON ONLY`: on a partitioned table this is the first step of
            // indexing it without blocking writes for long (CONCURRENTLY is
            // refused there); on a plain table ONLY changes nothing.
            if i.relation.as_ref().is_some_and(|r| !r.inh) {
                out.push(Hit {
                    severity: Some(Severity::Info),
                    ..Hit::new(
                        s.index,
                        format!(
                            "CREATE INDEX ON ONLY `{rel}`: if `{rel}` is partitioned, this builds nothing (an invalid index on the partitioned table alone, valid once every partition's index is attached); if it is a plain table, ONLY changes nothing and the build blocks writes"
                        ),
                    )
                });
                continue;
            }
            out.push(Hit::new(
                s.index,
                format!(
                    "CREATE INDEX on existing table `{rel}` without CONCURRENTLY blocks writes"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "create-index-non-concurrently";

    #[test]
    fn flags_blocking_index_on_existing_table() {
        assert_eq!(
            hits("CREATE INDEX kegs_tap_idx ON kegs (tap_id);", ID).len(),
            1
        );
        assert_eq!(
            hits("CREATE UNIQUE INDEX IF NOT EXISTS k ON kegs (serial);", ID).len(),
            1
        );
    }

    #[test]
    fn an_index_on_only_a_partitioned_table_is_only_info() {
        let h = hits(
            "CREATE INDEX measurements_ts_idx ON ONLY measurements (ts);",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].severity, crate::Severity::Info);
        assert!(h[0].message.contains("builds nothing"), "{}", h[0].message);
        let report = crate::lint(
            "SET lock_timeout = '2s'; CREATE INDEX measurements_ts_idx ON ONLY measurements (ts);",
            Some("DROP INDEX measurements_ts_idx;"),
            &crate::LintConfig::default(),
        );
        assert_eq!(report.risk, crate::RiskClass::Additive);
        assert!(
            crate::rules::rule_by_id(ID)
                .unwrap()
                .help()
                .contains("ON ONLY")
        );
    }

    #[test]
    fn accepts_concurrent_or_new_table() {
        assert!(
            hits(
                "CREATE INDEX CONCURRENTLY kegs_tap_idx ON kegs (tap_id);",
                ID
            )
            .is_empty()
        );
        assert!(
            hits(
                "CREATE TABLE kegs (id int, tap_id int); CREATE INDEX ON kegs (tap_id);",
                ID
            )
            .is_empty()
        );
        // ONLY on a new table: a normal build, on an empty table.
        assert!(
            hits(
                "CREATE TABLE kegs (id int, tap_id int); CREATE INDEX ON ONLY kegs (tap_id);",
                ID
            )
            .is_empty()
        );
    }
}
