//! `rename-object`: renaming (or moving to another schema) a schema, type,
//! domain, enum value, type attribute, sequence, function, procedure,
//! aggregate, operator, collation, text search configuration or extension,
//! unless it was created earlier in the revision. Tables, views and columns
//! have rules of their own.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Kind, Name, Revision, dotted_name, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{AlterEnumStmt, Node, ObjectType, RangeVar};

pub struct RenameObject;

pub static INFO: RuleInfo = RuleInfo {
    id: "rename-object",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "renaming a schema, type, enum value, sequence or function breaks every running client and stored query that still uses the old name",
    help: "add the new name beside the old one (a new schema or type, a new enum value, a \
           wrapper function), move clients over, then retire the old name in a later revision",
};

/// The objects this rule covers, as `ALTER <kind>` spells them.
fn kind(object: i32) -> Option<&'static str> {
    Some(match ObjectType::try_from(object).ok()? {
        ObjectType::ObjectSchema => "SCHEMA",
        ObjectType::ObjectType => "TYPE",
        ObjectType::ObjectDomain => "DOMAIN",
        ObjectType::ObjectSequence => "SEQUENCE",
        ObjectType::ObjectFunction => "FUNCTION",
        ObjectType::ObjectProcedure => "PROCEDURE",
        ObjectType::ObjectRoutine => "ROUTINE",
        ObjectType::ObjectAttribute => "TYPE ATTRIBUTE",
        ObjectType::ObjectAggregate => "AGGREGATE",
        ObjectType::ObjectOperator => "OPERATOR",
        ObjectType::ObjectCollation => "COLLATION",
        ObjectType::ObjectTsconfiguration => "TEXT SEARCH CONFIGURATION",
        // Only SET SCHEMA: an extension cannot be renamed.
        ObjectType::ObjectExtension => "EXTENSION",
        _ => return None,
    })
}

/// The renamed object's name: a relation (a sequence), else the parsed
/// object (a schema's name, a type's dotted name, a function's name).
fn name(relation: Option<&RangeVar>, object: Option<&Node>, subname: &str) -> String {
    match (relation, object) {
        (Some(rel), _) => qualified(rel),
        (None, Some(obj)) => dotted_name(obj),
        (None, None) => subname.to_string(),
    }
}

/// Whether the object a rename, move or enum change names was created
/// before statement `idx`.
fn is_new_object(rev: &Revision<'_>, node: &NodeEnum, idx: usize) -> bool {
    let (object_type, relation, object, subname) = match node {
        NodeEnum::RenameStmt(r) => (
            r.rename_type,
            r.relation.as_ref(),
            r.object.as_deref(),
            r.subname.as_str(),
        ),
        NodeEnum::AlterObjectSchemaStmt(m) => {
            (m.object_type, m.relation.as_ref(), m.object.as_deref(), "")
        }
        NodeEnum::AlterEnumStmt(e) => {
            return rev.is_new(Kind::Type, &Name::of_list(&e.type_name), idx);
        }
        _ => return false,
    };
    // Like `name`: a relation (a sequence, a composite type), else the
    // parsed object, else a schema's bare name.
    let name = match (relation, object) {
        (Some(rel), _) => Some(Name::of_rel(rel)),
        (None, Some(obj)) => Name::of_object(obj),
        (None, None) => Some(Name::new("", subname)),
    };
    let kind = ObjectType::try_from(object_type).ok().and_then(Kind::of);
    matches!((kind, name), (Some(kind), Some(name)) if rev.is_new(kind, &name, idx))
}

fn enum_value_rename(e: &AlterEnumStmt) -> Option<String> {
    if e.old_val.is_empty() {
        return None; // ADD VALUE
    }
    let type_name = crate::analysis::dotted(&e.type_name);
    Some(format!(
        "renaming value '{}' of enum `{type_name}` to '{}' breaks clients and function bodies that still use '{}' (stored rows, views and defaults follow the rename)",
        e.old_val, e.new_val, e.old_val
    ))
}

impl Rule for RenameObject {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            // Nobody can use the name of an object created earlier in the
            // revision yet.
            if is_new_object(rev, node, s.index) {
                continue;
            }
            let message = match node {
                NodeEnum::RenameStmt(r) => kind(r.rename_type).map(|kind| {
                    let old = name(r.relation.as_ref(), r.object.as_deref(), &r.subname);
                    let old = if r.rename_type == ObjectType::ObjectAttribute as i32 {
                        format!("{old}.{}", r.subname)
                    } else {
                        old
                    };
                    format!(
                        "renaming {} `{old}` to `{}` breaks clients using `{old}`",
                        kind.to_lowercase(),
                        r.newname
                    )
                }),
                NodeEnum::AlterObjectSchemaStmt(moved) => kind(moved.object_type)
                    .filter(|kind| *kind != "SCHEMA")
                    .map(|kind| {
                        let old = name(moved.relation.as_ref(), moved.object.as_deref(), "");
                        format!(
                            "moving {} `{old}` to schema `{}` breaks clients using `{old}`",
                            kind.to_lowercase(),
                            moved.newschema
                        )
                    }),
                NodeEnum::AlterEnumStmt(e) => enum_value_rename(e),
                _ => None,
            };
            if let Some(message) = message {
                out.push(Hit::new(s.index, message));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_renames_of_objects_other_rules_do_not_cover() {
        for (sql, said) in [
            (
                "ALTER SCHEMA billing RENAME TO invoicing;",
                "renaming schema `billing` to `invoicing`",
            ),
            (
                "ALTER TYPE public.order_status RENAME TO order_state;",
                "renaming type `public.order_status` to `order_state`",
            ),
            (
                "ALTER DOMAIN positive_cents RENAME TO cents;",
                "renaming domain `positive_cents`",
            ),
            (
                "ALTER SEQUENCE invoice_number_seq RENAME TO invoice_seq;",
                "renaming sequence `invoice_number_seq`",
            ),
            (
                "ALTER FUNCTION set_updated_at() RENAME TO touch;",
                "renaming function `set_updated_at` to `touch`",
            ),
            (
                "ALTER PROCEDURE archive_orders(int) RENAME TO archive;",
                "renaming procedure `archive_orders`",
            ),
            (
                "ALTER TYPE address RENAME ATTRIBUTE zip TO postcode;",
                "renaming type attribute `address.zip` to `postcode`",
            ),
            (
                "ALTER TYPE order_status RENAME VALUE 'shipped' TO 'dispatched';",
                "renaming value 'shipped' of enum `order_status` to 'dispatched'",
            ),
            (
                "ALTER TYPE order_status SET SCHEMA archive;",
                "moving type `order_status` to schema `archive`",
            ),
            (
                "ALTER FUNCTION touch() SET SCHEMA util;",
                "moving function `touch` to schema `util`",
            ),
            (
                "ALTER AGGREGATE public.median(numeric) RENAME TO percentile_50;",
                "renaming aggregate `public.median` to `percentile_50`",
            ),
            (
                "ALTER EXTENSION pgcrypto SET SCHEMA extensions;",
                "moving extension `pgcrypto` to schema `extensions`",
            ),
            (
                "ALTER COLLATION german RENAME TO de;",
                "renaming collation `german` to `de`",
            ),
            (
                "ALTER TEXT SEARCH CONFIGURATION english_stem RENAME TO en;",
                "renaming text search configuration `english_stem`",
            ),
        ] {
            let h = hits(sql, "rename-object");
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.contains(said), "{sql}: {}", h[0].message);
        }
    }

    #[test]
    fn leaves_other_statements_to_their_rules() {
        for sql in [
            "ALTER TYPE order_status ADD VALUE 'returned';",
            "ALTER TABLE orders RENAME TO purchases;",
            "ALTER TABLE orders RENAME COLUMN total TO amount;",
            "ALTER TABLE orders SET SCHEMA archive;",
            "ALTER INDEX orders_total_idx RENAME TO orders_amount_idx;",
            "CREATE TYPE mood AS ENUM ('ok');",
        ] {
            assert!(hits(sql, "rename-object").is_empty(), "{sql}");
        }
    }

    #[test]
    fn leaves_objects_created_earlier_in_the_revision_alone() {
        for sql in [
            "CREATE SCHEMA billing; ALTER SCHEMA billing RENAME TO invoicing;",
            "CREATE TYPE mood AS ENUM ('ok'); ALTER TYPE mood RENAME VALUE 'ok' TO 'fine';",
            "CREATE TYPE public.mood AS ENUM ('ok'); ALTER TYPE public.mood RENAME TO feeling;",
            "CREATE TYPE address AS (zip text); ALTER TYPE address RENAME ATTRIBUTE zip TO postcode;",
            "CREATE TYPE span AS RANGE (subtype = int); ALTER TYPE span SET SCHEMA util;",
            "CREATE DOMAIN cents AS int; ALTER DOMAIN cents RENAME TO amount;",
            "CREATE SEQUENCE billing.invoice_no; ALTER SEQUENCE billing.invoice_no RENAME TO invoice_seq;",
            "CREATE FUNCTION touch(a int, OUT b text) LANGUAGE sql AS 'select 1'; ALTER FUNCTION touch(integer) RENAME TO stamp;",
            "CREATE FUNCTION touch(int4[]) RETURNS int LANGUAGE sql AS 'select 1'; ALTER FUNCTION touch SET SCHEMA util;",
            "CREATE PROCEDURE archive(int) LANGUAGE sql AS 'select 1'; ALTER ROUTINE archive(int) RENAME TO archive_orders;",
            "CREATE AGGREGATE median(numeric) (sfunc = f, stype = numeric); ALTER AGGREGATE median(numeric) RENAME TO p50;",
            "CREATE COLLATION german (provider = icu, locale = 'de'); ALTER COLLATION german RENAME TO de;",
            "CREATE EXTENSION pgcrypto; ALTER EXTENSION pgcrypto SET SCHEMA extensions;",
        ] {
            assert!(hits(sql, "rename-object").is_empty(), "{sql}");
        }
    }

    #[test]
    fn flags_a_name_that_may_be_older_than_what_the_revision_created() {
        for sql in [
            // Renamed before it is created: the name is an older object's.
            "ALTER TYPE mood RENAME TO feeling; CREATE TYPE mood AS ENUM ('ok');",
            // `public.mood` may be another type than a new unqualified `mood`.
            "CREATE TYPE mood AS ENUM ('ok'); ALTER TYPE public.mood RENAME TO feeling;",
            "CREATE TYPE archive.mood AS ENUM ('ok'); ALTER TYPE mood RENAME TO feeling;",
            // The object may exist already.
            "CREATE SCHEMA IF NOT EXISTS billing; ALTER SCHEMA billing RENAME TO invoicing;",
            "CREATE OR REPLACE FUNCTION touch() RETURNS int LANGUAGE sql AS 'select 1'; ALTER FUNCTION touch() RENAME TO stamp;",
            // Another overload, or another kind of object of the same name.
            "CREATE FUNCTION touch(text) RETURNS int LANGUAGE sql AS 'select 1'; ALTER FUNCTION touch(int) RENAME TO stamp;",
            "CREATE TABLE mood (id int); ALTER TYPE mood RENAME TO feeling;",
            "CREATE FUNCTION billing() RETURNS int LANGUAGE sql AS 'select 1'; ALTER SCHEMA billing RENAME TO invoicing;",
        ] {
            assert_eq!(hits(sql, "rename-object").len(), 1, "{sql}");
        }
    }

    #[test]
    fn a_renamed_enum_value_makes_the_revision_destructive() {
        let report = crate::lint(
            "ALTER TYPE order_status RENAME VALUE 'shipped' TO 'dispatched';",
            Some("ALTER TYPE order_status RENAME VALUE 'dispatched' TO 'shipped';"),
            &crate::LintConfig::default(),
        );
        assert_eq!(report.risk, crate::RiskClass::Destructive);
    }
}
