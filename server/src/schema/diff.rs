//! Compares an expected schema (what the catalog's revisions produce) with a
//! live one and lists the differences as readable lines, in a stable order
//! that is also a safe order to run the reconcile SQL in (schemas, types,
//! functions, event triggers, sequences, tables, indexes, views).
//! Reconcile SQL is offered only for purely additive fixes; drops and type
//! changes are left to a revision.

use super::model::{
    Attribute, Column, Constraint, ConstraintKind, Domain, EventTrigger, Index, Range, Schema,
    Sequence, Table, TriggerMode, View,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

const MISSING: &str = "missing (expected by the catalog)";
const CREATED: &str = "not in the catalog (created out of band)";
const ADDED: &str = "not in the catalog (added out of band)";

/// One way the live schema differs from the expected one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The object, with its kind: `table public.pours`, `index public.pours_tap_idx`.
    pub object: String,
    /// What differs, live value first: `column volume_ml: type integer, expected numeric(8,2)`.
    pub detail: String,
    /// SQL that makes the live database match, when the fix is purely
    /// additive (a missing schema, type, enum label, sequence, table,
    /// nullable column, index or view) or drops what serves nothing (an
    /// index left invalid). Never set for any other drop or a change.
    pub reconcile_sql: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.detail)
    }
}

/// Rank of an object kind in the output: dependencies first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Schema,
    Extension,
    Type,
    Function,
    EventTrigger,
    Sequence,
    Table,
    Index,
    View,
}

struct Out(Vec<(Rank, Difference)>);

impl Out {
    fn push(&mut self, rank: Rank, object: String, detail: String, reconcile: Option<String>) {
        self.0.push((
            rank,
            Difference {
                object,
                detail,
                reconcile_sql: reconcile,
            },
        ));
    }
}

/// The differences between `expected` and `live`, ordered by object kind
/// (schemas, extensions, types, functions, event triggers, sequences,
/// tables, indexes, views), then by object name; the lines of one object keep a fixed order.
/// Empty when the schemas are equal.
pub fn diff(expected: &Schema, live: &Schema) -> Vec<Difference> {
    let mut out = Out(Vec::new());

    let (missing, extra) = set_diff(&expected.schemas, &live.schemas);
    for name in missing {
        let sql = format!("CREATE SCHEMA {name};");
        out.push(
            Rank::Schema,
            format!("schema {name}"),
            MISSING.into(),
            Some(sql),
        );
    }
    for name in extra {
        out.push(Rank::Schema, format!("schema {name}"), CREATED.into(), None);
    }

    let (missing, extra) = set_diff(&expected.extensions, &live.extensions);
    for name in missing {
        out.push(
            Rank::Extension,
            format!("extension {name}"),
            MISSING.into(),
            None,
        );
    }
    for name in extra {
        out.push(
            Rank::Extension,
            format!("extension {name}"),
            CREATED.into(),
            None,
        );
    }

    compare_maps(&expected.enums, &live.enums, |name, e, l| {
        let object = format!("type {name}");
        match (e, l) {
            (Some(labels), None) => {
                let sql = format!(
                    "CREATE TYPE {name} AS ENUM ({});",
                    labels
                        .iter()
                        .map(|l| literal(l))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                out.push(Rank::Type, object, MISSING.into(), Some(sql));
            }
            (None, Some(_)) => out.push(Rank::Type, object, CREATED.into(), None),
            (Some(e), Some(l)) => enum_labels(&mut out, name, e, l),
            (None, None) => {}
        }
    });

    compare_maps(&expected.domains, &live.domains, |name, e, l| {
        let object = format!("domain {name}");
        match (e, l) {
            (Some(domain), None) => out.push(
                Rank::Type,
                object,
                MISSING.into(),
                Some(create_domain(name, domain)),
            ),
            (None, Some(_)) => out.push(Rank::Type, object, CREATED.into(), None),
            (Some(e), Some(l)) => domain_lines(&mut out, &object, e, l),
            (None, None) => {}
        }
    });

    type_definitions(
        &mut out,
        &expected.composites,
        &live.composites,
        ("", "attributes"),
        |attributes| attribute_list(attributes),
    );
    type_definitions(
        &mut out,
        &expected.ranges,
        &live.ranges,
        ("RANGE ", "range"),
        range_options,
    );

    compare_maps(&expected.functions, &live.functions, |name, e, l| {
        let object = format!("function {name}");
        match (e, l) {
            (Some(_), None) => out.push(Rank::Function, object, MISSING.into(), None),
            (None, Some(_)) => out.push(Rank::Function, object, CREATED.into(), None),
            (Some(e), Some(l)) if e != l => {
                out.push(Rank::Function, object, definitions_differ(l, e), None)
            }
            _ => {}
        }
    });

    compare_maps(
        &expected.event_triggers,
        &live.event_triggers,
        |name, e, l| {
            let object = format!("event trigger {name}");
            match (e, l) {
                (Some(e), None) => {
                    let mut sql =
                        format!("CREATE EVENT TRIGGER {name} {};", event_trigger_clause(e));
                    if let Some(mode) = e.mode {
                        sql.push_str(&format!(
                            "\nALTER EVENT TRIGGER {name} {};",
                            trigger_mode_clause(mode)
                        ));
                    }
                    out.push(Rank::EventTrigger, object, MISSING.into(), Some(sql));
                }
                (None, Some(_)) => out.push(Rank::EventTrigger, object, CREATED.into(), None),
                (Some(e), Some(l)) => {
                    let (ec, lc) = (event_trigger_clause(e), event_trigger_clause(l));
                    if ec != lc {
                        out.push(
                            Rank::EventTrigger,
                            object.clone(),
                            format!("{lc}, expected {ec}"),
                            None,
                        );
                    }
                    if e.mode != l.mode {
                        out.push(
                            Rank::EventTrigger,
                            object,
                            format!(
                                "{}, expected {}",
                                trigger_mode(l.mode.as_ref()),
                                trigger_mode(e.mode.as_ref())
                            ),
                            None,
                        );
                    }
                }
                (None, None) => {}
            }
        },
    );

    compare_maps(&expected.sequences, &live.sequences, |name, e, l| {
        let object = format!("sequence {name}");
        match (e, l) {
            (Some(e), None) => {
                let mut sql = format!("CREATE SEQUENCE {name} {}", sequence_options(e));
                // Only a column that exists can own it.
                if let Some(owner) = &e.owned_by
                    && column_exists(live, owner)
                {
                    sql.push_str(&format!(" OWNED BY {owner}"));
                }
                sql.push(';');
                out.push(Rank::Sequence, object, MISSING.into(), Some(sql));
            }
            (None, Some(_)) => out.push(Rank::Sequence, object, CREATED.into(), None),
            (Some(e), Some(l)) => {
                for detail in sequence_differences(e, l) {
                    out.push(Rank::Sequence, object.clone(), detail, None);
                }
            }
            (None, None) => {}
        }
    });

    compare_maps(&expected.tables, &live.tables, |name, e, l| {
        let object = format!("table {name}");
        match (e, l) {
            (Some(e), None) => out.push(
                Rank::Table,
                object,
                MISSING.into(),
                Some(create_table(name, e)),
            ),
            (None, Some(_)) => out.push(Rank::Table, object, CREATED.into(), None),
            (Some(e), Some(l)) => table_differences(&mut out, name, e, l),
            (None, None) => {}
        }
    });

    index_differences(&mut out, expected, live);

    compare_maps(&expected.views, &live.views, |name, e, l| match (e, l) {
        (Some(e), None) => {
            let options = match e.options.is_empty() {
                true => String::new(),
                false => format!(" WITH ({})", e.options.join(", ")),
            };
            let sql = format!(
                "CREATE {} {name}{options} AS {};",
                view_kind(e).to_uppercase(),
                e.definition.trim()
            );
            out.push(
                Rank::View,
                format!("{} {name}", view_kind(e)),
                MISSING.into(),
                Some(sql),
            );
        }
        (None, Some(l)) => out.push(
            Rank::View,
            format!("{} {name}", view_kind(l)),
            CREATED.into(),
            None,
        ),
        (Some(e), Some(l)) => view_differences(&mut out, name, e, l),
        (None, None) => {}
    });

    // Stable: the lines of one object keep the order they were found in
    // (enum labels must be added in order).
    out.0
        .sort_by(|(ra, a), (rb, b)| (ra, &a.object).cmp(&(rb, &b.object)));
    out.0.into_iter().map(|(_, d)| d).collect()
}

/// Calls `f` for every key of either map, in key order.
fn compare_maps<V>(
    expected: &BTreeMap<String, V>,
    live: &BTreeMap<String, V>,
    mut f: impl FnMut(&str, Option<&V>, Option<&V>),
) {
    let keys: BTreeSet<&String> = expected.keys().chain(live.keys()).collect();
    for key in keys {
        f(key, expected.get(key), live.get(key));
    }
}

fn set_diff<'a>(
    expected: &'a BTreeSet<String>,
    live: &'a BTreeSet<String>,
) -> (Vec<&'a String>, Vec<&'a String>) {
    (
        expected.difference(live).collect(),
        live.difference(expected).collect(),
    )
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Collapses runs of whitespace so a multi-line definition fits one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Two definitions that differ, each on one line. Short ones are given in
/// full; of long ones (a view's query) only the part that differs, with a
/// little context, so that one added `WHERE` does not hide in two copies
/// of a page of SQL.
fn definitions_differ(live: &str, expected: &str) -> String {
    const IN_FULL: usize = 240;
    const CONTEXT: usize = 24;
    let (live, expected) = (one_line(live), one_line(expected));
    if live.len() + expected.len() <= IN_FULL {
        return format!("definition differs: live {live}, expected {expected}");
    }
    let (l, e): (Vec<char>, Vec<char>) = (live.chars().collect(), expected.chars().collect());
    let prefix = l.iter().zip(&e).take_while(|(a, b)| a == b).count();
    let suffix = l[prefix..]
        .iter()
        .rev()
        .zip(e[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let excerpt = |text: &[char]| {
        let start = prefix.saturating_sub(CONTEXT);
        let end = (text.len() - suffix + CONTEXT).min(text.len());
        let middle: String = text[start..end].iter().collect();
        let middle = if middle.chars().count() > 2 * IN_FULL {
            let cut: String = middle.chars().take(2 * IN_FULL).collect();
            format!("{cut}…")
        } else {
            middle
        };
        format!(
            "{}{middle}{}",
            if start > 0 { "…" } else { "" },
            if end < text.len() { "…" } else { "" }
        )
    };
    format!(
        "definition differs from character {}: live {}, expected {}",
        prefix + 1,
        excerpt(&l),
        excerpt(&e)
    )
}

/// `CREATE DOMAIN` of a domain as read. A check not validated is added
/// apart, NOT VALID, which `CREATE DOMAIN` does not take.
fn create_domain(name: &str, domain: &Domain) -> String {
    let mut sql = format!("CREATE DOMAIN {name} AS {}", domain.data_type);
    if let Some(collation) = &domain.collation {
        sql.push_str(&format!(" COLLATE {collation}"));
    }
    if let Some(default) = &domain.default {
        sql.push_str(&format!(" DEFAULT {default}"));
    }
    if domain.not_null {
        sql.push_str(" NOT NULL");
    }
    let (not_valid, valid): (Vec<_>, Vec<_>) = domain
        .checks
        .iter()
        .partition(|(_, definition)| definition.ends_with(" NOT VALID"));
    for (check, definition) in valid {
        sql.push_str(&format!(" CONSTRAINT {check} {definition}"));
    }
    sql.push(';');
    for (check, definition) in not_valid {
        sql.push_str(&format!(
            "\nALTER DOMAIN {name} ADD CONSTRAINT {check} {definition};"
        ));
    }
    sql
}

/// What differs in a domain, a line each: its type, collation, default,
/// NOT NULL and checks. Changing any of them changes what a column of it
/// holds (a collation, how its values compare and sort), so none comes
/// with SQL.
fn domain_lines(out: &mut Out, object: &str, expected: &Domain, live: &Domain) {
    let mut line = |detail: String| out.push(Rank::Type, object.to_string(), detail, None);
    if live.data_type != expected.data_type {
        line(format!(
            "type {}, expected {}",
            live.data_type, expected.data_type
        ));
    }
    if live.collation != expected.collation {
        line(format!(
            "{}, expected {}",
            collation_text(&live.collation),
            collation_text(&expected.collation)
        ));
    }
    if live.default != expected.default {
        let shown = |default: &Option<String>| default.as_deref().unwrap_or("none").to_string();
        line(format!(
            "default {}, expected {}",
            shown(&live.default),
            shown(&expected.default)
        ));
    }
    if live.not_null != expected.not_null {
        let shown = |not_null: bool| if not_null { "NOT NULL" } else { "nullable" };
        line(format!(
            "{}, expected {}",
            shown(live.not_null),
            shown(expected.not_null)
        ));
    }
    compare_maps(&expected.checks, &live.checks, |check, e, l| match (e, l) {
        (Some(_), None) => line(format!("check {check}: {MISSING}")),
        (None, Some(_)) => line(format!("check {check}: {ADDED}")),
        (Some(e), Some(l)) if e != l => {
            line(format!("check {check}: {}", definitions_differ(l, e)))
        }
        _ => {}
    });
}

fn enum_labels(out: &mut Out, name: &str, expected: &[String], live: &[String]) {
    let object = format!("type {name}");
    let in_live: BTreeSet<&String> = live.iter().collect();
    let in_expected: BTreeSet<&String> = expected.iter().collect();
    let common_expected: Vec<&String> = expected.iter().filter(|l| in_live.contains(l)).collect();
    let common_live: Vec<&String> = live.iter().filter(|l| in_expected.contains(l)).collect();
    if common_expected != common_live {
        out.push(
            Rank::Type,
            object.clone(),
            format!(
                "labels in order {}, expected {}",
                live.iter()
                    .map(|l| literal(l))
                    .collect::<Vec<_>>()
                    .join(", "),
                expected
                    .iter()
                    .map(|l| literal(l))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        );
        return;
    }
    // Each missing label goes after the expected label before it, which
    // exists by then (it was either there or added by the previous line).
    for (i, label) in expected.iter().enumerate() {
        if in_live.contains(label) {
            continue;
        }
        let position = match i.checked_sub(1).and_then(|p| expected.get(p)) {
            Some(previous) => format!(" AFTER {}", literal(previous)),
            None => match live.first() {
                Some(first) => format!(" BEFORE {}", literal(first)),
                None => String::new(),
            },
        };
        let sql = format!("ALTER TYPE {name} ADD VALUE {}{position};", literal(label));
        out.push(
            Rank::Type,
            object.clone(),
            format!("label {}: {MISSING}", literal(label)),
            Some(sql),
        );
    }
    for label in live.iter().filter(|l| !in_expected.contains(l)) {
        out.push(
            Rank::Type,
            object.clone(),
            format!("label {}: {ADDED}", literal(label)),
            None,
        );
    }
}

/// `ON event [WHEN TAG IN (...)] EXECUTE FUNCTION f()`.
fn event_trigger_clause(e: &EventTrigger) -> String {
    let tags = match e.tags.is_empty() {
        true => String::new(),
        false => format!(
            " WHEN TAG IN ({})",
            e.tags
                .iter()
                .map(|t| literal(t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("ON {}{tags} EXECUTE FUNCTION {}()", e.event, e.function)
}

/// The `ALTER ... TRIGGER` clause that sets `mode`.
fn trigger_mode_clause(mode: TriggerMode) -> &'static str {
    match mode {
        TriggerMode::Disabled => "DISABLE",
        TriggerMode::Replica => "ENABLE REPLICA",
        TriggerMode::Always => "ENABLE ALWAYS",
    }
}

/// Whether `column`, `schema.table.column`, names a column of a table of
/// `schema`.
fn column_exists(schema: &Schema, column: &str) -> bool {
    let mut quoted = false;
    let mut last_dot = None;
    for (at, c) in column.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => last_dot = Some(at),
            _ => {}
        }
    }
    last_dot.is_some_and(|at| {
        schema
            .tables
            .get(&column[..at])
            .is_some_and(|table| table.columns.contains_key(&column[at + 1..]))
    })
}

fn sequence_options(s: &Sequence) -> String {
    format!("AS {} {}", s.data_type, sequence_settings(s))
}

/// The settings of a sequence, without its type (as an identity takes them).
fn sequence_settings(s: &Sequence) -> String {
    format!(
        "INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} {}",
        s.increment,
        s.min,
        s.max,
        s.start,
        if s.cycle { "CYCLE" } else { "NO CYCLE" }
    )
}

fn sequence_differences(e: &Sequence, l: &Sequence) -> Vec<String> {
    let mut lines = Vec::new();
    if e.data_type != l.data_type {
        lines.push(format!("type {}, expected {}", l.data_type, e.data_type));
    }
    for (what, e, l) in [
        ("start", e.start, l.start),
        ("increment", e.increment, l.increment),
        ("minimum", e.min, l.min),
        ("maximum", e.max, l.max),
    ] {
        if e != l {
            lines.push(format!("{what} {l}, expected {e}"));
        }
    }
    if e.cycle != l.cycle {
        let word = |c: bool| if c { "cycles" } else { "does not cycle" };
        lines.push(format!("{}, expected it {}", word(l.cycle), word(e.cycle)));
    }
    if e.owned_by != l.owned_by {
        let text = |owner: &Option<String>| match owner {
            Some(column) => format!("owned by {column}"),
            None => "owned by no column but one whose default draws from it".to_string(),
        };
        lines.push(format!(
            "{}, expected {}",
            text(&l.owned_by),
            text(&e.owned_by)
        ));
    }
    lines
}

fn identity_clause(column: &Column) -> Option<String> {
    column.identity.as_ref().map(|identity| {
        format!(
            "GENERATED {} AS IDENTITY ({})",
            identity.generation,
            sequence_settings(&identity.sequence)
        )
    })
}

/// `type [COMPRESSION m] [COLLATE c] [GENERATED ...] [DEFAULT ...] [NOT NULL]`.
fn column_definition(column: &Column) -> String {
    let mut text = column.data_type.clone();
    if let Some(compression) = &column.compression {
        text.push_str(&format!(" COMPRESSION {compression}"));
    }
    if let Some(collation) = &column.collation {
        text.push_str(&format!(" COLLATE {collation}"));
    }
    if let Some(expression) = &column.generated {
        text.push_str(&format!(" GENERATED ALWAYS AS ({expression}) STORED"));
    }
    if let Some(identity) = identity_clause(column) {
        text.push(' ');
        text.push_str(&identity);
    }
    if let Some(default) = &column.default {
        text.push_str(&format!(" DEFAULT {default}"));
    }
    if column.not_null {
        text.push_str(" NOT NULL");
    }
    text
}

/// The `ALTER TABLE` statements that set what a column definition cannot
/// say: its storage and its statistics target.
fn column_settings(table: &str, name: &str, column: &Column) -> String {
    let mut sql = String::new();
    if let Some(storage) = &column.storage {
        sql.push_str(&format!(
            "\nALTER TABLE {table} ALTER COLUMN {name} SET STORAGE {storage};"
        ));
    }
    if let Some(target) = column.statistics {
        sql.push_str(&format!(
            "\nALTER TABLE {table} ALTER COLUMN {name} SET STATISTICS {target};"
        ));
    }
    sql
}

/// A `CREATE TABLE` rebuilt from the model: columns in their original order
/// and every constraint, then the columns' storage and statistics targets
/// and the table's extended statistics. Indexes and triggers are not
/// included (indexes are reported, with their own SQL, as missing indexes).
fn create_table(name: &str, table: &Table) -> String {
    let mut sql = create_table_alone(name, table);
    for (column, c) in &table.columns {
        sql.push_str(&column_settings(name, column, c));
    }
    for definition in table.statistics.values() {
        sql.push_str(&format!("\n{definition};"));
    }
    sql
}

fn create_table_alone(name: &str, table: &Table) -> String {
    if let Some(parent) = &table.partition_of {
        let mut sql = format!("CREATE TABLE {name} PARTITION OF {parent}");
        if let Some(key) = &table.partition_key {
            sql.push_str(&format!(" PARTITION BY {key}"));
        }
        sql.push(';');
        return sql;
    }
    let mut columns: Vec<(&String, &Column)> = table.columns.iter().collect();
    columns.sort_by_key(|(name, column)| (column.position.0, *name));
    let mut lines: Vec<String> = columns
        .iter()
        .map(|(name, column)| format!("    {name} {}", column_definition(column)))
        .collect();
    lines.extend(
        table
            .constraints
            .iter()
            .map(|c| format!("    CONSTRAINT {} {}", c.name.0, c.definition)),
    );
    let mut sql = format!("CREATE TABLE {name} (\n{}\n)", lines.join(",\n"));
    if !table.inherits.is_empty() {
        sql.push_str(&format!(" INHERITS ({})", joined(&table.inherits)));
    }
    if let Some(key) = &table.partition_key {
        sql.push_str(&format!(" PARTITION BY {key}"));
    }
    sql.push(';');
    sql
}

fn view_kind(view: &View) -> &'static str {
    if view.materialized {
        "materialized view"
    } else {
        "view"
    }
}

fn view_differences(out: &mut Out, name: &str, e: &View, l: &View) {
    let object = format!("{} {name}", view_kind(e));
    let mut push = |detail: String| out.push(Rank::View, object.clone(), detail, None);
    if e.materialized != l.materialized {
        // Nothing else of two kinds of objects compares.
        push(format!(
            "is a {}, expected a {}",
            view_kind(l),
            view_kind(e)
        ));
        return;
    }
    if e.definition != l.definition {
        push(definitions_differ(&l.definition, &e.definition));
    }
    if e.options != l.options {
        let text = |options: &[String]| match options.is_empty() {
            true => "none".to_string(),
            false => options.join(", "),
        };
        push(format!(
            "options {}, expected {}",
            text(&l.options),
            text(&e.options)
        ));
    }
    for detail in trigger_differences(&e.triggers, &l.triggers) {
        push(detail);
    }
}

/// The lines of triggers missing, added or redefined, `trigger name: ...`.
fn trigger_differences(
    expected: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut lines = Vec::new();
    compare_maps(expected, live, |trigger, e, l| match (e, l) {
        (Some(_), None) => lines.push(format!("trigger {trigger}: {MISSING}")),
        (None, Some(_)) => lines.push(format!("trigger {trigger}: {CREATED}")),
        (Some(e), Some(l)) if e != l => {
            lines.push(format!("trigger {trigger}: {}", definitions_differ(l, e)))
        }
        _ => {}
    });
    lines
}

/// How a trigger fires, as a person reads it: `None` is as created.
fn trigger_mode(mode: Option<&TriggerMode>) -> &'static str {
    match mode {
        None => "enabled",
        Some(TriggerMode::Disabled) => "disabled",
        Some(TriggerMode::Replica) => "enabled for replication only (ENABLE REPLICA)",
        Some(TriggerMode::Always) => "enabled always (ENABLE ALWAYS)",
    }
}

fn table_differences(out: &mut Out, name: &str, e: &Table, l: &Table) {
    let object = format!("table {name}");
    let mut push = |detail: String, reconcile: Option<String>| {
        out.push(Rank::Table, object.clone(), detail, reconcile)
    };
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    if e.partition_key != l.partition_key {
        push(
            format!(
                "partition key {}, expected {}",
                or_none(&l.partition_key),
                or_none(&e.partition_key)
            ),
            None,
        );
    }
    if e.partition_of != l.partition_of {
        let text = |p: &Option<String>| {
            p.as_ref().map_or("not a partition".to_string(), |p| {
                format!("partition of {p}")
            })
        };
        push(
            format!(
                "{}, expected {}",
                text(&l.partition_of),
                text(&e.partition_of)
            ),
            None,
        );
    }
    if e.inherits != l.inherits {
        let text = |parents: &BTreeSet<String>| match parents.is_empty() {
            true => "inherits from no table".to_string(),
            false => format!("inherits from {}", joined(parents)),
        };
        push(
            format!("{}, expected {}", text(&l.inherits), text(&e.inherits)),
            None,
        );
    }

    compare_maps(&e.columns, &l.columns, |column, ec, lc| match (ec, lc) {
        (Some(ec), None) => {
            // Only a plain nullable column is added without a rewrite or a
            // failure on existing rows; its default is set for new rows only.
            let reconcile =
                (!ec.not_null && ec.generated.is_none() && ec.identity.is_none()).then(|| {
                    let mut type_only = ec.clone();
                    type_only.default = None;
                    let mut sql = format!(
                        "ALTER TABLE {name} ADD COLUMN {column} {};",
                        column_definition(&type_only)
                    );
                    if let Some(default) = &ec.default {
                        sql.push_str(&format!(
                            "\nALTER TABLE {name} ALTER COLUMN {column} SET DEFAULT {default};"
                        ));
                    }
                    sql.push_str(&column_settings(name, column, ec));
                    sql
                });
            push(format!("column {column}: {MISSING}"), reconcile);
        }
        (None, Some(_)) => push(format!("column {column}: {ADDED}"), None),
        (Some(ec), Some(lc)) => {
            for detail in column_differences(ec, lc) {
                push(format!("column {column}: {detail}"), None);
            }
        }
        (None, None) => {}
    });

    for detail in constraint_differences(&e.constraints, &l.constraints) {
        push(detail, None);
    }

    for detail in trigger_differences(&e.triggers, &l.triggers) {
        push(detail, None);
    }
    // The mode of a trigger on both sides; a missing or added one is
    // reported above.
    for trigger in e.triggers.keys().filter(|t| l.triggers.contains_key(*t)) {
        let (em, lm) = (e.trigger_modes.get(trigger), l.trigger_modes.get(trigger));
        if em != lm {
            push(
                format!(
                    "trigger {trigger}: {}, expected {}",
                    trigger_mode(lm),
                    trigger_mode(em)
                ),
                None,
            );
        }
    }
    let clones: BTreeSet<&String> = e
        .cloned_trigger_modes
        .keys()
        .chain(l.cloned_trigger_modes.keys())
        .collect();
    let clone_mode = |mode: Option<&Option<TriggerMode>>| match mode {
        None => "as on the parent",
        Some(mode) => trigger_mode(mode.as_ref()),
    };
    for trigger in clones {
        let (em, lm) = (
            e.cloned_trigger_modes.get(trigger),
            l.cloned_trigger_modes.get(trigger),
        );
        if em != lm {
            push(
                format!(
                    "trigger {trigger} (cloned from the parent's) on this partition: {}, expected {}",
                    clone_mode(lm),
                    clone_mode(em)
                ),
                None,
            );
        }
    }

    compare_maps(&e.statistics, &l.statistics, |statistics, es, ls| {
        let what = format!("statistics {statistics}");
        match (es, ls) {
            (Some(es), None) => push(format!("{what}: {MISSING}"), Some(format!("{es};"))),
            (None, Some(_)) => push(format!("{what}: {CREATED}"), None),
            (Some(es), Some(ls)) if es != ls => {
                push(format!("{what}: {}", definitions_differ(ls, es)), None)
            }
            _ => {}
        }
    });
}

/// Names separated by commas.
fn joined(names: &BTreeSet<String>) -> String {
    names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Types made whole by one `CREATE TYPE name AS <kind>(<definition>)`
/// (composite, range), `kind` and `what` naming their sort: a missing one
/// comes with that statement; a changed definition, which changes what
/// every value of the type holds, is one line, with no SQL.
fn type_definitions<T: PartialEq>(
    out: &mut Out,
    expected: &BTreeMap<String, T>,
    live: &BTreeMap<String, T>,
    (kind, what): (&str, &str),
    definition: impl Fn(&T) -> String,
) {
    compare_maps(expected, live, |name, e, l| {
        let object = format!("type {name}");
        match (e, l) {
            (Some(e), None) => out.push(
                Rank::Type,
                object,
                MISSING.into(),
                Some(format!("CREATE TYPE {name} AS {kind}({});", definition(e))),
            ),
            (None, Some(_)) => out.push(Rank::Type, object, CREATED.into(), None),
            (Some(e), Some(l)) if e != l => out.push(
                Rank::Type,
                object,
                format!("{what} ({}), expected ({})", definition(l), definition(e)),
                None,
            ),
            _ => {}
        }
    });
}

/// A range type's options as `CREATE TYPE ... AS RANGE (...)` lists them.
fn range_options(range: &Range) -> String {
    let mut options = vec![format!("SUBTYPE = {}", range.subtype)];
    for (option, value) in [
        ("SUBTYPE_OPCLASS", &range.subtype_opclass),
        ("COLLATION", &range.collation),
        ("CANONICAL", &range.canonical),
        ("SUBTYPE_DIFF", &range.subtype_diff),
    ] {
        if let Some(value) = value {
            options.push(format!("{option} = {value}"));
        }
    }
    options.join(", ")
}

/// A composite type's attributes as `CREATE TYPE ... AS (...)` lists them.
fn attribute_list(attributes: &[Attribute]) -> String {
    attributes
        .iter()
        .map(|a| {
            let mut text = format!("{} {}", a.name, a.data_type);
            if let Some(collation) = &a.collation {
                text.push_str(&format!(" COLLATE {collation}"));
            }
            text
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column's or a domain's collation as a difference line names it.
fn collation_text(collation: &Option<String>) -> String {
    collation
        .as_ref()
        .map_or("default collation".to_string(), |c| {
            format!("collation {c}")
        })
}

fn column_differences(e: &Column, l: &Column) -> Vec<String> {
    let mut lines = Vec::new();
    if e.data_type != l.data_type {
        lines.push(format!("type {}, expected {}", l.data_type, e.data_type));
    }
    if e.collation != l.collation {
        lines.push(format!(
            "{}, expected {}",
            collation_text(&l.collation),
            collation_text(&e.collation)
        ));
    }
    if e.not_null != l.not_null {
        let text = |n: bool| if n { "NOT NULL" } else { "nullable" };
        lines.push(format!(
            "{}, expected {}",
            text(l.not_null),
            text(e.not_null)
        ));
    }
    if e.default != l.default {
        let text = |d: &Option<String>| {
            d.as_ref()
                .map_or("no default".to_string(), |d| format!("default {d}"))
        };
        lines.push(format!(
            "{}, expected {}",
            text(&l.default),
            text(&e.default)
        ));
    }
    if e.generated != l.generated {
        let text = |g: &Option<String>| {
            g.as_ref().map_or("not generated".to_string(), |g| {
                format!("generated as ({g})")
            })
        };
        lines.push(format!(
            "{}, expected {}",
            text(&l.generated),
            text(&e.generated)
        ));
    }
    match (&l.identity, &e.identity) {
        // Both identities: only what differs, not every setting twice.
        (Some(li), Some(ei)) if li != ei => {
            if li.generation != ei.generation {
                lines.push(format!(
                    "identity GENERATED {}, expected GENERATED {}",
                    li.generation, ei.generation
                ));
            }
            for line in sequence_differences(&ei.sequence, &li.sequence) {
                lines.push(format!("identity {line}"));
            }
        }
        _ if e.identity != l.identity => {
            let text = |c: &Column| identity_clause(c).unwrap_or_else(|| "not an identity".into());
            lines.push(format!("{}, expected {}", text(l), text(e)));
        }
        _ => {}
    }
    let or_default = |v: &Option<String>, default: &str| match v {
        Some(v) => v.clone(),
        None => default.to_string(),
    };
    if e.storage != l.storage {
        lines.push(format!(
            "storage {}, expected {}",
            or_default(&l.storage, "the type's default"),
            or_default(&e.storage, "the type's default")
        ));
    }
    if e.compression != l.compression {
        lines.push(format!(
            "compression {}, expected {}",
            or_default(&l.compression, "default"),
            or_default(&e.compression, "default")
        ));
    }
    if e.statistics != l.statistics {
        let text =
            |target: Option<i32>| target.map_or("default".to_string(), |target| target.to_string());
        lines.push(format!(
            "statistics target {}, expected {}",
            text(l.statistics),
            text(e.statistics)
        ));
    }
    lines
}

/// The column list a foreign key starts with: `FOREIGN KEY (tap_id)`.
fn key_columns(definition: &str) -> &str {
    definition
        .find(')')
        .map_or(definition, |end| &definition[..=end])
}

/// Whether a leftover expected and a leftover live constraint are the same
/// constraint, changed: same kind and same name, or the (only) primary key,
/// or a foreign key over the same columns.
fn same_constraint(e: &Constraint, l: &Constraint) -> bool {
    e.kind == l.kind
        && (e.name.0 == l.name.0
            || e.kind == ConstraintKind::PrimaryKey
            || (e.kind == ConstraintKind::ForeignKey
                && key_columns(&e.definition) == key_columns(&l.definition)))
}

fn constraint_differences(expected: &[Constraint], live: &[Constraint]) -> Vec<String> {
    // Match by definition first (names are information), then pair leftovers.
    let mut live_left: Vec<&Constraint> = live.iter().collect();
    let mut expected_left = Vec::new();
    let mut lines = Vec::new();
    for e in expected {
        match live_left
            .iter()
            .position(|l| l.kind == e.kind && l.definition == e.definition)
        {
            Some(at) => {
                let l = live_left.remove(at);
                lines.extend(enforcement_differs(e, l));
                lines.extend(trigger_modes_differ(e, l));
            }
            None => expected_left.push(e),
        }
    }
    for e in expected_left {
        match live_left.iter().position(|l| same_constraint(e, l)) {
            Some(at) => {
                let l = live_left.remove(at);
                lines.push(format!(
                    "constraint {}: {}",
                    e.name.0,
                    definitions_differ(&l.definition, &e.definition)
                ));
                lines.extend(enforcement_differs(e, l));
                lines.extend(trigger_modes_differ(e, l));
            }
            None => lines.push(format!(
                "constraint {} {}: {MISSING}",
                e.name.0, e.definition
            )),
        }
    }
    for l in live_left {
        lines.push(format!("constraint {} {}: {ADDED}", l.name.0, l.definition));
    }
    lines
}

/// The line of a constraint whose triggers are disabled on one side only.
fn enforcement_differs(e: &Constraint, l: &Constraint) -> Option<String> {
    let text = |disabled: bool| match disabled {
        true => "not enforced (its triggers are disabled)",
        false => "enforced",
    };
    // Other constraints have triggers only to check deferred rows.
    let what = match e.kind {
        ConstraintKind::ForeignKey => "foreign key",
        _ => "deferred check",
    };
    (e.triggers_disabled != l.triggers_disabled).then(|| {
        format!(
            "constraint {}: {what} is {}, expected {}",
            e.name.0,
            text(l.triggers_disabled),
            text(e.triggers_disabled)
        )
    })
}

/// The line of a constraint whose internal triggers fire for replicas only
/// or always on one side only.
fn trigger_modes_differ(e: &Constraint, l: &Constraint) -> Option<String> {
    let text = |modes: &BTreeSet<TriggerMode>| match modes.is_empty() {
        true => "none of its triggers fires for replicas only or always".to_string(),
        false => format!(
            "some of its triggers are {}",
            modes
                .iter()
                .map(|mode| trigger_mode(Some(mode)))
                .collect::<Vec<_>>()
                .join(", some ")
        ),
    };
    (e.trigger_modes != l.trigger_modes).then(|| {
        format!(
            "constraint {}: {}, expected {}",
            e.name.0,
            text(&l.trigger_modes),
            text(&e.trigger_modes)
        )
    })
}

fn index_differences(out: &mut Out, expected: &Schema, live: &Schema) {
    let mut live_left: Vec<&Index> = live.indexes.iter().collect();
    let mut expected_left = Vec::new();
    for e in &expected.indexes {
        match live_left.iter().position(|l| l.definition == e.definition) {
            Some(at) => {
                let l = live_left.remove(at);
                if e.valid && !l.valid {
                    out.push(
                        Rank::Index,
                        format!("index {}", l.name.0),
                        "invalid (left by a failed CREATE INDEX CONCURRENTLY?): drop and recreate it"
                            .into(),
                        None,
                    );
                }
            }
            None => expected_left.push(e),
        }
    }
    for e in expected_left {
        let object = format!("index {}", e.name.0);
        match live_left.iter().position(|l| l.name.0 == e.name.0) {
            Some(at) => {
                let l = live_left.remove(at);
                out.push(
                    Rank::Index,
                    object,
                    definitions_differ(&l.definition, &e.definition),
                    None,
                );
            }
            None => {
                // Built without blocking writes, except where PostgreSQL
                // cannot (partitioned tables).
                let partitioned = expected
                    .tables
                    .get(&e.table)
                    .is_some_and(|t| t.partition_key.is_some());
                let definition = e.named_definition();
                let sql = match definition.strip_prefix("CREATE ") {
                    Some(rest) if !partitioned => match rest.split_once("INDEX ") {
                        Some((unique, rest)) => {
                            format!("CREATE {unique}INDEX CONCURRENTLY {rest};")
                        }
                        None => format!("{definition};"),
                    },
                    _ => format!("{definition};"),
                };
                out.push(Rank::Index, object, MISSING.into(), Some(sql));
            }
        }
    }
    for l in live_left {
        // Dropping an invalid index loses nothing: it answers no query, and
        // only slows writes.
        let (detail, sql) = match l.valid {
            true => (CREATED.to_string(), None),
            false => (
                format!(
                    "{CREATED}, invalid: what a failed CREATE INDEX CONCURRENTLY leaves behind; drop it before running that revision again"
                ),
                Some(format!("DROP INDEX CONCURRENTLY {};", l.name.0)),
            ),
        };
        out.push(Rank::Index, format!("index {}", l.name.0), detail, sql);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::{Identity, Info};

    fn column(data_type: &str, not_null: bool, position: i16) -> Column {
        Column {
            data_type: data_type.into(),
            not_null,
            position: Info(position),
            ..Column::default()
        }
    }

    fn pours() -> Table {
        let mut table = Table::default();
        table.columns.insert("id".into(), column("bigint", true, 1));
        table
            .columns
            .insert("volume_ml".into(), column("numeric(8,2)", true, 2));
        table.constraints.push(Constraint {
            kind: ConstraintKind::PrimaryKey,
            definition: "PRIMARY KEY (id)".into(),
            name: Info("pours_pkey".into()),
            triggers_disabled: false,
            trigger_modes: BTreeSet::new(),
        });
        table
    }

    fn schema() -> Schema {
        let mut schema = Schema::default();
        schema.schemas.insert("public".into());
        schema.tables.insert("public.pours".into(), pours());
        schema
            .enums
            .insert("public.size".into(), vec!["small".into(), "large".into()]);
        schema.indexes.push(Index {
            table: "public.pours".into(),
            definition: "CREATE INDEX ON public.pours USING btree (volume_ml)".into(),
            valid: true,
            name: Info("public.pours_volume_ml_idx".into()),
        });
        schema
    }

    #[test]
    fn long_definitions_show_where_they_differ() {
        let select = "SELECT p.venue_id, date_trunc('day', p.poured_at) AS day, sum(p.volume_ml) AS volume_ml, count(*) AS pours FROM pour_records p";
        let expected = format!("{select} GROUP BY p.venue_id, (date_trunc('day', p.poured_at));");
        let live = format!(
            "{select} WHERE (p.volume_ml > (0)::numeric) GROUP BY p.venue_id, (date_trunc('day', p.poured_at));"
        );
        assert_eq!(
            definitions_differ(&live, &expected),
            "definition differs from character 128: live …urs FROM pour_records p WHERE (p.volume_ml > (0)::numeric) GROUP BY p.venue_id, (da…, \
             expected …urs FROM pour_records p GROUP BY p.venue_id, (da…"
        );
        // Short ones in full.
        assert_eq!(
            definitions_differ("CHECK ((a > 0))", "CHECK ((a >= 0))"),
            "definition differs: live CHECK ((a > 0)), expected CHECK ((a >= 0))"
        );
    }

    #[test]
    fn two_identities_differ_only_in_what_differs() {
        let identity = |generation: &str, increment: i64| {
            Some(Identity {
                generation: generation.into(),
                sequence: Sequence {
                    data_type: "bigint".into(),
                    start: 1,
                    increment,
                    min: 1,
                    max: i64::MAX,
                    cycle: false,
                    owned_by: None,
                },
            })
        };
        let expected = Column {
            identity: identity("ALWAYS", 1),
            ..column("bigint", true, 1)
        };
        let live = Column {
            identity: identity("BY DEFAULT", 10),
            ..column("bigint", true, 1)
        };
        assert_eq!(
            column_differences(&expected, &live),
            [
                "identity GENERATED BY DEFAULT, expected GENERATED ALWAYS",
                "identity increment 10, expected 1"
            ]
        );
        let plain = column("bigint", true, 1);
        assert_eq!(
            column_differences(&expected, &plain),
            [
                "not an identity, expected GENERATED ALWAYS AS IDENTITY (INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 NO CYCLE)"
            ]
        );
    }

    #[test]
    fn equal_schemas_have_no_differences() {
        assert!(diff(&schema(), &schema()).is_empty());
    }

    #[test]
    fn differences_are_ordered_by_kind_then_object() {
        let expected = schema();
        let mut live = schema();
        live.indexes.clear();
        live.tables.insert("public.aaa".into(), Table::default());
        live.tables
            .get_mut("public.pours")
            .expect("pours")
            .columns
            .get_mut("volume_ml")
            .expect("column")
            .data_type = "integer".into();
        live.enums.insert(
            "public.size".into(),
            vec!["small".into(), "large".into(), "huge".into()],
        );
        let lines: Vec<String> = diff(&expected, &live)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "type public.size: label 'huge': not in the catalog (added out of band)",
                "table public.aaa: not in the catalog (created out of band)",
                "table public.pours: column volume_ml: type integer, expected numeric(8,2)",
                "index public.pours_volume_ml_idx: missing (expected by the catalog)",
            ]
        );
    }

    #[test]
    fn reconcile_sql_only_for_additive_fixes() {
        let mut expected = schema();
        let pours = expected.tables.get_mut("public.pours").expect("pours");
        pours.columns.insert(
            "note".into(),
            Column {
                default: Some("'none'::text".into()),
                ..column("text", false, 3)
            },
        );
        pours
            .columns
            .insert("tap".into(), column("integer", true, 4));
        expected.enums.insert(
            "public.size".into(),
            vec!["small".into(), "medium".into(), "large".into()],
        );
        let mut live = schema();
        live.tables.remove("public.pours");
        live.tables.insert("public.pours".into(), {
            let mut t = pours_without_volume();
            t.columns
                .insert("volume_ml".into(), column("integer", true, 2));
            t
        });
        let differences = diff(&expected, &live);
        let by_line: Vec<(String, Option<String>)> = differences
            .iter()
            .map(|d| (d.to_string(), d.reconcile_sql.clone()))
            .collect();
        assert_eq!(
            by_line,
            [
                (
                    "type public.size: label 'medium': missing (expected by the catalog)".into(),
                    Some("ALTER TYPE public.size ADD VALUE 'medium' AFTER 'small';".into())
                ),
                (
                    "table public.pours: column note: missing (expected by the catalog)".into(),
                    Some(
                        "ALTER TABLE public.pours ADD COLUMN note text;\nALTER TABLE public.pours ALTER COLUMN note SET DEFAULT 'none'::text;"
                            .into()
                    )
                ),
                (
                    "table public.pours: column tap: missing (expected by the catalog)".into(),
                    None
                ),
                (
                    "table public.pours: column volume_ml: type integer, expected numeric(8,2)"
                        .into(),
                    None
                ),
            ]
        );
    }

    fn pours_without_volume() -> Table {
        let mut t = pours();
        t.columns.remove("volume_ml");
        t
    }

    #[test]
    fn missing_table_is_rebuilt_in_column_order() {
        let expected = schema();
        let mut live = schema();
        live.tables.clear();
        live.indexes.clear();
        let differences = diff(&expected, &live);
        assert_eq!(differences.len(), 2);
        assert_eq!(
            differences[0].reconcile_sql.as_deref(),
            Some(
                "CREATE TABLE public.pours (\n    id bigint NOT NULL,\n    volume_ml numeric(8,2) NOT NULL,\n    CONSTRAINT pours_pkey PRIMARY KEY (id)\n);"
            )
        );
        assert_eq!(
            differences[1].reconcile_sql.as_deref(),
            Some(
                "CREATE INDEX CONCURRENTLY pours_volume_ml_idx ON public.pours USING btree (volume_ml);"
            )
        );
    }

    #[test]
    fn trigger_modes_enforcement_inheritance_and_view_options_are_compared() {
        let mut expected = schema();
        let pours = expected.tables.get_mut("public.pours").expect("pours");
        pours
            .triggers
            .insert("guard".into(), "CREATE TRIGGER guard ...".into());
        pours.constraints.push(Constraint {
            kind: ConstraintKind::ForeignKey,
            definition: "FOREIGN KEY (tap_id) REFERENCES public.taps(id)".into(),
            name: Info("pours_tap_id_fkey".into()),
            triggers_disabled: false,
            trigger_modes: BTreeSet::new(),
        });
        expected.tables.insert(
            "public.pours_2026".into(),
            Table {
                partition_of: Some("public.pours FOR VALUES IN (2026)".into()),
                ..Table::default()
            },
        );
        expected.views.insert(
            "public.v".into(),
            View {
                definition: "SELECT 1".into(),
                options: vec!["check_option=local".into()],
                ..View::default()
            },
        );
        let mut live = expected.clone();
        let pours = live.tables.get_mut("public.pours").expect("pours");
        pours
            .trigger_modes
            .insert("guard".into(), TriggerMode::Replica);
        pours.constraints[1].triggers_disabled = true;
        pours.inherits.insert("public.old_pours".into());
        live.tables
            .get_mut("public.pours_2026")
            .expect("partition")
            .partition_of = None;
        let v = live.views.get_mut("public.v").expect("view");
        v.options = vec!["security_invoker=true".into()];
        v.triggers
            .insert("v_insert".into(), "CREATE TRIGGER v_insert ...".into());
        let lines: Vec<String> = diff(&expected, &live)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "table public.pours: inherits from public.old_pours, expected inherits from no table",
                "table public.pours: constraint pours_tap_id_fkey: foreign key is not enforced \
                 (its triggers are disabled), expected enforced",
                "table public.pours: trigger guard: enabled for replication only (ENABLE REPLICA), \
                 expected enabled",
                "table public.pours_2026: not a partition, \
                 expected partition of public.pours FOR VALUES IN (2026)",
                "view public.v: options security_invoker=true, expected check_option=local",
                "view public.v: trigger v_insert: not in the catalog (created out of band)",
            ]
        );
        // A missing table is rebuilt with its parents, a view with its options.
        let sql: Vec<Option<String>> = diff(&live, &Schema::default())
            .into_iter()
            .map(|d| d.reconcile_sql)
            .filter(|sql| {
                sql.as_deref()
                    .is_some_and(|s| s.contains("INHERITS") || s.contains("VIEW"))
            })
            .collect();
        assert_eq!(
            sql,
            [
                Some(
                    "CREATE TABLE public.pours (\n    id bigint NOT NULL,\n    volume_ml numeric(8,2) NOT NULL,\n    \
                     CONSTRAINT pours_pkey PRIMARY KEY (id),\n    \
                     CONSTRAINT pours_tap_id_fkey FOREIGN KEY (tap_id) REFERENCES public.taps(id)\n) \
                     INHERITS (public.old_pours);"
                        .into()
                ),
                Some("CREATE VIEW public.v WITH (security_invoker=true) AS SELECT 1;".into()),
            ]
        );
    }

    #[test]
    fn settings_statistics_ownership_clones_and_event_triggers_are_compared_and_rebuilt() {
        let mut expected = schema();
        let pours = expected.tables.get_mut("public.pours").expect("pours");
        let volume = pours.columns.get_mut("volume_ml").expect("column");
        volume.storage = Some("MAIN".into());
        volume.statistics = Some(500);
        let mut note = column("text", false, 3);
        note.compression = Some("lz4".into());
        note.storage = Some("EXTERNAL".into());
        pours.columns.insert("note".into(), note);
        pours.statistics.insert(
            "public.pours_stats".into(),
            "CREATE STATISTICS public.pours_stats ON id, volume_ml FROM public.pours".into(),
        );
        pours
            .cloned_trigger_modes
            .insert("guard".into(), Some(TriggerMode::Disabled));
        expected.sequences.insert(
            "public.labels".into(),
            Sequence {
                data_type: "bigint".into(),
                start: 1,
                increment: 1,
                min: 1,
                max: i64::MAX,
                cycle: false,
                owned_by: Some("public.pours.id".into()),
            },
        );
        expected.event_triggers.insert(
            "audit".into(),
            EventTrigger {
                event: "ddl_command_end".into(),
                function: "public.audit".into(),
                tags: vec!["CREATE TABLE".into()],
                mode: Some(TriggerMode::Always),
            },
        );

        let mut live = expected.clone();
        let pours = live.tables.get_mut("public.pours").expect("pours");
        let volume = pours.columns.get_mut("volume_ml").expect("column");
        volume.storage = None;
        volume.statistics = None;
        pours.columns.remove("note");
        pours.statistics.clear();
        pours.cloned_trigger_modes.clear();
        live.sequences
            .get_mut("public.labels")
            .expect("labels")
            .owned_by = None;
        live.event_triggers.get_mut("audit").expect("audit").mode = None;
        let differences = diff(&expected, &live);
        let lines: Vec<String> = differences.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            lines,
            [
                "event trigger audit: enabled, expected enabled always (ENABLE ALWAYS)",
                "sequence public.labels: owned by no column but one whose default draws from it, \
                 expected owned by public.pours.id",
                "table public.pours: column note: missing (expected by the catalog)",
                "table public.pours: column volume_ml: storage the type's default, expected MAIN",
                "table public.pours: column volume_ml: statistics target default, expected 500",
                "table public.pours: trigger guard (cloned from the parent's) on this partition: \
                 as on the parent, expected disabled",
                "table public.pours: statistics public.pours_stats: missing (expected by the catalog)",
            ]
        );
        let sql = |line: &str| {
            differences
                .iter()
                .find(|d| d.to_string() == line)
                .and_then(|d| d.reconcile_sql.clone())
        };
        assert_eq!(
            sql("table public.pours: column note: missing (expected by the catalog)").as_deref(),
            Some(
                "ALTER TABLE public.pours ADD COLUMN note text COMPRESSION lz4;\n\
                 ALTER TABLE public.pours ALTER COLUMN note SET STORAGE EXTERNAL;"
            )
        );
        assert_eq!(
            sql("table public.pours: statistics public.pours_stats: missing (expected by the catalog)")
                .as_deref(),
            Some("CREATE STATISTICS public.pours_stats ON id, volume_ml FROM public.pours;")
        );

        // Missing altogether, each is created as expected.
        let sql: Vec<String> = diff(&expected, &Schema::default())
            .into_iter()
            .filter_map(|d| d.reconcile_sql)
            .collect();
        assert!(
            sql.contains(
                &"CREATE EVENT TRIGGER audit ON ddl_command_end WHEN TAG IN ('CREATE TABLE') \
                  EXECUTE FUNCTION public.audit();\nALTER EVENT TRIGGER audit ENABLE ALWAYS;"
                    .to_string()
            ),
            "{sql:?}"
        );
        // The table that would own it is missing too: created unowned.
        assert!(
            sql.contains(
                &"CREATE SEQUENCE public.labels AS bigint INCREMENT BY 1 MINVALUE 1 \
                  MAXVALUE 9223372036854775807 START WITH 1 NO CYCLE;"
                    .to_string()
            ),
            "{sql:?}"
        );
        assert!(
            sql.contains(
                &"CREATE TABLE public.pours (\n    id bigint NOT NULL,\n    \
                  volume_ml numeric(8,2) NOT NULL,\n    note text COMPRESSION lz4,\n    \
                  CONSTRAINT pours_pkey PRIMARY KEY (id)\n);\n\
                  ALTER TABLE public.pours ALTER COLUMN note SET STORAGE EXTERNAL;\n\
                  ALTER TABLE public.pours ALTER COLUMN volume_ml SET STORAGE MAIN;\n\
                  ALTER TABLE public.pours ALTER COLUMN volume_ml SET STATISTICS 500;\n\
                  CREATE STATISTICS public.pours_stats ON id, volume_ml FROM public.pours;"
                    .to_string()
            ),
            "{sql:?}"
        );
    }

    #[test]
    fn renamed_constraint_is_not_a_difference_but_a_changed_one_is_paired() {
        let expected = schema();
        let mut live = schema();
        let pours = live.tables.get_mut("public.pours").expect("pours");
        pours.constraints[0].name = Info("pours_id_pk".into());
        assert!(diff(&expected, &live).is_empty());
        let pours = live.tables.get_mut("public.pours").expect("pours");
        pours.constraints[0].definition = "PRIMARY KEY (id, volume_ml)".into();
        let lines: Vec<String> = diff(&expected, &live)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "table public.pours: constraint pours_pkey: definition differs: live PRIMARY KEY (id, volume_ml), expected PRIMARY KEY (id)"
            ]
        );
    }
}
