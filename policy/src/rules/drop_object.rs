//! `drop-object`: DROP of a type, domain, sequence, view, materialized
//! view, function, procedure, trigger or extension, and ALTER TYPE ... DROP
//! ATTRIBUTE. Tables, columns, schemas, indexes and constraints have rules
//! of their own.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, drop_names, drop_type, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

pub struct DropObject;

pub static INFO: RuleInfo = RuleInfo {
    id: "drop-object",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "dropping a type, sequence, view, function, trigger or extension breaks what still uses it, and with CASCADE drops that too (a column of the type, a default of the sequence)",
    help: "stop every use of it first (clients, columns, defaults, triggers), in earlier revisions, \
           then drop it alone without CASCADE, so that PostgreSQL refuses if something still \
           depends on it",
};

/// The objects this rule covers, as `DROP <kind>` spells them.
fn kind(object: ObjectType) -> Option<&'static str> {
    Some(match object {
        ObjectType::ObjectType => "TYPE",
        ObjectType::ObjectDomain => "DOMAIN",
        ObjectType::ObjectSequence => "SEQUENCE",
        ObjectType::ObjectView => "VIEW",
        ObjectType::ObjectMatview => "MATERIALIZED VIEW",
        ObjectType::ObjectFunction => "FUNCTION",
        ObjectType::ObjectProcedure => "PROCEDURE",
        ObjectType::ObjectRoutine => "ROUTINE",
        ObjectType::ObjectTrigger => "TRIGGER",
        ObjectType::ObjectExtension => "EXTENSION",
        _ => return None,
    })
}

impl Rule for DropObject {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            let NodeEnum::DropStmt(d) = node else {
                continue;
            };
            let Some(kind) = kind(drop_type(d)) else {
                continue;
            };
            let cascade = if d.behavior == pg_query::protobuf::DropBehavior::DropCascade as i32 {
                ", and CASCADE drops whatever depends on it (columns, defaults, triggers, views)"
            } else {
                ""
            };
            out.push(Hit::new(
                s.index,
                format!(
                    "DROP {kind} {} breaks what still uses it{cascade}",
                    drop_names(d).join(", ")
                ),
            ));
        }
        // ALTER TYPE ... DROP ATTRIBUTE: PostgreSQL drops the attribute's
        // values from every stored row of the type, even without CASCADE.
        for (s, alter, cmds) in rev.alters() {
            if alter.objtype != ObjectType::ObjectType as i32 {
                continue;
            }
            let type_name = alter.relation.as_ref().map(qualified).unwrap_or_default();
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtDropColumn)) {
                out.push(
                    Hit::new(
                        s.index,
                        format!(
                            "dropping attribute `{}` of type `{type_name}` deletes its value from every row that stores the type",
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
    fn flags_drops_of_objects_other_rules_do_not_cover() {
        for sql in [
            "DROP TYPE order_status;",
            "DROP DOMAIN positive_cents;",
            "DROP SEQUENCE invoice_number_seq;",
            "DROP VIEW IF EXISTS active_customers;",
            "DROP MATERIALIZED VIEW daily_sales;",
            "DROP FUNCTION IF EXISTS set_updated_at();",
            "DROP PROCEDURE archive_orders(int);",
            "DROP TRIGGER orders_touch ON orders;",
            "DROP EXTENSION pg_trgm;",
        ] {
            let h = hits(sql, "drop-object");
            assert_eq!(h.len(), 1, "{sql}");
            assert!(!h[0].message.contains("CASCADE"), "{sql}: {}", h[0].message);
        }
        let h = hits("DROP TYPE order_status CASCADE;", "drop-object");
        assert!(
            h[0].message
                .contains("CASCADE drops whatever depends on it"),
            "{}",
            h[0].message
        );
        assert!(
            h[0].message.starts_with("DROP TYPE order_status"),
            "{}",
            h[0].message
        );
        for sql in ["DROP TABLE t;", "DROP INDEX i;", "DROP SCHEMA s;"] {
            assert!(hits(sql, "drop-object").is_empty(), "{sql}");
        }
    }

    #[test]
    fn flags_a_dropped_attribute_of_a_composite_type() {
        let h = hits("ALTER TYPE address DROP ATTRIBUTE zip;", "drop-object");
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message
                .starts_with("dropping attribute `zip` of type `address` deletes its value"),
            "{}",
            h[0].message
        );
        assert!(hits("ALTER TYPE address ADD ATTRIBUTE zip text;", "drop-object").is_empty());
    }

    #[test]
    fn a_drop_of_a_type_makes_the_revision_destructive() {
        let report = crate::lint(
            "DROP TYPE order_status CASCADE;",
            Some("SELECT 1;"),
            &crate::LintConfig::default(),
        );
        assert_eq!(report.risk, crate::RiskClass::Destructive);
    }
}
