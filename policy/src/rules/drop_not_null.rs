//! `drop-not-null`: ALTER COLUMN ... DROP NOT NULL. Cheap for PostgreSQL,
//! but clients that assume the column is never NULL start to see NULLs.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
use crate::{Category, Severity};

pub struct DropNotNull;

pub static INFO: RuleInfo = RuleInfo {
    id: "drop-not-null",
    severity: Severity::Warning,
    category: Category::Destructive,
    message: "dropping NOT NULL lets NULLs reach clients that assume the column is always set",
    help: "release clients that handle NULL in this column first; then drop the constraint",
};

impl Rule for DropNotNull {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtDropNotNull)) {
                out.push(
                    Hit::new(
                        s.index,
                        format!("dropping NOT NULL on `{}`.`{}`", qualified(rel), cmd.name),
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
    fn flags_drop_not_null() {
        assert_eq!(
            hits(
                "ALTER TABLE kegs ALTER COLUMN tap_id DROP NOT NULL;",
                "drop-not-null"
            )
            .len(),
            1
        );
        assert!(
            hits(
                "ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
                "drop-not-null"
            )
            .is_empty()
        );
    }
}
