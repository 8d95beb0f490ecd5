//! `drop-constraint`: ALTER TABLE ... DROP CONSTRAINT on an existing table.
//! A warning: data survives, but the guarantee (and for PK/UNIQUE the index)
//! does not.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
use crate::{Category, Severity};

pub struct DropConstraint;

pub static INFO: RuleInfo = RuleInfo {
    id: "drop-constraint",
    severity: Severity::Warning,
    category: Category::Destructive,
    message: "dropping a constraint removes a data guarantee (and the index behind a PK/UNIQUE)",
    help: "make sure no code relies on the guarantee (ON CONFLICT targets, FK cascades); to replace \
           a constraint, add the new one NOT VALID and VALIDATE it before dropping the old one",
};

impl Rule for DropConstraint {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtDropConstraint)) {
                out.push(
                    Hit::new(
                        s.index,
                        format!("dropping constraint `{}` of `{}`", cmd.name, qualified(rel)),
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
    fn flags_drop_constraint() {
        assert_eq!(
            hits(
                "ALTER TABLE kegs DROP CONSTRAINT kegs_tap_fk;",
                "drop-constraint"
            )
            .len(),
            1
        );
        assert!(
            hits(
                "ALTER TABLE kegs VALIDATE CONSTRAINT kegs_tap_fk;",
                "drop-constraint"
            )
            .is_empty()
        );
    }
}
