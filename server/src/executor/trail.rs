//! What an execution carries from one revision to the next: the revision
//! whose schema is read behind, on a second connection, while the next one
//! runs; the records not written yet; and the settling of each revision
//! once its schema is read.

use super::reading::{After, Recording, schema_after};
use super::records::{self, Unwritten, close, write_records};
use super::{Event, Progress, Record, Request, State};
use crate::catalog::Revision;
use crate::db::Db;
use crate::drift;
use crate::release::{Action, ReleaseError};
use crate::schema;
use crate::target::Target;
use sqlx::PgConnection;
use tracing::Instrument;

/// What an execution carries from one revision to the next.
#[derive(Default)]
pub(super) struct Trail<'a> {
    /// The reference recorded last.
    pub(super) last: Option<Recording>,
    /// Revisions that succeeded, closed but not yet written, in the order
    /// they ran: every revision's record but the last one's is written
    /// while a revision after it runs.
    pub(super) unwritten: Vec<Unwritten<'a>>,
    /// A revision that committed and whose schema is read while the next
    /// one runs.
    pub(super) behind: Option<Behind<'a>>,
    /// The next revision's record, written as running while the revision
    /// before it ran, so that no revision starts without its record.
    pub(super) ahead: Option<Record>,
    /// The connection the schema behind is read on.
    pub(super) reader: Reader,
}

/// A revision that committed, with its record, closed as succeeded but
/// without its fingerprint yet.
pub(super) struct Committed<'a> {
    pub(super) record: Record,
    pub(super) revision: &'a Revision,
}

/// A committed revision whose schema is read while the next revision runs
/// on the target: that revision's commit waits for the reading, so the
/// reading sees the target as this one left it.
pub(super) struct Behind<'a> {
    pub(super) committed: Committed<'a>,
    /// Its transaction id, a `xid8`.
    pub(super) xid: String,
    /// What its transaction wrote to the catalogs.
    pub(super) writes: Option<schema::CatalogWrites>,
    pub(super) traits: schema::SqlTraits,
}

impl Behind<'_> {
    /// Reads the schema after this revision on `conn`, `before` being the
    /// reading before it.
    pub(super) async fn read_after(
        &self,
        conn: &mut PgConnection,
        before: Option<Recording>,
    ) -> Result<After, sqlx::Error> {
        schema_after(
            conn,
            before,
            Some(&self.xid),
            self.writes.as_ref(),
            &self.traits,
            false,
        )
        .instrument(tracing::info_span!("fingerprint", revision = %self.committed.revision.id))
        .await
    }
}

/// The second connection to the target, which reads the schema behind
/// while the executor's own connection runs the next revision.
#[derive(Default)]
pub(super) struct Reader {
    pub(super) conn: Option<PgConnection>,
    pub(super) failures: u32,
}

impl Reader {
    /// How long the reader waits for a lock: one it needs may be held by
    /// the uncommitted revision beside it, which waits for the reading.
    pub(super) const LOCK_TIMEOUT: &str = "SET lock_timeout TO '100ms'";
    /// After this many failures every schema is read on the executor's
    /// connection for the rest of the execution.
    pub(super) const GIVE_UP_AFTER: u32 = 3;

    pub(super) fn usable(&self) -> bool {
        self.failures < Self::GIVE_UP_AFTER
    }

    /// Reads the schema after `behind`. A reader that fails is closed at
    /// once, which ends its transaction and every lock in it (the revision
    /// beside it may be waiting for one); the next reading opens another.
    /// The error comes with `before`, for the reading to be made again.
    pub(super) async fn read(
        &mut self,
        target: &Target,
        request: &Request,
        before: Option<Recording>,
        behind: &Behind<'_>,
    ) -> Result<After, (String, Option<Recording>)> {
        let again = before.clone();
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
                Err((why, again))
            }
        }
    }
}

/// Reads the schema after the revision behind, if there is one, on the
/// executor's connection, and settles its record.
pub(super) async fn catch_up(
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
pub(super) async fn settle<'a>(
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
    let mut leftover = String::new();
    if request.action == Action::Rollback {
        let parent = request.action.lands_on(revision);
        if let Some(before) = records::fingerprint_after(db, &record, parent).await?
            && before != after.fingerprint
        {
            // The reading after the rollback becomes the reference, so the
            // drift check would not tell; say it now.
            leftover = format!(
                "; the schema is not the one recorded after {parent} (fingerprint {}): the down SQL did not undo everything {} did, check what it left",
                before.get(..12).unwrap_or(&before),
                revision.id
            );
            let warning = &leftover["; ".len()..];
            record.error = format!("warning: {warning}");
            tracing::warn!(revision = %revision.id, "{warning}");
        }
    }
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
        ) + &leftover,
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

/// Finishes a record that did not succeed, after the record left unwritten:
/// records are written in the order their revisions ran.
pub(super) async fn finish_in_order(
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
