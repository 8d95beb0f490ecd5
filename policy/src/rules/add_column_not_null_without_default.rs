//! `add-column-not-null-without-default`: ADD COLUMN ... NOT NULL (or
//! PRIMARY KEY) without a DEFAULT fails on any table that has rows.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{
    AlterTableType, Revision, cmd_is, column_def, constr_type, constraint, qualified,
};
use crate::{Category, Severity};
use pg_query::protobuf::ConstrType;

pub struct AddColumnNotNullWithoutDefault;

pub static INFO: RuleInfo = RuleInfo {
    id: "add-column-not-null-without-default",
    severity: Severity::Error,
    category: Category::Locking,
    message: "adding a NOT NULL column without a DEFAULT fails as soon as the table has a row",
    help: "add the column with a constant DEFAULT (instant since PostgreSQL 11), or add it nullable, \
           backfill in batches, then enforce NOT NULL via a validated CHECK constraint",
};

impl Rule for AddColumnNotNullWithoutDefault {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtAddColumn)) {
                let Some(col) = column_def(cmd.def.as_deref()) else {
                    continue;
                };
                let kinds: Vec<ConstrType> = col
                    .constraints
                    .iter()
                    .filter_map(|c| constraint(Some(c)))
                    .map(constr_type)
                    .collect();
                let not_null = col.is_not_null
                    || kinds.iter().any(|k| {
                        matches!(k, ConstrType::ConstrNotnull | ConstrType::ConstrPrimary)
                    });
                // Identity and generated columns fill themselves in.
                let filled = col.raw_default.is_some()
                    || kinds.iter().any(|k| {
                        matches!(
                            k,
                            ConstrType::ConstrDefault
                                | ConstrType::ConstrIdentity
                                | ConstrType::ConstrGenerated
                        )
                    })
                    || crate::rules::add_column_volatile_default::serial_type(col).is_some();
                if not_null && !filled {
                    out.push(
                        Hit::new(
                            s.index,
                            format!(
                                "column `{}` added to `{}` as NOT NULL without a DEFAULT",
                                col.colname,
                                qualified(rel)
                            ),
                        )
                        .at(cmd.at),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "add-column-not-null-without-default";

    #[test]
    fn flags_not_null_without_default() {
        assert_eq!(
            hits("ALTER TABLE kegs ADD COLUMN lot text NOT NULL;", ID).len(),
            1
        );
        assert_eq!(
            hits("ALTER TABLE kegs ADD COLUMN id2 int PRIMARY KEY;", ID).len(),
            1
        );
    }

    #[test]
    fn accepts_defaults_identity_and_nullable() {
        assert!(
            hits(
                "ALTER TABLE kegs ADD COLUMN lot text NOT NULL DEFAULT '';",
                ID
            )
            .is_empty()
        );
        assert!(hits("ALTER TABLE kegs ADD COLUMN lot text;", ID).is_empty());
        assert!(
            hits(
                "ALTER TABLE kegs ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY NOT NULL;",
                ID
            )
            .is_empty()
        );
        assert!(
            hits(
                "CREATE TABLE k (a int); ALTER TABLE k ADD COLUMN b int NOT NULL;",
                ID
            )
            .is_empty()
        );
    }
}
