//! `drop-object`: DROP of a type, domain, sequence, view, materialized
//! view, function, procedure, trigger or extension, and ALTER TYPE ... DROP
//! ATTRIBUTE. Tables, columns, schemas, indexes and constraints have rules
//! of their own.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{
    AlterTableType, Kind, Name, Revision, cmd_is, dotted_name, drop_type, qualified,
};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{DropBehavior, DropStmt, Node, ObjectType};

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

/// Whether `object`, dropped by `d` at statement `idx`, was created
/// earlier in the revision and nothing that existed before can depend on
/// it: nobody uses it yet, and without CASCADE PostgreSQL refuses the drop
/// if anything the revision made depend on it does. With CASCADE the drop
/// may reach into an existing table (a column of the new type, a default
/// of the new sequence), so it is flagged. A type counts only while no
/// existing table stores it.
fn is_new_and_unused(rev: &Revision<'_>, d: &DropStmt, object: &Node, idx: usize) -> bool {
    if d.behavior == DropBehavior::DropCascade as i32 {
        return false;
    }
    let object_type = drop_type(d);
    if object_type == ObjectType::ObjectTrigger {
        // `ON table` comes first, the trigger's name last: a trigger of a
        // table created in the revision is as new as its table.
        let Some(NodeEnum::List(parts)) = object.node.as_ref() else {
            return false;
        };
        let table = &parts.items[..parts.items.len().saturating_sub(1)];
        return !table.is_empty() && rev.is_new(Kind::Relation, &Name::of_list(table), idx);
    }
    if matches!(
        object_type,
        ObjectType::ObjectType | ObjectType::ObjectDomain
    ) {
        return match object.node.as_ref() {
            Some(NodeEnum::TypeName(t)) => rev.is_new_unused_type(&t.names, idx),
            _ => false,
        };
    }
    // Views and sequences are relations, routines keep their argument
    // types, an extension is a bare name.
    let kind = if object_type == ObjectType::ObjectView {
        Some(Kind::Relation)
    } else {
        Kind::of(object_type)
    };
    match (kind, Name::of_object(object)) {
        (Some(kind), Some(name)) => rev.is_new(kind, &name, idx),
        _ => false,
    }
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
            let existing: Vec<String> = d
                .objects
                .iter()
                .filter(|object| !is_new_and_unused(rev, d, object, s.index))
                .map(dotted_name)
                .collect();
            if existing.is_empty() {
                continue;
            }
            let cascade = if d.behavior == DropBehavior::DropCascade as i32 {
                ", and CASCADE drops whatever depends on it (columns, defaults, triggers, views)"
            } else {
                ""
            };
            out.push(Hit::new(
                s.index,
                format!(
                    "DROP {kind} {} breaks what still uses it{cascade}",
                    existing.join(", ")
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
    fn ignores_objects_the_revision_created_and_nothing_old_uses() {
        for sql in [
            "CREATE TYPE mood AS ENUM ('ok'); DROP TYPE mood;",
            "CREATE DOMAIN cents AS bigint CHECK (VALUE >= 0); DROP DOMAIN cents;",
            "CREATE SEQUENCE scratch_seq; DROP SEQUENCE scratch_seq;",
            "CREATE VIEW recent AS SELECT 1 AS one; DROP VIEW recent;",
            "CREATE MATERIALIZED VIEW daily AS SELECT 1 AS one; DROP MATERIALIZED VIEW daily;",
            "CREATE FUNCTION tidy(int) RETURNS int LANGUAGE sql AS 'SELECT 1'; DROP FUNCTION tidy(int);",
            "CREATE FUNCTION tidy(int) RETURNS int LANGUAGE sql AS 'SELECT 1'; DROP FUNCTION tidy;",
            "CREATE EXTENSION pg_trgm; DROP EXTENSION pg_trgm;",
            "CREATE TABLE staging (id int); CREATE TRIGGER touch BEFORE UPDATE ON staging FOR EACH ROW EXECUTE FUNCTION touch(); DROP TRIGGER touch ON staging;",
        ] {
            assert!(hits(sql, "drop-object").is_empty(), "{sql}");
        }
    }

    #[test]
    fn flags_what_may_be_older_or_reach_into_existing_tables() {
        for (sql, named) in [
            // Dropped before it was created: an older one of the name.
            (
                "DROP VIEW recent; CREATE VIEW recent AS SELECT 1 AS one;",
                "recent",
            ),
            // CREATE OR REPLACE and IF NOT EXISTS may have found it there.
            (
                "CREATE OR REPLACE VIEW recent AS SELECT 1 AS one; DROP VIEW recent;",
                "recent",
            ),
            ("CREATE SEQUENCE IF NOT EXISTS s; DROP SEQUENCE s;", "s"),
            // Another overload of the routine, another schema's view.
            (
                "CREATE FUNCTION tidy(int) RETURNS int LANGUAGE sql AS 'SELECT 1'; DROP FUNCTION tidy(text);",
                "tidy",
            ),
            (
                "CREATE VIEW archive.recent AS SELECT 1 AS one; DROP VIEW public.recent;",
                "public.recent",
            ),
            // A new type an existing table now stores.
            (
                "CREATE TYPE mood AS ENUM ('ok'); ALTER TABLE visits ADD COLUMN mood mood; DROP TYPE mood;",
                "mood",
            ),
            // CASCADE may drop a part of an existing table.
            (
                "CREATE SEQUENCE s; ALTER TABLE orders ALTER COLUMN n SET DEFAULT nextval('s'); DROP SEQUENCE s CASCADE;",
                "s",
            ),
            // A trigger of an existing table.
            (
                "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; CREATE TRIGGER touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION f(); DROP TRIGGER touch ON orders;",
                "orders.touch",
            ),
        ] {
            let h = hits(sql, "drop-object");
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.contains(named), "{sql}: {}", h[0].message);
        }
        // Only the older of two dropped together is named.
        let h = hits(
            "CREATE VIEW recent AS SELECT 1 AS one; DROP VIEW recent, legacy;",
            "drop-object",
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.starts_with("DROP VIEW legacy breaks"),
            "{}",
            h[0].message
        );
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
