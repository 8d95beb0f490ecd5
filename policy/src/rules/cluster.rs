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
            if matches!(node, NodeEnum::ClusterStmt(_)) {
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
}
