//! `partition-attach-detach`: ATTACH PARTITION of an existing table scans
//! it (and the default partition) to check the bounds, whether the parent
//! is new or not; DETACH PARTITION takes the partition's rows out of the
//! partitioned table, and without CONCURRENTLY locks it against reads and
//! writes. NO INHERIT takes a child's rows out of its inheritance parent
//! the same way.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, is_table_alter, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::PartitionCmd;

pub struct PartitionAttachDetach;

pub static INFO: RuleInfo = RuleInfo {
    id: "partition-attach-detach",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "ATTACH PARTITION scans the attached table while it is locked; DETACH PARTITION without CONCURRENTLY locks the partitioned table against reads and writes, and the partition's rows stop being part of it; so do a child's rows after NO INHERIT",
    help: "before ATTACH, add a CHECK constraint matching the partition bounds (NOT VALID, then \
           VALIDATE) in an earlier revision, so the attach skips the scan; a default partition of \
           the partitioned table is locked against reads and writes and scanned for rows within \
           the new bounds all the same, unless it has a validated CHECK constraint excluding them, \
           added the same way; DETACH (or NO INHERIT) only once clients stopped reading those rows through the parent, \
           with CONCURRENTLY in a revision of its own (it cannot run in a transaction, nor while the \
           table has a default partition)",
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
        for (s, alter, cmds) in rev.alters().filter(|(_, alter, _)| is_table_alter(alter)) {
            let parent = alter.relation.as_ref().map(qualified).unwrap_or_default();
            let parent_exists = rev.is_existing(alter.relation.as_ref(), s.index);
            for cmd in cmds {
                // NO INHERIT: the parent stops seeing this table's rows, as
                // after a DETACH PARTITION.
                if cmd_is(&cmd, AlterTableType::AtDropInherit) {
                    let Some(NodeEnum::RangeVar(from)) =
                        cmd.def.as_deref().and_then(|d| d.node.as_ref())
                    else {
                        continue;
                    };
                    if parent_exists && rev.is_existing(Some(from), s.index) {
                        let from = qualified(from);
                        out.push(
                            Hit::new(
                                s.index,
                                format!(
                                    "`{parent}` NO INHERIT `{from}`: its rows stop being part of `{from}` for every query through it, and `{parent}` is locked against reads and writes (ACCESS EXCLUSIVE)"
                                ),
                            )
                            .at(cmd.at),
                        );
                    }
                    continue;
                }
                let Some(partition) = partition_cmd(&cmd) else {
                    continue;
                };
                let name = partition.name.as_ref().map(qualified).unwrap_or_default();
                let message = if cmd_is(&cmd, AlterTableType::AtAttachPartition) {
                    // A table created in this revision is empty: nothing to
                    // scan, whether the parent is new or not.
                    if !rev.is_existing(partition.name.as_ref(), s.index) {
                        continue;
                    }
                    format!(
                        "attaching `{name}` to `{parent}` scans every row of `{name}` against the bounds while it is locked, unless a validated CHECK constraint already proves them; a default partition of `{parent}`, if any, is locked against reads and writes and scanned too, unless a validated CHECK constraint on it excludes the new bounds"
                    )
                } else if cmd_is(&cmd, AlterTableType::AtDetachPartition) && parent_exists {
                    if partition.concurrent {
                        format!(
                            "detaching `{name}` from `{parent}` concurrently: its rows stop being part of `{parent}` for every query through it, and the detach waits for every transaction using `{parent}`"
                        )
                    } else {
                        format!(
                            "detaching `{name}` locks `{parent}` against reads and writes, and its rows stop being part of it; DETACH PARTITION ... CONCURRENTLY takes a weaker lock"
                        )
                    }
                } else {
                    continue;
                };
                out.push(Hit::new(s.index, message).at(cmd.at));
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
        assert!(
            h[0].message
                .contains("a default partition of `measurements`, if any, is locked"),
            "{}",
            h[0].message
        );
        // An existing table attached to a new parent is scanned all the same.
        let h = hits(
            "CREATE TABLE pour_events (ts date NOT NULL) PARTITION BY RANGE (ts);
             ALTER TABLE pour_events ATTACH PARTITION pour_events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].line, 2);
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
    fn flags_a_detach_of_an_existing_parent() {
        let h = hits(
            "ALTER TABLE measurements DETACH PARTITION measurements_2019;",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].message.contains("CONCURRENTLY"), "{}", h[0].message);
        // Concurrently, the rows still leave the parent.
        let h = hits(
            "ALTER TABLE measurements DETACH PARTITION measurements_2019 CONCURRENTLY;",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.contains("its rows stop being part of"),
            "{}",
            h[0].message
        );
    }

    #[test]
    fn flags_no_inherit_of_an_existing_child() {
        let h = hits("ALTER TABLE measurements_2019 NO INHERIT measurements;", ID);
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.starts_with(
                "`measurements_2019` NO INHERIT `measurements`: its rows stop being part of `measurements`"
            ),
            "{}",
            h[0].message
        );
        assert!(
            hits(
                "CREATE TABLE m2 (id int); ALTER TABLE m2 INHERIT measurements; ALTER TABLE m2 NO INHERIT measurements;",
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
