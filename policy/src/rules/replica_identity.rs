//! `replica-identity`: ALTER TABLE ... REPLICA IDENTITY on a table that
//! existed before the revision takes an ACCESS EXCLUSIVE lock, blocking
//! reads and writes until the revision's transaction ends.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
use crate::{Category, Severity};

pub struct ReplicaIdentity;

pub static INFO: RuleInfo = RuleInfo {
    id: "replica-identity",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "ALTER TABLE ... REPLICA IDENTITY locks the table against reads and writes (ACCESS EXCLUSIVE) until the revision's transaction ends",
    help: "run it in a short revision of its own after `SET lock_timeout`; on a table in a \
           publication that publishes updates or deletes, keep a usable identity (DEFAULT with a \
           primary key, or USING INDEX a unique index on NOT NULL columns): with NOTHING, every \
           UPDATE and DELETE on it fails",
};

impl Rule for ReplicaIdentity {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, table, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtReplicaIdentity)) {
                out.push(
                    Hit::new(
                        s.index,
                        format!(
                            "REPLICA IDENTITY on `{}` locks it against reads and writes (ACCESS EXCLUSIVE)",
                            qualified(table)
                        ),
                    )
                    .at(cmd.at),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "replica-identity";

    #[test]
    fn flags_replica_identity_of_existing_tables() {
        for sql in [
            "ALTER TABLE orders REPLICA IDENTITY FULL;",
            "ALTER TABLE orders REPLICA IDENTITY USING INDEX orders_uuid_key;",
            "ALTER TABLE orders REPLICA IDENTITY NOTHING;",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(
                h[0].message.contains("ACCESS EXCLUSIVE"),
                "{}",
                h[0].message
            );
        }
        assert!(
            hits(
                "CREATE TABLE t (id int PRIMARY KEY); ALTER TABLE t REPLICA IDENTITY FULL;",
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn makes_the_revision_risky() {
        let report = crate::lint(
            "SET lock_timeout = '2s'; ALTER TABLE orders REPLICA IDENTITY FULL;",
            Some("SELECT 1;"),
            &crate::LintConfig::default(),
        );
        assert_eq!(report.risk, crate::RiskClass::Risky);
    }
}
