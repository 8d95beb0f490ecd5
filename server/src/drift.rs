//! Drift: whether a target's live schema is still the one recorded right
//! after its current revision ran or was stamped. Owns the `target_schemas`
//! table, the reference every check compares against.

use crate::db::{Db, now_ms};
use crate::schema::{self, Difference, Reading, Schema};
use crate::target::Applied;
use sqlx::{AnyConnection, PgConnection, Row};

/// What was recorded on an environment's target after `revision_id`: the
/// schema's fingerprint and the catalog stamp read with it (empty for a
/// reference read incrementally, or recorded before stamps existed). The
/// schema itself (about 100 KB of JSON at 150 tables, 800 KB at 1,000) is
/// loaded by [`recorded_schema`] only when a check compares it, and is kept
/// only where an execution ends (see [`Keep`]).
pub struct Reference {
    pub revision_id: String,
    pub fingerprint: String,
    pub catalog_stamp: String,
}

/// What a reference keeps of a reading. An execution keeps the schema only
/// after its last revision: between two of its revisions, it holds the
/// reading itself for the next gate check, and writing the whole schema to
/// the catalog after every revision cost more than reading it. A reference
/// without its schema still proves or disproves drift by fingerprint; only
/// the list of differences needs the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    Schema,
    Fingerprint,
}

const SELECT_REFERENCE: &str = "SELECT revision_id, fingerprint, catalog_stamp FROM target_schemas \
     WHERE project = $1 AND environment = $2";

/// The reference of an environment's target.
pub async fn reference(
    db: &Db,
    project: &str,
    environment: &str,
) -> Result<Option<Reference>, sqlx::Error> {
    select_reference(db, SELECT_REFERENCE, project, environment).await
}

/// The reference of an environment's target when it kept no schema (see
/// [`Keep`]). Asked once per execution, not at every gate check: the
/// comparison reads the schema it tests for.
pub async fn unkept_reference(
    db: &Db,
    project: &str,
    environment: &str,
) -> Result<Option<Reference>, sqlx::Error> {
    let query = format!("{SELECT_REFERENCE} AND schema_json = ''");
    select_reference(db, &query, project, environment).await
}

/// The projects whose reference on `environment`'s target kept no schema.
pub async fn projects_with_unkept_reference(
    db: &Db,
    environment: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT project FROM target_schemas WHERE environment = $1 AND schema_json = ''",
    )
    .bind(environment)
    .fetch_all(&db.pool)
    .await
}

async fn select_reference(
    db: &Db,
    query: &str,
    project: &str,
    environment: &str,
) -> Result<Option<Reference>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(query.to_string()))
        .bind(project)
        .bind(environment)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|row| {
        Ok(Reference {
            revision_id: row.try_get(0)?,
            fingerprint: row.try_get(1)?,
            catalog_stamp: row.try_get(2)?,
        })
    })
    .transpose()
}

/// The fingerprint and, when it was kept, the schema recorded on an
/// environment's target after `revision_id`; `None` when the reference is
/// for another revision.
pub async fn recorded_schema(
    db: &Db,
    project: &str,
    environment: &str,
    revision_id: &str,
) -> Result<Option<(String, Option<Schema>)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT fingerprint, schema_json FROM target_schemas WHERE project = $1 AND environment = $2 AND revision_id = $3",
    )
    .bind(project)
    .bind(environment)
    .bind(revision_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        let json: String = row.try_get(1)?;
        let schema = if json.is_empty() {
            None
        } else {
            Some(serde_json::from_str(&json).map_err(|err| sqlx::Error::Decode(Box::new(err)))?)
        };
        Ok((row.try_get(0)?, schema))
    })
    .transpose()
}

/// Records `live` (see [`schema::introspect_stamped`]), whose schema has
/// `fingerprint`, as the reference of an environment's target, inside the
/// caller's catalog transaction; with the schema itself or without it
/// (`keep`).
pub async fn record(
    conn: &mut AnyConnection,
    project: &str,
    environment: &str,
    revision_id: &str,
    (live, fingerprint): (&Reading, &str),
    keep: Keep,
) -> Result<(), sqlx::Error> {
    let Reading { stamp, schema, .. } = live;
    let json = match keep {
        Keep::Schema => {
            serde_json::to_string(schema).map_err(|err| sqlx::Error::Encode(Box::new(err)))?
        }
        Keep::Fingerprint => String::new(),
    };
    sqlx::query(
        "INSERT INTO target_schemas (project, environment, revision_id, fingerprint, schema_json, recorded_at_ms, catalog_stamp) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project, environment) DO UPDATE SET \
         revision_id = excluded.revision_id, fingerprint = excluded.fingerprint, \
         schema_json = excluded.schema_json, recorded_at_ms = excluded.recorded_at_ms, \
         catalog_stamp = excluded.catalog_stamp",
    )
    .bind(project)
    .bind(environment)
    .bind(revision_id)
    .bind(fingerprint)
    .bind(json)
    .bind(now_ms())
    .bind(stamp)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records `live` with its schema as the reference, in a catalog
/// transaction of its own: how an execution that stopped keeps the schema
/// its reference lacked.
pub async fn keep_schema(
    db: &Db,
    project: &str,
    environment: &str,
    revision_id: &str,
    (live, fingerprint): (&Reading, &str),
) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    record(
        &mut tx,
        project,
        environment,
        revision_id,
        (live, fingerprint),
        Keep::Schema,
    )
    .await?;
    tx.commit().await
}

/// The outcome of one drift check.
pub struct Report {
    pub drifted: bool,
    pub expected_fingerprint: String,
    pub live_fingerprint: String,
    pub differences: Vec<Difference>,
    /// One line for the gate.
    pub summary: String,
}

/// The reference an execution holding the target's executor lock recorded
/// last, with the snapshot it read it in.
#[derive(Clone, Copy)]
pub struct Recorded<'a> {
    pub revision_id: &'a str,
    pub fingerprint: &'a str,
    pub reading: &'a Reading,
}

/// Compares the live schema behind `conn` with the reference of its
/// current revision. A target without a current revision must be empty.
/// When the caller `recorded` the current revision's reference itself (an
/// execution holding the target's executor lock), that reading is the
/// reference: the catalog's copy may still be on its way (see
/// [`executor`](crate::executor)). Nothing is read when no transaction
/// committed on the target since the reference was read
/// ([`committed_since`](crate::target::committed_since)), or when the
/// target's catalog stamp still equals the one read with the reference (no
/// DDL ran since).
pub async fn check(
    db: &Db,
    project: &str,
    environment: &str,
    conn: &mut PgConnection,
    current: Option<&Applied>,
    recorded: Option<Recorded<'_>>,
) -> Result<Report, sqlx::Error> {
    if let (Some(current), Some(recorded)) = (current, recorded)
        && recorded.revision_id == current.id
    {
        return check_recorded(conn, &current.id, recorded).await;
    }
    let reference = match current {
        Some(current) => reference(db, project, environment)
            .await?
            .filter(|r| r.revision_id == current.id),
        None => None,
    };
    if let (Some(current), Some(reference)) = (current, &reference)
        && !reference.catalog_stamp.is_empty()
        && schema::catalog_stamp(conn).await? == reference.catalog_stamp
    {
        return Ok(matches(&current.id, &reference.fingerprint, ""));
    }
    let live = schema::introspect(conn).await?;
    let live_fingerprint = live.fingerprint();
    let Some(current) = current else {
        // A fresh database is "empty" with its schemas and extensions
        // (public, plpgsql); only objects count.
        let empty = Schema {
            schemas: live.schemas.clone(),
            extensions: live.extensions.clone(),
            ..Schema::default()
        };
        let differences = schema::diff(&empty, &live);
        let drifted = !live.is_empty();
        return Ok(Report {
            drifted,
            expected_fingerprint: empty.fingerprint(),
            live_fingerprint,
            summary: if drifted {
                format!(
                    "the target has no Schemagate revision but is not empty ({} object(s)); bring it under the catalog with `sgctl stamp`",
                    differences.len()
                )
            } else {
                "the target is empty and has no revision yet".to_string()
            },
            differences,
        });
    };
    if reference.is_none() {
        return Ok(Report {
            drifted: true,
            expected_fingerprint: String::new(),
            live_fingerprint,
            differences: vec![Difference {
                object: "version table".into(),
                detail: format!(
                    "the target is at {} but Schemagate recorded no schema for it there: its version table was changed outside Schemagate",
                    current.id
                ),
                reconcile_sql: None,
            }],
            summary: format!(
                "no schema recorded for {} on this target: its version table was changed outside Schemagate",
                current.id
            ),
        });
    }
    // A reference replaced in between (by an execution this check does not
    // hold the lock against) is compared only when it still belongs to the
    // current revision.
    let Some((expected_fingerprint, kept)) =
        recorded_schema(db, project, environment, &current.id).await?
    else {
        return Ok(Report {
            drifted: true,
            expected_fingerprint: String::new(),
            live_fingerprint,
            differences: Vec::new(),
            summary: format!(
                "the reference recorded after {} changed while it was checked; check again",
                current.id
            ),
        });
    };
    // A reference recorded without its schema is compared by fingerprint
    // alone.
    Ok(match kept {
        Some(kept) => compare(
            &current.id,
            expected_fingerprint,
            &kept,
            &live,
            live_fingerprint,
        ),
        None => by_fingerprint(&current.id, expected_fingerprint, live_fingerprint),
    })
}

/// The check against a reference the caller recorded itself, reading in
/// hand: unchanged when no transaction committed since it was read, when
/// none of those that did changed a catalog (told by the catalogs' row
/// counts read with it, [`schema::only_writer`]) or when the catalog stamp
/// read with it is unchanged; otherwise compared with the live schema,
/// difference by difference.
async fn check_recorded(
    conn: &mut PgConnection,
    revision_id: &str,
    recorded: Recorded<'_>,
) -> Result<Report, sqlx::Error> {
    if !crate::target::committed_since(conn, &recorded.reading.snapshot).await? {
        return Ok(matches(
            revision_id,
            recorded.fingerprint,
            ": no transaction committed on the target since it was read",
        ));
    }
    if let Some(rows) = &recorded.reading.rows
        && let Some(counted) = schema::count(conn, None, &recorded.reading.snapshot).await?
        && schema::only_writer(&recorded.reading.snapshot, rows, &counted, None)
    {
        return Ok(matches(
            revision_id,
            recorded.fingerprint,
            ": no transaction that committed on the target since it was read changed a catalog",
        ));
    }
    let stamp = &recorded.reading.stamp;
    if !stamp.is_empty() && schema::catalog_stamp(conn).await? == *stamp {
        return Ok(matches(revision_id, recorded.fingerprint, ""));
    }
    let live = schema::introspect(conn).await?;
    let live_fingerprint = live.fingerprint();
    Ok(compare(
        revision_id,
        recorded.fingerprint.to_string(),
        &recorded.reading.schema,
        &live,
        live_fingerprint,
    ))
}

/// The report of a live schema known to match the reference recorded after
/// `revision_id` without reading it; `why` ends the summary.
fn matches(revision_id: &str, fingerprint: &str, why: &str) -> Report {
    Report {
        drifted: false,
        live_fingerprint: fingerprint.to_string(),
        expected_fingerprint: fingerprint.to_string(),
        differences: Vec::new(),
        summary: format!("live schema matches the one recorded after {revision_id}{why}"),
    }
}

/// The report of the live schema compared with the `expected` one recorded
/// after `revision_id`.
fn compare(
    revision_id: &str,
    expected_fingerprint: String,
    expected: &Schema,
    live: &Schema,
    live_fingerprint: String,
) -> Report {
    let differences = schema::diff(expected, live);
    let drifted = !differences.is_empty();
    Report {
        drifted,
        summary: if drifted {
            let first = differences
                .iter()
                .take(3)
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            format!(
                "live schema differs from the one recorded after {revision_id} ({} difference(s)): {first}",
                differences.len()
            )
        } else {
            format!("live schema matches the one recorded after {revision_id}")
        },
        expected_fingerprint,
        live_fingerprint,
        differences,
    }
}

/// The check of a live schema against a reference that kept no schema:
/// one recorded between two revisions of an execution that is still
/// running, or that the server stopped before it could keep the schema
/// (the next execution on the target keeps it when the schema still
/// matches).
fn by_fingerprint(
    revision_id: &str,
    expected_fingerprint: String,
    live_fingerprint: String,
) -> Report {
    let drifted = live_fingerprint != expected_fingerprint;
    let summary = if drifted {
        format!(
            "live schema differs from the one recorded after {revision_id} (fingerprint {} against {}); that reference was recorded between two revisions of an execution and kept no schema (the execution keeps one when it ends; after a server stop, its next start or the next execution on the target does), so the differences cannot be listed",
            live_fingerprint.get(..12).unwrap_or(&live_fingerprint),
            expected_fingerprint
                .get(..12)
                .unwrap_or(&expected_fingerprint)
        )
    } else {
        format!("live schema matches the fingerprint recorded after {revision_id}")
    };
    Report {
        drifted,
        differences: if drifted {
            vec![Difference {
                object: "schema".into(),
                detail: summary.clone(),
                reconcile_sql: None,
            }]
        } else {
            Vec::new()
        },
        summary,
        expected_fingerprint,
        live_fingerprint,
    }
}
