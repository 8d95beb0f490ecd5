//! `drop-column`: ALTER TABLE ... DROP COLUMN on an existing table.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
use crate::{Category, Severity};

pub struct DropColumn;

pub static INFO: RuleInfo = RuleInfo {
    id: "drop-column",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "dropping a column deletes its data and breaks clients that still select or insert it",
    help: "release a version that no longer reads or writes the column, then drop it in a later \
           revision with an exemption; ORMs that `SELECT *` break immediately otherwise",
};

impl Rule for DropColumn {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtDropColumn)) {
                out.push(
                    Hit::new(
                        s.index,
                        format!(
                            "dropping column `{}` of `{}` deletes its data",
                            cmd.name,
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
    fn flags_each_dropped_column() {
        let h = hits(
            "ALTER TABLE taps DROP COLUMN a, DROP COLUMN IF EXISTS b;",
            "drop-column",
        );
        assert_eq!(h.len(), 2);
        assert!(h[1].message.contains("`b`"));
    }

    #[test]
    fn ignores_new_tables_and_other_commands() {
        assert!(
            hits(
                "CREATE TABLE t (a int); ALTER TABLE t DROP COLUMN a;",
                "drop-column"
            )
            .is_empty()
        );
        assert!(hits("ALTER TABLE taps ADD COLUMN a int;", "drop-column").is_empty());
    }
}
