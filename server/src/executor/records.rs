//! The `executions` table: an execution record per revision run, written
//! as running before the revision commits and finished after it, the
//! records left for the next revision's catalog transaction, and the
//! settling of records a stopped server left running.

use super::{Record, State};
use crate::approvals;
use crate::audit::{self, Event as AuditEvent, Outcome};
use crate::backup::Backup;
use crate::catalog::{self, Revision};
use crate::config::{Environment, Policy};
use crate::db::{Db, now_ms};
use crate::drift;
use crate::release::{Action, ReleaseError};
use crate::schema;
use crate::target::{self, Target};
use sqlx::{AnyConnection, PgConnection, Row};

macro_rules! select_executions {
    ($rest:literal) => {
        concat!(
            "SELECT id, project, environment, revision_id, action, state, started_at_ms, finished_at_ms, \
             statements_run, error, executed_by, policy_sha256, backup_path, backup_sha256, backup_bytes, \
             transactional, fingerprint, emergency FROM executions ",
            $rest
        )
    };
}

/// How a revision stands on an environment it has landed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Landed {
    /// Applied (or stamped) there.
    Applied(String),
    /// An execution of it is running there.
    Running(String),
    /// A statement-by-statement run failed part way there: some of its
    /// statements stayed, without its version row.
    InPart(String),
}

impl std::fmt::Display for Landed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Landed::Applied(environment) => write!(f, "{environment}"),
            Landed::Running(environment) => write!(f, "{environment} (running)"),
            Landed::InPart(environment) => write!(f, "{environment} (ran in part)"),
        }
    }
}

/// The environments where revision `revision_id` has landed, as its
/// execution records tell, in the caller's transaction: there, its latest
/// record that changed something is an apply or a stamp that succeeded, one
/// still running, or a statement-by-statement run that failed part way. A
/// failed transactional run changed nothing and a refused one never ran; a
/// rollback that succeeded takes it off its environment. A restore recorded
/// with `stamp --restored` does not: the records still show it landed,
/// which errs on the side of refusing.
pub async fn landed_on(
    conn: &mut AnyConnection,
    project: &str,
    revision_id: &str,
) -> Result<Vec<Landed>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT environment, action, state FROM executions \
         WHERE project = $1 AND revision_id = $2 \
           AND (state IN ('succeeded', 'running') OR (state = 'failed' AND transactional = 0 AND statements_run > 0)) \
         ORDER BY started_at_ms, id",
    )
    .bind(project)
    .bind(revision_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut latest = std::collections::BTreeMap::new();
    for row in &rows {
        let environment: String = row.try_get(0)?;
        let action: String = row.try_get(1)?;
        let state: String = row.try_get(2)?;
        latest.insert(environment, (action, State::parse(&state)));
    }
    Ok(latest
        .into_iter()
        .filter_map(|(environment, (action, state))| match state {
            State::Running => Some(Landed::Running(environment)),
            State::Failed => Some(Landed::InPart(environment)),
            State::Succeeded if action != Action::Rollback.as_str() => {
                Some(Landed::Applied(environment))
            }
            _ => None,
        })
        .collect())
}

/// Removes the running record of a revision that never started.
pub(super) async fn remove_unrun(db: &Db, record: &Record) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM executions WHERE id = $1 AND state = 'running'")
        .bind(&record.id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Writes a new running execution record.
pub(super) async fn insert(db: &Db, record: &Record) -> Result<(), sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    write(&mut conn, record).await
}

async fn write(conn: &mut AnyConnection, record: &Record) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO executions (id, project, environment, revision_id, action, state, started_at_ms, finished_at_ms, \
         statements_run, error, executed_by, policy_sha256, backup_path, backup_sha256, backup_bytes, transactional, fingerprint, emergency) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, started_at_ms = excluded.started_at_ms, finished_at_ms = excluded.finished_at_ms, \
         statements_run = excluded.statements_run, error = excluded.error, fingerprint = excluded.fingerprint",
    )
    .bind(&record.id)
    .bind(&record.project)
    .bind(&record.environment)
    .bind(&record.revision_id)
    .bind(&record.action)
    .bind(&record.state)
    .bind(record.started_at_ms)
    .bind(record.finished_at_ms)
    .bind(record.statements_run)
    .bind(&record.error)
    .bind(&record.executed_by)
    .bind(&record.policy_sha256)
    .bind(&record.backup.path)
    .bind(&record.backup.sha256)
    .bind(record.backup.bytes as i64)
    .bind(i64::from(record.transactional))
    .bind(&record.fingerprint)
    .bind(i64::from(record.emergency))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A revision's record that succeeded, closed but not yet written: the
/// executor writes it while the next revision runs.
pub(super) struct Unwritten<'a> {
    pub(super) record: Record,
    pub(super) revision: &'a Revision,
    /// The catalog stamp of the reading after it, which its reference
    /// keeps with the fingerprint.
    pub(super) stamp: String,
}

/// What a revision that succeeded is recorded with: its revision, the
/// schema read after it and what of that the reference keeps.
pub(super) type Succeeded<'r> = (&'r Revision, &'r schema::Reading, drift::Keep);

/// Writes, in one catalog transaction and in the order the revisions ran:
/// the records left `unwritten` with their references (the fingerprint, no
/// schema), a record `finished` now, and the `running` record of the next
/// revision.
pub(super) async fn write_records(
    db: &Db,
    unwritten: Vec<Unwritten<'_>>,
    finished: Option<(&Record, Option<Succeeded<'_>>)>,
    running: Option<&Record>,
) -> Result<(), sqlx::Error> {
    if unwritten.is_empty() && finished.is_none() && running.is_none() {
        return Ok(());
    }
    let mut tx = db.pool.begin().await?;
    for Unwritten {
        record,
        revision,
        stamp,
    } in unwritten
    {
        let reading = schema::Reading {
            stamp,
            snapshot: String::new(),
            schema: schema::Schema::default(),
            rows: None,
        };
        write_finished_in(
            db,
            &mut tx,
            &record,
            Some((revision, &reading, drift::Keep::Fingerprint)),
        )
        .await?;
    }
    if let Some((record, succeeded)) = finished {
        write_finished_in(db, &mut tx, record, succeeded).await?;
    }
    if let Some(running) = running {
        write(&mut tx, running).await?;
    }
    tx.commit().await
}

/// Finishes a record: [closes](close) it and writes it in one catalog
/// transaction with its audit row and, on success, the target's new schema
/// reference ([`write_finished_in`]).
pub(super) async fn finish(
    db: &Db,
    record: &mut Record,
    state: State,
    succeeded: Option<Succeeded<'_>>,
) -> Result<(), sqlx::Error> {
    close(record, state);
    write_records(db, Vec::new(), Some((record, succeeded)), None).await
}

/// Gives a record its final state and end time.
pub(super) fn close(record: &mut Record, state: State) {
    record.state = state.as_str().to_string();
    record.finished_at_ms = Some(now_ms());
    // A refused attempt forced nothing through: only what ran on the
    // emergency path is marked so.
    if state == State::Refused {
        record.emergency = false;
    }
}

/// Writes a closed record, in the caller's catalog transaction, with its
/// audit row and, on success, the target's new schema reference (and, for
/// a rollback, the consumption of its approvals).
async fn write_finished_in(
    db: &Db,
    tx: &mut AnyConnection,
    record: &Record,
    succeeded: Option<Succeeded<'_>>,
) -> Result<(), sqlx::Error> {
    let state = State::parse(&record.state);
    write(&mut *tx, record).await?;
    let mut used_up = 0;
    if let Some((revision, live, keep)) = succeeded {
        let action = Action::from_rollback_flag(record.action == "rollback");
        drift::record(
            &mut *tx,
            &record.project,
            &record.environment,
            action.lands_on(revision),
            (live, &record.fingerprint),
            keep,
        )
        .await?;
        if record.action == "rollback" {
            used_up = approvals::use_up_after_rollback(
                &mut *tx,
                &record.project,
                &revision.id,
                &record.environment,
                record.started_at_ms,
            )
            .await?;
        }
    }
    audit::append(
        db,
        &mut *tx,
        &AuditEvent {
            actor: &record.executed_by,
            action: if record.action == "rollback" {
                "execution.rollback"
            } else {
                "execution.apply"
            },
            project: &record.project,
            environment: &record.environment,
            subject: &record.revision_id,
            outcome: match state {
                State::Succeeded | State::Running => Outcome::Ok,
                State::Refused => Outcome::Refused,
                State::Failed => Outcome::Failed,
            },
            detail: format!(
                "execution={} statements={} backup={} fingerprint={}{}{}{}",
                record.id,
                record.statements_run,
                if record.backup.path.is_empty() {
                    "none"
                } else {
                    &record.backup.path
                },
                record.fingerprint,
                if record.emergency {
                    " emergency_path=yes"
                } else {
                    ""
                },
                if used_up == 0 {
                    String::new()
                } else {
                    format!(" approvals_used_up={used_up}")
                },
                if record.error.is_empty() {
                    String::new()
                } else {
                    format!(" error={}", record.error)
                }
            ),
        },
    )
    .await
}

/// Settles the records of `env` left "running" by a server that stopped in
/// the middle of an execution, from what the target's version table says:
/// the revision's row written by that execution means it committed. Call
/// only while holding the target's executor lock of `project`. Returns how many records
/// were settled.
pub async fn reconcile(
    db: &Db,
    env: &Environment,
    project: &str,
    target: &Target,
    conn: &mut PgConnection,
) -> Result<usize, ReleaseError> {
    let rows = sqlx::query(select_executions!(
        "WHERE environment = $1 AND project = $2 AND state = 'running' ORDER BY started_at_ms"
    ))
    .bind(&env.name)
    .bind(project)
    .fetch_all(&db.pool)
    .await?;
    let stale = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    for mut record in stale.iter().cloned() {
        let row_execution = target::applied_by(conn, &record.project, &record.revision_id)
            .await
            .map_err(|e| target.failed(&e))?;
        let committed = match record.action.as_str() {
            "rollback" => row_execution.is_none(),
            _ => row_execution.as_deref() == Some(record.id.as_str()),
        };
        let note = if committed {
            "the server stopped during this execution; the target's version table shows it committed"
        } else if record.transactional {
            "the server stopped during this execution; the target's version table shows it did not commit, so nothing of it was applied"
        } else {
            "the server stopped during this statement-by-statement execution before it finished; the statements before the stop may be applied and need manual review"
        };
        record.error = note.to_string();
        let revision = if committed {
            Some(catalog::get(db, &record.project, &record.revision_id).await?)
        } else {
            None
        };
        let live = match &revision {
            Some(_) => {
                let live = schema::introspect_stamped(conn)
                    .await
                    .map_err(|e| target.failed(&e))?;
                record.fingerprint = live.schema.fingerprint();
                Some(live)
            }
            None => None,
        };
        let state = if committed {
            State::Succeeded
        } else {
            State::Failed
        };
        let succeeded = revision
            .as_ref()
            .zip(live.as_ref())
            .map(|(revision, live)| (revision, live, drift::Keep::Schema));
        finish(db, &mut record, state, succeeded).await?;
        tracing::warn!(execution = %record.id, state = state.as_str(), "{note}");
    }
    keep_unkept_reference(db, env, project, target, conn).await?;
    Ok(stale.len())
}

/// A reference recorded between two revisions of an execution keeps no
/// schema, and an execution the server stopped could not keep one at its
/// end. The schema is kept now when the live one still has the
/// reference's fingerprint; otherwise the drift check reports by
/// fingerprint.
async fn keep_unkept_reference(
    db: &Db,
    env: &Environment,
    project: &str,
    target: &Target,
    conn: &mut PgConnection,
) -> Result<(), ReleaseError> {
    let Some(reference) = drift::unkept_reference(db, project, &env.name).await? else {
        return Ok(());
    };
    let live = schema::introspect_stamped(conn)
        .await
        .map_err(|e| target.failed(&e))?;
    let fingerprint = live.schema.fingerprint();
    if fingerprint != reference.fingerprint {
        tracing::warn!(
            environment = %env.name,
            revision = %reference.revision_id,
            "the reference recorded mid-execution kept no schema and the live schema no longer matches it; drift is checked by fingerprint"
        );
        return Ok(());
    }
    drift::keep_schema(
        db,
        project,
        &env.name,
        &reference.revision_id,
        (&live, &fingerprint),
    )
    .await?;
    Ok(())
}

/// Settles what every target can tell at start (records left running,
/// references left without their schema). A target that is unreachable,
/// or whose executor lock is still held (a killed server's backend goes on
/// until PostgreSQL notices its client is gone), is tried again with a
/// growing pause, so that its records settle on their own rather than at
/// the next execution. Returns once nothing is left unsettled; a server
/// shutting down drops it between two attempts.
pub async fn reconcile_at_start(db: &Db, policy: &Policy) {
    let mut pause = RETRY_FIRST;
    let mut deferred_before = std::collections::BTreeSet::new();
    loop {
        let deferred = reconcile_reachable(db, policy).await;
        if deferred.is_empty() {
            return;
        }
        for (environment, reason) in deferred.difference(&deferred_before) {
            tracing::info!(environment, reason, "reconciliation deferred; trying again");
        }
        deferred_before = deferred;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
    }
}

/// The first and the longest pause between two reconciliation attempts.
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(500);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// One reconciliation attempt over every environment; returns the
/// environments left unsettled, each with why.
async fn reconcile_reachable(
    db: &Db,
    policy: &Policy,
) -> std::collections::BTreeSet<(String, String)> {
    let mut deferred = std::collections::BTreeSet::new();
    for env in &policy.environments {
        let Ok(target) = Target::of(env) else {
            continue;
        };
        let projects = match unsettled_projects(db, &env.name).await {
            Ok(projects) if !projects.is_empty() => projects,
            Ok(_) => continue,
            Err(err) => {
                deferred.insert((env.name.clone(), format!("catalog: {err}")));
                continue;
            }
        };
        let mut conn = match target.connect("schemagate reconcile").await {
            Ok(conn) => conn,
            Err(err) => {
                deferred.insert((env.name.clone(), err.to_string()));
                continue;
            }
        };
        for project in &projects {
            match target::try_lock(&mut conn, project).await {
                Ok(Ok(())) => {}
                // A live execution settles its own at its start; a killed
                // server's backend lets go once PostgreSQL sees it orphaned.
                Ok(Err(holder)) => {
                    deferred.insert((env.name.clone(), format!("{project}: locked by {holder}")));
                    continue;
                }
                Err(err) => {
                    deferred.insert((env.name.clone(), target.failed(&err).to_string()));
                    continue;
                }
            }
            match reconcile(db, env, project, &target, &mut conn).await {
                Ok(n) => {
                    tracing::info!(environment = %env.name, project, settled = n, "executions reconciled")
                }
                Err(err) => {
                    deferred.insert((env.name.clone(), format!("{project}: {err}")));
                }
            }
        }
        target::close(conn).await;
    }
    deferred
}

/// The projects of `environment` with something a stopped server left
/// unsettled: an execution record still running, or a reference without
/// its schema (a server stopped between two revisions leaves no running
/// record).
async fn unsettled_projects(
    db: &Db,
    environment: &str,
) -> Result<std::collections::BTreeSet<String>, sqlx::Error> {
    let mut projects: std::collections::BTreeSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT project FROM executions WHERE environment = $1 AND state = 'running'",
    )
    .bind(environment)
    .fetch_all(&db.pool)
    .await?
    .into_iter()
    .collect();
    projects.extend(drift::projects_with_unkept_reference(db, environment).await?);
    Ok(projects)
}

/// The fingerprint recorded after revision `id` last landed on `of`'s
/// environment, by an apply or a stamp, if any.
pub(super) async fn fingerprint_after(
    db: &Db,
    of: &Record,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT fingerprint FROM executions WHERE project = $1 AND environment = $2 AND revision_id = $3 \
         AND action IN ('apply', 'stamp') AND state = 'succeeded' AND fingerprint <> '' \
         ORDER BY finished_at_ms DESC LIMIT 1",
    )
    .bind(&of.project)
    .bind(&of.environment)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// Records a stamp as an execution, in the caller's catalog transaction.
pub async fn record_stamp(conn: &mut AnyConnection, record: &Record) -> Result<(), sqlx::Error> {
    write(conn, record).await
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Record, sqlx::Error> {
    Ok(Record {
        id: row.try_get(0)?,
        project: row.try_get(1)?,
        environment: row.try_get(2)?,
        revision_id: row.try_get(3)?,
        action: row.try_get(4)?,
        state: row.try_get(5)?,
        started_at_ms: row.try_get(6)?,
        finished_at_ms: row.try_get(7)?,
        statements_run: row.try_get(8)?,
        error: row.try_get(9)?,
        executed_by: row.try_get(10)?,
        policy_sha256: row.try_get(11)?,
        backup: Backup {
            path: row.try_get(12)?,
            sha256: row.try_get(13)?,
            bytes: row.try_get::<i64, _>(14)?.max(0) as u64,
        },
        transactional: row.try_get::<i64, _>(15)? != 0,
        fingerprint: row.try_get(16)?,
        emergency: row.try_get::<i64, _>(17)? != 0,
    })
}

impl Record {
    pub fn state(&self) -> State {
        State::parse(&self.state)
    }
}

pub async fn get(db: &Db, id: &str) -> Result<Record, ReleaseError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(ReleaseError::InvalidInput(format!(
            "'{}' is not an execution id: `sgctl status --env ENV` lists the recent ones",
            id.escape_default()
                .to_string()
                .chars()
                .take(80)
                .collect::<String>()
        )));
    }
    let row = sqlx::query(select_executions!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    match row {
        Some(row) => Ok(from_row(&row)?),
        None => Err(ReleaseError::NotFound(format!("no execution {id}"))),
    }
}

/// The newest executions on an environment, newest first.
pub async fn recent(
    db: &Db,
    project: &str,
    environment: &str,
    limit: i64,
) -> Result<Vec<Record>, sqlx::Error> {
    let rows = sqlx::query(select_executions!(
        "WHERE project = $1 AND environment = $2 ORDER BY started_at_ms DESC, id DESC LIMIT $3"
    ))
    .bind(project)
    .bind(environment)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}
