//! `reindex-non-concurrently`: REINDEX without CONCURRENTLY blocks writes to
//! the table (and reads that would use the index) for the whole rebuild.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, has_option};
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct ReindexNonConcurrently;

pub static INFO: RuleInfo = RuleInfo {
    id: "reindex-non-concurrently",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "REINDEX without CONCURRENTLY blocks writes for the whole rebuild",
    help: "use REINDEX CONCURRENTLY (PostgreSQL 12+) in a revision of its own",
};

impl Rule for ReindexNonConcurrently {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            if let NodeEnum::ReindexStmt(r) = node
                && !has_option(&r.params, "concurrently")
                && r.relation
                    .as_ref()
                    .is_none_or(|rv| rev.is_existing(Some(rv), s.index))
            {
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
    fn flags_blocking_reindex() {
        assert_eq!(
            hits("REINDEX INDEX kegs_pkey;", "reindex-non-concurrently").len(),
            1
        );
        assert_eq!(
            hits("REINDEX TABLE kegs;", "reindex-non-concurrently").len(),
            1
        );
        assert!(
            hits(
                "REINDEX INDEX CONCURRENTLY kegs_pkey;",
                "reindex-non-concurrently"
            )
            .is_empty()
        );
        assert!(
            hits(
                "REINDEX (CONCURRENTLY) TABLE kegs;",
                "reindex-non-concurrently"
            )
            .is_empty()
        );
    }

    #[test]
    fn a_table_created_in_the_revision_is_not_flagged() {
        assert!(
            crate::rules::hits(
                "CREATE TABLE t (id int); REINDEX TABLE t;",
                "reindex-non-concurrently"
            )
            .is_empty()
        );
        assert_eq!(
            crate::rules::hits("REINDEX TABLE kegs;", "reindex-non-concurrently").len(),
            1
        );
    }
}
