//! `set-logged`: ALTER TABLE ... SET LOGGED or SET UNLOGGED rewrites the
//! whole table under an ACCESS EXCLUSIVE lock.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
use crate::{Category, Severity};

pub struct SetLogged;

pub static INFO: RuleInfo = RuleInfo {
    id: "set-logged",
    severity: Severity::Error,
    category: Category::Locking,
    message: "SET LOGGED / SET UNLOGGED rewrites the whole table and blocks all reads and writes meanwhile",
    help: "create a new table with the wanted persistence, copy the rows over in batches and switch \
           clients to it; an UNLOGGED table also loses its rows in a crash and is not replicated",
};

impl Rule for SetLogged {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds {
                let what = if cmd_is(&cmd, AlterTableType::AtSetLogged) {
                    "SET LOGGED"
                } else if cmd_is(&cmd, AlterTableType::AtSetUnLogged) {
                    "SET UNLOGGED"
                } else {
                    continue;
                };
                out.push(
                    Hit::new(
                        s.index,
                        format!(
                            "{what} rewrites `{}` while it is locked against reads and writes",
                            qualified(rel)
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

    #[test]
    fn flags_a_change_of_persistence_on_an_existing_table() {
        assert_eq!(
            hits("ALTER TABLE orders SET UNLOGGED;", "set-logged").len(),
            1
        );
        assert_eq!(
            hits("ALTER TABLE orders SET LOGGED;", "set-logged").len(),
            1
        );
        assert!(
            hits(
                "CREATE TABLE t (id int); ALTER TABLE t SET UNLOGGED;",
                "set-logged"
            )
            .is_empty()
        );
    }
}
