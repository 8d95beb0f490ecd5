//! `drop-index`: DROP INDEX. Destructive for performance rather than data,
//! hence a warning; without CONCURRENTLY it also locks the table.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, drop_names, drop_type};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

pub struct DropIndex;

pub static INFO: RuleInfo = RuleInfo {
    id: "drop-index",
    severity: Severity::Warning,
    category: Category::Destructive,
    message: "dropping an index can turn hot queries into sequential scans, and cannot be undone quickly",
    help: "check the index is unused (pg_stat_user_indexes.idx_scan), use DROP INDEX CONCURRENTLY \
           in its own revision, and keep the CREATE INDEX CONCURRENTLY in the down migration",
};

impl Rule for DropIndex {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            if let NodeEnum::DropStmt(d) = node
                && drop_type(d) == ObjectType::ObjectIndex
            {
                let lock = if d.concurrent {
                    ""
                } else {
                    " (and locks its table while doing so)"
                };
                out.push(Hit::new(
                    s.index,
                    format!(
                        "DROP INDEX {} removes an index{lock}",
                        drop_names(d).join(", ")
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_drop_index() {
        let h = hits("DROP INDEX taps_venue_idx;", "drop-index");
        assert_eq!(h.len(), 1);
        assert!(h[0].message.contains("locks"));
        let h = hits("DROP INDEX CONCURRENTLY taps_venue_idx;", "drop-index");
        assert!(!h[0].message.contains("locks"));
        assert!(hits("DROP TABLE taps;", "drop-index").is_empty());
    }
}
