//! The audit log: who did what, when, and how it ended, for every state
//! change. Rows are append-only and hash-chained (each row's sha256 covers the
//! previous row's), so an edited or deleted row is detectable by `verify`.

use crate::db::{Db, now_ms};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Hash of the row before the first row.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Refused,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// How many calls of one caller refused for lacking the role are audited a
/// minute. Any valid token can make such calls, an edge controller's agent
/// token included, and every audited one is a row the append-only log keeps
/// for good: a leaked token must not be able to fill it.
pub const ROLE_REFUSALS_AUDITED_PER_MINUTE: u32 = 30;

/// What to do with a refusal for lacking the role: see [`RefusalBudget`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalAudit {
    /// Audit it.
    Row,
    /// Audit it, saying that the caller's next refusals this minute are not.
    LastRow,
    /// Refuse without an audit row.
    Skip,
}

/// Counts each caller's refusals for lacking the role, minute by minute.
#[derive(Debug, Default)]
pub struct RefusalBudget(Mutex<HashMap<String, (Instant, u32)>>);

impl RefusalBudget {
    pub fn spend(&self, subject: &str) -> RefusalAudit {
        self.spend_at(subject, Instant::now())
    }

    fn spend_at(&self, subject: &str, now: Instant) -> RefusalAudit {
        const MINUTE: Duration = Duration::from_secs(60);
        // A poisoned lock only means a panic elsewhere mid-count.
        let mut callers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Callers are holders of valid tokens, so few; those idle for a
        // minute are forgotten once there are many.
        if callers.len() >= 4096 {
            callers.retain(|_, (since, _)| now.duration_since(*since) < MINUTE);
        }
        let (since, count) = callers.entry(subject.to_string()).or_insert((now, 0));
        if now.duration_since(*since) >= MINUTE {
            (*since, *count) = (now, 0);
        }
        *count = count.saturating_add(1);
        match (*count).cmp(&ROLE_REFUSALS_AUDITED_PER_MINUTE) {
            std::cmp::Ordering::Less => RefusalAudit::Row,
            std::cmp::Ordering::Equal => RefusalAudit::LastRow,
            std::cmp::Ordering::Greater => RefusalAudit::Skip,
        }
    }
}

/// Longest actor, project, environment or subject a row keeps, and the
/// longest detail. A refused request may carry megabytes in any of them, and
/// the log is append-only: what goes in stays. Longer text is cut at a
/// character boundary and marked with its full length.
pub const MAX_FIELD_BYTES: usize = 1024;
pub const MAX_DETAIL_BYTES: usize = 16 * 1024;

/// `text` as a row can hold it on every catalog: at most `limit` bytes, and
/// a NUL (which PostgreSQL text refuses, so the refusal of a request
/// carrying one could not be recorded) written as `\0`.
fn storable(text: &str, limit: usize) -> String {
    let text = text.replace('\0', "\\0");
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

/// One state change to record.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub project: &'a str,
    pub environment: &'a str,
    pub subject: &'a str,
    pub outcome: Outcome,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub project: String,
    pub environment: String,
    pub subject: String,
    pub outcome: String,
    pub detail: String,
    pub prev_sha256: String,
    pub sha256: String,
}

impl Entry {
    fn computed_sha256(&self) -> String {
        // A JSON array is an unambiguous encoding: no field can spill into the next.
        let canonical = serde_json::json!([
            self.prev_sha256,
            self.id,
            self.at_ms,
            self.actor,
            self.action,
            self.project,
            self.environment,
            self.subject,
            self.outcome,
            self.detail,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// Appends `event` inside the caller's transaction, so the record and the
/// change it describes commit or roll back together.
pub async fn append(
    db: &Db,
    conn: &mut AnyConnection,
    event: &Event<'_>,
) -> Result<(), sqlx::Error> {
    db.lock(conn, "schemagate.audit_log").await?;
    let last = sqlx::query("SELECT id, sha256 FROM audit_log ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (prev_id, prev_sha256) = match last {
        Some(row) => (row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?),
        None => (0, GENESIS.to_string()),
    };
    let mut entry = Entry {
        id: prev_id + 1,
        at_ms: now_ms(),
        actor: storable(event.actor, MAX_FIELD_BYTES),
        action: event.action.to_string(),
        project: storable(event.project, MAX_FIELD_BYTES),
        environment: storable(event.environment, MAX_FIELD_BYTES),
        subject: storable(event.subject, MAX_FIELD_BYTES),
        outcome: event.outcome.as_str().to_string(),
        detail: storable(&event.detail, MAX_DETAIL_BYTES),
        prev_sha256,
        sha256: String::new(),
    };
    entry.sha256 = entry.computed_sha256();
    sqlx::query(
        "INSERT INTO audit_log (id, at_ms, actor, action, project, environment, subject, outcome, detail, prev_sha256, sha256) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(entry.id)
    .bind(entry.at_ms)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.project)
    .bind(&entry.environment)
    .bind(&entry.subject)
    .bind(&entry.outcome)
    .bind(&entry.detail)
    .bind(&entry.prev_sha256)
    .bind(&entry.sha256)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records an event in a transaction of its own: for refusals, whose change
/// was rolled back but which must still leave a trace.
pub async fn record(db: &Db, event: &Event<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    append(db, &mut tx, event).await?;
    tx.commit().await
}

/// The id of the newest entry, 0 for an empty log.
pub async fn head(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log")
        .fetch_one(&db.pool)
        .await
}

/// Whether anything that can change a gate on `environment` was recorded
/// after entry `after`: every decision of a person (an approval, a
/// rejection, a freeze, a window) is audited in the transaction that makes
/// it. The executions on `environment` are left out: while one runs, it
/// writes the only ones.
pub async fn decided_since(db: &Db, after: i64, environment: &str) -> Result<bool, sqlx::Error> {
    // A count, not EXISTS: SQLite answers EXISTS with an integer.
    let decided: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE id > $1 \
         AND NOT (environment = $2 AND action LIKE 'execution.%')",
    )
    .bind(after)
    .bind(environment)
    .fetch_one(&db.pool)
    .await?;
    Ok(decided > 0)
}

/// The detail of a submission that found the revision already stored as
/// it is: audited, but it wrote nothing.
pub const UNCHANGED: &str = "identical revision already present";

/// Everyone who submitted or amended revision `id` of `project` (not those
/// who sent it again unchanged).
pub async fn authors(db: &Db, project: &str, id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT actor FROM audit_log WHERE project = $1 AND subject = $2 \
         AND action IN ('revision.submit', 'revision.amend') AND outcome = 'ok' AND detail <> $3",
    )
    .bind(project)
    .bind(id)
    .bind(UNCHANGED)
    .fetch_all(&db.pool)
    .await
}

/// Which entries [`list`] returns.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter<'a> {
    /// Only this project's entries.
    pub project: Option<&'a str>,
    /// Only this environment's entries.
    pub environment: Option<&'a str>,
    /// Only entries at or after this time.
    pub since_ms: Option<i64>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// The entries `filter` selects, newest first.
pub async fn list(db: &Db, filter: Filter<'_>) -> Result<Vec<Entry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, at_ms, actor, action, project, environment, subject, outcome, detail, prev_sha256, sha256 \
         FROM audit_log WHERE ($1 = '' OR project = $1) AND ($2 = '' OR environment = $2) AND at_ms >= $3 \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(filter.project.unwrap_or_default())
    .bind(filter.environment.unwrap_or_default())
    .bind(filter.since_ms.unwrap_or(0))
    .bind(i64::from(filter.limit))
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(entry_from_row).collect()
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<Entry, sqlx::Error> {
    Ok(Entry {
        id: row.try_get(0)?,
        at_ms: row.try_get(1)?,
        actor: row.try_get(2)?,
        action: row.try_get(3)?,
        project: row.try_get(4)?,
        environment: row.try_get(5)?,
        subject: row.try_get(6)?,
        outcome: row.try_get(7)?,
        detail: row.try_get(8)?,
        prev_sha256: row.try_get(9)?,
        sha256: row.try_get(10)?,
    })
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub rows_checked: u64,
    /// The first row whose hash or link does not hold, with why.
    pub first_broken: Option<(i64, String)>,
    /// The newest row of the intact part of the chain (id, sha256).
    pub head: Option<(i64, String)>,
    /// Whether the anchor asked for is a row of the intact chain (`true`
    /// when none was asked for).
    pub anchor_found: bool,
}

/// Walks the whole chain in order and reports the first broken link, and
/// whether `anchor` (a head's sha256 recorded earlier) is still in it: a
/// chain whose newest rows were deleted is intact, only shorter, and the
/// anchor is how that shows.
pub async fn verify(db: &Db, anchor: Option<&str>) -> Result<Verification, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, at_ms, actor, action, project, environment, subject, outcome, detail, prev_sha256, sha256 \
         FROM audit_log ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut expected_prev = GENESIS.to_string();
    let mut checked = 0;
    let mut head = None;
    let mut anchor_found = anchor.is_none();
    for (expected_id, row) in (1..).zip(&rows) {
        let entry = entry_from_row(row)?;
        let broken = if entry.id != expected_id {
            Some(format!(
                "row {expected_id} is missing (next row is {})",
                entry.id
            ))
        } else if entry.prev_sha256 != expected_prev {
            Some("its prev_sha256 does not match the previous row".to_string())
        } else if entry.sha256 != entry.computed_sha256() {
            Some("its content does not match its sha256 (edited after it was written)".to_string())
        } else {
            None
        };
        if let Some(why) = broken {
            return Ok(Verification {
                rows_checked: checked,
                first_broken: Some((entry.id, why)),
                head,
                anchor_found,
            });
        }
        checked += 1;
        anchor_found |= anchor == Some(entry.sha256.as_str());
        head = Some((entry.id, entry.sha256.clone()));
        expected_prev = entry.sha256;
    }
    Ok(Verification {
        rows_checked: checked,
        first_broken: None,
        head,
        anchor_found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_s_role_refusals_are_audited_up_to_the_budget_each_minute() {
        let budget = RefusalBudget::default();
        let start = Instant::now();
        let spend = |subject: &str, seconds: u64| {
            budget.spend_at(subject, start + Duration::from_secs(seconds))
        };
        for _ in 1..ROLE_REFUSALS_AUDITED_PER_MINUTE {
            assert_eq!(spend("tap2", 0), RefusalAudit::Row);
        }
        assert_eq!(spend("tap2", 1), RefusalAudit::LastRow);
        assert_eq!(spend("tap2", 59), RefusalAudit::Skip);
        // Another caller has a budget of its own.
        assert_eq!(spend("alice", 59), RefusalAudit::Row);
        // A minute after the first, the count starts again.
        assert_eq!(spend("tap2", 60), RefusalAudit::Row);
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary_and_nul_is_escaped() {
        assert_eq!(storable("dev", 8), "dev");
        let long = "é".repeat(10);
        assert_eq!(storable(&long, 5), "éé... (20 bytes)");
        assert_eq!(storable(&long, 20), long);
        assert_eq!(storable("a\0b", 8), "a\\0b");
    }
}
