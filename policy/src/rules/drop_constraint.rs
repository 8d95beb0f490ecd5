//! `drop-constraint`: ALTER TABLE ... DROP CONSTRAINT on an existing table.
//! A warning: data survives, but the guarantee (and for PK/UNIQUE the index)
//! does not. A check the revision made to prove columns not null, dropped
//! once they are NOT NULL, guarded nothing more, and is not flagged.

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
        let redundant = super::set_not_null::redundant_drops(rev);
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds.filter(|c| {
                cmd_is(c, AlterTableType::AtDropConstraint)
                    && !redundant
                        .iter()
                        .any(|(at, name)| *at == s.index && *name == c.name)
            }) {
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

    #[test]
    fn a_not_null_check_dropped_once_its_columns_are_not_null_is_not_flagged() {
        for sql in [
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;
             ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
             ALTER TABLE kegs DROP CONSTRAINT tap_nn;",
            "ALTER TABLE kegs ADD CONSTRAINT both_nn CHECK (tap_id IS NOT NULL AND keg_id IS NOT NULL);
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL, ALTER COLUMN keg_id SET NOT NULL;
             ALTER TABLE kegs DROP CONSTRAINT both_nn;",
            // Set NOT NULL in the ALTER TABLE that drops it, in either order.
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL, DROP CONSTRAINT tap_nn;",
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);
             ALTER TABLE kegs DROP CONSTRAINT tap_nn, ALTER COLUMN tap_id SET NOT NULL;",
        ] {
            assert!(hits(sql, "drop-constraint").is_empty(), "{sql}");
        }
        for sql in [
            // The check tested more than nulls.
            "ALTER TABLE kegs ADD CONSTRAINT tap_ok CHECK (tap_id IS NOT NULL AND tap_id > 0);
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
             ALTER TABLE kegs DROP CONSTRAINT tap_ok;",
            // One of its columns may still be null.
            "ALTER TABLE kegs ADD CONSTRAINT both_nn CHECK (tap_id IS NOT NULL AND keg_id IS NOT NULL);
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
             ALTER TABLE kegs DROP CONSTRAINT both_nn;",
            // Dropped before the column is NOT NULL, or on another table.
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);
             ALTER TABLE kegs DROP CONSTRAINT tap_nn;
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
             ALTER TABLE taps DROP CONSTRAINT tap_nn;",
            // A check of an earlier revision is unknown when the revision is
            // linted alone (see `History`).
            "ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
             ALTER TABLE kegs DROP CONSTRAINT tap_nn;",
        ] {
            assert_eq!(hits(sql, "drop-constraint").len(), 1, "{sql}");
        }
    }
}
