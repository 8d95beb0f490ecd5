//! Gated execution: the only code that changes a target. It holds the
//! target's executor lock for the whole run, takes the backup the policy
//! asks for before the first change, re-checks the gate for every revision,
//! and commits each revision's SQL together with its version row. Every
//! revision run leaves an execution record and an audit row. Owns the
//! `executions` table.

use crate::approvals;
use crate::audit::{self, Event as AuditEvent, Outcome};
use crate::auth::Caller;
use crate::backup::{self, Backup};
use crate::catalog::{self, Revision};
use crate::config::{Environment, Policy};
use crate::db::{Db, now_ms};
use crate::drift;
use crate::gate::{self, Lock};
use crate::release::{self, Action, ReleaseError};
use crate::schema;
use crate::target::{self, Target, VersionRow};
use schemagate_policy::parser_stack::{ParserFailure, on_parser_stack};
use sqlx::{AnyConnection, Connection, PgConnection, Row};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::Instrument;

macro_rules! select_executions {
    ($rest:literal) => {
        concat!(
            "SELECT id, project, environment, revision_id, action, state, started_at_ms, finished_at_ms, \
             statements_run, error, executed_by, policy_sha256, backup_path, backup_sha256, backup_bytes, \
             transactional, fingerprint FROM executions ",
            $rest
        )
    };
}

/// The state of one execution record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    Succeeded,
    Failed,
    Refused,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Refused => "refused",
        }
    }

    fn parse(text: &str) -> State {
        match text {
            "succeeded" => State::Succeeded,
            "failed" => State::Failed,
            "refused" => State::Refused,
            _ => State::Running,
        }
    }
}

/// One progress line streamed to the client.
#[derive(Clone, Debug)]
pub struct Event {
    pub execution_id: String,
    /// lock | backup | gate | apply | fingerprint | done
    pub step: &'static str,
    pub revision_id: String,
    pub message: String,
    pub state: State,
    pub statements_run: u32,
}

/// An execution record.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub revision_id: String,
    /// apply | rollback | stamp
    pub action: String,
    pub state: String,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    pub statements_run: i64,
    pub error: String,
    pub executed_by: String,
    pub policy_sha256: String,
    pub backup: Backup,
    pub transactional: bool,
    pub fingerprint: String,
}

/// What a deploy or rollback was asked to do.
pub struct Request {
    pub project: String,
    pub environment: String,
    /// Apply up to this revision; the head when `None`.
    pub up_to: Option<String>,
    pub action: Action,
    pub caller: Caller,
}

/// Starts the execution in a task of its own, so a client that disconnects
/// cannot cut a revision in half. `running` is held until the run ends (a
/// registration that graceful shutdown waits for). The receiver yields
/// progress events and, when the run could not start or failed, the error
/// last.
pub fn start(
    db: Db,
    policy: Arc<Policy>,
    request: Request,
    running: impl Send + 'static,
) -> mpsc::Receiver<Result<Event, ReleaseError>> {
    let (events, receiver) = mpsc::channel(64);
    let parent = tracing::Span::current();
    tokio::spawn(
        async move {
            let progress = Progress(events.clone());
            if let Err(err) = run(&db, &policy, &request, &progress).await {
                let _ = events.send(Err(err)).await;
            }
            // Registered as running (for shutdown) until here.
            drop(running);
        }
        .instrument(parent),
    );
    receiver
}

struct Progress(mpsc::Sender<Result<Event, ReleaseError>>);

impl Progress {
    async fn send(&self, event: Event) {
        tracing::info!(
            execution = %event.execution_id,
            step = event.step,
            revision = %event.revision_id,
            state = event.state.as_str(),
            "{}",
            event.message
        );
        // A client that went away does not stop the execution.
        let _ = self.0.send(Ok(event)).await;
    }
}

#[tracing::instrument(name = "execution", skip_all, fields(environment = %request.environment, action = request.action.as_str(), caller = %request.caller.subject))]
async fn run(
    db: &Db,
    policy: &Policy,
    request: &Request,
    progress: &Progress,
) -> Result<(), ReleaseError> {
    let env = release::environment(policy, &request.environment)?;
    let history = catalog::history(db, &request.project).await?;
    if let Some(up_to) = &request.up_to {
        catalog::validate_id(up_to)?;
        if !history.iter().any(|r| &r.id == up_to) {
            return Err(ReleaseError::NotFound(format!(
                "revision {up_to} is not in the lineage of project {}",
                request.project
            )));
        }
    }
    let target = Target::of(env)?;
    let application_name = format!(
        "schemagate {} by {}",
        request.action.as_str(),
        request.caller.subject
    );
    let mut conn = target.connect(&application_name).await?;
    let mut trail = Trail::default();
    let outcome = run_locked(
        db, policy, env, &target, &mut conn, &history, request, progress, &mut trail,
    )
    .await;
    // An execution that stopped between two revisions may leave the
    // schema after the last one to read and the records of the last ones
    // to write.
    let caught_up = catch_up(db, request, progress, &target, &mut conn, &mut trail).await;
    let mut written = write_records(db, std::mem::take(&mut trail.unwritten), None, None)
        .await
        .map_err(ReleaseError::from);
    // The next revision's record, written ahead, did not run.
    if let Some(ahead) = trail.ahead.take() {
        written = written.and(remove_unrun(db, &ahead).await.map_err(ReleaseError::from));
    }
    let result = match (outcome, caught_up.and(written)) {
        (Err(err), Err(unsettled)) => {
            tracing::error!(error = %unsettled, "the last revision that ran could not be settled; the next start settles it from the target's version table");
            Err(err)
        }
        (outcome, settled) => settled.and(outcome),
    };
    // Still holding the executor lock: nothing of Schemagate's runs on the
    // target in between.
    if let Some(last) = trail
        .last
        .filter(|last| last.keep == drift::Keep::Fingerprint)
    {
        keep_reference(db, env, &target, &mut conn, &request.project, last).await;
    }
    if let Some(reader) = trail.reader.conn {
        target::close(reader).await;
    }
    target::close(conn).await;
    result
}

/// The schema the catalog kept after the target's current revision, with
/// the target's snapshot now, when it kept one. The first revision's schema
/// is read against it ([`schema_after`]), so that DDL committed elsewhere
/// while that revision runs is told from what the revision did. The first
/// gate checks that the live schema is still the kept one: a change
/// committed after this snapshot and before that check is drift there.
/// A schema kept by a server whose model compared other things (its
/// fingerprint, computed again, differs) or that no longer decodes is not
/// used: the first revision is then read in full, as before.
async fn kept_reading(
    db: &Db,
    target: &Target,
    conn: &mut PgConnection,
    project: &str,
    environment: &str,
    revision_id: &str,
) -> Result<Option<Recording>, ReleaseError> {
    let (fingerprint, schema) = match drift::recorded_schema(db, project, environment, revision_id)
        .await
    {
        Ok(Some((fingerprint, Some(schema)))) if schema.fingerprint() == fingerprint => {
            (fingerprint, schema)
        }
        Ok(_) => return Ok(None),
        Err(err) => {
            tracing::warn!(error = %err, "the schema kept after the current revision could not be read; the first revision's schema is read in full");
            return Ok(None);
        }
    };
    let snapshot: String = sqlx::query_scalar("SELECT pg_catalog.pg_current_snapshot()::text")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| target.failed(&e))?;
    Ok(Some(Recording {
        revision_id: revision_id.to_string(),
        fingerprint,
        reading: schema::Reading {
            stamp: String::new(),
            snapshot,
            schema,
        },
        read: Read::Full,
        keep: drift::Keep::Schema,
    }))
}

/// The reference an execution recorded last: the revision the target is
/// at after it, the schema's fingerprint, the reading, how it was read and
/// what the catalog kept of it.
struct Recording {
    revision_id: String,
    fingerprint: String,
    reading: schema::Reading,
    read: Read,
    keep: drift::Keep,
}

/// An execution that stopped before its last revision (the next was
/// refused or failed) ends here, since only the last revision's reference
/// keeps its schema ([`drift::Keep`]). The schema is read in full and, when
/// no transaction committed since the last reading, becomes the reference
/// with its catalog stamp (an incremental reading is checked against it, as
/// the last revision's is in [`schema_after`]). After a commit (a
/// non-transactional revision that ran in part, or DDL outside Schemagate)
/// the last reading is kept as it was recorded, so that the drift check can
/// list what changed since.
async fn keep_reference(
    db: &Db,
    env: &Environment,
    target: &Target,
    conn: &mut PgConnection,
    project: &str,
    last: Recording,
) {
    let full = match schema::introspect_stamped(conn).await {
        Ok(full) => full,
        Err(err) => {
            tracing::warn!(error = %target.failed(&err), "could not read the schema to keep the reference");
            return;
        }
    };
    let (reading, fingerprint) = match target::committed_since(conn, &last.reading.snapshot).await {
        Ok(false) => {
            if last.read == Read::Incremental {
                same_reading(&last.reading.schema, &full.schema);
            }
            let fingerprint = full.schema.fingerprint();
            (full, fingerprint)
        }
        Ok(true) => (last.reading, last.fingerprint),
        Err(err) => {
            tracing::warn!(error = %target.failed(&err), "could not tell whether anything committed since the last read");
            (last.reading, last.fingerprint)
        }
    };
    let kept = drift::keep_schema(
        db,
        project,
        &env.name,
        &last.revision_id,
        (&reading, &fingerprint),
    )
    .await;
    if let Err(err) = kept {
        tracing::error!(error = %err, "could not keep the reference's schema");
    }
}

/// Whether an incremental read equals the full one, every name and position
/// included; a difference is logged as the error it is.
fn same_reading(incremental: &schema::Schema, full: &schema::Schema) -> bool {
    if serde_json::to_value(incremental).ok() == serde_json::to_value(full).ok() {
        return true;
    }
    let differences = schema::diff(incremental, full);
    tracing::error!(
        differences = differences.len(),
        first = differences
            .first()
            .map(ToString::to_string)
            .unwrap_or_default(),
        "the schema read incrementally differs from the full read; the full read is recorded"
    );
    false
}

#[allow(clippy::too_many_arguments)]
async fn run_locked<'a>(
    db: &Db,
    policy: &Policy,
    env: &Environment,
    target: &Target,
    conn: &mut PgConnection,
    history: &'a [Revision],
    request: &Request,
    progress: &Progress,
    trail: &mut Trail<'a>,
) -> Result<(), ReleaseError> {
    let project = &request.project;
    if let Err(holder) = target::try_lock(conn, project)
        .await
        .map_err(|e| target.failed(&e))?
    {
        return Err(ReleaseError::Busy(format!(
            "another execution holds {}'s target: {holder}; wait for it to finish",
            env.name
        )));
    }
    // Holding the lock, no other execution runs on this target: a record
    // still "running" was cut off (the server stopped) and is settled now.
    reconcile(db, env, project, target, conn).await?;
    let current = target::current(conn, project)
        .await
        .map_err(|e| target.failed(&e))?;
    let current_id = current.as_ref().map(|c| c.id.clone());
    let plan: Vec<&Revision> = match request.action {
        Action::Apply => {
            let start = match &current_id {
                Some(id) => match history.iter().position(|r| &r.id == id) {
                    Some(at) => at + 1,
                    None => {
                        return Err(ReleaseError::Refused(format!(
                            "the target is at {id}, which is not in the lineage of project {project}"
                        )));
                    }
                },
                None => 0,
            };
            let end = match &request.up_to {
                Some(up_to) => history
                    .iter()
                    .position(|r| &r.id == up_to)
                    .map_or(history.len(), |at| at + 1),
                None => history.len(),
            };
            history.get(start..end).unwrap_or_default().iter().collect()
        }
        Action::Rollback => match &current_id {
            Some(id) => history.iter().filter(|r| &r.id == id).collect(),
            None => {
                return Err(ReleaseError::Refused(format!(
                    "{}'s target has no revision to roll back",
                    env.name
                )));
            }
        },
    };
    if plan.is_empty() {
        progress
            .send(Event {
                execution_id: String::new(),
                step: "done",
                revision_id: current_id.clone().unwrap_or_default(),
                message: format!(
                    "nothing to do: {}'s target is already at {}",
                    env.name,
                    current_id.as_deref().unwrap_or("no revision")
                ),
                state: State::Succeeded,
                statements_run: 0,
            })
            .await;
        return Ok(());
    }

    let mut backup: Option<Backup> = None;
    // A current revision was read from the version table, so it exists.
    let mut version_table = current.is_some()
        || target::has_version_table(conn)
            .await
            .map_err(|e| target.failed(&e))?;
    let final_position = plan.len().saturating_sub(1);
    let mut kept_before = match &current_id {
        Some(id) => kept_reading(db, target, conn, project, &env.name, id).await?,
        None => None,
    };
    // Each revision's SQL is read while the one before it runs.
    let read_sql = |revision: &Revision| {
        NextSql::Reading(RevisionSql::start_reading(
            request.action.sql(revision),
            revision.lint.transactional,
        ))
    };
    let mut next_sql = plan.first().map(|revision| read_sql(revision));
    // The catalog's conditions of a revision's gate, read while the revision
    // before it ran.
    let mut catalog_read_ahead: Option<Result<Vec<gate::Condition>, ReleaseError>> = None;
    let new_record = |revision: &Revision, backup: &Option<Backup>| Record {
        id: release::new_id(),
        project: project.clone(),
        environment: env.name.clone(),
        revision_id: revision.id.clone(),
        action: request.action.as_str().to_string(),
        state: State::Running.as_str().to_string(),
        started_at_ms: now_ms(),
        executed_by: request.caller.subject.clone(),
        policy_sha256: policy.sha256.clone(),
        transactional: revision.lint.transactional,
        backup: backup.clone().unwrap_or_default(),
        ..Record::default()
    };
    for (position, revision) in plan.iter().copied().enumerate() {
        // Written as running while the revision before it ran, the record
        // stays in the trail until this revision runs or is refused: an
        // execution that stops first removes it.
        let written_ahead = trail.ahead.is_some();
        let mut record = trail
            .ahead
            .clone()
            .unwrap_or_else(|| new_record(revision, &backup));
        let execution_id = record.id.clone();
        let event = |step, message: String, state, statements_run| Event {
            execution_id: execution_id.clone(),
            step,
            revision_id: revision.id.clone(),
            message,
            state,
            statements_run,
        };

        // After a revision of this execution, one round trip tells the gate
        // the target's current revision and that nothing else (besides the
        // revision behind, whose schema is not read yet) committed since
        // the execution's last reading. When something did, the schema
        // behind is read first, and drift is checked against it.
        let unchanged = match &trail.last {
            Some(last) => target::current_unless_committed(
                conn,
                project,
                &last.reading.snapshot,
                trail.behind.as_ref().map(|behind| behind.xid.as_str()),
            )
            .await
            .map_err(|e| target.failed(&e))?,
            None => None,
        };
        if unchanged.is_none() {
            catch_up(db, request, progress, target, conn, trail).await?;
        }
        let lock = match &unchanged {
            Some(current) => Lock::HeldAndUnchanged {
                current: current.as_ref(),
            },
            None => Lock::HeldByThisExecution(trail.last.as_ref().map(|last| drift::Recorded {
                revision_id: &last.revision_id,
                fingerprint: &last.fingerprint,
                reading: &last.reading,
            })),
        };
        let verdict = gate::check_with_catalog(
            catalog_read_ahead.take(),
            db,
            policy,
            env,
            revision,
            request.action,
            Ok(&mut *conn),
            lock,
        )
        .instrument(tracing::info_span!("gate", revision = %revision.id))
        .await?;
        if !verdict.open {
            catch_up(db, request, progress, target, conn, trail).await?;
            record.error = format!("gate closed: {}", verdict.refusal());
            finish_in_order(db, trail, &mut record, State::Refused).await?;
            trail.ahead = None;
            progress
                .send(event("gate", record.error.clone(), State::Refused, 0))
                .await;
            return Ok(());
        }
        // Behind a revision whose schema is not read yet, this one's events
        // follow that revision's `done`.
        let mut unannounced = vec![event(
            "gate",
            "gate open: every condition passed".into(),
            State::Running,
            0,
        )];
        if trail.behind.is_none() {
            announce(progress, &mut unannounced).await;
        }
        if env.backup && backup.is_none() {
            progress
                .send(event(
                    "backup",
                    "pg_dump -Fc of the target".into(),
                    State::Running,
                    0,
                ))
                .await;
            match backup::take(env, target, &record.id)
                .instrument(tracing::info_span!("backup"))
                .await
            {
                Ok(taken) => {
                    progress
                        .send(event(
                            "backup",
                            format!(
                                "backup verified: {} ({} bytes, sha256 {})",
                                taken.path, taken.bytes, taken.sha256
                            ),
                            State::Running,
                            0,
                        ))
                        .await;
                    record.backup = taken.clone();
                    backup = Some(taken);
                }
                Err(err) => {
                    record.error = err.to_string();
                    finish_in_order(db, trail, &mut record, State::Failed).await?;
                    progress
                        .send(event("backup", record.error.clone(), State::Failed, 0))
                        .await;
                    return Ok(());
                }
            }
        }

        if !written_ahead {
            insert(db, &record).await?;
        }
        trail.ahead = None;
        unannounced.push(event(
            "apply",
            format!(
                "{} {} ({} statement(s), {})",
                if request.action == Action::Apply {
                    "applying"
                } else {
                    "rolling back"
                },
                revision.id,
                revision.lint.statements,
                if record.transactional {
                    "one transaction"
                } else {
                    "statement by statement"
                }
            ),
            State::Running,
            0,
        ));
        if trail.behind.is_none() {
            announce(progress, &mut unannounced).await;
        }
        let reading = next_sql.take().unwrap_or_else(|| read_sql(revision));
        next_sql = plan.get(position + 1).map(|revision| read_sql(revision));
        let sql = reading.read().await;
        if sql.statements.is_err() || sql.effects.transaction_control.is_some() {
            catch_up(db, request, progress, target, conn, trail).await?;
            announce(progress, &mut unannounced).await;
        }
        let applied = match (sql.effects.transaction_control, &sql.statements) {
            (Some(keyword), _) => Applied::failed(format!(
                "{} holds {keyword}, which would end the transaction it runs in before its version row is written; nothing was run. The server refuses such SQL at submit (rule transaction-control), so this revision was stored before that rule existed",
                revision.id
            )),
            (None, Err(err)) => Applied::failed(format!("the SQL does not parse: {err}")),
            (None, Ok(statements)) => {
                let apply = async |conn: &mut PgConnection| {
                    apply(
                        env,
                        target,
                        conn,
                        revision,
                        request,
                        &record,
                        statements,
                        version_table,
                    )
                    .instrument(tracing::info_span!(
                        "apply",
                        revision = %revision.id,
                        transactional = record.transactional
                    ))
                    .await
                };
                // While the revision runs (a transactional one up to its
                // commit): the catalog's conditions of the next revision's
                // gate are read; the record of the revision before it and
                // the next one's running record are written; and the schema
                // behind it is read on the reader, as the revision behind
                // left it, since this one has not committed. A
                // statement-by-statement revision's record is written once
                // its gate is open: one left running would ask for a manual
                // review of statements that never ran.
                let next = plan.get(position + 1);
                let catalog_of_next = async {
                    match next {
                        Some(next) => Some(
                            gate::catalog_conditions(
                                &db.for_reads(),
                                policy,
                                env,
                                next,
                                request.action,
                            )
                            .await,
                        ),
                        None => None,
                    }
                };
                let next_record = next
                    .filter(|next| next.lint.transactional)
                    .map(|next| new_record(next, &backup));
                let records = write_records(
                    db,
                    std::mem::take(&mut trail.unwritten),
                    None,
                    next_record.as_ref(),
                );
                let behind = trail.behind.take();
                let before = behind.as_ref().and_then(|_| trail.last.take());
                let read_behind = async {
                    match &behind {
                        Some(behind) => {
                            Some(trail.reader.read(target, request, before, behind).await)
                        }
                        None => None,
                    }
                };
                let (applied, catalog_of_next, written, read_behind) =
                    tokio::join!(apply(&mut *conn), catalog_of_next, records, read_behind);
                catalog_read_ahead = catalog_of_next;
                let open = record.transactional && applied.error.is_none();
                if let Err(err) = written {
                    if open {
                        rollback(conn).await;
                    }
                    return Err(err.into());
                }
                trail.ahead = next_record;
                let (applied, settled) = match (behind, read_behind) {
                    (Some(behind), Some(Ok(after))) => (applied, Some((behind.committed, after))),
                    (Some(behind), Some(Err(why))) => {
                        // Read it here, with nothing open beside it, and
                        // run this revision again after it.
                        tracing::info!(
                            revision = %behind.committed.revision.id,
                            error = %why,
                            "the schema after this revision could not be read beside the next one; it is read on its own and the next revision runs again"
                        );
                        if open {
                            rollback(conn).await;
                        }
                        let after = read_in_full(conn).await.map_err(|e| target.failed(&e))?;
                        settle(db, request, progress, trail, behind.committed, after, false)
                            .await?;
                        announce(progress, &mut unannounced).await;
                        (apply(&mut *conn).await, None)
                    }
                    _ => (applied, None),
                };
                let applied = if record.transactional && applied.error.is_none() {
                    commit(conn, revision, target, applied).await
                } else {
                    applied
                };
                if let Some((committed, after)) = settled {
                    settle(db, request, progress, trail, committed, after, false).await?;
                    announce(progress, &mut unannounced).await;
                }
                applied
            }
        };
        record.statements_run = i64::from(applied.statements_run);
        if let Some(err) = applied.error {
            record.error = err;
            finish_in_order(db, trail, &mut record, State::Failed).await?;
            progress
                .send(event(
                    "apply",
                    record.error.clone(),
                    State::Failed,
                    applied.statements_run,
                ))
                .await;
            return Ok(());
        }
        close(&mut record, State::Succeeded);
        version_table = true;
        // After a failure the execution stops, and this connection runs no
        // other revision.
        if !record.transactional || sql.effects.lasting_state {
            reset_session(conn).await.map_err(|e| target.failed(&e))?;
        }

        let committed = Committed { record, revision };
        let last_of_plan = position == final_position;
        // The schema after a transactional revision is read while the next
        // one runs, when that one is transactional too (its commit waits
        // for the reading), a reading before this revision bounds what else
        // may have committed since, and the reading will not wait for the
        // next revision's locks: it is read incrementally (the revision
        // cannot call code that runs DDL) and the two name no relation in
        // common. A reading that waits all the same gives way.
        let next_transactional = plan
            .get(position + 1)
            .is_some_and(|next| next.lint.transactional);
        let may_read_behind = applied.xid.is_some()
            && next_transactional
            && trail
                .last
                .as_ref()
                .is_some_and(|last| sql.traits.readable_incrementally_on(&last.reading.schema))
            && trail.reader.usable();
        // The next revision's SQL was read while this one ran.
        if may_read_behind && let (Some(xid), Some(reading)) = (&applied.xid, next_sql.take()) {
            let next = reading.read().await;
            let apart = matches!(
                (&sql.relations, &next.relations),
                (Some(these), Some(those)) if these.is_disjoint(those)
            );
            next_sql = Some(NextSql::Read(next));
            if apart {
                trail.behind = Some(Behind {
                    committed,
                    xid: xid.clone(),
                    traits: sql.traits,
                });
                continue;
            }
        }
        let after = schema_after(
            conn,
            trail.last.take().or_else(|| kept_before.take()),
            applied.xid.as_deref(),
            &sql.traits,
            last_of_plan,
        )
        .instrument(tracing::info_span!("fingerprint", revision = %revision.id))
        .await
        .map_err(|e| target.failed(&e))?;
        settle(db, request, progress, trail, committed, after, last_of_plan).await?;
    }
    Ok(())
}

/// What an execution carries from one revision to the next.
#[derive(Default)]
struct Trail<'a> {
    /// The reference recorded last.
    last: Option<Recording>,
    /// Revisions that succeeded, closed but not yet written, in the order
    /// they ran: every revision's record but the last one's is written
    /// while a revision after it runs.
    unwritten: Vec<Unwritten<'a>>,
    /// A revision that committed and whose schema is read while the next
    /// one runs.
    behind: Option<Behind<'a>>,
    /// The next revision's record, written as running while the revision
    /// before it ran, so that no revision starts without its record.
    ahead: Option<Record>,
    /// The connection the schema behind is read on.
    reader: Reader,
}

/// A revision that committed, with its record, closed as succeeded but
/// without its fingerprint yet.
struct Committed<'a> {
    record: Record,
    revision: &'a Revision,
}

/// A committed revision whose schema is read while the next revision runs
/// on the target: that revision's commit waits for the reading, so the
/// reading sees the target as this one left it.
struct Behind<'a> {
    committed: Committed<'a>,
    /// Its transaction id, a `xid8`.
    xid: String,
    traits: schema::SqlTraits,
}

impl Behind<'_> {
    /// Reads the schema after this revision on `conn`, `before` being the
    /// reading before it.
    async fn read_after(
        &self,
        conn: &mut PgConnection,
        before: Option<Recording>,
    ) -> Result<After, sqlx::Error> {
        schema_after(conn, before, Some(&self.xid), &self.traits, false)
            .instrument(tracing::info_span!("fingerprint", revision = %self.committed.revision.id))
            .await
    }
}

/// The second connection to the target, which reads the schema behind
/// while the executor's own connection runs the next revision.
#[derive(Default)]
struct Reader {
    conn: Option<PgConnection>,
    failures: u32,
}

impl Reader {
    /// How long the reader waits for a lock: one it needs may be held by
    /// the uncommitted revision beside it, which waits for the reading.
    const LOCK_TIMEOUT: &str = "SET lock_timeout TO '100ms'";
    /// After this many failures every schema is read on the executor's
    /// connection for the rest of the execution.
    const GIVE_UP_AFTER: u32 = 3;

    fn usable(&self) -> bool {
        self.failures < Self::GIVE_UP_AFTER
    }

    /// Reads the schema after `behind`. A reader that fails is closed at
    /// once, which ends its transaction and every lock in it (the revision
    /// beside it may be waiting for one); the next reading opens another.
    async fn read(
        &mut self,
        target: &Target,
        request: &Request,
        before: Option<Recording>,
        behind: &Behind<'_>,
    ) -> Result<After, String> {
        let read = async {
            let mut conn = match self.conn.take() {
                Some(conn) => conn,
                None => {
                    tracing::info!(
                        "the schema after a revision is read on a second connection while the next one runs"
                    );
                    let name = format!(
                        "schemagate {} by {} (schema reader)",
                        request.action.as_str(),
                        request.caller.subject
                    );
                    let mut conn = target.connect(&name).await.map_err(|e| e.to_string())?;
                    sqlx::raw_sql(Self::LOCK_TIMEOUT)
                        .execute(&mut conn)
                        .await
                        .map_err(|e| target.failed(&e).to_string())?;
                    conn
                }
            };
            let after = behind
                .read_after(&mut conn, before)
                .await
                .map_err(|e| target.failed(&e).to_string())?;
            Ok((conn, after))
        };
        match read.await {
            Ok((conn, after)) => {
                self.conn = Some(conn);
                Ok(after)
            }
            Err(why) => {
                self.failures += 1;
                Err(why)
            }
        }
    }
}

/// Reads the schema after the revision behind, if there is one, on the
/// executor's connection, and settles its record.
async fn catch_up(
    db: &Db,
    request: &Request,
    progress: &Progress,
    target: &Target,
    conn: &mut PgConnection,
    trail: &mut Trail<'_>,
) -> Result<(), ReleaseError> {
    let Some(behind) = trail.behind.take() else {
        return Ok(());
    };
    let after = behind
        .read_after(conn, trail.last.take())
        .await
        .map_err(|e| target.failed(&e))?;
    settle(db, request, progress, trail, behind.committed, after, false).await
}

/// Gives a committed revision's record the fingerprint read after it,
/// sends its `done` event and makes that reading the execution's last. The
/// record is left unwritten, to be written while the next revision runs,
/// unless it is the plan's last: that one is written now, with the schema.
async fn settle<'a>(
    db: &Db,
    request: &Request,
    progress: &Progress,
    trail: &mut Trail<'a>,
    Committed {
        mut record,
        revision,
    }: Committed<'a>,
    after: After,
    last_of_plan: bool,
) -> Result<(), ReleaseError> {
    record.fingerprint = after.fingerprint.clone();
    let done = Event {
        execution_id: record.id.clone(),
        step: "done",
        revision_id: revision.id.clone(),
        message: format!(
            "{} {} on {} in {} ms; schema fingerprint {}",
            if request.action == Action::Apply {
                "applied"
            } else {
                "rolled back"
            },
            revision.id,
            record.environment,
            record.finished_at_ms.unwrap_or(record.started_at_ms) - record.started_at_ms,
            record.fingerprint.get(..12).unwrap_or(&record.fingerprint)
        ),
        state: State::Succeeded,
        statements_run: u32::try_from(record.statements_run).unwrap_or(u32::MAX),
    };
    // Records are written in the order their revisions ran.
    let keep = if last_of_plan {
        write_records(
            db,
            std::mem::take(&mut trail.unwritten),
            Some((
                &record,
                Some((revision, &after.reading, drift::Keep::Schema)),
            )),
            None,
        )
        .await?;
        drift::Keep::Schema
    } else {
        trail.unwritten.push(Unwritten {
            stamp: after.reading.stamp.clone(),
            record,
            revision,
        });
        drift::Keep::Fingerprint
    };
    progress.send(done).await;
    trail.last = Some(Recording {
        revision_id: request.action.lands_on(revision).to_string(),
        fingerprint: after.fingerprint,
        reading: after.reading,
        read: after.read,
        keep,
    });
    Ok(())
}

/// Sends the events not sent yet.
async fn announce(progress: &Progress, unannounced: &mut Vec<Event>) {
    for event in unannounced.drain(..) {
        progress.send(event).await;
    }
}

/// Finishes a record that did not succeed, after the record left unwritten:
/// records are written in the order their revisions ran.
async fn finish_in_order(
    db: &Db,
    trail: &mut Trail<'_>,
    record: &mut Record,
    state: State,
) -> Result<(), sqlx::Error> {
    close(record, state);
    write_records(
        db,
        std::mem::take(&mut trail.unwritten),
        Some((record, None)),
        None,
    )
    .await
}

/// How the schema after a revision was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Read {
    Full,
    Incremental,
}

/// The schema after a revision. Read incrementally (only the relations the
/// revision's transaction wrote, merged into `before`; no catalog stamp)
/// when the revision ran in one transaction, its SQL is
/// [traceable](schema::SqlTraits::traceable), no other transaction
/// committed since `before` was read ([`schema::only_commit_between`],
/// checked on the snapshot of the read), no trigger may have
/// fired ([`schema::Triggers`]) and it called no function on a target that
/// has code to call ([`schema::SqlTraits::may_call_functions`]); `before`
/// is, for an execution's first revision, the schema the catalog kept
/// ([`kept_reading`]). In full, with its stamp, for a first revision whose
/// catalog kept no schema and for the last revision, where the incremental
/// result is checked against the full read so
/// that an execution ends on a reference read in full ([`keep_reference`]
/// does the same for one that stops early).
///
/// When another transaction committed meanwhile, the schema is read in full
/// too. If that reading differs from the incremental one (the schema before
/// with what the revision wrote), the difference is DDL run outside
/// Schemagate while the revision ran: the incremental reading, the schema
/// the revision left, is returned as the reference, with no stamp and the
/// snapshot before the revision, so that the next drift check reads the
/// live schema and reports the change rather than the reference taking it
/// in.
async fn schema_after(
    conn: &mut PgConnection,
    before: Option<Recording>,
    xid: Option<&str>,
    sql: &schema::SqlTraits,
    last: bool,
) -> Result<After, sqlx::Error> {
    if let (Some(before), Some(xid)) = (before, xid)
        && sql.traceable
    {
        let snapshot_before = before.reading.snapshot;
        let (incremental, triggers) =
            schema::introspect_after(conn, before.reading.schema, xid, sql).await?;
        if triggers.may_have_fired(sql) {
            tracing::info!(
                "the target has user code this revision may have run without calling it (a trigger, or a function behind an operator, cast, operator class or domain check), which can run DDL of any kind; read in full"
            );
            return read_in_full(conn).await;
        }
        if !sql.readable_incrementally_on(&incremental.schema) {
            tracing::info!(
                "the revision may have called a function of the target's, which can run DDL of any kind; read in full"
            );
            return read_in_full(conn).await;
        }
        let incremental = After::of(incremental, Read::Incremental);
        let alone =
            schema::only_commit_between(&snapshot_before, &incremental.reading.snapshot, xid);
        if alone && !last {
            return Ok(incremental);
        }
        let full = read_in_full(conn).await?;
        if alone {
            if full.reading.snapshot == incremental.reading.snapshot {
                same_reading(&incremental.reading.schema, &full.reading.schema);
            }
            return Ok(full);
        }
        if full.fingerprint == incremental.fingerprint {
            return Ok(full);
        }
        let changed = schema::diff(&incremental.reading.schema, &full.reading.schema);
        tracing::warn!(
            differences = changed.len(),
            first = changed.first().map(ToString::to_string).unwrap_or_default(),
            "the schema changed outside Schemagate while this revision ran; the reference keeps the schema the revision left, so the next drift check reports the change"
        );
        return Ok(After {
            reading: schema::Reading {
                stamp: String::new(),
                snapshot: snapshot_before,
                schema: incremental.reading.schema,
            },
            fingerprint: incremental.fingerprint,
            read: Read::Incremental,
        });
    }
    read_in_full(conn).await
}

/// The schema after a revision with its fingerprint, and how it was read.
struct After {
    reading: schema::Reading,
    fingerprint: String,
    read: Read,
}

impl After {
    fn of(reading: schema::Reading, read: Read) -> After {
        After {
            fingerprint: reading.schema.fingerprint(),
            reading,
            read,
        }
    }
}

async fn read_in_full(conn: &mut PgConnection) -> Result<After, sqlx::Error> {
    Ok(After::of(
        schema::introspect_stamped(conn).await?,
        Read::Full,
    ))
}

struct Applied {
    statements_run: u32,
    error: Option<String>,
    /// The transaction id (a `xid8`) the revision runs under, when it runs
    /// in one.
    xid: Option<String>,
}

impl Applied {
    /// A revision of which nothing ran.
    fn failed(error: String) -> Applied {
        Applied {
            statements_run: 0,
            error: Some(error),
            xid: None,
        }
    }
}

/// Commits the transaction [`apply`] left open for a revision that ran in
/// one. PostgreSQL ends a transaction whose commit fails.
async fn commit(
    conn: &mut PgConnection,
    revision: &Revision,
    target: &Target,
    applied: Applied,
) -> Applied {
    match sqlx::raw_sql("COMMIT").execute(&mut *conn).await {
        Ok(_) => applied,
        Err(err) => Applied::failed(format!(
            "{} failed at its commit and was rolled back: {}",
            revision.id,
            target.failed(&err)
        )),
    }
}

/// Rolls back a revision's open transaction. A connection too broken to
/// roll back takes the transaction down with it.
async fn rollback(conn: &mut PgConnection) {
    if let Err(err) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
        tracing::warn!(error = %err, "could not roll back a revision's transaction");
    }
}

/// Runs the revision's SQL (up or down) and its version-row change. A
/// transactional revision runs both in one transaction, left open for the
/// caller to [`commit`] (or roll back): both commit at once or neither. A
/// non-transactional one runs statement by statement and records how far
/// it got.
#[allow(clippy::too_many_arguments)]
async fn apply(
    env: &Environment,
    target: &Target,
    conn: &mut PgConnection,
    revision: &Revision,
    request: &Request,
    record: &Record,
    statements: &Statements,
    version_table: bool,
) -> Applied {
    let sql = request.action.sql(revision);
    let total = statements.count() as u32;
    if record.transactional {
        let message = one_transaction(env, revision, request, record, sql, version_table);
        return match run_in_one_trip(conn, message).await {
            Ok(xid) => Applied {
                statements_run: total,
                error: None,
                xid: Some(xid),
            },
            Err(err) => Applied::failed(format!(
                "{} failed and was rolled back: {}",
                revision.id,
                target.failed(&err)
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
        },
        Err(err) => Applied {
            statements_run: run,
            error: Some(format!(
                "{} failed at statement {} of {total} (run statement by statement: the {run} before it stay applied and need manual review): {}",
                revision.id,
                run + 1,
                target.failed(&err)
            )),
            xid: None,
        },
    }
}

/// A transactional revision as one message, sent in one round trip: the
/// transaction's start, its timeouts (local to it) and its id, the
/// revision's SQL, then its [version-row change](version_row_change).
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
) -> String {
    let version_row = version_row_change(revision, request, record, version_table);
    format!(
        "BEGIN;\n\
         SELECT pg_catalog.pg_current_xact_id()::text, \
                pg_catalog.set_config('lock_timeout', {}, true), \
                pg_catalog.set_config('statement_timeout', {}, true), \
                CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 140000 \
                     THEN pg_catalog.set_config('client_connection_check_interval', '1s', true) END;\n\
         {sql}\n;\n\
         {version_row}",
        target::literal(&env.lock_timeout),
        target::literal(&env.statement_timeout),
    )
}

/// Runs a message built by [`one_transaction`] and returns the id of the
/// transaction it left open: the first row is the one its `SELECT` returns,
/// whatever rows the revision's own statements return after it. After an
/// error the transaction is still open, and aborted: it is rolled back.
async fn run_in_one_trip(conn: &mut PgConnection, message: String) -> Result<String, sqlx::Error> {
    use tokio_stream::StreamExt;
    let outcome = async {
        let mut rows = sqlx::raw_sql(sqlx::AssertSqlSafe(message)).fetch(&mut *conn);
        let mut xid = None;
        while let Some(row) = rows.next().await {
            let row = row?;
            if xid.is_none() {
                xid = Some(row.try_get::<String, _>(0)?);
            }
        }
        xid.ok_or_else(|| sqlx::Error::Protocol("the transaction returned no id".into()))
    }
    .await;
    if outcome.is_err() {
        // The revision's error is the one to report.
        rollback(conn).await;
    }
    outcome
}

/// What the executor needs to know of a revision's SQL (up or down), read
/// at once on a [parser thread](schemagate_policy::parser_stack), where a
/// tree of any depth pg_query returns can be walked.
struct RevisionSql {
    /// Its statements, or the parser's message when it does not parse.
    statements: Result<Statements, String>,
    effects: SessionEffects,
    traits: schema::SqlTraits,
    /// The relations it names, when it locks no others ([`named_relations`]).
    relations: Option<BTreeSet<String>>,
}

/// A revision's SQL, read on a parser thread while the revision before it
/// runs, or already read (to decide whether the schema behind that one is
/// read beside it).
enum NextSql {
    Reading(tokio::task::JoinHandle<RevisionSql>),
    Read(RevisionSql),
}

impl NextSql {
    async fn read(self) -> RevisionSql {
        match self {
            NextSql::Reading(reading) => RevisionSql::finish_reading(reading).await,
            NextSql::Read(sql) => sql,
        }
    }
}

/// A revision's statements: counted when it runs in one transaction, split
/// when it runs statement by statement.
enum Statements {
    Counted(usize),
    Split(Vec<String>),
}

impl Statements {
    fn count(&self) -> usize {
        match self {
            Statements::Counted(count) => *count,
            Statements::Split(statements) => statements.len(),
        }
    }

    fn one_by_one(&self) -> &[String] {
        match self {
            Statements::Counted(_) => &[],
            Statements::Split(statements) => statements,
        }
    }
}

impl RevisionSql {
    /// Starts [`RevisionSql::read`] on tokio's blocking pool: a large
    /// revision parses for seconds, which would stall the runtime worker's
    /// other requests.
    fn start_reading(sql: &str, transactional: bool) -> tokio::task::JoinHandle<RevisionSql> {
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
                Ok(Statements::Counted(stmts.len()))
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

/// What a revision's SQL does to the session it runs in.
struct SessionEffects {
    /// The first statement that begins or ends a transaction, which the
    /// executor does not run (the server refuses such SQL at submit; an
    /// older catalog may still hold some).
    transaction_control: Option<&'static str>,
    /// Whether it may leave state that outlives its transaction: a `SET`
    /// without `LOCAL` (`search_path`, `ROLE`, `SESSION AUTHORIZATION`,
    /// ...), `set_config` (found in the text, so a mention errs towards
    /// yes), a temporary table, or user code run by `DO` or `CALL`, which
    /// may do either. Left in place, it would change what the next revision
    /// of the same execution does, which the same revision run by an
    /// execution of its own would not see. SQL that does not parse may.
    lasting_state: bool,
}

impl SessionEffects {
    const UNPARSED: SessionEffects = SessionEffects {
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

/// Returns the session to the state it was opened in (settings, role,
/// temporary tables), keeping the executor's advisory lock.
async fn reset_session(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
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

/// Removes the running record of a revision that never started.
async fn remove_unrun(db: &Db, record: &Record) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM executions WHERE id = $1 AND state = 'running'")
        .bind(&record.id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Writes a new running execution record.
async fn insert(db: &Db, record: &Record) -> Result<(), sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    write(&mut conn, record).await
}

async fn write(conn: &mut AnyConnection, record: &Record) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO executions (id, project, environment, revision_id, action, state, started_at_ms, finished_at_ms, \
         statements_run, error, executed_by, policy_sha256, backup_path, backup_sha256, backup_bytes, transactional, fingerprint) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, finished_at_ms = excluded.finished_at_ms, \
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
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A revision's record that succeeded, closed but not yet written: the
/// executor writes it while the next revision runs.
struct Unwritten<'a> {
    record: Record,
    revision: &'a Revision,
    /// The catalog stamp of the reading after it, which its reference
    /// keeps with the fingerprint.
    stamp: String,
}

/// What a revision that succeeded is recorded with: its revision, the
/// schema read after it and what of that the reference keeps.
type Succeeded<'r> = (&'r Revision, &'r schema::Reading, drift::Keep);

/// Writes, in one catalog transaction and in the order the revisions ran:
/// the records left `unwritten` with their references (the fingerprint, no
/// schema), a record `finished` now, and the `running` record of the next
/// revision.
async fn write_records(
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
async fn finish(
    db: &Db,
    record: &mut Record,
    state: State,
    succeeded: Option<Succeeded<'_>>,
) -> Result<(), sqlx::Error> {
    close(record, state);
    write_records(db, Vec::new(), Some((record, succeeded)), None).await
}

/// Gives a record its final state and end time.
fn close(record: &mut Record, state: State) {
    record.state = state.as_str().to_string();
    record.finished_at_ms = Some(now_ms());
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
            approvals::consume_rollback(
                &mut *tx,
                &record.project,
                &revision.id,
                &record.environment,
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
                "execution={} statements={} backup={} fingerprint={}{}",
                record.id,
                record.statements_run,
                if record.backup.path.is_empty() {
                    "none"
                } else {
                    &record.backup.path
                },
                record.fingerprint,
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

/// Settles what every reachable target can tell at start (records left
/// running, references left without their schema); unreachable or busy
/// targets are settled by their next execution.
pub async fn reconcile_at_start(db: &Db, policy: &Policy) {
    for env in &policy.environments {
        let Ok(target) = Target::of(env) else {
            continue;
        };
        let projects = match unsettled_projects(db, &env.name).await {
            Ok(projects) if !projects.is_empty() => projects,
            Ok(_) => continue,
            Err(err) => {
                tracing::warn!(environment = %env.name, error = %err, "reconciliation deferred");
                continue;
            }
        };
        let Ok(mut conn) = target.connect("schemagate reconcile").await else {
            continue;
        };
        for project in &projects {
            // A project whose lock is held has a live execution; it settles its own.
            if !matches!(target::try_lock(&mut conn, project).await, Ok(Ok(()))) {
                continue;
            }
            match reconcile(db, env, project, &target, &mut conn).await {
                Ok(n) => {
                    tracing::info!(environment = %env.name, project, settled = n, "executions reconciled")
                }
                Err(err) => {
                    tracing::warn!(environment = %env.name, project, error = %err, "reconciliation deferred")
                }
            }
        }
        target::close(conn).await;
    }
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
            "'{}' is not an execution id (as printed by sgctl deploy)",
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

#[cfg(test)]
mod tests {
    use super::{RevisionSql, SessionEffects, Statements};

    fn session_effects(sql: &str) -> SessionEffects {
        RevisionSql::read(sql, true).effects
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
        assert!(matches!(read.statements, Ok(Statements::Counted(1))));
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
