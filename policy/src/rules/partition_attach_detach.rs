//! `partition-attach-detach`: ATTACH PARTITION scans the attached table
//! (and the default partition) to check the bounds; DETACH PARTITION
//! without CONCURRENTLY locks the partitioned table against reads and
//! writes, and its rows leave it.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::PartitionCmd;

pub struct PartitionAttachDetach;

pub static INFO: RuleInfo = RuleInfo {
    id: "partition-attach-detach",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "ATTACH PARTITION scans the attached table while it is locked; DETACH PARTITION without CONCURRENTLY locks the partitioned table against reads and writes, and the partition's rows stop being part of it",
    help: "before ATTACH, add a CHECK constraint matching the partition bounds (NOT VALID, then \
           VALIDATE) in an earlier revision, so the attach skips the scan; DETACH with CONCURRENTLY \
           in a revision of its own (it cannot run in a transaction), after clients stopped \
           reading those rows through the parent",
};

fn partition_cmd(cmd: &pg_query::protobuf::AlterTableCmd) -> Option<&PartitionCmd> {
    match cmd.def.as_deref().and_then(|d| d.node.as_ref()) {
        Some(NodeEnum::PartitionCmd(p)) => Some(p),
        _ => None,
    }
}

impl Rule for PartitionAttachDetach {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, parent, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds {
                let Some(partition) = partition_cmd(&cmd) else {
                    continue;
                };
                let name = partition.name.as_ref().map(qualified).unwrap_or_default();
                if cmd_is(&cmd, AlterTableType::AtAttachPartition)
                    // A table created in this revision is empty: nothing to scan.
                    && rev.is_existing(partition.name.as_ref(), s.index)
                {
                    out.push(Hit::new(
                        s.index,
                        format!(
                            "attaching `{name}` to `{}` scans every row of `{name}` against the bounds while it is locked, unless a validated CHECK constraint already proves them",
                            qualified(parent)
                        ),
                    ).at(cmd.at));
                } else if cmd_is(&cmd, AlterTableType::AtDetachPartition) && !partition.concurrent {
                    out.push(Hit::new(
                        s.index,
                        format!(
                            "detaching `{name}` locks `{}` against reads and writes, and its rows stop being part of it; use DETACH PARTITION ... CONCURRENTLY",
                            qualified(parent)
                        ),
                    ).at(cmd.at));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "partition-attach-detach";

    #[test]
    fn flags_an_attach_of_an_existing_table() {
        let h = hits(
            "ALTER TABLE measurements ATTACH PARTITION measurements_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message
                .starts_with("attaching `measurements_2026` to `measurements` scans"),
            "{}",
            h[0].message
        );
        // A partition created in the same revision is empty.
        assert!(
            hits(
                "CREATE TABLE measurements_2027 (LIKE measurements);
                 ALTER TABLE measurements ATTACH PARTITION measurements_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
                ID,
            )
            .is_empty()
        );
    }

    #[test]
    fn flags_a_blocking_detach_only() {
        let h = hits(
            "ALTER TABLE measurements DETACH PARTITION measurements_2019;",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].message.contains("CONCURRENTLY"), "{}", h[0].message);
        assert!(
            hits(
                "ALTER TABLE measurements DETACH PARTITION measurements_2019 CONCURRENTLY;",
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn a_detach_makes_the_revision_risky() {
        let report = crate::lint(
            "SET lock_timeout = '2s';\nALTER TABLE measurements DETACH PARTITION measurements_2019;",
            Some("SELECT 1;"),
            &crate::LintConfig::default(),
        );
        assert_eq!(report.risk, crate::RiskClass::Risky);
    }
}
