//! `add-unique-constraint`: adding a UNIQUE, PRIMARY KEY or EXCLUDE
//! constraint to an existing table (or a column carrying one) builds its
//! index while the table is locked against reads and writes.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{
    AlterTableType, Revision, cmd_is, column_def, constr_type, constraint, qualified,
};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{ConstrType, Constraint};

pub struct AddUniqueConstraint;

pub static INFO: RuleInfo = RuleInfo {
    id: "add-unique-constraint",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "adding a UNIQUE, PRIMARY KEY or EXCLUDE constraint builds its index under an ACCESS EXCLUSIVE lock, blocking reads and writes for the whole build",
    help: "build the index first with CREATE UNIQUE INDEX CONCURRENTLY in its own revision, then \
           add the constraint on it: ALTER TABLE ... ADD CONSTRAINT name UNIQUE USING INDEX idx \
           (or PRIMARY KEY USING INDEX), which is instant",
};

/// `UNIQUE`, `PRIMARY KEY` or `EXCLUDE` when `c` builds an index of its own.
fn builds_an_index(c: &Constraint) -> Option<&'static str> {
    if !c.indexname.is_empty() {
        // USING INDEX: the index exists already.
        return None;
    }
    match constr_type(c) {
        ConstrType::ConstrUnique => Some("UNIQUE"),
        ConstrType::ConstrPrimary => Some("PRIMARY KEY"),
        ConstrType::ConstrExclusion => Some("EXCLUDE"),
        _ => None,
    }
}

impl Rule for AddUniqueConstraint {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds {
                let kinds: Vec<&'static str> = if cmd_is(&cmd, AlterTableType::AtAddConstraint) {
                    constraint(cmd.def.as_deref())
                        .and_then(builds_an_index)
                        .into_iter()
                        .collect()
                } else if cmd_is(&cmd, AlterTableType::AtAddColumn) {
                    column_def(cmd.def.as_deref())
                        .map(|column| {
                            column
                                .constraints
                                .iter()
                                .filter_map(|n| match n.node.as_ref() {
                                    Some(NodeEnum::Constraint(c)) => builds_an_index(c),
                                    _ => None,
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                for kind in kinds {
                    out.push(Hit::new(
                        s.index,
                        format!(
                            "{kind} on `{}` builds its index while the table is locked against reads and writes; build it with CREATE UNIQUE INDEX CONCURRENTLY and add the constraint USING INDEX",
                            qualified(rel)
                        ),
                    ).at(cmd.at));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "add-unique-constraint";

    #[test]
    fn flags_constraints_that_build_an_index_on_an_existing_table() {
        for sql in [
            "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);",
            "ALTER TABLE legacy_events ADD PRIMARY KEY (id);",
            "ALTER TABLE reservations ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);",
            "ALTER TABLE customers ADD COLUMN external_ref text UNIQUE;",
        ] {
            assert_eq!(hits(sql, ID).len(), 1, "{sql}");
        }
        let report = crate::lint(
            "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);",
            Some("SELECT 1;"),
            &crate::LintConfig::default(),
        );
        assert_eq!(report.risk, crate::RiskClass::Risky);
    }

    #[test]
    fn accepts_using_index_new_tables_and_other_constraints() {
        for sql in [
            "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE USING INDEX customers_email_idx;",
            "ALTER TABLE legacy_events ADD CONSTRAINT legacy_events_pkey PRIMARY KEY USING INDEX legacy_events_id_idx;",
            "CREATE TABLE k (id int); ALTER TABLE k ADD PRIMARY KEY (id);",
            "ALTER TABLE kegs ADD CHECK (volume_ml > 0) NOT VALID;",
            "ALTER TABLE kegs ADD COLUMN note text;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }
}
