//! The release gate: every condition a revision must meet before it runs on
//! an environment's target, each with a verdict a person can read. Also owns
//! the environment controls an admin sets by hand (freeze, one-off window),
//! stored in `environment_controls`.

use crate::approvals;
use crate::audit::{self, Event, Outcome};
use crate::auth::Caller;
use crate::catalog::Revision;
use crate::config::{Environment, Policy};
use crate::db::{Db, now_ms};
use crate::drift;
use crate::release::{Action, ReleaseError};
use crate::target::{self, TargetError};
use schemagate_policy::RiskClass;
use sqlx::{PgConnection, Row};

/// The longest one-off window an admin may open.
pub const MAX_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// approvals | parent | promotion | window | freeze | drift | exclusive
    pub name: &'static str,
    pub passed: bool,
    pub reason: String,
    /// Not evaluated (`passed` is false): nothing could be read to judge it.
    pub not_checked: bool,
}

#[derive(Clone, Debug)]
pub struct Verdict {
    pub open: bool,
    pub conditions: Vec<Condition>,
    pub revision_id: String,
    pub environment: String,
    pub action: Action,
    pub risk: RiskClass,
    /// The target could not be reached: its conditions fail for that alone.
    pub target_unreachable: bool,
}

impl Verdict {
    /// The failing conditions as one line.
    pub fn refusal(&self) -> String {
        self.conditions
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.reason))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Who holds the executor lock while the gate is evaluated.
#[derive(Clone, Copy)]
pub enum Lock<'a> {
    /// A dry check: the lock must be free.
    Probe,
    /// The executor asking holds the lock itself, with the reference it
    /// recorded last when it recorded one (see [`drift::check`]).
    HeldByThisExecution(Option<drift::Recorded<'a>>),
    /// The executor asking holds the lock, and has just read the target's
    /// `current` revision and that no transaction but that revision's
    /// committed since its last reading
    /// ([`target::current_and_committed`]), or changed a catalog
    /// ([`schema::only_writer`](crate::schema::only_writer)): the live
    /// schema is the one the revision left, which the executor has read or
    /// reads while the next one runs.
    HeldAndUnchanged {
        current: Option<&'a target::Applied>,
    },
}

/// Evaluates every condition. `target` is the connection to the target, or
/// why there is none; the conditions that need it fail with that reason.
/// The catalog's conditions and the target's are read at once: each waits
/// on its own database.
pub async fn check(
    db: &Db,
    policy: &Policy,
    env: &Environment,
    revision: &Revision,
    action: Action,
    target: Result<&mut PgConnection, &TargetError>,
    lock: Lock<'_>,
) -> Result<Verdict, ReleaseError> {
    check_with_catalog(None, db, policy, env, revision, action, target, lock).await
}

/// [`check`], taking the catalog's conditions when they were read before
/// by [`catalog_conditions`]: an executor reads them for its next revision
/// while the current one runs on the target.
#[allow(clippy::too_many_arguments)]
pub async fn check_with_catalog(
    catalog: Option<Result<Vec<Condition>, ReleaseError>>,
    db: &Db,
    policy: &Policy,
    env: &Environment,
    revision: &Revision,
    action: Action,
    target: Result<&mut PgConnection, &TargetError>,
    lock: Lock<'_>,
) -> Result<Verdict, ReleaseError> {
    let catalog = async {
        match catalog {
            Some(read) => read,
            None => catalog_conditions(db, policy, env, revision, action).await,
        }
    };
    let target_unreachable = matches!(target, Err(TargetError::Unreachable { .. }));
    let (catalog, target) = tokio::join!(
        catalog,
        target_conditions(db, env, revision, action, target, lock),
    );
    verdict(env, revision, action, catalog, target, target_unreachable)
}

fn verdict(
    env: &Environment,
    revision: &Revision,
    action: Action,
    catalog: Result<Vec<Condition>, ReleaseError>,
    target: Result<Vec<Condition>, ReleaseError>,
    target_unreachable: bool,
) -> Result<Verdict, ReleaseError> {
    let mut catalog = catalog?.into_iter();
    let mut target = target?.into_iter();
    // In the order the verdict lists them: approvals, parent, (down, for a
    // rollback,) promotion, window, freeze, drift, exclusive.
    let conditions: Vec<Condition> = catalog
        .next()
        .into_iter()
        .chain(target.next())
        .chain(catalog)
        .chain(target)
        .collect();
    Ok(Verdict {
        open: conditions.iter().all(|c| c.passed),
        conditions,
        revision_id: revision.id.clone(),
        environment: env.name.clone(),
        action,
        risk: revision.risk,
        target_unreachable,
    })
}

fn pass(name: &'static str, reason: String) -> Condition {
    Condition {
        name,
        passed: true,
        reason,
        not_checked: false,
    }
}

/// A condition the gate could not evaluate: it keeps the gate closed
/// without claiming that the condition failed.
fn not_checked(name: &'static str, reason: String) -> Condition {
    Condition {
        name,
        passed: false,
        reason,
        not_checked: true,
    }
}

/// A checksum's first twelve digits, as messages show it.
fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

fn fail(name: &'static str, reason: String) -> Condition {
    Condition {
        name,
        passed: false,
        reason,
        not_checked: false,
    }
}

/// Approvals, promotion, window and freeze, from the catalog.
pub async fn catalog_conditions(
    db: &Db,
    policy: &Policy,
    env: &Environment,
    revision: &Revision,
    action: Action,
) -> Result<Vec<Condition>, ReleaseError> {
    let mut conditions = Vec::with_capacity(4);
    // An approval vouches for the checksum; the SQL that runs must still
    // have it.
    if crate::catalog::checksum(&revision.up_sql, &revision.down_sql) != revision.checksum {
        conditions.push(fail(
            "approvals",
            format!(
                "the SQL stored for {} no longer has its checksum {}: the catalog was changed outside Schemagate, and no approval vouches for what it holds now",
                revision.id,
                // What the catalog holds may be anything, not only hex.
                short(&revision.checksum)
            ),
        ));
    } else {
        let evaluation = approvals::evaluate(db, policy, env, revision, action).await?;
        conditions.push(Condition {
            name: "approvals",
            passed: evaluation.satisfied,
            reason: evaluation.reason,
            not_checked: false,
        });
    }

    if action == Action::Rollback {
        conditions.push(down_sql(revision));
    }
    conditions.push(promotion(db, policy, env, revision, action).await?);
    let controls = controls(db, &env.name).await?;
    conditions.push(window(env, &controls, now_ms()));
    conditions.push(freeze(env, &controls, action));
    Ok(conditions)
}

/// A rollback runs the revision's down SQL and deletes its version row: with
/// no statement to run, it would only delete the row and leave what the
/// revision did in place, under a schema reference that takes it as intended.
fn down_sql(revision: &Revision) -> Condition {
    let statements = pg_query::scan(&revision.down_sql).map(|scanned| {
        scanned
            .tokens
            .iter()
            .filter(|t| {
                !matches!(
                    pg_query::protobuf::Token::try_from(t.token),
                    Ok(pg_query::protobuf::Token::SqlComment
                        | pg_query::protobuf::Token::CComment
                        | pg_query::protobuf::Token::Ascii59)
                )
            })
            .count()
    });
    match statements {
        Ok(0) => fail(
            "down",
            format!(
                "{} has no down SQL: a rollback would run nothing and only delete its version row, leaving its changes in place; write a new revision that undoes it and deploy that",
                revision.id
            ),
        ),
        Ok(_) => pass("down", format!("runs the down SQL of {}", revision.id)),
        Err(err) => fail(
            "down",
            format!("the down SQL of {} does not scan: {err}", revision.id),
        ),
    }
}

/// The catalog's conditions of a revision's gate, read while the revision
/// before it runs, with the audit log's head from just before the read.
pub struct ReadAhead {
    audit_head: i64,
    conditions: Result<Vec<Condition>, ReleaseError>,
}

impl ReadAhead {
    pub async fn read(
        db: &Db,
        policy: &Policy,
        env: &Environment,
        revision: &Revision,
        action: Action,
    ) -> ReadAhead {
        let audit_head = match audit::head(db).await {
            Ok(head) => head,
            Err(err) => {
                return ReadAhead {
                    audit_head: 0,
                    conditions: Err(err.into()),
                };
            }
        };
        ReadAhead {
            audit_head,
            conditions: catalog_conditions(db, policy, env, revision, action).await,
        }
    }

    /// The conditions as they stand now: `None` when a decision was
    /// recorded since they were read (an approval, a rejection, a freeze, a
    /// window: the gate then reads them again), otherwise with the window
    /// and the freeze judged again at this moment, since a window may have
    /// closed meanwhile.
    pub async fn now(
        self,
        db: &Db,
        env: &Environment,
        action: Action,
    ) -> Result<Option<Result<Vec<Condition>, ReleaseError>>, ReleaseError> {
        let reads = db.for_reads();
        if audit::decided_since(&reads, self.audit_head, &env.name).await? {
            return Ok(None);
        }
        let Ok(mut conditions) = self.conditions else {
            return Ok(None);
        };
        let controls = controls(&reads, &env.name).await?;
        for condition in &mut conditions {
            match condition.name {
                "window" => *condition = window(env, &controls, now_ms()),
                "freeze" => *condition = freeze(env, &controls, action),
                _ => {}
            }
        }
        Ok(Some(Ok(conditions)))
    }
}

/// The window and freeze conditions a deploy on `env` would meet now: what
/// `sgctl status` shows of the environment whatever is pending.
pub async fn window_and_freeze(
    db: &Db,
    env: &Environment,
) -> Result<(Condition, Condition), sqlx::Error> {
    let controls = controls(db, &env.name).await?;
    Ok((
        window(env, &controls, now_ms()),
        freeze(env, &controls, Action::Apply),
    ))
}

fn freeze(env: &Environment, controls: &Controls, action: Action) -> Condition {
    if controls.frozen && action == Action::Rollback {
        // A freeze is what an operator does first in an incident; the way
        // out of it must stay open.
        pass(
            "freeze",
            format!(
                "{} is frozen by {}: {}; a freeze stops deploys, not rollbacks",
                env.name, controls.changed_by, controls.freeze_reason
            ),
        )
    } else if controls.frozen {
        fail(
            "freeze",
            format!(
                "{} is frozen by {}: {}",
                env.name, controls.changed_by, controls.freeze_reason
            ),
        )
    } else {
        pass("freeze", format!("{} is not frozen", env.name))
    }
}

/// Parent, drift and exclusive, from the target.
async fn target_conditions(
    db: &Db,
    env: &Environment,
    revision: &Revision,
    action: Action,
    target: Result<&mut PgConnection, &TargetError>,
    lock: Lock<'_>,
) -> Result<Vec<Condition>, ReleaseError> {
    let project = &revision.project;
    let mut target_conditions = Vec::with_capacity(3);
    match target {
        Err(err) => {
            for name in ["parent", "drift", "exclusive"] {
                target_conditions.push(not_checked(name, err.to_string()));
            }
        }
        Ok(conn) => {
            // Between two revisions of one execution, the current revision
            // is the one the execution just ran, from the lineage it read.
            let (current, ran_here) = match lock {
                Lock::HeldAndUnchanged { current } => (current.cloned(), true),
                _ => (
                    target::current(conn, project)
                        .await
                        .map_err(|e| target_error(env, &e))?,
                    false,
                ),
            };
            let current_id = current.as_ref().map(|c| c.id.as_str());
            // What the target ran must be what the catalog holds: an
            // amend racing a deploy, or a hand-edited version table, would
            // otherwise build the lineage on other SQL than it records.
            let ran_other_content = match &current {
                Some(current) if !ran_here => match action {
                    Action::Rollback if current.id == revision.id => {
                        (current.checksum != revision.checksum).then(|| revision.checksum.clone())
                    }
                    Action::Apply if current.id == revision.parent_id => {
                        let parent = crate::catalog::get(db, project, &current.id).await?;
                        (current.checksum != parent.checksum).then_some(parent.checksum)
                    }
                    _ => None,
                },
                _ => None,
            };
            // A revision the target has moved past: said so, rather than
            // that it applies on top of its parent.
            let passed_by = match (action, current_id) {
                (Action::Apply, Some(id)) if id != revision.id && id != revision.parent_id => {
                    crate::catalog::get(db, project, id)
                        .await
                        .ok()
                        .filter(|current| current.sequence > revision.sequence)
                        .map(|current| current.id)
                }
                _ => None,
            };
            target_conditions.push(match (action, current_id) {
                (_, Some(id)) if let Some(catalog_checksum) = &ran_other_content => fail(
                    "parent",
                    format!(
                        "the target ran {id} with checksum {}, but the catalog's {id} has checksum {}: it was amended after it ran there, or the target's version table was edited by hand; neither a deploy nor a rollback builds on that: restore the target from a backup taken before it ran, or see what ran there and correct its version row by hand",
                        short(current.as_ref().map_or("", |c| c.checksum.as_str())),
                        short(catalog_checksum)
                    ),
                ),
                (Action::Apply, Some(id)) if id == revision.id => fail(
                    "parent",
                    format!("{} is already applied on {}", revision.id, env.name),
                ),
                (Action::Apply, Some(_)) if let Some(later) = &passed_by => fail(
                    "parent",
                    format!(
                        "{} is already applied on {}: the target is at {later}, which comes after it",
                        revision.id, env.name
                    ),
                ),
                (Action::Apply, current) if current.unwrap_or("") == revision.parent_id => pass(
                    "parent",
                    match current {
                        Some(id) => format!("the target is at {id}, the parent of {}", revision.id),
                        None => format!(
                            "the target has no revision and {} is the baseline",
                            revision.id
                        ),
                    },
                ),
                (Action::Apply, current) => fail(
                    "parent",
                    format!(
                        "the target is at {}, but {} applies on top of {}",
                        current.unwrap_or("no revision"),
                        revision.id,
                        if revision.parent_id.is_empty() {
                            "an empty target"
                        } else {
                            &revision.parent_id
                        }
                    ),
                ),
                (Action::Rollback, Some(id)) if id == revision.id => pass(
                    "parent",
                    format!("{} is the target's current revision", revision.id),
                ),
                (Action::Rollback, current) => fail(
                    "parent",
                    format!(
                        "only the current revision can be rolled back; the target is at {}",
                        current.unwrap_or("no revision")
                    ),
                ),
            });
            let (recorded, holder) = match lock {
                Lock::HeldByThisExecution(recorded) => (recorded, None),
                Lock::HeldAndUnchanged { .. } => (None, None),
                Lock::Probe => (
                    None,
                    target::holder(conn, project)
                        .await
                        .map_err(|e| target_error(env, &e))?,
                ),
            };
            // While an execution runs, the schema and the catalog's
            // reference change under the check (the reference follows each
            // revision a moment later): only that execution can tell drift.
            target_conditions.push(match (&holder, lock) {
                (Some(holder), _) => not_checked(
                    "drift",
                    format!(
                        "not checked while an execution changes the target ({holder}); it checks drift before each of its revisions"
                    ),
                ),
                (None, Lock::HeldAndUnchanged { .. }) => pass(
                    "drift",
                    format!(
                        "live schema is the one {} left: no other transaction changed the target's catalogs since this execution last read its schema",
                        current_id.unwrap_or("the last revision")
                    ),
                ),
                (None, _) => {
                    let report =
                        drift::check(db, project, &env.name, conn, current.as_ref(), recorded)
                            .await
                            .map_err(|e| target_error(env, &e))?;
                    Condition {
                        name: "drift",
                        passed: !report.drifted,
                        reason: report.summary,
                        not_checked: false,
                    }
                }
            });
            target_conditions.push(match (lock, holder) {
                (Lock::HeldByThisExecution(_) | Lock::HeldAndUnchanged { .. }, _) => pass(
                    "exclusive",
                    "this execution holds the target's executor lock".into(),
                ),
                (Lock::Probe, Some(holder)) => fail(
                    "exclusive",
                    format!("another execution is running: {holder}"),
                ),
                (Lock::Probe, None) => pass(
                    "exclusive",
                    "no other execution is running on the target".into(),
                ),
            });
        }
    }
    Ok(target_conditions)
}

fn target_error(env: &Environment, err: &sqlx::Error) -> ReleaseError {
    ReleaseError::Target(TargetError::Failed {
        environment: env.name.clone(),
        detail: target::describe(err),
    })
}

async fn promotion(
    db: &Db,
    policy: &Policy,
    env: &Environment,
    revision: &Revision,
    action: Action,
) -> Result<Condition, sqlx::Error> {
    if action == Action::Rollback {
        return Ok(Condition {
            name: "promotion",
            passed: true,
            reason: "a rollback needs no promotion".into(),
            not_checked: false,
        });
    }
    let Some(previous) = policy.previous(&env.name) else {
        return Ok(Condition {
            name: "promotion",
            passed: true,
            reason: format!("{} is the first environment in promotion order", env.name),
            not_checked: false,
        });
    };
    // The last execution there that put the revision on the target or took
    // it off decides: a rollback of it, or a stamp at an earlier revision
    // (a restore), leaves it unproved on the previous environment.
    let last: Option<(String, String, String)> = sqlx::query_as(
        "SELECT e.id, e.action, e.revision_id FROM executions e \
         JOIN revisions r ON r.project = e.project AND r.id = e.revision_id \
         WHERE e.project = $1 AND e.environment = $2 AND e.state = 'succeeded' \
           AND ((e.revision_id = $3 AND e.action IN ('apply', 'stamp', 'rollback')) \
             OR (e.action = 'stamp' AND r.sequence < $4)) \
         ORDER BY e.started_at_ms DESC, e.id DESC LIMIT 1",
    )
    .bind(&revision.project)
    .bind(&previous.name)
    .bind(&revision.id)
    .bind(revision.sequence)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match last {
        Some((id, action, _)) if action == "rollback" => Condition {
            name: "promotion",
            passed: false,
            reason: format!(
                "{} was rolled back on {} (execution {id}) after it ran there; run it on {} again first",
                revision.id, previous.name, previous.name
            ),
            not_checked: false,
        },
        Some((id, _, stamped)) if stamped != revision.id => Condition {
            name: "promotion",
            passed: false,
            reason: format!(
                "{} has not run on {} since its target was recorded at the earlier {stamped} (execution {id}: a restored backup or a new database); run it on {} first",
                revision.id, previous.name, previous.name
            ),
            not_checked: false,
        },
        Some((id, _, _)) => Condition {
            name: "promotion",
            passed: true,
            reason: format!("ran on {} first (execution {id})", previous.name),
            not_checked: false,
        },
        None => Condition {
            name: "promotion",
            passed: false,
            reason: format!(
                "{} has not run on {} yet; environments are promoted in order",
                revision.id, previous.name
            ),
            not_checked: false,
        },
    })
}

fn window(env: &Environment, controls: &Controls, now_ms: i64) -> Condition {
    let now = jiff::Timestamp::from_millisecond(now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    if env.window_open(now) {
        let reason = if env.always_open {
            format!("{} is always open", env.name)
        } else {
            format!("inside the deployment window {}", env.describe_windows())
        };
        return Condition {
            name: "window",
            passed: true,
            reason,
            not_checked: false,
        };
    }
    if let Some(expires) = controls.window_expires_at_ms.filter(|&e| e > now_ms) {
        return Condition {
            name: "window",
            passed: true,
            reason: format!(
                "one-off window opened by {} until {}: {}",
                controls.window_opened_by,
                show_time(expires),
                controls.window_reason
            ),
            not_checked: false,
        };
    }
    let local = now.to_zoned(env.time_zone.clone());
    Condition {
        name: "window",
        passed: false,
        reason: format!(
            "outside the deployment window {}; it is {} there now (an admin can open a one-off window with `sgctl open-window`)",
            env.describe_windows(),
            local.strftime("%a %H:%M")
        ),
        not_checked: false,
    }
}

fn show_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// What an admin set by hand on an environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Controls {
    pub frozen: bool,
    pub freeze_reason: String,
    pub changed_by: String,
    pub window_expires_at_ms: Option<i64>,
    pub window_reason: String,
    pub window_opened_by: String,
}

pub async fn controls(db: &Db, environment: &str) -> Result<Controls, sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    controls_on(&mut conn, environment).await
}

/// [`controls`], read on `conn` (in the caller's transaction).
async fn controls_on(
    conn: &mut sqlx::AnyConnection,
    environment: &str,
) -> Result<Controls, sqlx::Error> {
    let row = sqlx::query(
        "SELECT frozen, freeze_reason, changed_by, window_expires_at_ms, window_reason, window_opened_by \
         FROM environment_controls WHERE environment = $1",
    )
    .bind(environment)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Controls::default());
    };
    Ok(Controls {
        frozen: row.try_get::<i64, _>(0)? != 0,
        freeze_reason: row.try_get(1)?,
        changed_by: row.try_get(2)?,
        window_expires_at_ms: row.try_get(3)?,
        window_reason: row.try_get(4)?,
        window_opened_by: row.try_get(5)?,
    })
}

fn require_reason(reason: &str, what: &str) -> Result<String, ReleaseError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReleaseError::InvalidInput(format!(
            "{what} needs a reason (--reason \"...\"); it goes into the audit log"
        )));
    }
    if reason.len() > approvals::MAX_TEXT_BYTES || reason.chars().any(char::is_control) {
        return Err(ReleaseError::InvalidInput(format!(
            "the reason must be one line of at most {} bytes",
            approvals::MAX_TEXT_BYTES
        )));
    }
    Ok(reason.to_string())
}

/// Freezes or unfreezes an environment; audited with the reason.
pub async fn set_frozen(
    db: &Db,
    caller: &Caller,
    environment: &str,
    frozen: bool,
    reason: &str,
) -> Result<Controls, ReleaseError> {
    let reason = require_reason(reason, if frozen { "freezing" } else { "unfreezing" })?;
    let mut tx = db.pool.begin().await?;
    db.lock(&mut tx, &format!("schemagate.controls.{environment}"))
        .await?;
    // A second freeze would overwrite the first one's reason, which every
    // verdict quotes until the incident is over; an unfreeze of an
    // environment that is not frozen would record a change that is none.
    let now = sqlx::query(
        "SELECT freeze_reason, changed_by FROM environment_controls WHERE environment = $1 AND frozen = 1",
    )
    .bind(environment)
    .fetch_optional(&mut *tx)
    .await?;
    match (&now, frozen) {
        (Some(row), true) => {
            let (why, by): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            return Err(ReleaseError::Refused(format!(
                "{environment} is already frozen by {by}: {why}; unfreeze it first to freeze it for another reason"
            )));
        }
        (None, false) => {
            return Err(ReleaseError::Refused(format!(
                "{environment} is not frozen"
            )));
        }
        _ => {}
    }
    sqlx::query(
        "INSERT INTO environment_controls (environment, frozen, freeze_reason, changed_by, changed_at_ms, \
         window_expires_at_ms, window_reason, window_opened_by) VALUES ($1, $2, $3, $4, $5, NULL, '', '') \
         ON CONFLICT (environment) DO UPDATE SET frozen = excluded.frozen, freeze_reason = excluded.freeze_reason, \
         changed_by = excluded.changed_by, changed_at_ms = excluded.changed_at_ms",
    )
    .bind(environment)
    .bind(i64::from(frozen))
    .bind(&reason)
    .bind(&caller.subject)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    audit::append(
        db,
        &mut tx,
        &Event {
            actor: &caller.subject,
            action: if frozen {
                "environment.freeze"
            } else {
                "environment.unfreeze"
            },
            project: "",
            environment,
            subject: environment,
            outcome: Outcome::Ok,
            detail: reason,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(controls(db, environment).await?)
}

/// Opens a one-off deployment window until `expires_at_ms`; audited.
/// Opens a one-off window; returns the controls after it and, when another
/// one-off window was still open, that window (which this one replaces), as
/// people read it: a window that ends earlier than another admin meant is
/// said out loud, in the answer and in the audit log.
pub async fn open_window(
    db: &Db,
    caller: &Caller,
    environment: &str,
    reason: &str,
    expires_at_ms: i64,
) -> Result<(Controls, Option<String>), ReleaseError> {
    let reason = require_reason(reason, "a one-off window")?;
    let now = now_ms();
    if expires_at_ms <= now {
        return Err(ReleaseError::InvalidInput(
            "the window's expiry is in the past: give a time in the future".into(),
        ));
    }
    if expires_at_ms - now > MAX_WINDOW_MS {
        return Err(ReleaseError::InvalidInput(
            "a one-off window may last at most 7 days".into(),
        ));
    }
    // Read in the transaction that replaces it, so that the audit row
    // names the window it replaced even when two are opened at once.
    let mut tx = db.pool.begin().await?;
    let before = controls_on(&mut tx, environment).await?;
    let replaced = before
        .window_expires_at_ms
        .filter(|&until| until > now)
        .map(|until| {
            format!(
                "the window {} opened until {}: {}",
                before.window_opened_by,
                show_time(until),
                before.window_reason
            )
        });
    sqlx::query(
        "INSERT INTO environment_controls (environment, frozen, freeze_reason, changed_by, changed_at_ms, \
         window_expires_at_ms, window_reason, window_opened_by) VALUES ($1, 0, '', $2, $3, $4, $5, $2) \
         ON CONFLICT (environment) DO UPDATE SET window_expires_at_ms = excluded.window_expires_at_ms, \
         window_reason = excluded.window_reason, window_opened_by = excluded.window_opened_by",
    )
    .bind(environment)
    .bind(&caller.subject)
    .bind(now)
    .bind(expires_at_ms)
    .bind(&reason)
    .execute(&mut *tx)
    .await?;
    audit::append(
        db,
        &mut tx,
        &Event {
            actor: &caller.subject,
            action: "environment.open_window",
            project: "",
            environment,
            subject: environment,
            outcome: Outcome::Ok,
            detail: format!(
                "until {}: {reason}{}",
                show_time(expires_at_ms),
                replaced
                    .as_ref()
                    .map(|replaced| format!("; replaces {replaced}"))
                    .unwrap_or_default()
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((controls(db, environment).await?, replaced))
}
