//! `constraint-missing-not-valid`: adding a FOREIGN KEY or CHECK constraint
//! to an existing table validates every row while holding a lock that blocks
//! writes (and, for foreign keys, writes to the referenced table too). The
//! same goes for a CHECK or NOT NULL added to a domain (every column of the
//! domain is checked; not for a domain created earlier in the revision that
//! no existing table uses yet), and for a constraint added NOT VALID and
//! validated in the same revision, whose transaction keeps the first lock
//! for the scan.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{
    AlterTableType, Name, Revision, cmd_is, column_def, constr_type, constraint, qualified,
};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{ConstrType, RangeVar};

pub struct ConstraintMissingNotValid;

pub static INFO: RuleInfo = RuleInfo {
    id: "constraint-missing-not-valid",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "adding a FOREIGN KEY or CHECK constraint without NOT VALID scans the whole table while it is locked (a CHECK blocks reads too)",
    help: "add the constraint with NOT VALID (instant), then run ALTER TABLE ... VALIDATE CONSTRAINT \
           in a later revision (in the same one, its transaction still holds the first lock while it \
           validates): validating a table's constraint only takes a SHARE UPDATE EXCLUSIVE lock. A \
           domain's VALIDATE still locks every table using the domain against writes: run it at a \
           quiet time",
};

impl Rule for ConstraintMissingNotValid {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        // (table, constraint) added NOT VALID earlier in this revision.
        let mut added_not_valid: Vec<(&RangeVar, &str)> = Vec::new();
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds {
                // A CHECK written with a new column cannot be NOT VALID: it
                // is checked against every existing row.
                if cmd_is(&cmd, AlterTableType::AtAddColumn) {
                    let Some(column) = column_def(cmd.def.as_deref()) else {
                        continue;
                    };
                    let checks = column.constraints.iter().any(|c| {
                        constraint(Some(c))
                            .is_some_and(|c| constr_type(c) == ConstrType::ConstrCheck)
                    });
                    if checks {
                        out.push(Hit::new(
                            s.index,
                            format!(
                                "the CHECK on new column `{}` of `{}` is checked against every existing row under an ACCESS EXCLUSIVE lock; add the column, then the constraint NOT VALID",
                                column.colname,
                                qualified(rel)
                            ),
                        ).at(cmd.at));
                    }
                    continue;
                }
                if cmd_is(&cmd, AlterTableType::AtValidateConstraint) {
                    if added_not_valid.iter().any(|(table, name)| {
                        Name::of_rel(table).may_be(&Name::of_rel(rel)) && *name == cmd.name
                    }) {
                        out.push(Hit::new(
                            s.index,
                            format!(
                                "`{}` is validated in the revision that added it NOT VALID: the transaction still holds the lock of the ADD while it scans `{}`; validate it in a later revision",
                                cmd.name,
                                qualified(rel)
                            ),
                        ).at(cmd.at));
                    }
                    continue;
                }
                if !cmd_is(&cmd, AlterTableType::AtAddConstraint) {
                    continue;
                }
                // Through `cmd.cmd`, not the `Cmd` of this iteration: the
                // name is kept in `added_not_valid` past it.
                let Some(c) = constraint(cmd.cmd.def.as_deref()) else {
                    continue;
                };
                let kind = match constr_type(c) {
                    ConstrType::ConstrForeign => "FOREIGN KEY",
                    ConstrType::ConstrCheck => "CHECK",
                    _ => continue,
                };
                if c.skip_validation {
                    added_not_valid.push((rel, &c.conname));
                } else {
                    let name = if c.conname.is_empty() {
                        String::new()
                    } else {
                        format!(" `{}`", c.conname)
                    };
                    out.push(Hit::new(
                        s.index,
                        format!(
                            "{kind} constraint{name} on `{}` is validated while the table is locked against {}; add it NOT VALID",
                            qualified(rel),
                            if kind == "CHECK" { "reads and writes" } else { "writes" }
                        ),
                    ).at(cmd.at));
                }
            }
        }
        for (s, node) in rev.nodes() {
            if let NodeEnum::AlterDomainStmt(d) = node
                && let Some(what) = domain_check(d)
                && !rev.is_new_unused_type(&d.type_name, s.index)
            {
                out.push(Hit::new(
                    s.index,
                    format!(
                        "{what} on domain `{}` is checked against every value of every column of the domain, each table locked against writes meanwhile",
                        crate::analysis::dotted(&d.type_name)
                    ),
                ));
            }
        }
    }
}

/// What an ALTER DOMAIN checks the stored values against, if anything:
/// an added CHECK without NOT VALID, SET NOT NULL, or a VALIDATE, which for
/// a domain locks the tables against writes as much as the others.
fn domain_check(d: &pg_query::protobuf::AlterDomainStmt) -> Option<&'static str> {
    match d.subtype.as_str() {
        "C" => constraint(d.def.as_deref())
            .filter(|c| !c.skip_validation)
            .map(|_| "a constraint added without NOT VALID"),
        "O" => Some("SET NOT NULL"),
        "V" => Some("VALIDATE CONSTRAINT"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "constraint-missing-not-valid";

    #[test]
    fn flags_validated_fk_and_check() {
        assert_eq!(hits("ALTER TABLE kegs ADD CONSTRAINT kegs_tap_fk FOREIGN KEY (tap_id) REFERENCES taps (id);", ID).len(), 1);
        assert_eq!(
            hits("ALTER TABLE kegs ADD CHECK (volume_ml > 0);", ID).len(),
            1
        );
    }

    #[test]
    fn flags_a_check_written_with_a_new_column() {
        let h = hits(
            "ALTER TABLE orders ADD COLUMN discount_pct int DEFAULT -1 CHECK (discount_pct BETWEEN 0 AND 100);",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.contains("new column `discount_pct`"),
            "{}",
            h[0].message
        );
        assert!(
            hits(
                "ALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT '';",
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn accepts_not_valid_new_tables_and_other_constraints() {
        assert!(hits("ALTER TABLE kegs ADD CONSTRAINT f FOREIGN KEY (tap_id) REFERENCES taps (id) NOT VALID;", ID).is_empty());
        assert!(hits("ALTER TABLE kegs VALIDATE CONSTRAINT f;", ID).is_empty());
        assert!(hits("CREATE TABLE k (id int, t int); ALTER TABLE k ADD FOREIGN KEY (t) REFERENCES taps (id);", ID).is_empty());
        assert!(
            hits(
                "ALTER TABLE kegs ADD CONSTRAINT u UNIQUE USING INDEX kegs_u;",
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn flags_a_validation_in_the_revision_that_added_the_constraint() {
        let h = hits(
            "ALTER TABLE kegs ADD CONSTRAINT kegs_tap_fk FOREIGN KEY (tap_id) REFERENCES taps (id) NOT VALID;
             ALTER TABLE kegs VALIDATE CONSTRAINT kegs_tap_fk;",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].line, 2);
        assert!(h[0].message.contains("later revision"), "{}", h[0].message);
        // `public.kegs` and `kegs` may well be one table.
        assert_eq!(
            hits(
                "ALTER TABLE public.kegs ADD CONSTRAINT kegs_tap_fk FOREIGN KEY (tap_id) REFERENCES taps (id) NOT VALID;
                 ALTER TABLE kegs VALIDATE CONSTRAINT kegs_tap_fk;",
                ID,
            )
            .len(),
            1
        );
        // Another table's constraint of the same name was added elsewhere.
        assert!(
            hits(
                "ALTER TABLE kegs ADD CONSTRAINT positive CHECK (v > 0) NOT VALID;
                 ALTER TABLE taps VALIDATE CONSTRAINT positive;",
                ID,
            )
            .is_empty()
        );
    }

    #[test]
    fn flags_domain_constraints_that_check_stored_values() {
        for sql in [
            "ALTER DOMAIN positive_cents ADD CONSTRAINT positive CHECK (VALUE > 0);",
            "ALTER DOMAIN positive_cents SET NOT NULL;",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(
                h[0].message.contains("domain `positive_cents`"),
                "{}",
                h[0].message
            );
        }
        // A domain's VALIDATE locks the tables against writes too.
        assert_eq!(
            hits(
                "ALTER DOMAIN positive_cents VALIDATE CONSTRAINT positive;",
                ID
            )
            .len(),
            1
        );
        for sql in [
            "ALTER DOMAIN positive_cents ADD CONSTRAINT positive CHECK (VALUE > 0) NOT VALID;",
            "ALTER DOMAIN positive_cents DROP NOT NULL;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }

    #[test]
    fn leaves_a_domain_created_earlier_in_the_revision_alone() {
        for sql in [
            "CREATE DOMAIN cents AS int; ALTER DOMAIN cents ADD CONSTRAINT positive CHECK (VALUE > 0);",
            "CREATE DOMAIN public.cents AS int; ALTER DOMAIN public.cents SET NOT NULL;",
            "CREATE DOMAIN cents AS int; ALTER DOMAIN cents ADD CONSTRAINT positive CHECK (VALUE > 0) NOT VALID; ALTER DOMAIN cents VALIDATE CONSTRAINT positive;",
            // A new table holds no rows anyone else sees.
            "CREATE DOMAIN cents AS int; CREATE TABLE t (c cents); ALTER TABLE t ADD COLUMN d cents; ALTER DOMAIN cents SET NOT NULL;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
        for sql in [
            "ALTER DOMAIN cents SET NOT NULL; CREATE DOMAIN cents AS int;",
            "CREATE DOMAIN cents AS int; ALTER DOMAIN public.cents SET NOT NULL;",
            // An existing table's new column has a value of it in every row.
            "CREATE DOMAIN cents AS int; ALTER TABLE orders ADD COLUMN tip cents DEFAULT 0; ALTER DOMAIN cents SET NOT NULL;",
            "CREATE DOMAIN public.cents AS int; ALTER TABLE orders ALTER COLUMN tip TYPE cents; ALTER DOMAIN public.cents ADD CHECK (VALUE > 0);",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.contains("domain `"), "{}", h[0].message);
        }
    }
}
