//! The schema after a revision: read in full, or incrementally from the
//! schema before it, checked against a full read where an execution ends;
//! the schema the catalog kept for the execution's start, and the reference
//! an execution that stops early leaves.

use crate::config::Environment;
use crate::db::Db;
use crate::drift;
use crate::release::ReleaseError;
use crate::schema;
use crate::target::{self, Target};
use sqlx::PgConnection;

/// The schema the catalog kept after the target's current revision, with
/// the target's snapshot now, when it kept one. The first revision's schema
/// is read against it ([`schema_after`]), so that DDL committed elsewhere
/// while that revision runs is told from what the revision did. The first
/// gate checks that the live schema is still the kept one: a change
/// committed after this snapshot and before that check is drift there.
/// A schema kept by a server whose model compared other things (its
/// fingerprint, computed again, differs) or that no longer decodes is not
/// used: the first revision is then read in full, as before.
pub(super) async fn kept_reading(
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
            rows: None,
        },
        read: Read::Full,
        keep: drift::Keep::Schema,
    }))
}

/// The reference an execution recorded last: the revision the target is
/// at after it, the schema's fingerprint, the reading, how it was read and
/// what the catalog kept of it.
#[derive(Clone)]
pub(super) struct Recording {
    pub(super) revision_id: String,
    pub(super) fingerprint: String,
    pub(super) reading: schema::Reading,
    pub(super) read: Read,
    pub(super) keep: drift::Keep,
}

/// Whether, although other transactions committed since the `last`
/// reading, none of them changed a catalog the schema is read from, besides
/// the revision `behind` (its transaction id and what it wrote, when its
/// schema is not read yet): the catalogs' row counts prove it
/// ([`schema::only_writer`]). `false` when they cannot: the last reading
/// was not counted, the revision behind has no counters, or something else
/// did change the catalogs.
pub(super) async fn catalogs_unchanged_since(
    conn: &mut PgConnection,
    last: &Recording,
    behind: Option<(&str, Option<&schema::CatalogWrites>)>,
) -> Result<bool, sqlx::Error> {
    let Some(rows) = &last.reading.rows else {
        return Ok(false);
    };
    let (xid, writes) = match behind {
        Some((xid, Some(writes))) => (Some(xid), Some(writes)),
        Some((_, None)) => return Ok(false),
        None => (None, None),
    };
    let snapshot = &last.reading.snapshot;
    Ok(match schema::count(conn, xid, snapshot).await? {
        Some(counted) => schema::only_writer(snapshot, rows, &counted, writes),
        None => false,
    })
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
pub(super) async fn keep_reference(
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

/// How the schema after a revision was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Read {
    Full,
    Incremental,
}

/// The schema after a revision. Read incrementally (only the relations the
/// revision's transaction wrote, merged into `before`; no catalog stamp)
/// when the revision ran in one transaction, its SQL is
/// [traceable](schema::SqlTraits::traceable), no other transaction changed
/// the catalogs since `before` was read ([`schema::Incremental::alone`]:
/// none committed, or the catalogs' row counts and what the revision wrote,
/// `writes`, prove that those that did wrote no catalog), no trigger may
/// have fired ([`schema::Triggers`]) and it called no function on a target
/// that has code to call ([`schema::SqlTraits::may_call_functions`]);
/// `before` is, for an execution's first revision, the schema the catalog
/// kept ([`kept_reading`]). In full, with its stamp and row counts, for a
/// first revision whose catalog kept no schema and for the last revision,
/// where the incremental result is checked against the full read so that an
/// execution ends on a reference read in full ([`keep_reference`] does the
/// same for one that stops early).
///
/// When another transaction may have changed the catalogs meanwhile, the
/// schema is read in full too. If that reading differs from the incremental
/// one (the schema before with what the revision wrote), the difference is
/// DDL run outside Schemagate while the revision ran: the incremental
/// reading, the schema the revision left, is returned as the reference,
/// with no stamp, no counts and the snapshot before the revision, so that
/// the next drift check reads the live schema and reports the change rather
/// than the reference taking it in.
pub(super) async fn schema_after(
    conn: &mut PgConnection,
    before: Option<Recording>,
    xid: Option<&str>,
    writes: Option<&schema::CatalogWrites>,
    sql: &schema::SqlTraits,
    last: bool,
) -> Result<After, sqlx::Error> {
    if let (Some(before), Some(xid)) = (before, xid)
        && sql.traceable
    {
        let snapshot_before = before.reading.snapshot.clone();
        let schema::Incremental {
            reading,
            triggers,
            alone,
            ..
        } = schema::introspect_after(conn, before.reading, xid, sql, writes).await?;
        if triggers.may_have_fired(sql) {
            tracing::info!(
                "the target has user code this revision may have run without calling it (a trigger, or a function behind an operator, cast, operator class or domain check), which can run DDL of any kind; read in full"
            );
            return read_in_full(conn).await;
        }
        if !sql.readable_incrementally_on(&reading.schema) {
            tracing::info!(
                "the revision may have called a function of the target's, which can run DDL of any kind; read in full"
            );
            return read_in_full(conn).await;
        }
        let incremental = After::of(reading, Read::Incremental);
        if alone && !last {
            return Ok(incremental);
        }
        if !alone {
            tracing::info!(
                "another transaction may have changed the target's catalogs since the last reading; the schema is read in full as well"
            );
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
                rows: None,
            },
            fingerprint: incremental.fingerprint,
            read: Read::Incremental,
        });
    }
    read_in_full(conn).await
}

/// The schema after a revision with its fingerprint, and how it was read.
pub(super) struct After {
    pub(super) reading: schema::Reading,
    pub(super) fingerprint: String,
    pub(super) read: Read,
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

/// The schema read in full, with its stamp and the catalogs' row counts
/// (from which the next revision's reading can prove that no other
/// transaction changed the schema).
async fn read_in_full(conn: &mut PgConnection) -> Result<After, sqlx::Error> {
    Ok(After::of(
        schema::introspect_counted(conn).await?,
        Read::Full,
    ))
}
