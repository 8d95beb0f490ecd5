//! A revision's SQL, parsed once on a parser thread while the revision
//! before it runs: its statements, the traits the incremental read needs,
//! the session state it leaves behind and the relations it names.

use crate::schema;
use schemagate_policy::parser_stack::{ParserFailure, on_parser_stack};
use std::collections::BTreeSet;

/// What the executor needs to know of a revision's SQL (up or down), read
/// at once on a [parser thread](schemagate_policy::parser_stack), where a
/// tree of any depth pg_query returns can be walked.
pub(super) struct RevisionSql {
    /// Its statements, or the parser's message when it does not parse.
    pub(super) statements: Result<Statements, String>,
    pub(super) effects: SessionEffects,
    pub(super) traits: schema::SqlTraits,
    /// The relations it names, when it locks no others ([`named_relations`]).
    pub(super) relations: Option<BTreeSet<String>>,
}

/// A revision's SQL, read on a parser thread while the revision before it
/// runs, or already read (to decide whether the schema behind that one is
/// read beside it).
pub(super) enum NextSql {
    Reading(tokio::task::JoinHandle<RevisionSql>),
    Read(RevisionSql),
}

impl NextSql {
    pub(super) async fn read(self) -> RevisionSql {
        match self {
            NextSql::Reading(reading) => RevisionSql::finish_reading(reading).await,
            NextSql::Read(sql) => sql,
        }
    }
}

/// A revision's statements: the line each begins on when it runs in one
/// transaction (to say which one failed), split when it runs statement by
/// statement.
pub(super) enum Statements {
    InOne { lines: Vec<usize> },
    Split(Vec<String>),
}

impl Statements {
    pub(super) fn count(&self) -> usize {
        match self {
            Statements::InOne { lines } => lines.len(),
            Statements::Split(statements) => statements.len(),
        }
    }

    /// The line statement `index` (from 0) begins on, when known.
    pub(super) fn line_of(&self, index: usize) -> Option<usize> {
        match self {
            Statements::InOne { lines } => lines.get(index).copied(),
            Statements::Split(_) => None,
        }
    }

    pub(super) fn one_by_one(&self) -> &[String] {
        match self {
            Statements::InOne { .. } => &[],
            Statements::Split(statements) => statements,
        }
    }
}

impl RevisionSql {
    /// Starts [`RevisionSql::read`] on tokio's blocking pool: a large
    /// revision parses for seconds, which would stall the runtime worker's
    /// other requests.
    pub(super) fn start_reading(
        sql: &str,
        transactional: bool,
    ) -> tokio::task::JoinHandle<RevisionSql> {
        let sql = sql.to_owned();
        tokio::task::spawn_blocking(move || RevisionSql::read(&sql, transactional))
    }

    async fn finish_reading(reading: tokio::task::JoinHandle<RevisionSql>) -> RevisionSql {
        reading
            .await
            .unwrap_or_else(|_| RevisionSql::unparsed(ParserFailure::Panicked.to_string()))
    }

    fn read(sql: &str, transactional: bool) -> RevisionSql {
        // Without a lowercased copy: a data revision can be megabytes.
        let set_config = sql
            .as_bytes()
            .windows(b"set_config".len())
            .any(|window| window.eq_ignore_ascii_case(b"set_config"));
        on_parser_stack(|| {
            let parsed = match pg_query::parse(sql, 0) {
                Ok(parsed) => parsed,
                Err(err) => return RevisionSql::unparsed(err.to_string()),
            };
            let stmts = &parsed.protobuf.stmts;
            let statements = if transactional {
                Ok(Statements::InOne {
                    lines: starting_lines(sql, stmts.iter().map(|stmt| stmt.stmt_location)),
                })
            } else {
                pg_query::split_with_parser(sql)
                    .map(|parts| Statements::Split(parts.into_iter().map(str::to_string).collect()))
                    .map_err(|err| err.to_string())
            };
            RevisionSql {
                statements,
                effects: SessionEffects::of(stmts, set_config),
                traits: schema::SqlTraits::of_statements(stmts),
                relations: named_relations(stmts, sql.len()),
            }
        })
        .unwrap_or_else(|failure| RevisionSql::unparsed(failure.to_string()))
    }

    fn unparsed(message: String) -> RevisionSql {
        RevisionSql {
            statements: Err(message),
            effects: SessionEffects::UNPARSED,
            traits: schema::SqlTraits::UNPARSED,
            relations: None,
        }
    }
}

/// The line (from 1) each statement begins on, given where the parser says
/// each begins (byte offsets, in order: right after the semicolon before
/// it, so before the blanks and comments that lead to the statement).
fn starting_lines(sql: &str, locations: impl Iterator<Item = i32>) -> Vec<usize> {
    let bytes = sql.as_bytes();
    let (mut line, mut scanned) = (1, 0);
    locations
        .map(|location| {
            let at = skip_blanks_and_comments(
                bytes,
                usize::try_from(location).unwrap_or(0).min(bytes.len()),
            )
            .max(scanned);
            line += bytes[scanned..at].iter().filter(|&&b| b == b'\n').count();
            scanned = at;
            line
        })
        .collect()
}

/// Where the first token at or after `at` begins.
fn skip_blanks_and_comments(bytes: &[u8], mut at: usize) -> usize {
    loop {
        match bytes.get(at..) {
            Some([b, ..]) if b.is_ascii_whitespace() => at += 1,
            Some([b'-', b'-', ..]) => {
                at += bytes[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(bytes.len() - at);
            }
            Some([b'/', b'*', ..]) => {
                at += bytes[at..]
                    .windows(2)
                    .position(|pair| pair == b"*/")
                    .map_or(bytes.len() - at, |end| end + 2);
            }
            _ => return at,
        }
    }
}

/// What a revision's SQL does to the session it runs in.
pub(super) struct SessionEffects {
    /// The first statement that begins or ends a transaction, which the
    /// executor does not run (the server refuses such SQL at submit; an
    /// older catalog may still hold some).
    pub(super) transaction_control: Option<&'static str>,
    /// Whether it may leave state that outlives its transaction: a `SET`
    /// without `LOCAL` (`search_path`, `ROLE`, `SESSION AUTHORIZATION`,
    /// ...), `set_config` (found in the text, so a mention errs towards
    /// yes), a temporary table, or user code run by `DO` or `CALL`, which
    /// may do either. Left in place, it would change what the next revision
    /// of the same execution does, which the same revision run by an
    /// execution of its own would not see. SQL that does not parse may.
    pub(super) lasting_state: bool,
}

impl SessionEffects {
    pub(super) const UNPARSED: SessionEffects = SessionEffects {
        transaction_control: None,
        lasting_state: true,
    };

    /// `set_config` tells whether the text mentions `set_config`.
    fn of(stmts: &[pg_query::protobuf::RawStmt], set_config: bool) -> SessionEffects {
        use pg_query::NodeEnum;
        let nodes = || {
            stmts
                .iter()
                .filter_map(|raw| raw.stmt.as_ref()?.node.as_ref())
        };
        let temporary = |relation: Option<&pg_query::protobuf::RangeVar>| {
            relation.is_some_and(|relation| relation.relpersistence == "t")
        };
        SessionEffects {
            transaction_control: nodes()
                .find_map(schemagate_policy::rules::transaction_control::transaction_control),
            lasting_state: set_config
                || nodes().any(|node| match node {
                    NodeEnum::VariableSetStmt(set) => !set.is_local,
                    NodeEnum::CreateStmt(create) => temporary(create.relation.as_ref()),
                    NodeEnum::CreateTableAsStmt(create) => {
                        temporary(create.into.as_ref().and_then(|into| into.rel.as_ref()))
                    }
                    NodeEnum::SelectStmt(select) => temporary(
                        select
                            .into_clause
                            .as_ref()
                            .and_then(|into| into.rel.as_ref()),
                    ),
                    NodeEnum::DoStmt(_) | NodeEnum::CallStmt(_) => true,
                    _ => false,
                }),
        }
    }
}

/// The names of the relations `stmts` mention anywhere (a table, an index's
/// table, a view's or a foreign key's tables), when every statement is of a
/// kind that takes its locks on relations it names (those the incremental
/// read admits, and queries) and the SQL is small enough to print whole;
/// otherwise `None`. The reader reading the schema behind a revision locks
/// only relations that revision names; the revision beside it, only those
/// it names: when the two sets do not meet, the reader never waits for it.
/// Names are compared without their schema, which only errs towards
/// "they meet".
fn named_relations(
    stmts: &[pg_query::protobuf::RawStmt],
    sql_len: usize,
) -> Option<BTreeSet<String>> {
    const PRINTABLE: usize = 64 * 1024;
    let kinds_known = stmts
        .iter()
        .filter_map(|raw| raw.stmt.as_ref()?.node.as_ref())
        .all(|node| {
            matches!(node, pg_query::NodeEnum::SelectStmt(_)) || schema::is_traceable(node)
        });
    if !kinds_known || sql_len > PRINTABLE {
        return None;
    }
    // The printed tree names every node, however deep; a relation is a
    // `RangeVar`, the only node with a `relname`.
    let printed = format!("{stmts:?}");
    let mut names = BTreeSet::new();
    let mut rest = printed.as_str();
    while let Some(at) = rest.find("relname: \"") {
        rest = &rest[at + "relname: \"".len()..];
        let mut name = String::new();
        let mut chars = rest.char_indices();
        let mut end = rest.len();
        while let Some((index, c)) = chars.next() {
            match c {
                '\\' => {
                    name.push(c);
                    if let Some((_, escaped)) = chars.next() {
                        name.push(escaped);
                    }
                }
                '"' => {
                    end = index + 1;
                    break;
                }
                _ => name.push(c),
            }
        }
        names.insert(name);
        rest = &rest[end..];
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::{RevisionSql, SessionEffects, Statements};

    fn session_effects(sql: &str) -> SessionEffects {
        RevisionSql::read(sql, true).effects
    }

    #[test]
    fn each_statement_of_a_transactional_revision_knows_its_line() {
        let sql = "-- description: two tables\nCREATE TABLE a (id int);\n\n  CREATE TABLE b (\n  id int\n); CREATE INDEX ON b (id);\n/* last */ SELECT 1";
        let read = RevisionSql::read(sql, true);
        let Ok(statements) = &read.statements else {
            panic!("parses")
        };
        assert_eq!(statements.count(), 4);
        let lines: Vec<Option<usize>> = (0..5).map(|i| statements.line_of(i)).collect();
        assert_eq!(lines, [Some(2), Some(4), Some(6), Some(7), None]);
    }

    fn relations(sql: &str) -> Option<Vec<String>> {
        RevisionSql::read(sql, true)
            .relations
            .map(|names| names.into_iter().collect())
    }

    #[test]
    fn the_relations_a_revision_names_are_found_however_deep() {
        assert_eq!(
            relations(
                "CREATE TABLE pours (id int REFERENCES taps (id), at timestamptz DEFAULT now());\n\
                 CREATE INDEX ON pours (at)"
            ),
            Some(vec!["pours".to_string(), "taps".to_string()])
        );
        assert_eq!(
            relations(
                "CREATE VIEW busy AS SELECT t.id FROM app.taps t JOIN (SELECT tap_id FROM pours) p ON p.tap_id = t.id"
            ),
            Some(vec![
                "busy".to_string(),
                "pours".to_string(),
                "taps".to_string()
            ])
        );
        // A quoted name keeps its quotes escaped, the same in every revision.
        assert_eq!(
            relations("ALTER TABLE \"Odd\"\"Name\" ADD COLUMN note text; SELECT 1"),
            Some(vec!["Odd\\\"Name".to_string()])
        );
        assert_eq!(relations("SET lock_timeout = '1s'"), Some(vec![]));
        // A statement that locks what it does not name as a relation (a
        // drop names its objects as plain strings; code can lock anything),
        // SQL too large to print, or SQL that does not parse: not known.
        for sql in [
            "DROP TABLE taps",
            "DO $$ BEGIN EXECUTE 'ALTER TABLE taps ADD COLUMN x int'; END $$",
            "CALL refresh()",
            "CREATE TABLE t (",
        ] {
            assert_eq!(relations(sql), None, "{sql}");
        }
        let large = "INSERT INTO pours VALUES (1);\n".repeat(3000);
        assert_eq!(relations(&large), None);
    }

    #[test]
    fn session_state_that_outlives_the_revision_is_noticed() {
        for sql in [
            "SET search_path = app, public; CREATE TABLE t (id int)",
            "SET ROLE migrator",
            "SET SESSION AUTHORIZATION migrator",
            "SELECT set_config('search_path', 'app', false)",
            "CREATE TEMP TABLE scratch (id int)",
            "CREATE TEMPORARY TABLE scratch AS SELECT 1",
            "SELECT 1 AS id INTO TEMP scratch",
            "DO $$ BEGIN PERFORM 1; END $$",
            "CREATE TABLE (",
        ] {
            assert!(session_effects(sql).lasting_state, "{sql}");
        }
        for sql in [
            "SET LOCAL search_path = app; CREATE TABLE t (id int)",
            "CREATE TABLE t (id int); CREATE INDEX ON t (id)",
            "CREATE UNLOGGED TABLE u (id int)",
        ] {
            assert!(!session_effects(sql).lasting_state, "{sql}");
        }
    }

    #[test]
    fn transaction_control_names_the_first_such_statement() {
        let effects = session_effects("CREATE TABLE t (id int); ROLLBACK; COMMIT");
        assert_eq!(effects.transaction_control, Some("ROLLBACK"));
        assert!(!effects.lasting_state);
        let effects = session_effects("SAVEPOINT a; ROLLBACK TO SAVEPOINT a");
        assert_eq!(effects.transaction_control, None);
    }

    #[test]
    fn sql_nested_as_deep_as_postgresql_parses_it_is_read() {
        // 600 terms nest 1,200 protobuf messages, past prost's default
        // decode limit of 100.
        let sum = format!("SELECT 1{}", "+1".repeat(599));
        let read = RevisionSql::read(&sum, true);
        assert!(matches!(&read.statements, Ok(s) if s.count() == 1));
        assert!(!read.effects.lasting_state);
        assert!(!read.traits.may_call_functions);

        let read = RevisionSql::read(&format!("{sum}; CREATE INDEX CONCURRENTLY ON t (a)"), false);
        let Ok(Statements::Split(statements)) = read.statements else {
            panic!("split: {:?}", read.statements.err());
        };
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[1], "CREATE INDEX CONCURRENTLY ON t (a)");

        let read = RevisionSql::read("CREATE TABLE (", false);
        assert!(read.statements.is_err());
        assert!(read.effects.lasting_state);
        assert!(!read.traits.traceable);
    }
}
