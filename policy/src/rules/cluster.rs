//! `cluster`: CLUSTER rewrites the table in index order under an ACCESS
//! EXCLUSIVE lock.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::Revision;
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct Cluster;

pub static INFO: RuleInfo = RuleInfo {
    id: "cluster",
    severity: Severity::Error,
    category: Category::Locking,
    message: "CLUSTER rewrites the table and blocks all reads and writes meanwhile",
    help: "use pg_repack --order-by for an online reorder, outside migrations",
};

impl Rule for Cluster {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            // A table created earlier in the revision is empty and unseen.
            if let NodeEnum::ClusterStmt(c) = node
                && c.relation
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
    fn flags_cluster() {
        assert_eq!(hits("CLUSTER kegs USING kegs_pkey;", "cluster").len(), 1);
        assert!(hits("ALTER TABLE kegs CLUSTER ON kegs_pkey;", "cluster").is_empty());
    }

    #[test]
    fn a_table_created_in_the_revision_is_not_flagged() {
        assert!(
            crate::rules::hits(
                "CREATE TABLE t_sorted (id int PRIMARY KEY); CLUSTER t_sorted USING t_sorted_pkey;",
                "cluster"
            )
            .is_empty()
        );
        assert_eq!(
            crate::rules::hits("CLUSTER kegs USING kegs_pkey;", "cluster").len(),
            1
        );
    }
}
