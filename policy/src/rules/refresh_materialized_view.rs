//! `refresh-materialized-view`: REFRESH MATERIALIZED VIEW without
//! CONCURRENTLY holds an ACCESS EXCLUSIVE lock on the view for the whole
//! refresh, so every reader waits.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct RefreshMaterializedView;

pub static INFO: RuleInfo = RuleInfo {
    id: "refresh-materialized-view",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks every read of the view until the refresh ends",
    help: "give the view a unique index on one or more of its columns, with no WHERE clause, and \
           use REFRESH MATERIALIZED VIEW CONCURRENTLY: readers keep the old contents until it \
           commits (it may run inside the revision's transaction, but only on a view that is \
           already populated); or refresh the view from a job rather than a migration",
};

impl Rule for RefreshMaterializedView {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            if let NodeEnum::RefreshMatViewStmt(r) = node
                && !r.concurrent
                && rev.is_existing(r.relation.as_ref(), s.index)
            {
                let name = r.relation.as_ref().map(qualified).unwrap_or_default();
                out.push(Hit::new(
                    s.index,
                    format!("REFRESH MATERIALIZED VIEW {name} blocks its readers until it ends"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "refresh-materialized-view";

    #[test]
    fn flags_a_refresh_that_blocks_readers() {
        assert_eq!(hits("REFRESH MATERIALIZED VIEW daily_sales;", ID).len(), 1);
        assert!(hits("REFRESH MATERIALIZED VIEW CONCURRENTLY daily_sales;", ID).is_empty());
    }

    #[test]
    fn concurrently_is_not_sent_outside_the_transaction() {
        // REFRESH ... CONCURRENTLY runs inside a transaction block (unlike
        // CREATE INDEX CONCURRENTLY), so the help must not say otherwise.
        let help = super::INFO.help;
        assert!(!help.contains("outside a transaction"), "{help}");
        assert!(help.contains("inside the revision's transaction"), "{help}");
        let report = crate::lint(
            "REFRESH MATERIALIZED VIEW CONCURRENTLY daily_sales;",
            Some("SELECT 1;"),
            &crate::LintConfig::default(),
        );
        assert!(report.transactional);
    }
}
