//! Running one revision on the target: its SQL and its version-row change
//! in one transaction sent as one message (or statement by statement for a
//! revision that cannot run in one), the commit, and the session reset after
//! a revision that changed session state.

use super::revision_sql::Statements;
use super::{Record, Request};
use crate::catalog::Revision;
use crate::config::Environment;
use crate::release::Action;
use crate::schema;
use crate::target::{self, Target, VersionRow};
use sqlx::{Connection, PgConnection, Row};

pub(super) struct Applied {
    pub(super) statements_run: u32,
    pub(super) error: Option<String>,
    /// The transaction id (a `xid8`) the revision runs under, when it runs
    /// in one.
    pub(super) xid: Option<String>,
    /// What that transaction wrote to the catalogs, when the target counts
    /// it.
    pub(super) catalog_writes: Option<schema::CatalogWrites>,
}

impl Applied {
    /// A revision of which nothing ran.
    pub(super) fn failed(error: String) -> Applied {
        Applied {
            statements_run: 0,
            error: Some(error),
            xid: None,
            catalog_writes: None,
        }
    }
}

/// Commits the transaction [`apply`] left open for a revision that ran in
/// one. PostgreSQL ends a transaction whose commit fails.
pub(super) async fn commit(
    conn: &mut PgConnection,
    revision: &Revision,
    action: Action,
    target: &Target,
    applied: Applied,
) -> Applied {
    match sqlx::raw_sql("COMMIT").execute(&mut *conn).await {
        Ok(_) => applied,
        Err(err) => Applied::failed(failure(
            revision,
            action,
            " at its commit",
            target.failed(&err),
        )),
    }
}

/// `0002_x failed at statement 2 of 3 (line 4) and was rolled back: why`,
/// or for a rollback, which must not read as though it worked, `the
/// rollback of 0002_x failed ... and was undone; 0002_x is still applied`.
fn failure(revision: &Revision, action: Action, at: &str, why: impl std::fmt::Display) -> String {
    match action {
        Action::Apply => format!("{} failed{at} and was rolled back: {why}", revision.id),
        Action::Rollback => format!(
            "the rollback of {id} failed{at} and was undone; {id} is still applied: {why}",
            id = revision.id
        ),
    }
}

/// Rolls back a revision's open transaction. A connection too broken to
/// roll back takes the transaction down with it.
pub(super) async fn rollback(conn: &mut PgConnection) {
    if let Err(err) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
        tracing::warn!(error = %err, "could not roll back a revision's transaction");
    }
}

/// Runs the revision's SQL (up or down) and its version-row change. A
/// transactional revision runs both in one transaction, left open for the
/// caller to [`commit`] (or roll back): both commit at once or neither;
/// with `count_writes`, what it wrote to the catalogs is read as well. A
/// non-transactional one runs statement by statement and records how far
/// it got.
#[allow(clippy::too_many_arguments)]
pub(super) async fn apply(
    env: &Environment,
    target: &Target,
    conn: &mut PgConnection,
    revision: &Revision,
    request: &Request,
    record: &Record,
    statements: &Statements,
    version_table: bool,
    count_writes: bool,
) -> Applied {
    let sql = request.action.sql(revision);
    let total = statements.count() as u32;
    if record.transactional {
        let message = one_transaction(
            env,
            revision,
            request,
            record,
            sql,
            version_table,
            count_writes,
        );
        return match run_in_one_trip(conn, message, count_writes).await {
            Ok((xid, catalog_writes)) => Applied {
                statements_run: total,
                error: None,
                xid: Some(xid),
                catalog_writes,
            },
            Err((err, completed)) => Applied::failed(failure(
                revision,
                request.action,
                &failed_at(statements, completed),
                target.failed(&err),
            )),
        };
    }

    let mut run = 0;
    let result: Result<(), sqlx::Error> = async {
        sqlx::query("SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)")
            .bind(&env.lock_timeout)
            .bind(&env.statement_timeout)
            .fetch_one(&mut *conn)
            .await?;
        for statement in statements.one_by_one() {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut *conn)
                .await?;
            run += 1;
        }
        let mut tx = conn.begin().await?;
        version_row(&mut tx, revision, request, record, version_table).await?;
        tx.commit().await
    }
    .await;
    match result {
        Ok(()) => Applied {
            statements_run: run,
            error: None,
            xid: None,
            catalog_writes: None,
        },
        Err(err) => Applied {
            statements_run: run,
            error: Some(format!(
                "{} failed at statement {} of {total} (run statement by statement: the {run} before it stay applied and need manual review): {}",
                match request.action {
                    Action::Apply => revision.id.clone(),
                    Action::Rollback => format!("the rollback of {}", revision.id),
                },
                run + 1,
                target.failed(&err)
            )),
            xid: None,
            catalog_writes: None,
        },
    }
}

/// A transactional revision as one message, sent in one round trip: the
/// transaction's start, its timeouts (local to it) and its id, the
/// revision's SQL, then its [version-row change](version_row_change). With
/// `count_writes`, the [catalog counters](schema::CATALOG_WRITES) are read
/// first and last, for what the revision wrote to the catalogs; that costs
/// a few tenths of a millisecond, spent only where it can pay off (see
/// [`super::reading::schema_after`]).
/// PostgreSQL skips the rest of a message at its first error, so nothing
/// after a failing statement runs. The SQL parsed into whole statements;
/// the line break ends a trailing comment.
///
/// The commit is sent apart, once the revision's running record is written
/// (and the schema behind it read): a server that dies before sending it
/// leaves nothing committed. `client_connection_check_interval`
/// (PostgreSQL 14 and newer) has PostgreSQL cancel a revision whose server
/// died while it ran rather than run it to its end.
fn one_transaction(
    env: &Environment,
    revision: &Revision,
    request: &Request,
    record: &Record,
    sql: &str,
    version_table: bool,
    count_writes: bool,
) -> String {
    let version_row = version_row_change(revision, request, record, version_table);
    let (writes_at_start, writes_at_end) = if count_writes {
        (
            schema::CATALOG_WRITES,
            format!(";\nSELECT {}", schema::CATALOG_WRITES),
        )
    } else {
        ("NULL::text", String::new())
    };
    format!(
        "BEGIN;\n\
         SELECT pg_catalog.pg_current_xact_id()::text, \
                pg_catalog.set_config('lock_timeout', {}, true), \
                pg_catalog.set_config('statement_timeout', {}, true), \
                CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 140000 \
                     THEN pg_catalog.set_config('client_connection_check_interval', '1s', true) END, \
                {writes_at_start};\n\
         {sql}\n;\n\
         {version_row}{writes_at_end}",
        target::literal(&env.lock_timeout),
        target::literal(&env.statement_timeout),
    )
}

/// Where in a revision run as one message its error came, from the number
/// of statements of the message that completed before it (the transaction's
/// start and its first `SELECT` come before the revision's statements, its
/// version row after them): " at statement 2 of 5 (line 7)".
fn failed_at(statements: &Statements, completed: usize) -> String {
    let total = statements.count();
    match completed.checked_sub(2) {
        Some(done) if done < total => format!(
            " at statement {} of {total}{}",
            done + 1,
            statements
                .line_of(done)
                .map(|line| format!(" (line {line})"))
                .unwrap_or_default()
        ),
        Some(_) => " at its version row".into(),
        None => String::new(),
    }
}

/// Runs a message built by [`one_transaction`] and returns the id of the
/// transaction it left open and, when it counts them (`count_writes`), what
/// it wrote to the catalogs: the first row is the one its first `SELECT`
/// returns and the last row its last one's, whatever rows the revision's
/// own statements return between them.
/// After an error the transaction is still open, and aborted: it is rolled
/// back. The error comes with the number of the message's statements that
/// completed before it.
async fn run_in_one_trip(
    conn: &mut PgConnection,
    message: String,
    count_writes: bool,
) -> Result<(String, Option<schema::CatalogWrites>), (sqlx::Error, usize)> {
    use sqlx::Either;
    use tokio_stream::StreamExt;
    let mut completed = 0;
    let outcome = async {
        let mut results = sqlx::raw_sql(sqlx::AssertSqlSafe(message)).fetch_many(&mut *conn);
        let mut first = None;
        let mut last = None;
        while let Some(result) = results.next().await {
            let row = match result? {
                Either::Left(_done) => {
                    completed += 1;
                    continue;
                }
                Either::Right(row) => row,
            };
            if first.is_none() {
                first = Some((
                    row.try_get::<String, _>(0)?,
                    row.try_get::<Option<String>, _>(4)?,
                ));
            } else {
                last = Some(row);
            }
        }
        let (xid, writes_at_start) =
            first.ok_or_else(|| sqlx::Error::Protocol("the transaction returned no id".into()))?;
        let writes_at_end = match last {
            Some(row) if count_writes => row.try_get::<Option<String>, _>(0)?,
            _ => None,
        };
        let writes =
            schema::CatalogWrites::between(writes_at_start.as_deref(), writes_at_end.as_deref());
        Ok((xid, writes))
    }
    .await;
    if outcome.is_err() {
        // The revision's error is the one to report.
        rollback(conn).await;
    }
    outcome.map_err(|err| (err, completed))
}

/// Returns the session to the state it was opened in (settings, role,
/// temporary tables), keeping the executor's advisory lock.
pub(super) async fn reset_session(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql("SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DISCARD TEMP")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Runs the [version-row change](version_row_change) on its own.
async fn version_row(
    conn: &mut PgConnection,
    revision: &Revision,
    request: &Request,
    record: &Record,
    version_table: bool,
) -> Result<(), sqlx::Error> {
    let change = version_row_change(revision, request, record, version_table);
    sqlx::raw_sql(sqlx::AssertSqlSafe(change))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The statements that add (apply) or remove (rollback) the revision's
/// version row, with their values written in; an apply on a target without
/// the version table creates it first.
fn version_row_change(
    revision: &Revision,
    request: &Request,
    record: &Record,
    version_table: bool,
) -> String {
    match request.action {
        Action::Apply => {
            let insert = target::version_row_insert(
                revision,
                &VersionRow {
                    executed_by: &request.caller.subject,
                    execution_id: &record.id,
                    transactional: record.transactional,
                    stamped: false,
                },
            );
            if version_table {
                insert
            } else {
                format!("{};\n{insert}", target::VERSION_TABLE_DDL)
            }
        }
        Action::Rollback => target::version_row_delete(revision),
    }
}
