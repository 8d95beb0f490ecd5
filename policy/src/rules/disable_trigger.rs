//! `disable-trigger`: ALTER TABLE ... DISABLE TRIGGER (a name, USER or ALL)
//! or ENABLE REPLICA TRIGGER on a table that existed before the revision.
//! What the trigger does for running clients (audit rows, derived
//! columns, checks) stops; DISABLE TRIGGER ALL also turns off the internal
//! triggers that enforce foreign keys, so rows that break them are stored.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
use crate::{Category, Severity};

pub struct DisableTrigger;

pub static INFO: RuleInfo = RuleInfo {
    id: "disable-trigger",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "disabling a trigger stops what it does for every client (and DISABLE TRIGGER ALL stops foreign key enforcement)",
    help: "do not switch triggers off in a migration: drop a trigger that is no longer wanted in \
           a revision of its own once no client relies on it (with an exemption); for a bulk \
           load that must skip a trigger, run it from a one-off job with `SET LOCAL \
           session_replication_role = replica` in that job's transaction only",
};

impl Rule for DisableTrigger {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, table, cmds) in rev.alters_of_existing_tables() {
            let table = qualified(table);
            for cmd in cmds {
                let message = if cmd_is(&cmd, AlterTableType::AtDisableTrigAll) {
                    format!(
                        "DISABLE TRIGGER ALL on `{table}` turns off every trigger of it, the internal ones that enforce its foreign keys included: rows that break them are stored"
                    )
                } else if cmd_is(&cmd, AlterTableType::AtDisableTrigUser) {
                    format!(
                        "DISABLE TRIGGER USER on `{table}` turns off every trigger of it but the internal ones that enforce constraints (foreign keys): what they do for clients stops"
                    )
                } else if cmd_is(&cmd, AlterTableType::AtDisableTrig) {
                    format!(
                        "DISABLE TRIGGER {} on `{table}`: what the trigger does for clients (audit rows, derived values, checks) stops",
                        cmd.name
                    )
                } else if cmd_is(&cmd, AlterTableType::AtEnableReplicaTrig) {
                    format!(
                        "ENABLE REPLICA TRIGGER {} on `{table}`: the trigger fires only in sessions with session_replication_role = replica, so for clients it is off",
                        cmd.name
                    )
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

    const ID: &str = "disable-trigger";

    #[test]
    fn flags_disabled_triggers() {
        for (sql, start) in [
            (
                "ALTER TABLE orders DISABLE TRIGGER ALL;",
                "DISABLE TRIGGER ALL on `orders` turns off every trigger of it, the internal ones that enforce its foreign keys included",
            ),
            (
                "ALTER TABLE orders DISABLE TRIGGER USER;",
                "DISABLE TRIGGER USER on `orders`",
            ),
            (
                "ALTER TABLE orders DISABLE TRIGGER orders_audit;",
                "DISABLE TRIGGER orders_audit on `orders`",
            ),
            (
                "ALTER TABLE orders ENABLE REPLICA TRIGGER orders_audit;",
                "ENABLE REPLICA TRIGGER orders_audit",
            ),
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.starts_with(start), "{sql}: {}", h[0].message);
        }
    }

    #[test]
    fn ignores_enabling_and_new_tables() {
        for sql in [
            "ALTER TABLE orders ENABLE TRIGGER orders_audit;",
            "ALTER TABLE orders ENABLE ALWAYS TRIGGER orders_audit;",
            "ALTER TABLE orders ENABLE TRIGGER ALL;",
            "CREATE TABLE staging (id int); ALTER TABLE staging DISABLE TRIGGER ALL;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }
}
