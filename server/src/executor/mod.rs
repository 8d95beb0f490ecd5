//! Gated execution: the only code that changes a target. It holds the
//! target's executor lock for the whole run, takes the backup the policy
//! asks for before the first change, re-checks the gate for every revision,
//! and commits each revision's SQL together with its version row. Every
//! revision run leaves an execution record and an audit row. Owns the
//! `executions` table.
//!
//! This file holds the run itself, one revision after another. The rest:
//! `revision_sql` parses a revision's SQL ahead of it, `apply` runs it
//! on the target, `reading` reads the schema after it, `trail` carries
//! what one revision leaves to the next, and `records` writes the
//! `executions` rows.

mod apply;
mod reading;
mod records;
mod revision_sql;
mod trail;

pub use records::{Landed, get, landed_on, recent, reconcile, reconcile_at_start, record_stamp};

use crate::approvals;
use crate::audit;
use crate::auth::Caller;
use crate::backup::{self, Backup};
use crate::catalog::{self, Revision};
use crate::config::{Environment, Policy, Requirement};
use crate::db::{Db, now_ms};
use crate::drift;
use crate::gate::{self, Lock};
use crate::release::{self, Action, ReleaseError};
use crate::rpc::CallGuard;
use crate::target::{self, Target};
use apply::{Applied, apply, commit, reset_session, rollback};
use reading::{catalogs_unchanged_since, keep_reference, kept_reading, schema_after};
use records::{close, insert, remove_unrun, write_records};
use revision_sql::{NextSql, RevisionSql};
use sqlx::PgConnection;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::Instrument;
use trail::{Behind, Committed, Trail, catch_up, finish_in_order, settle};

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
    /// The matrix forbids the revision's class here: it ran on the
    /// emergency path's approvals.
    pub emergency: bool,
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
/// cannot cut a revision in half: the execution stops before its next
/// revision instead, as it does once shutdown is requested. `running` is
/// held until the run ends (a registration that graceful shutdown waits
/// for). The receiver yields progress events and, when the run could not
/// start, failed or stopped, the error last.
pub fn start(
    db: Db,
    policy: Arc<Policy>,
    request: Request,
    running: CallGuard,
) -> mpsc::Receiver<Result<Event, ReleaseError>> {
    let (events, receiver) = mpsc::channel(64);
    let parent = tracing::Span::current();
    tokio::spawn(
        async move {
            let progress = Progress(events.clone());
            let stop = || {
                if running.shutting_down() {
                    Some("the server is shutting down")
                } else if events.is_closed() {
                    Some("the client that asked for it went away")
                } else {
                    None
                }
            };
            if let Err(err) = run(&db, &policy, &request, &progress, &stop).await {
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
        // tracing's level is part of each call site, hence one per level.
        macro_rules! log_at {
            ($level:ident) => {
                tracing::$level!(
                    execution = %event.execution_id,
                    step = event.step,
                    revision = %event.revision_id,
                    state = event.state.as_str(),
                    "{}",
                    event.message
                )
            };
        }
        // A failed step is what an operator's alerting looks for.
        if event.state == State::Failed {
            log_at!(warn);
        } else {
            log_at!(info);
        }
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
    stop: &(dyn Fn() -> Option<&'static str> + Sync),
) -> Result<(), ReleaseError> {
    let env = release::environment(policy, &request.environment)?;
    let history = release::lineage(db, &request.project).await?;
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
        db, policy, env, &target, &mut conn, &history, request, progress, stop, &mut trail,
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
    stop: &(dyn Fn() -> Option<&'static str> + Sync),
    trail: &mut Trail<'a>,
) -> Result<(), ReleaseError> {
    let project = &request.project;
    if let Err(holder) = target::try_lock(conn, project)
        .await
        .map_err(|e| target.failed(&e))?
    {
        let message = format!(
            "another execution holds {}'s target: {holder}; wait for it to finish",
            env.name
        );
        // No record is written for it (the target was never this
        // execution's), but the refusal is on record like the gate's.
        audit::record(
            db,
            &audit::Event {
                actor: &request.caller.subject,
                action: match request.action {
                    Action::Apply => "execution.apply",
                    Action::Rollback => "execution.rollback",
                },
                project,
                environment: &env.name,
                subject: request.up_to.as_deref().unwrap_or(""),
                outcome: audit::Outcome::Refused,
                detail: message.clone(),
            },
        )
        .await?;
        return Err(ReleaseError::Busy(message));
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
            // A pipeline pinned to a revision the target has moved past
            // must not read "nothing to do" as being at that revision.
            if let (Some(up_to), Some(current)) = (&request.up_to, &current_id)
                && end < start
            {
                return Err(ReleaseError::Refused(format!(
                    "{}'s target is at {current}, which comes after {up_to}: deploying up to {up_to} would need a rollback, not a deploy",
                    env.name
                )));
            }
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
    let mut catalog_read_ahead: Option<gate::ReadAhead> = None;
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
        emergency: matches!(
            approvals::requirement(env, revision, request.action),
            Requirement::Forbidden
        ),
        ..Record::default()
    };
    for (position, revision) in plan.iter().copied().enumerate() {
        // Between two revisions, the one safe point to stop at.
        if let (Some(why), Some(ran)) = (stop(), position.checked_sub(1)) {
            let left: Vec<&str> = plan[position..].iter().map(|r| r.id.as_str()).collect();
            let message = format!(
                "stopped before {}: {why}; {} is applied, {} revision(s) did not run ({}); deploy again to go on",
                revision.id,
                plan[ran].id,
                left.len(),
                left.join(", ")
            );
            tracing::warn!("{message}");
            return Err(ReleaseError::Stopped(message));
        }
        // Written as running while the revision before it ran, the record
        // stays in the trail until this revision runs or is refused: an
        // execution that stops first removes it.
        let written_ahead = trail.ahead.is_some();
        let mut record = trail
            .ahead
            .clone()
            .unwrap_or_else(|| new_record(revision, &backup));
        // Written ahead while the revision before ran: it starts now.
        record.started_at_ms = now_ms();
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
        // the target's current revision and whether anything else (besides
        // the revision behind, whose schema is not read yet) committed since
        // the execution's last reading. When something did, the catalogs'
        // row counts may still prove that none of it changed the schema (and
        // this revision's catalog writes are counted, for the next proof);
        // otherwise the schema behind is read first, and drift is checked
        // against it. Meanwhile the catalog is asked whether its conditions,
        // read while the revision before ran, are stale: whether someone
        // decided something since (a freeze, a rejection).
        let read_ahead = catalog_read_ahead.take();
        let catalog_now = async {
            match read_ahead {
                Some(read_ahead) => read_ahead.now(db, env, request.action).await,
                None => Ok(None),
            }
        };
        let target_now = async {
            let Some(last) = &trail.last else {
                return Ok((None, false));
            };
            let behind = trail.behind.as_ref();
            let (current, committed) = target::current_and_committed(
                conn,
                project,
                &last.reading.snapshot,
                behind.map(|behind| behind.xid.as_str()),
            )
            .await?;
            let unchanged = !committed
                || catalogs_unchanged_since(
                    conn,
                    last,
                    behind.map(|behind| (behind.xid.as_str(), behind.writes.as_ref())),
                )
                .await?;
            Ok((unchanged.then_some(current), committed))
        };
        let (catalog, target_now) = tokio::join!(catalog_now, target_now);
        let (unchanged, others_commit) = target_now.map_err(|e| target.failed(&e))?;
        let catalog = catalog?;
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
            catalog,
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

        // Before the first revision (a backup can take minutes): a stop
        // asked for now means nothing runs, not one revision.
        if position == 0
            && let Some(why) = stop()
        {
            let message = format!(
                "stopped before {}: {why}; nothing ran{}; deploy again to go on",
                revision.id,
                backup
                    .as_ref()
                    .map(|b| format!(" (the backup taken first is kept: {})", b.path))
                    .unwrap_or_default()
            );
            tracing::warn!("{message}");
            // The events sent so far name this record: it is written, as
            // one that ran nothing.
            record.error = message.clone();
            finish_in_order(db, trail, &mut record, State::Refused).await?;
            return Err(ReleaseError::Stopped(message));
        }
        if !written_ahead {
            insert(db, &record).await?;
        }
        trail.ahead = None;
        let reading = next_sql.take().unwrap_or_else(|| read_sql(revision));
        next_sql = plan.get(position + 1).map(|revision| read_sql(revision));
        let sql = reading.read().await;
        // The statements of the SQL that runs: the down SQL's for a
        // rollback, which the lint of the up SQL does not count.
        let statements = match &sql.statements {
            Ok(statements) => statements.count(),
            Err(_) => revision.lint.statements,
        };
        unannounced.push(event(
            "apply",
            format!(
                "{} {} ({statements} statement(s), {})",
                if request.action == Action::Apply {
                    "applying"
                } else {
                    "rolling back"
                },
                revision.id,
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
                        others_commit,
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
                            gate::ReadAhead::read(
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
                    (Some(behind), Some(Err((why, before)))) => {
                        // Read it here, with nothing open beside it, and
                        // run this revision again after it. Read against
                        // the reading before it, as beside the next one:
                        // DDL committed elsewhere meanwhile is told apart.
                        tracing::info!(
                            revision = %behind.committed.revision.id,
                            error = %why,
                            "the schema after this revision could not be read beside the next one; it is read on its own and the next revision runs again"
                        );
                        if open {
                            rollback(conn).await;
                        }
                        let after = behind
                            .read_after(conn, before)
                            .await
                            .map_err(|e| target.failed(&e))?;
                        settle(db, request, progress, trail, behind.committed, after, false)
                            .await?;
                        announce(progress, &mut unannounced).await;
                        (apply(&mut *conn).await, None)
                    }
                    _ => (applied, None),
                };
                let applied = if record.transactional && applied.error.is_none() {
                    commit(conn, revision, request.action, target, applied).await
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
                    writes: applied.catalog_writes,
                    traits: sql.traits,
                });
                continue;
            }
        }
        let after = schema_after(
            conn,
            trail.last.take().or_else(|| kept_before.take()),
            applied.xid.as_deref(),
            applied.catalog_writes.as_ref(),
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

/// Sends the events not sent yet.
async fn announce(progress: &Progress, unannounced: &mut Vec<Event>) {
    for event in unannounced.drain(..) {
        progress.send(event).await;
    }
}
