//! `drop-default`: ALTER COLUMN ... DROP DEFAULT. Running clients that omit
//! the column on INSERT start failing (NOT NULL) or storing NULLs.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
use crate::{Category, Severity};

pub struct DropDefault;

pub static INFO: RuleInfo = RuleInfo {
    id: "drop-default",
    severity: Severity::Warning,
    category: Category::Destructive,
    message: "dropping a default breaks inserts from clients that rely on it",
    help: "release clients that always provide the value first; then drop the default",
};

impl Rule for DropDefault {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            // SET DEFAULT and DROP DEFAULT share a subtype; DROP has no expression.
            for cmd in
                cmds.filter(|c| cmd_is(c, AlterTableType::AtColumnDefault) && c.def.is_none())
            {
                out.push(
                    Hit::new(
                        s.index,
                        format!(
                            "dropping the default of `{}`.`{}`",
                            qualified(rel),
                            cmd.name
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
    fn flags_drop_default_only() {
        assert_eq!(
            hits(
                "ALTER TABLE kegs ALTER COLUMN status DROP DEFAULT;",
                "drop-default"
            )
            .len(),
            1
        );
        assert!(
            hits(
                "ALTER TABLE kegs ALTER COLUMN status SET DEFAULT 'full';",
                "drop-default"
            )
            .is_empty()
        );
    }
}
