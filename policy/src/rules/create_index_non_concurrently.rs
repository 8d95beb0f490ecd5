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
           check for an INVALID index if it fails and drop it before retrying",
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
            if !i.concurrent && rev.is_existing(i.relation.as_ref(), s.index) {
                let rel = i.relation.as_ref().map(qualified).unwrap_or_default();
                out.push(Hit::new(
                    s.index,
                    format!(
                        "CREATE INDEX on existing table `{rel}` without CONCURRENTLY blocks writes"
                    ),
                ));
            }
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
    }
}
