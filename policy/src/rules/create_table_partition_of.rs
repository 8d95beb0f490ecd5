//! `create-table-partition-of`: CREATE TABLE ... PARTITION OF an existing
//! partitioned table locks that table against reads and writes, and scans
//! its default partition, if it has one, under the same lock. Attaching a
//! table created on its own takes a weaker lock on the parent.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct CreateTablePartitionOf;

pub static INFO: RuleInfo = RuleInfo {
    id: "create-table-partition-of",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "CREATE TABLE ... PARTITION OF locks the partitioned table against reads and writes, and scans its default partition, if any, meanwhile",
    help: "create the table on its own (`CREATE TABLE x (LIKE parent INCLUDING ALL)`), then \
           `ALTER TABLE parent ATTACH PARTITION x FOR VALUES ...`: ATTACH takes only a SHARE UPDATE \
           EXCLUSIVE lock on the partitioned table, which lets reads and writes through, and checks \
           an empty new table at once (one filled first is scanned, unless a CHECK constraint \
           matching the bounds was added NOT VALID and validated beforehand). A default partition \
           is still locked against reads and writes and scanned for rows within the new bounds, \
           unless a validated CHECK constraint on it excludes them",
};

impl Rule for CreateTablePartitionOf {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            let NodeEnum::CreateStmt(c) = node else {
                continue;
            };
            let Some(bound) = c.partbound.as_ref() else {
                continue;
            };
            // A partitioned table created earlier in the revision is
            // empty and unseen: nothing waits for its lock.
            let Some(parent) = c.inh_relations.iter().find_map(|r| match r.node.as_ref() {
                Some(NodeEnum::RangeVar(rv)) if rev.is_existing(Some(rv), s.index) => Some(rv),
                _ => None,
            }) else {
                continue;
            };
            let name = c.relation.as_ref().map(qualified).unwrap_or_default();
            let parent = qualified(parent);
            let message = if bound.is_default {
                format!(
                    "creating `{name}` as the default partition of `{parent}` locks `{parent}` against reads and writes (ACCESS EXCLUSIVE)"
                )
            } else {
                format!(
                    "creating `{name}` as a partition of `{parent}` locks `{parent}` against reads and writes (ACCESS EXCLUSIVE), and if `{parent}` has a default partition, scans it for rows within the new bounds meanwhile"
                )
            };
            out.push(Hit::new(s.index, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "create-table-partition-of";

    #[test]
    fn flags_a_new_partition_of_an_existing_table() {
        let h = hits(
            "CREATE TABLE measurements_2027 PARTITION OF measurements FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.starts_with(
                "creating `measurements_2027` as a partition of `measurements` locks `measurements` against reads and writes"
            ),
            "{}",
            h[0].message
        );
        assert!(
            h[0].message.contains("default partition"),
            "{}",
            h[0].message
        );
        // The default partition itself: there is no other default to scan.
        let h = hits(
            "CREATE TABLE IF NOT EXISTS public.measurements_rest PARTITION OF public.measurements DEFAULT;",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.ends_with(
                "as the default partition of `public.measurements` locks `public.measurements` against reads and writes (ACCESS EXCLUSIVE)"
            ),
            "{}",
            h[0].message
        );
    }

    #[test]
    fn leaves_partitions_of_a_new_table_and_attaches_alone() {
        for sql in [
            "CREATE TABLE m (ts date) PARTITION BY RANGE (ts); CREATE TABLE m_2027 PARTITION OF m FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
            "CREATE TABLE m_2027 (LIKE measurements INCLUDING ALL); ALTER TABLE measurements ATTACH PARTITION m_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
            "CREATE TABLE m_2027 (ts date);",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
        for sql in [
            // `public.m` may be another table than a new unqualified `m`.
            "CREATE TABLE m (ts date) PARTITION BY RANGE (ts); CREATE TABLE m_2027 PARTITION OF public.m FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
            "CREATE TABLE m_2027 PARTITION OF m FOR VALUES FROM ('2027-01-01') TO ('2028-01-01'); CREATE TABLE m (ts date) PARTITION BY RANGE (ts);",
        ] {
            assert_eq!(hits(sql, ID).len(), 1, "{sql}");
        }
    }

    #[test]
    fn makes_the_revision_risky() {
        let report = crate::lint(
            "SET lock_timeout = '2s';\nCREATE TABLE measurements_2027 PARTITION OF measurements FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
            Some("DROP TABLE measurements_2027;"),
            &crate::LintConfig::default(),
        );
        assert_eq!(report.risk, crate::RiskClass::Risky);
    }
}
