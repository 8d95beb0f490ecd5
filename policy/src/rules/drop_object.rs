//! `drop-object`: every DROP that no other rule covers (a type, domain,
//! sequence, view, function, trigger, extension, collation, operator,
//! aggregate, cast, server, foreign table, publication, statistics, text
//! search object, ...; a role, database, tablespace, subscription or user
//! mapping), DROP OWNED BY, and ALTER TYPE ... DROP ATTRIBUTE. Tables,
//! columns, schemas, indexes and constraints have rules of their own, and
//! so do policies (`restrict-access`) and rules (`rewrite-rule`).

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{
    AlterTableType, Kind, Name, Revision, cmd_is, dotted, dotted_name, drop_type, qualified,
    role_name, role_spec_name,
};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{DropBehavior, DropStmt, Node, ObjectType};

pub struct DropObject;

pub static INFO: RuleInfo = RuleInfo {
    id: "drop-object",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "dropping an object (a type, sequence, view, function, trigger, extension, operator, server, publication, ...) breaks what still uses it, and with CASCADE drops that too (a column of the type, a default of the sequence)",
    help: "stop every use of it first (clients, columns, defaults, triggers), in earlier revisions, \
           then drop it alone without CASCADE, so that PostgreSQL refuses if something still \
           depends on it",
};

/// The objects this rule covers, as `DROP <kind>` spells them: every kind
/// a DROP statement can name except those with a rule of their own (tables,
/// indexes and schemas; policies in `restrict-access`, rules in
/// `rewrite-rule`).
fn kind(object: ObjectType) -> Option<&'static str> {
    Some(match object {
        ObjectType::ObjectTable
        | ObjectType::ObjectIndex
        | ObjectType::ObjectSchema
        | ObjectType::ObjectPolicy
        | ObjectType::ObjectRule => return None,
        ObjectType::ObjectType => "TYPE",
        ObjectType::ObjectDomain => "DOMAIN",
        ObjectType::ObjectSequence => "SEQUENCE",
        ObjectType::ObjectView => "VIEW",
        ObjectType::ObjectMatview => "MATERIALIZED VIEW",
        ObjectType::ObjectFunction => "FUNCTION",
        ObjectType::ObjectProcedure => "PROCEDURE",
        ObjectType::ObjectRoutine => "ROUTINE",
        ObjectType::ObjectAggregate => "AGGREGATE",
        ObjectType::ObjectTrigger => "TRIGGER",
        ObjectType::ObjectExtension => "EXTENSION",
        ObjectType::ObjectForeignTable => "FOREIGN TABLE",
        ObjectType::ObjectCollation => "COLLATION",
        ObjectType::ObjectConversion => "CONVERSION",
        ObjectType::ObjectOperator => "OPERATOR",
        ObjectType::ObjectOpclass => "OPERATOR CLASS",
        ObjectType::ObjectOpfamily => "OPERATOR FAMILY",
        ObjectType::ObjectCast => "CAST",
        ObjectType::ObjectTransform => "TRANSFORM",
        ObjectType::ObjectLanguage => "LANGUAGE",
        ObjectType::ObjectAccessMethod => "ACCESS METHOD",
        ObjectType::ObjectEventTrigger => "EVENT TRIGGER",
        ObjectType::ObjectFdw => "FOREIGN DATA WRAPPER",
        ObjectType::ObjectForeignServer => "SERVER",
        ObjectType::ObjectPublication => "PUBLICATION",
        ObjectType::ObjectStatisticExt => "STATISTICS",
        ObjectType::ObjectTsconfiguration => "TEXT SEARCH CONFIGURATION",
        ObjectType::ObjectTsdictionary => "TEXT SEARCH DICTIONARY",
        ObjectType::ObjectTsparser => "TEXT SEARCH PARSER",
        ObjectType::ObjectTstemplate => "TEXT SEARCH TEMPLATE",
        // Any other kind a later parser adds counts too.
        _ => "OBJECT",
    })
}

/// An object of a DROP as written: `name`, `schema.name`, `f(int)`,
/// `(source AS target)` for a cast.
fn display(object: &Node) -> String {
    match object.node.as_ref() {
        Some(NodeEnum::List(l))
            if l.items.len() == 2
                && l.items
                    .iter()
                    .all(|i| matches!(i.node, Some(NodeEnum::TypeName(_)))) =>
        {
            let t: Vec<String> = l.items.iter().map(dotted_name).collect();
            format!("({} AS {})", t[0], t[1])
        }
        Some(NodeEnum::ObjectWithArgs(f)) if !f.args_unspecified => {
            let args: Vec<String> = f
                .objargs
                .iter()
                .map(|a| match a.node.as_ref() {
                    Some(NodeEnum::TypeName(t)) => dotted(&t.names)
                        .strip_prefix("pg_catalog.")
                        .map(str::to_string)
                        .unwrap_or_else(|| dotted(&t.names)),
                    _ => "NONE".to_string(),
                })
                .collect();
            format!("{}({})", dotted(&f.objname), args.join(", "))
        }
        _ => dotted_name(object),
    }
}

/// DROP statements of their own kind: roles, databases, tablespaces,
/// subscriptions, user mappings, and DROP OWNED.
fn other_drop(rev: &Revision<'_>, node: &NodeEnum, idx: usize) -> Option<String> {
    Some(match node {
        // A role the revision created: nobody logs in as it yet.
        NodeEnum::DropRoleStmt(d)
            if d.roles.iter().all(|r| rev.is_new_role(&role_name(r), idx)) =>
        {
            return None;
        }
        NodeEnum::DropOwnedStmt(d) => {
            let roles: Vec<String> = d.roles.iter().map(role_name).collect();
            format!(
                "DROP OWNED BY {} drops every object {} in this database, tables and their data included, and revokes every privilege granted to {}",
                roles.join(", "),
                if roles.len() == 1 {
                    "that role owns"
                } else {
                    "those roles own"
                },
                if roles.len() == 1 { "it" } else { "them" },
            )
        }
        NodeEnum::DropRoleStmt(d) => format!(
            "DROP ROLE {} breaks every client that logs in as, or sets, the role",
            d.roles.iter().map(role_name).collect::<Vec<_>>().join(", ")
        ),
        NodeEnum::DropdbStmt(d) => {
            format!(
                "DROP DATABASE {} deletes the database and all its data",
                d.dbname
            )
        }
        NodeEnum::DropTableSpaceStmt(d) => format!(
            "DROP TABLESPACE {} breaks whatever still names it",
            d.tablespacename
        ),
        NodeEnum::DropSubscriptionStmt(d) => format!(
            "DROP SUBSCRIPTION {} stops the replication it receives (and drops its replication slot on the publisher, if it has one)",
            d.subname
        ),
        NodeEnum::DropUserMappingStmt(d) => format!(
            "DROP USER MAPPING FOR {} SERVER {} breaks that role's queries on the server's foreign tables",
            d.user.as_ref().map(role_spec_name).unwrap_or_default(),
            d.servername
        ),
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
            if let Some(message) = other_drop(rev, node, s.index) {
                out.push(Hit::new(s.index, message));
                continue;
            }
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
                .map(display)
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
    fn flags_every_other_kind_of_drop() {
        for (sql, start) in [
            ("DROP COLLATION german;", "DROP COLLATION german breaks"),
            (
                "DROP OPERATOR ===(int, int);",
                "DROP OPERATOR ===(int4, int4)",
            ),
            (
                "DROP OPERATOR CLASS int_ops USING btree;",
                "DROP OPERATOR CLASS",
            ),
            (
                "DROP OPERATOR FAMILY int_ops USING btree;",
                "DROP OPERATOR FAMILY",
            ),
            (
                "DROP AGGREGATE total_ml(int);",
                "DROP AGGREGATE total_ml(int4)",
            ),
            ("DROP CAST (text AS cents);", "DROP CAST (text AS cents)"),
            ("DROP SERVER legacy_erp;", "DROP SERVER legacy_erp"),
            (
                "DROP FOREIGN TABLE erp_orders;",
                "DROP FOREIGN TABLE erp_orders",
            ),
            (
                "DROP FOREIGN DATA WRAPPER postgres_fdw;",
                "DROP FOREIGN DATA WRAPPER",
            ),
            (
                "DROP TEXT SEARCH CONFIGURATION german_menu;",
                "DROP TEXT SEARCH CONFIGURATION",
            ),
            (
                "DROP TEXT SEARCH DICTIONARY menu_dict;",
                "DROP TEXT SEARCH DICTIONARY",
            ),
            ("DROP TEXT SEARCH PARSER p;", "DROP TEXT SEARCH PARSER"),
            ("DROP TEXT SEARCH TEMPLATE t;", "DROP TEXT SEARCH TEMPLATE"),
            (
                "DROP PUBLICATION orders_cdc;",
                "DROP PUBLICATION orders_cdc",
            ),
            (
                "DROP STATISTICS orders_stats;",
                "DROP STATISTICS orders_stats",
            ),
            ("DROP CONVERSION latin_conv;", "DROP CONVERSION"),
            ("DROP LANGUAGE plperl;", "DROP LANGUAGE plperl"),
            ("DROP ACCESS METHOD heap2;", "DROP ACCESS METHOD"),
            ("DROP EVENT TRIGGER audit_ddl;", "DROP EVENT TRIGGER"),
            (
                "DROP TRANSFORM FOR hstore LANGUAGE plpython3u;",
                "DROP TRANSFORM",
            ),
            ("DROP ROUTINE tidy;", "DROP ROUTINE tidy"),
            ("DROP ROLE reporting;", "DROP ROLE reporting"),
            (
                "DROP USER MAPPING FOR reporting SERVER legacy_erp;",
                "DROP USER MAPPING FOR reporting",
            ),
            (
                "DROP SUBSCRIPTION orders_sub;",
                "DROP SUBSCRIPTION orders_sub",
            ),
            ("DROP TABLESPACE fast_ssd;", "DROP TABLESPACE fast_ssd"),
            ("DROP DATABASE scratch;", "DROP DATABASE scratch"),
        ] {
            let h = hits(sql, "drop-object");
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.starts_with(start), "{sql}: {}", h[0].message);
        }
        // Policies and rules have rules of their own.
        for sql in ["DROP POLICY p ON orders;", "DROP RULE r ON orders;"] {
            assert!(hits(sql, "drop-object").is_empty(), "{sql}");
        }
    }

    #[test]
    fn flags_drop_owned() {
        let h = hits("DROP OWNED BY legacy_app;", "drop-object");
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.starts_with(
                "DROP OWNED BY legacy_app drops every object that role owns in this database, tables and their data included"
            ),
            "{}",
            h[0].message
        );
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
            "CREATE ROLE scratch_role NOLOGIN; DROP ROLE scratch_role;",
            "CREATE COLLATION german (provider = icu, locale = 'de'); DROP COLLATION german;",
            "CREATE TEXT SEARCH CONFIGURATION menu (COPY = english); DROP TEXT SEARCH CONFIGURATION menu;",
            "CREATE AGGREGATE total_ml(int) (sfunc = int4pl, stype = int); DROP AGGREGATE total_ml(int);",
            "CREATE TABLE staging (id int); CREATE TRIGGER touch BEFORE UPDATE ON staging FOR EACH ROW EXECUTE FUNCTION touch(); DROP TRIGGER touch ON staging;",
            // Statistics of an existing table: the planner's, nobody else's.
            "CREATE STATISTICS orders_dep (dependencies) ON customer_id, region FROM orders; DROP STATISTICS orders_dep;",
            "CREATE STATISTICS reports.orders_dep ON customer_id, region FROM orders; DROP STATISTICS reports.orders_dep;",
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
            // Statistics that may be older: IF NOT EXISTS, another schema,
            // renamed away.
            (
                "CREATE STATISTICS IF NOT EXISTS orders_dep ON a, b FROM orders; DROP STATISTICS orders_dep;",
                "orders_dep",
            ),
            (
                "CREATE STATISTICS reports.orders_dep ON a, b FROM orders; DROP STATISTICS public.orders_dep;",
                "public.orders_dep",
            ),
            (
                "CREATE STATISTICS orders_dep ON a, b FROM orders; ALTER STATISTICS orders_dep RENAME TO orders_dep_old; DROP STATISTICS orders_dep;",
                "orders_dep",
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
