//! `add-column-volatile-default`: ADD COLUMN whose value differs per row
//! (volatile DEFAULT such as random(), gen_random_uuid(), clock_timestamp(),
//! nextval(); serial and identity columns; GENERATED ... STORED) rewrites the
//! whole table under an ACCESS EXCLUSIVE lock.
//!
//! now()/CURRENT_TIMESTAMP and friends are STABLE, so PostgreSQL 11+ does
//! *not* rewrite for them; they are still reported (as a warning rather than
//! an error) because the policy asks for it and because every existing row
//! silently gets the migration's timestamp, which is rarely the intent.
//! A function the linter does not know is a warning too: it may be
//! VOLATILE, and the linter cannot look it up.
//!
//! A column without a default of its own takes its domain's: a domain the
//! revision creates (or alters) with a volatile DEFAULT rewrites the table
//! like a volatile column default. Any other domain's default is unknown
//! here, for the reason below.
//!
//! A column of a domain with a CHECK or NOT NULL constraint rewrites the
//! table too, whatever its default: PostgreSQL checks the domain on every
//! row. Only a domain the revision itself creates with a constraint, or
//! gives one, is known to have one; any other type name may be a
//! constrained domain just as well, but the linter cannot look it up, and
//! flagging every type that is not built in would drown the real findings,
//! so such a column is not flagged.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{
    AlterTableType, Revision, cmd_is, column_def, constr_type, constraint, qualified, string_value,
};
use crate::{Category, Severity};
use pg_query::NodeRef;
use pg_query::protobuf::{ColumnDef, ConstrType, Node};

pub struct AddColumnVolatileDefault;

pub static INFO: RuleInfo = RuleInfo {
    id: "add-column-volatile-default",
    severity: Severity::Error,
    category: Category::Locking,
    message: "adding a column whose default differs per row (or of a domain with constraints) rewrites the whole table under an ACCESS EXCLUSIVE lock",
    help: "add the column without a default (or with a constant one), then SET DEFAULT for new rows \
           and backfill existing rows in batches. For a domain with a CHECK or NOT NULL \
           constraint, add the column as the domain's base type and enforce the rule with a CHECK \
           added NOT VALID and validated in a later revision. (Only domains the revision itself \
           creates or constrains are known to the linter: check any other domain type with \\dD \
           in psql.)",
};

/// Functions whose value changes per row; a DEFAULT using them forces a rewrite.
const VOLATILE: &[&str] = &[
    "random",
    "random_normal",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "setval",
    "gen_random_bytes",
];

/// STABLE time functions: one value for the whole statement, no rewrite.
const STABLE_TIME: &[&str] = &[
    "now",
    "transaction_timestamp",
    "statement_timestamp",
    "current_timestamp",
    "localtimestamp",
];

/// Built-in functions that are IMMUTABLE or STABLE (never VOLATILE) and
/// turn up in defaults, including the ones the parser writes for SQL
/// syntax (`EXTRACT` is `extract`, `AT TIME ZONE` is `timezone`, `TRIM` is
/// `btrim`). A call of any other function may be VOLATILE: the linter
/// cannot see user-defined functions.
const NOT_VOLATILE: &[&str] = &[
    "abs",
    "age",
    "array_fill",
    "array_length",
    "array_to_string",
    "btrim",
    "cardinality",
    "ceil",
    "chr",
    "concat",
    "concat_ws",
    "current_database",
    "current_setting",
    "date",
    "date_part",
    "date_trunc",
    "decode",
    "encode",
    "extract",
    "floor",
    "format",
    "initcap",
    "int4",
    "int8",
    "json_build_array",
    "json_build_object",
    "jsonb_build_array",
    "jsonb_build_object",
    "left",
    "length",
    "lower",
    "lpad",
    "ltrim",
    "make_date",
    "make_interval",
    "make_time",
    "make_timestamp",
    "make_timestamptz",
    "md5",
    "normalize",
    "numeric",
    "overlay",
    "pg_current_xact_id",
    "position",
    "regexp_replace",
    "repeat",
    "replace",
    "right",
    "round",
    "rpad",
    "rtrim",
    "sha256",
    "sha512",
    "split_part",
    "string_to_array",
    "substring",
    "text",
    "timezone",
    "to_char",
    "to_date",
    "to_json",
    "to_jsonb",
    "to_number",
    "to_timestamp",
    "trunc",
    "txid_current",
    "upper",
    "version",
];

const SERIAL: &[&str] = &[
    "serial",
    "serial2",
    "serial4",
    "serial8",
    "smallserial",
    "bigserial",
];

pub(crate) fn serial_type(col: &ColumnDef) -> Option<&str> {
    let t = col.type_name.as_ref()?;
    let last = t.names.last().and_then(string_value)?;
    SERIAL
        .iter()
        .find(|s| last.eq_ignore_ascii_case(s))
        .copied()
}

enum Kind {
    Volatile(String),
    /// A function the linter does not know, maybe VOLATILE (its name).
    Unknown(String),
    StableTime(String),
}

/// `CURRENT_DATE`, `LOCALTIMESTAMP`...: the SQL-standard time functions
/// written without parentheses.
fn sql_time_function(op: i32) -> Option<&'static str> {
    use pg_query::protobuf::SqlValueFunctionOp as Op;
    Some(match Op::try_from(op).ok()? {
        Op::SvfopCurrentDate => "CURRENT_DATE",
        Op::SvfopCurrentTime | Op::SvfopCurrentTimeN => "CURRENT_TIME",
        Op::SvfopCurrentTimestamp | Op::SvfopCurrentTimestampN => "CURRENT_TIMESTAMP",
        Op::SvfopLocaltime | Op::SvfopLocaltimeN => "LOCALTIME",
        Op::SvfopLocaltimestamp | Op::SvfopLocaltimestampN => "LOCALTIMESTAMP",
        _ => return None,
    })
}

fn classify(expr: &Node) -> Option<Kind> {
    let node = expr.node.as_ref()?;
    let mut stable = None;
    let mut unknown = None;
    for (n, _, _, _) in node.nodes() {
        match n {
            NodeRef::FuncCall(f) => {
                let Some(name) = f.funcname.last().and_then(string_value) else {
                    continue;
                };
                let lower = name.to_ascii_lowercase();
                if VOLATILE.contains(&lower.as_str()) {
                    return Some(Kind::Volatile(format!("{lower}()")));
                }
                if STABLE_TIME.contains(&lower.as_str()) {
                    stable = Some(Kind::StableTime(format!("{lower}()")));
                } else if !NOT_VOLATILE.contains(&lower.as_str()) {
                    unknown.get_or_insert(Kind::Unknown(crate::analysis::dotted(&f.funcname)));
                }
            }
            NodeRef::SqlvalueFunction(f) => {
                // CURRENT_USER, CURRENT_SCHEMA and the like are not times.
                if let Some(name) = sql_time_function(f.op) {
                    stable.get_or_insert(Kind::StableTime(name.to_string()));
                }
            }
            _ => {}
        }
    }
    unknown.or(stable)
}

fn default_expr(col: &ColumnDef) -> Option<&Node> {
    col.raw_default.as_deref().or_else(|| {
        col.constraints
            .iter()
            .filter_map(|c| constraint(Some(c)))
            .find(|c| constr_type(c) == ConstrType::ConstrDefault)
            .and_then(|c| c.raw_expr.as_deref())
    })
}

impl Rule for AddColumnVolatileDefault {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtAddColumn)) {
                let Some(col) = column_def(cmd.def.as_deref()) else {
                    continue;
                };
                let target = format!("`{}`.`{}`", qualified(rel), col.colname);
                let kinds: Vec<ConstrType> = col
                    .constraints
                    .iter()
                    .filter_map(|c| constraint(Some(c)))
                    .map(constr_type)
                    .collect();
                if let Some(t) = serial_type(col) {
                    out.push(Hit::new(s.index, format!("{t} column {target} fills every existing row from a sequence: table rewrite")).at(cmd.at));
                } else if kinds.contains(&ConstrType::ConstrIdentity) {
                    out.push(Hit::new(s.index, format!("identity column {target} fills every existing row from a sequence: table rewrite")).at(cmd.at));
                } else if kinds.contains(&ConstrType::ConstrGenerated) {
                    out.push(Hit::new(s.index, format!("stored generated column {target} is computed for every existing row: table rewrite")).at(cmd.at));
                } else if let Some(domain) = col
                    .type_name
                    .as_ref()
                    .filter(|t| rev.is_constrained_domain(t, s.index))
                {
                    out.push(Hit::new(s.index, format!("column {target} is of domain `{}`, which has a CHECK or NOT NULL constraint from earlier in this revision: PostgreSQL checks it against every existing row by rewriting the table", crate::analysis::dotted(&domain.names))).at(cmd.at));
                } else {
                    // A default of the column's own wins over its domain's.
                    let (default, of_domain) = match default_expr(col) {
                        Some(default) => (Some(default), String::new()),
                        None => match col.type_name.as_ref().and_then(|t| {
                            rev.domain_default(t, s.index)
                                .map(|default| (default, crate::analysis::dotted(&t.names)))
                        }) {
                            Some((default, domain)) => {
                                (Some(default), format!(" (of its domain `{domain}`)"))
                            }
                            None => (None, String::new()),
                        },
                    };
                    match default.and_then(classify) {
                        Some(Kind::Volatile(f)) => {
                            out.push(Hit::new(s.index, format!("volatile default {f}{of_domain} on {target} rewrites the table")).at(cmd.at));
                        }
                        Some(Kind::Unknown(f)) => out.push(Hit {
                            severity: Some(Severity::Warning),
                            ..Hit::new(
                                s.index,
                                format!("default {f}(){of_domain} on {target} is a function the linter does not know: if it is VOLATILE, every existing row is rewritten under an ACCESS EXCLUSIVE lock (its volatility: \\df+ {f} in psql)"),
                            )
                            .at(cmd.at)
                        }),
                        Some(Kind::StableTime(f)) => out.push(Hit {
                            severity: Some(Severity::Warning),
                            ..Hit::new(
                                s.index,
                                format!("default {f}{of_domain} on {target} stamps every existing row with the migration's time (no rewrite on PostgreSQL 11+)"),
                            )
                            .at(cmd.at)
                        }),
                        None => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Severity;
    use crate::rules::hits;

    const ID: &str = "add-column-volatile-default";

    #[test]
    fn flags_volatile_defaults() {
        for def in [
            "random()",
            "gen_random_uuid()",
            "clock_timestamp()",
            "nextval('s')",
            "md5(random()::text)",
        ] {
            let h = hits(
                &format!("ALTER TABLE kegs ADD COLUMN x text DEFAULT {def};"),
                ID,
            );
            assert_eq!(h.len(), 1, "{def}");
            assert_eq!(h[0].severity, Severity::Error, "{def}");
        }
        assert_eq!(
            hits("ALTER TABLE kegs ADD COLUMN id2 bigserial;", ID).len(),
            1
        );
        assert_eq!(
            hits(
                "ALTER TABLE kegs ADD COLUMN id2 int GENERATED ALWAYS AS IDENTITY;",
                ID
            )
            .len(),
            1
        );
        assert_eq!(
            hits(
                "ALTER TABLE kegs ADD COLUMN t int GENERATED ALWAYS AS (a * 2) STORED;",
                ID
            )
            .len(),
            1
        );
    }

    #[test]
    fn now_is_a_warning() {
        for (def, named) in [
            ("now()", "now()"),
            ("CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP"),
            ("CURRENT_DATE", "CURRENT_DATE"),
            ("pg_catalog.now()", "now()"),
            // STABLE, like now(): one value for the statement, no rewrite.
            ("statement_timestamp()", "statement_timestamp()"),
        ] {
            let h = hits(
                &format!("ALTER TABLE kegs ADD COLUMN t timestamptz NOT NULL DEFAULT {def};"),
                ID,
            );
            assert_eq!(h.len(), 1, "{def}");
            assert_eq!(h[0].severity, Severity::Warning);
            assert!(h[0].message.contains(named), "{def}: {}", h[0].message);
        }
    }

    #[test]
    fn values_that_are_not_times_are_not_flagged() {
        for def in [
            "current_user",
            "CURRENT_ROLE",
            "session_user",
            "current_schema",
            "txid_current()",
        ] {
            assert!(
                hits(
                    &format!("ALTER TABLE audit_log ADD COLUMN by_whom text DEFAULT {def};"),
                    ID
                )
                .is_empty(),
                "{def}"
            );
        }
    }

    #[test]
    fn a_function_the_linter_does_not_know_may_be_volatile() {
        let h = hits(
            "ALTER TABLE orders ADD COLUMN order_no bigint NOT NULL DEFAULT billing.next_order_no();",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].severity, Severity::Warning);
        assert!(
            h[0].message
                .starts_with("default billing.next_order_no() on `orders`.`order_no` is a function the linter does not know"),
            "{}",
            h[0].message
        );
        // A known volatile function still wins; known built-ins pass.
        let h = hits(
            "ALTER TABLE t ADD COLUMN x text DEFAULT my_prefix() || gen_random_uuid()::text;",
            ID,
        );
        assert_eq!(h[0].severity, Severity::Error);
        for def in [
            "lower('A')",
            "jsonb_build_object('v', 1)",
            "date_trunc('day', TIMESTAMP '2026-01-01')",
            "EXTRACT(YEAR FROM DATE '2026-01-01')",
            "TRIM(' a ')",
            "current_setting('app.tenant')",
        ] {
            assert!(
                hits(
                    &format!("ALTER TABLE t ADD COLUMN x text DEFAULT {def};"),
                    ID
                )
                .is_empty(),
                "{def}"
            );
        }
    }

    #[test]
    fn a_column_of_a_domain_the_revision_constrains_rewrites_the_table() {
        for sql in [
            "CREATE DOMAIN cents AS bigint CHECK (VALUE >= 0); ALTER TABLE orders ADD COLUMN tip cents;",
            "CREATE DOMAIN cents AS bigint NOT NULL; ALTER TABLE orders ADD COLUMN tip cents DEFAULT 0;",
            "CREATE DOMAIN billing.cents AS bigint CONSTRAINT positive CHECK (VALUE > 0); ALTER TABLE orders ADD COLUMN tip billing.cents DEFAULT 1;",
            // Gained later, even NOT VALID: still checked on every new row.
            "CREATE DOMAIN cents AS bigint; ALTER DOMAIN cents ADD CONSTRAINT positive CHECK (VALUE > 0) NOT VALID; ALTER TABLE orders ADD COLUMN tip cents;",
            "CREATE DOMAIN cents AS bigint; ALTER DOMAIN cents SET NOT NULL; ALTER TABLE orders ADD COLUMN tip cents DEFAULT 0;",
            // A domain over a constrained domain checks that one's too.
            "CREATE DOMAIN cents AS bigint CHECK (VALUE >= 0); CREATE DOMAIN tip_cents AS cents; ALTER TABLE orders ADD COLUMN tip tip_cents;",
            "CREATE DOMAIN cents AS bigint; CREATE DOMAIN tip_cents AS cents; ALTER DOMAIN cents ADD CHECK (VALUE >= 0); ALTER TABLE orders ADD COLUMN tip tip_cents;",
            // An existing domain that gains a constraint in the revision.
            "ALTER DOMAIN cents ADD CONSTRAINT positive CHECK (VALUE > 0); ALTER TABLE orders ADD COLUMN tip cents;",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert_eq!(h[0].severity, Severity::Error, "{sql}");
            assert!(
                h[0].message
                    .starts_with("column `orders`.`tip` is of domain `"),
                "{sql}: {}",
                h[0].message
            );
        }
        for sql in [
            // No constraint, or only a default: no rewrite.
            "CREATE DOMAIN cents AS bigint; ALTER TABLE orders ADD COLUMN tip cents;",
            "CREATE DOMAIN cents AS bigint DEFAULT 0; ALTER TABLE orders ADD COLUMN tip cents;",
            // An array of the domain is not checked on the new rows.
            "CREATE DOMAIN cents AS bigint CHECK (VALUE >= 0); ALTER TABLE orders ADD COLUMN tips cents[];",
            // Constrained only after the column was added.
            "CREATE DOMAIN cents AS bigint; ALTER TABLE orders ADD COLUMN tip cents; ALTER DOMAIN cents ADD CHECK (VALUE >= 0);",
            // Another schema's domain of the name.
            "CREATE DOMAIN billing.cents AS bigint CHECK (VALUE >= 0); ALTER TABLE orders ADD COLUMN tip shop.cents;",
            // A new table has no rows to check.
            "CREATE DOMAIN cents AS bigint CHECK (VALUE >= 0); CREATE TABLE tips (id int); ALTER TABLE tips ADD COLUMN tip cents;",
            // A domain the revision (linted alone) does not touch is
            // unknown: not flagged.
            "ALTER TABLE orders ADD COLUMN tip cents;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }

    #[test]
    fn a_column_takes_the_volatile_default_of_a_domain_from_the_revision() {
        for (sql, said) in [
            (
                "CREATE DOMAIN token AS uuid DEFAULT gen_random_uuid(); ALTER TABLE kegs ADD COLUMN t token;",
                "volatile default gen_random_uuid() (of its domain `token`) on `kegs`.`t` rewrites the table",
            ),
            (
                "CREATE DOMAIN token AS uuid; ALTER DOMAIN token SET DEFAULT gen_random_uuid(); ALTER TABLE kegs ADD COLUMN t token;",
                "volatile default gen_random_uuid() (of its domain `token`)",
            ),
            // A domain over such a domain copies its default.
            (
                "CREATE DOMAIN token AS uuid DEFAULT gen_random_uuid(); CREATE DOMAIN keg_token AS token; ALTER TABLE kegs ADD COLUMN t keg_token;",
                "volatile default gen_random_uuid() (of its domain `keg_token`)",
            ),
            (
                "CREATE DOMAIN tapped AS timestamptz DEFAULT now(); ALTER TABLE kegs ADD COLUMN at tapped;",
                "default now() (of its domain `tapped`) on `kegs`.`at` stamps every existing row",
            ),
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.contains(said), "{sql}: {}", h[0].message);
        }
        for sql in [
            // The column's own default wins over the domain's.
            "CREATE DOMAIN token AS uuid DEFAULT gen_random_uuid(); ALTER TABLE kegs ADD COLUMN t token DEFAULT NULL;",
            // Dropped before the column was added.
            "CREATE DOMAIN token AS uuid DEFAULT gen_random_uuid(); ALTER DOMAIN token DROP DEFAULT; ALTER TABLE kegs ADD COLUMN t token;",
            // Set only after the column was added.
            "CREATE DOMAIN token AS uuid; ALTER TABLE kegs ADD COLUMN t token; ALTER DOMAIN token SET DEFAULT gen_random_uuid();",
            // An array of the domain takes no default.
            "CREATE DOMAIN token AS uuid DEFAULT gen_random_uuid(); ALTER TABLE kegs ADD COLUMN ts token[];",
            // A domain copies its base domain's default when it is created,
            // not one the base is given later (checked on PostgreSQL 15).
            "CREATE DOMAIN token AS uuid; CREATE DOMAIN keg_token AS token; ALTER DOMAIN token SET DEFAULT gen_random_uuid(); ALTER TABLE kegs ADD COLUMN t keg_token;",
            // A constant default does not rewrite.
            "CREATE DOMAIN cents AS bigint DEFAULT 0; ALTER TABLE kegs ADD COLUMN tip cents;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }

    #[test]
    fn accepts_constants_and_new_tables() {
        assert!(hits("ALTER TABLE kegs ADD COLUMN x int DEFAULT 0;", ID).is_empty());
        assert!(hits("ALTER TABLE kegs ADD COLUMN x text DEFAULT 'a' || 'b';", ID).is_empty());
        assert!(hits("CREATE TABLE k (a int); ALTER TABLE k ADD COLUMN u uuid DEFAULT gen_random_uuid();", ID).is_empty());
    }
}
