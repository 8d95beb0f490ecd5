//! Onboarding existing databases: a target built without Schemagate is
//! stamped at a revision only after a parity check proves its schema is the
//! one the lineage up to that revision builds. The expected schema is built
//! on a scratch database of the shadow server (`SCHEMAGATE_SHADOW_URL`),
//! created and dropped for each check. Stamping writes the version row and
//! nothing else on the target. Also answers the drift check on request.

use crate::approvals;
use crate::audit::{self, Event, Outcome};
use crate::auth::{Caller, Role};
use crate::catalog::{self, Revision};
use crate::config::Policy;
use crate::db::{Db, now_ms};
use crate::drift;
use crate::executor::{self, Record};
use crate::release::{self, ReleaseError};
use crate::schema::{self, Difference, Schema};
use crate::target::{self, Target, VersionRow};
use sqlx::{Connection, PgConnection};

/// The variable naming the shadow server.
pub const SHADOW_URL_ENV: &str = "SCHEMAGATE_SHADOW_URL";

pub struct StampRequest<'a> {
    pub project: &'a str,
    pub environment: &'a str,
    pub revision_id: &'a str,
    pub force: bool,
    pub reason: &'a str,
    /// The target already names the revision in its version table (it was
    /// restored from a backup): check and record, write no version row.
    pub restored: bool,
}

pub struct Stamped {
    pub fingerprint: String,
    pub forced: bool,
    pub differences: Vec<Difference>,
}

/// The parity check failed: what differs, and the SQL that would reconcile
/// what can be reconciled safely (see [`Difference::reconcile_sql`]).
pub fn mismatch_message(
    environment: &str,
    revision_id: &str,
    differences: &[Difference],
) -> String {
    let mut text = format!(
        "the schema of {environment}'s target does not match {revision_id} ({} difference(s) of the live schema from the expected one); nothing was changed:\n",
        differences.len()
    );
    for difference in differences {
        text.push_str(&format!("  - {difference}\n"));
    }
    let reconcile: Vec<&str> = differences
        .iter()
        .filter_map(|d| d.reconcile_sql.as_deref())
        .collect();
    if !reconcile.is_empty() {
        text.push_str("SQL that would reconcile part of it:\n");
        for sql in reconcile {
            text.push_str(&format!("  {sql}\n"));
        }
    }
    text.push_str("fix the target (or the revision) and stamp again; an admin can force the stamp with --force --reason");
    text
}

pub async fn stamp(
    db: &Db,
    policy: &Policy,
    caller: &Caller,
    request: &StampRequest<'_>,
) -> Result<Stamped, ReleaseError> {
    let result = stamp_inner(db, policy, caller, request).await;
    if let Err(err) = &result
        && !matches!(err, ReleaseError::Db(_))
    {
        audit::record(
            db,
            &Event {
                actor: &caller.subject,
                action: "target.stamp",
                project: request.project,
                environment: request.environment,
                subject: request.revision_id,
                outcome: Outcome::Refused,
                detail: err
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            },
        )
        .await?;
    }
    result
}

async fn stamp_inner(
    db: &Db,
    policy: &Policy,
    caller: &Caller,
    request: &StampRequest<'_>,
) -> Result<Stamped, ReleaseError> {
    let env = release::environment(policy, request.environment)?;
    let reason = request.reason.trim();
    if request.force {
        if !caller.has(Role::Admin) {
            return Err(ReleaseError::PermissionDenied(
                "a forced stamp needs the admin role".into(),
            ));
        }
        if reason.is_empty() {
            return Err(ReleaseError::InvalidInput(
                "a forced stamp needs a reason (--reason \"...\"); it goes into the audit log"
                    .into(),
            ));
        }
        // Checked before the target is touched: a reason the audit row
        // cannot hold (a NUL on a PostgreSQL catalog) once left the target
        // stamped and the catalog without a record of it.
        if reason.len() > approvals::MAX_TEXT_BYTES
            || reason
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(ReleaseError::InvalidInput(format!(
                "the reason of a forced stamp must be at most {} bytes without control characters",
                approvals::MAX_TEXT_BYTES
            )));
        }
    }
    let revision = catalog::get(db, request.project, request.revision_id).await?;
    let history = catalog::history(db, request.project).await?;
    let lineage: Vec<&Revision> = history
        .iter()
        .take_while(|r| r.sequence <= revision.sequence)
        .collect();

    let target = Target::of(env)?;
    let mut conn = target
        .connect(&format!("schemagate stamp by {}", caller.subject))
        .await?;
    let result = async {
        if let Err(holder) = target::try_lock(&mut conn, request.project)
            .await
            .map_err(|e| target.failed(&e))?
        {
            return Err(ReleaseError::Busy(format!(
                "an execution is running on {}'s target: {holder}",
                env.name
            )));
        }
        let current = target::current(&mut conn, request.project)
            .await
            .map_err(|e| target.failed(&e))?;
        if let Some(current) = current
            .as_ref()
            .filter(|current| !history.iter().any(|r| r.id == current.id))
        {
            return Err(ReleaseError::Refused(format!(
                "{}'s target has a version row for {}, which is not in the lineage of project {}: it was not \
                 applied from this catalog; if the database holds no history of this project, delete the rows of \
                 project {} from schemagate.applied_revisions and stamp it again",
                env.name, current.id, request.project, request.project
            )));
        }
        match (&current, request.restored) {
            (Some(current), false) => {
                return Err(ReleaseError::Refused(format!(
                    "{}'s target is already under the catalog at {}; stamping is for databases without history \
                     (after restoring a backup, record it with --restored --revision {})",
                    env.name, current.id, current.id
                )));
            }
            (None, true) => {
                return Err(ReleaseError::Refused(format!(
                    "{}'s target has no version row for project {}: --restored is for a target restored from a backup Schemagate took; stamp it without --restored",
                    env.name, request.project
                )));
            }
            (Some(current), true) if current.id != revision.id => {
                return Err(ReleaseError::Refused(format!(
                    "{}'s target was restored at {}, not {}: stamp --restored --revision {}",
                    env.name, current.id, revision.id, current.id
                )));
            }
            (Some(current), true) if current.checksum != revision.checksum => {
                return Err(ReleaseError::Refused(format!(
                    "{}'s target ran {} with checksum {}, but the catalog's {} has checksum {}: the restored database does not come from this lineage",
                    env.name, current.id, current.checksum, revision.id, revision.checksum
                )));
            }
            _ => {}
        }
        let expected = expected_schema(&lineage).await?;
        let stamped = schema::introspect_stamped(&mut conn)
            .await
            .map_err(|e| target.failed(&e))?;
        let live = &stamped.schema;
        let differences = schema::diff(&expected, live);
        if !differences.is_empty() && !request.force {
            return Err(ReleaseError::Refused(mismatch_message(
                &env.name,
                &revision.id,
                &differences,
            )));
        }
        let mut record = Record {
            id: release::new_id(),
            project: revision.project.clone(),
            environment: env.name.clone(),
            revision_id: revision.id.clone(),
            action: "stamp".into(),
            state: "succeeded".into(),
            started_at_ms: now_ms(),
            executed_by: caller.subject.clone(),
            policy_sha256: policy.sha256.clone(),
            transactional: true,
            fingerprint: live.fingerprint(),
            ..Record::default()
        };
        // The version row first: if the catalog write below fails, the
        // drift check reports a target at a revision with no recorded
        // schema, which a person can see and repair. A restored target
        // keeps the rows its backup brought back.
        if !request.restored {
            write_version_row(&mut conn, &target, &revision, caller, &record).await?;
        }
        record.finished_at_ms = Some(now_ms());

        let forced = !differences.is_empty();
        let mut catalog_tx = db.pool.begin().await?;
        executor::record_stamp(&mut catalog_tx, &record).await?;
        drift::record(
            &mut catalog_tx,
            &revision.project,
            &env.name,
            &revision.id,
            (&stamped, &record.fingerprint),
            drift::Keep::Schema,
        )
        .await?;
        let used_up = if request.restored {
            approvals::use_up_after_restore(
                &mut catalog_tx,
                &revision.project,
                &env.name,
                revision.sequence,
                record.started_at_ms,
            )
            .await?
        } else {
            0
        };
        let used_up_note = match used_up {
            0 => String::new(),
            n => format!("; approvals_used_up={n} (to apply the revisions after it)"),
        };
        audit::append(
            db,
            &mut catalog_tx,
            &Event {
                actor: &caller.subject,
                action: match (forced, request.restored) {
                    (true, false) => "target.stamp_forced",
                    (false, false) => "target.stamp",
                    (true, true) => "target.stamp_restored_forced",
                    (false, true) => "target.stamp_restored",
                },
                project: &revision.project,
                environment: &env.name,
                subject: &revision.id,
                outcome: Outcome::Ok,
                detail: if forced {
                    format!(
                        "forced over {} difference(s); reason: {reason}; fingerprint={}{used_up_note}",
                        differences.len(),
                        record.fingerprint
                    )
                } else {
                    format!(
                        "parity check passed; fingerprint={}{used_up_note}",
                        record.fingerprint
                    )
                },
            },
        )
        .await?;
        catalog_tx.commit().await?;
        Ok(Stamped {
            fingerprint: record.fingerprint,
            forced,
            differences,
        })
    }
    .await;
    target::close(conn).await;
    result
}

/// Writes the stamped revision's row into the target's version table, in
/// its own transaction.
async fn write_version_row(
    conn: &mut sqlx::PgConnection,
    target: &Target,
    revision: &Revision,
    caller: &Caller,
    record: &Record,
) -> Result<(), ReleaseError> {
    let written: Result<(), sqlx::Error> = async {
        let mut tx = conn.begin().await?;
        target::create_version_table(&mut tx).await?;
        target::insert_version_row(
            &mut tx,
            revision,
            &VersionRow {
                executed_by: &caller.subject,
                execution_id: &record.id,
                transactional: true,
                stamped: true,
            },
        )
        .await?;
        tx.commit().await
    }
    .await;
    written.map_err(|e| ReleaseError::from(target.failed(&e)))
}

/// Builds the schema the lineage produces, on a scratch database of the
/// shadow server that is dropped again whatever happens.
pub async fn expected_schema(lineage: &[&Revision]) -> Result<Schema, ReleaseError> {
    let url = std::env::var(SHADOW_URL_ENV).map_err(|_| {
        ReleaseError::Refused(format!(
            "the parity check needs a shadow PostgreSQL server to build the expected schema on: set {SHADOW_URL_ENV} on the server (a database is created and dropped there per check)"
        ))
    })?;
    if !target::is_postgres_url(&url) {
        return Err(ReleaseError::Refused(format!(
            "{SHADOW_URL_ENV} does not hold a postgres:// URL: the parity check builds the expected schema on a PostgreSQL server"
        )));
    }
    let shadow = Target::shadow(url);
    let mut admin = shadow.connect("schemagate parity check").await?;
    let name = format!("schemagate_shadow_{}", release::new_id().replace('-', ""));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .map_err(|e| shadow.failed_while("cannot create a scratch database: ", &e))?;
    let built = async {
        let mut scratch = shadow
            .connect_to(Some(&name), "schemagate parity check")
            .await?;
        let mut result = Ok(());
        for revision in lineage {
            if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(revision.up_sql.clone()))
                .execute(&mut scratch)
                .await
            {
                result = Err(ReleaseError::Refused(format!(
                    "the lineage does not build on the shadow server: {} failed: {}",
                    revision.id,
                    target::describe(&err)
                )));
                break;
            }
        }
        let schema = match result {
            Ok(()) => schema::introspect(&mut scratch)
                .await
                .map_err(|e| ReleaseError::Target(shadow.failed(&e))),
            Err(err) => Err(err),
        };
        let _ = scratch.close().await;
        schema
    }
    .await;
    if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    {
        tracing::warn!(database = %name, error = %err, "scratch database not dropped");
    }
    let _ = admin.close().await;
    built
}

/// The drift check on request.
pub struct DriftAnswer {
    pub current_revision: String,
    pub report: drift::Report,
}

pub async fn check_drift(
    db: &Db,
    policy: &Policy,
    project: &str,
    environment: &str,
) -> Result<DriftAnswer, ReleaseError> {
    let env = release::environment(policy, environment)?;
    release::lineage(db, project).await?;
    let target = Target::of(env)?;
    let mut conn: PgConnection = target.connect("schemagate drift check").await?;
    let result = async {
        // An execution's reference trails its revisions by a moment: only
        // the execution itself can tell drift while it runs.
        if let Some(holder) = target::holder(&mut conn, project)
            .await
            .map_err(|e| target.failed(&e))?
        {
            return Err(ReleaseError::Busy(format!(
                "an execution is changing {}'s target ({holder}); check drift when it ends",
                env.name
            )));
        }
        let current = target::current(&mut conn, project)
            .await
            .map_err(|e| target.failed(&e))?;
        let report = drift::check(db, project, &env.name, &mut conn, current.as_ref(), None)
            .await
            .map_err(|e| target.failed(&e))?;
        Ok(DriftAnswer {
            current_revision: current.map(|c| c.id).unwrap_or_default(),
            report,
        })
    }
    .await;
    target::close(conn).await;
    result
}
