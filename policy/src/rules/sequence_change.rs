//! `sequence-change`: changes to a sequence or identity column that an
//! existing table takes its keys from, which make inserts fail or hand out
//! keys that existing rows already hold: ALTER SEQUENCE ... RESTART,
//! `AS smallint`/`integer`, MAXVALUE/MINVALUE, a negative INCREMENT or
//! CYCLE; `setval(...)`; and on an identity column ALTER COLUMN ...
//! RESTART (and the same options), SET GENERATED ALWAYS, DROP IDENTITY, or
//! ADD GENERATED ... AS IDENTITY without a START. Not flagged for a
//! sequence or table created earlier in the revision.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{
    AlterTableType, Kind, Name, Revision, cmd_is, const_value, constraint, mentions, qualified,
    string_value,
};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{self, DefElem};

pub struct SequenceChange;

pub static INFO: RuleInfo = RuleInfo {
    id: "sequence-change",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "changing a sequence or identity column can make inserts fail or hand out keys that existing rows already hold",
    help: "leave the counter alone: to move it, only ever move it forward past the largest key in \
           use (`SELECT setval('seq', (SELECT max(id) FROM t))`) from a one-off job; widen a \
           sequence (AS bigint, a higher MAXVALUE) rather than narrow it; before SET GENERATED \
           ALWAYS or DROP IDENTITY, release clients that no longer send (or no longer omit) the \
           value; give ADD ... AS IDENTITY a START WITH above every value the column holds",
};

fn def_elems(options: &[protobuf::Node]) -> impl Iterator<Item = &DefElem> {
    options.iter().filter_map(|o| match o.node.as_ref() {
        Some(NodeEnum::DefElem(d)) => Some(d.as_ref()),
        _ => None,
    })
}

fn arg_text(d: &DefElem) -> String {
    match d.arg.as_deref().and_then(|a| a.node.as_ref()) {
        Some(NodeEnum::Integer(i)) => i.ival.to_string(),
        Some(NodeEnum::Float(f)) => f.fval.clone(),
        Some(NodeEnum::TypeName(t)) => {
            match t.names.last().and_then(string_value).unwrap_or_default() {
                // The parser spells the SQL names as PostgreSQL's own.
                "int2" => "smallint",
                "int4" => "integer",
                "int8" => "bigint",
                other => other,
            }
            .to_string()
        }
        _ => String::new(),
    }
}

/// What a sequence option (of ALTER SEQUENCE, or of ALTER COLUMN ... SET on
/// an identity column) does to inserts, when it can break them.
fn option_harm(d: &DefElem) -> Option<String> {
    let arg = arg_text(d);
    Some(match d.defname.as_str() {
        "restart" if arg.is_empty() => "RESTART sets the counter back to its START value, so new rows get keys that existing rows hold (duplicate key errors on a unique column)".to_string(),
        "restart" => format!("RESTART WITH {arg} moves the counter to {arg}; below the largest key in use, new rows get keys that existing rows hold (duplicate key errors on a unique column)"),
        "as" if arg != "bigint" => format!("AS {arg} lowers the maximum to that of {arg} (when it was the old type's maximum), after which every insert fails"),
        "maxvalue" if d.arg.is_some() => format!("MAXVALUE {arg} makes nextval fail, and every insert with it, once the counter reaches {arg}"),
        "minvalue" if d.arg.is_some() => format!("MINVALUE {arg} makes a descending sequence fail, and every insert with it, once the counter reaches {arg}"),
        "increment" if arg.starts_with('-') => format!("INCREMENT BY {arg} runs the counter backwards into keys that existing rows hold"),
        "cycle" if !matches!(d.arg.as_deref().and_then(|a| a.node.as_ref()), Some(NodeEnum::Boolean(b)) if !b.boolval) => {
            "CYCLE starts the counter again at its minimum after the maximum, handing out keys that existing rows hold".to_string()
        }
        _ => return None,
    })
}

/// The name a regclass literal (`'public.order_seq'`, `'"Seq"'`) gives, as
/// PostgreSQL reads it: unquoted parts lower-cased.
fn regclass_name(text: &str) -> Option<Name> {
    let parts: Vec<String> = text
        .split('.')
        .map(|p| {
            let p = p.trim();
            match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => p.to_ascii_lowercase(),
            }
        })
        .collect();
    match parts.as_slice() {
        [name] => Some(Name::new("", name)),
        [schema, name] => Some(Name::new(schema, name)),
        _ => None,
    }
}

fn string_const(n: &protobuf::Node) -> Option<String> {
    match const_value(n)? {
        crate::analysis::Const::Str(s) => Some(s),
        _ => None,
    }
}

/// Whether the sequence a `setval` names was created earlier in the
/// revision: `'seq'`, `'seq'::regclass`, or
/// `pg_get_serial_sequence('table', 'column')` of a new table.
fn setval_of_new(rev: &Revision<'_>, arg: &protobuf::Node, idx: usize) -> bool {
    let arg = match arg.node.as_ref() {
        Some(NodeEnum::TypeCast(t)) => match t.arg.as_deref() {
            Some(inner) => inner,
            None => return false,
        },
        _ => arg,
    };
    let relation = match arg.node.as_ref() {
        Some(NodeEnum::FuncCall(f))
            if f.funcname
                .last()
                .and_then(string_value)
                .is_some_and(|n| n == "pg_get_serial_sequence") =>
        {
            f.args.first().and_then(string_const)
        }
        _ => string_const(arg),
    };
    relation
        .as_deref()
        .and_then(regclass_name)
        .is_some_and(|name| rev.is_new(Kind::Relation, &name, idx))
}

impl Rule for SequenceChange {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            if let NodeEnum::AlterSeqStmt(a) = node
                && rev.is_existing(a.sequence.as_ref(), s.index)
            {
                let name = a.sequence.as_ref().map(qualified).unwrap_or_default();
                let harms: Vec<String> = def_elems(&a.options).filter_map(option_harm).collect();
                if !harms.is_empty() {
                    out.push(Hit::new(
                        s.index,
                        format!("ALTER SEQUENCE {name}: {}", harms.join("; ")),
                    ));
                }
            }
            // setval(...) anywhere in the statement.
            if !mentions(s.text, "setval") {
                continue;
            }
            for (n, _, _, _) in node.nodes() {
                let pg_query::NodeRef::FuncCall(call) = n else {
                    continue;
                };
                if !call
                    .funcname
                    .last()
                    .and_then(string_value)
                    .is_some_and(|f| f.eq_ignore_ascii_case("setval"))
                {
                    continue;
                }
                if call
                    .args
                    .first()
                    .is_some_and(|a| setval_of_new(rev, a, s.index))
                {
                    continue;
                }
                out.push(Hit::new(
                    s.index,
                    "setval(...) moves a sequence's counter: set below the largest key in use, new rows get keys that existing rows hold (duplicate key errors on a unique column)",
                ));
            }
        }
        for (s, table, cmds) in rev.alters_of_existing_tables() {
            let table = qualified(table);
            for cmd in cmds {
                let column = format!("`{table}`.`{}`", cmd.name);
                let message = if cmd_is(&cmd, AlterTableType::AtSetIdentity) {
                    let options = match cmd.def.as_deref().and_then(|d| d.node.as_ref()) {
                        Some(NodeEnum::List(l)) => l.items.as_slice(),
                        _ => &[],
                    };
                    let mut harms: Vec<String> = Vec::new();
                    for d in def_elems(options) {
                        if d.defname == "generated" {
                            if matches!(d.arg.as_deref().and_then(|a| a.node.as_ref()), Some(NodeEnum::Integer(i)) if i.ival == i32::from(b'a'))
                            {
                                harms.push("SET GENERATED ALWAYS makes every insert that supplies a value for the column fail (unless it says OVERRIDING SYSTEM VALUE)".to_string());
                            }
                        } else if let Some(harm) = option_harm(d) {
                            harms.push(harm);
                        }
                    }
                    if harms.is_empty() {
                        continue;
                    }
                    format!("identity column {column}: {}", harms.join("; "))
                } else if cmd_is(&cmd, AlterTableType::AtDropIdentity) {
                    format!(
                        "DROP IDENTITY on {column}: inserts that leave the column out get NULL (or its default) instead of the next key, and fail on NOT NULL"
                    )
                } else if cmd_is(&cmd, AlterTableType::AtAddIdentity) {
                    let Some(identity) = constraint(cmd.def.as_deref()) else {
                        continue;
                    };
                    let has_start = def_elems(&identity.options).any(|d| d.defname == "start");
                    let always = identity.generated_when == "a";
                    let mut harms = Vec::new();
                    if !has_start {
                        harms.push("its sequence starts at 1, under the values existing rows hold, so inserts that leave the column out get keys already in use (duplicate key errors on a unique column)");
                    }
                    if always {
                        harms.push("GENERATED ALWAYS makes every insert that supplies a value for the column fail");
                    }
                    if harms.is_empty() {
                        continue;
                    }
                    format!("ADD ... AS IDENTITY on {column}: {}", harms.join("; "))
                } else {
                    continue;
                };
                out.push(Hit::new(s.index, message).at(cmd.at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "sequence-change";

    #[test]
    fn flags_sequence_changes_that_break_inserts() {
        for (sql, part) in [
            (
                "ALTER SEQUENCE order_number RESTART;",
                "RESTART sets the counter back",
            ),
            (
                "ALTER SEQUENCE order_number RESTART WITH 1000;",
                "RESTART WITH 1000",
            ),
            (
                "ALTER SEQUENCE order_number AS smallint;",
                "AS smallint lowers the maximum to that of smallint",
            ),
            (
                "ALTER SEQUENCE order_number AS integer;",
                "AS integer lowers",
            ),
            (
                "ALTER SEQUENCE order_number MAXVALUE 99999;",
                "MAXVALUE 99999",
            ),
            (
                "ALTER SEQUENCE order_number INCREMENT BY -1;",
                "INCREMENT BY -1",
            ),
            (
                "ALTER SEQUENCE order_number CYCLE;",
                "CYCLE starts the counter again",
            ),
            ("SELECT setval('order_number', 1);", "setval(...) moves"),
            (
                "SELECT pg_catalog.setval('public.order_number'::regclass, 1, false);",
                "setval(...) moves",
            ),
            (
                "SELECT setval(pg_get_serial_sequence('orders', 'id'), 1);",
                "setval(...) moves",
            ),
            (
                "ALTER TABLE orders ALTER COLUMN id RESTART;",
                "identity column `orders`.`id`: RESTART",
            ),
            (
                "ALTER TABLE orders ALTER COLUMN id SET GENERATED ALWAYS;",
                "SET GENERATED ALWAYS makes every insert",
            ),
            (
                "ALTER TABLE orders ALTER COLUMN id DROP IDENTITY IF EXISTS;",
                "DROP IDENTITY on `orders`.`id`",
            ),
            (
                "ALTER TABLE orders ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;",
                "its sequence starts at 1",
            ),
            (
                "ALTER TABLE orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (START WITH 5000);",
                "GENERATED ALWAYS makes every insert",
            ),
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.contains(part), "{sql}: {}", h[0].message);
        }
    }

    #[test]
    fn ignores_harmless_changes_and_new_sequences() {
        for sql in [
            "ALTER SEQUENCE order_number AS bigint;",
            "ALTER SEQUENCE order_number AS int8;",
            "ALTER SEQUENCE order_number AS int8;",
            "ALTER SEQUENCE order_number NO MAXVALUE CACHE 10 INCREMENT BY 5 NO CYCLE;",
            "ALTER SEQUENCE order_number OWNED BY orders.number;",
            "ALTER TABLE orders ALTER COLUMN id SET GENERATED BY DEFAULT;",
            "ALTER TABLE orders ALTER COLUMN id SET INCREMENT BY 2;",
            "ALTER TABLE orders ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (START WITH 100000);",
            "CREATE SEQUENCE scratch_seq; ALTER SEQUENCE scratch_seq RESTART WITH 10; SELECT setval('scratch_seq', 5);",
            "CREATE TABLE staging (id bigint GENERATED ALWAYS AS IDENTITY); SELECT setval(pg_get_serial_sequence('staging', 'id'), 10); ALTER TABLE staging ALTER COLUMN id RESTART;",
            "SELECT nextval('order_number');",
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT setval('order_number', 1) $$;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }
}
