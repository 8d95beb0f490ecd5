//! The fleet view: edge controllers report the state of their local SQLite
//! journal, and the server keeps the latest report per controller plus a
//! bounded history. The service only observes: nothing here, and no call of
//! the API, writes to a controller.
//!
//! Reports are written by one task ([`ReportWriter`]) that commits all the
//! reports waiting at that moment in one transaction: one disk sync per
//! batch instead of one per report, and a report is acknowledged only once
//! its batch is committed.
//!
//! The flags compare each controller with the `[fleet]` section of the
//! policy file (expected journal schema, expected controllers, thresholds),
//! or with its defaults when the server runs without one.
//!
//! Each agent process sends a random `agent_instance` (a one-shot run, one
//! its machine and journal give). Storing a report also
//! folds it into the controller's last two instances ([`Instances`]): a
//! report going back to the instance before the latest means two agents
//! report under one controller id, and raises `duplicate_agent`.

use crate::catalog::quoted;
use crate::config::Fleet;
use crate::db::{Db, now_ms};
use prost::Message;
use schemagate_proto::v1::JournalReport;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

mod writer;
pub use writer::{ReportQueue, ReportWriter, WriterStats};

/// Reports kept per controller besides the latest.
pub const HISTORY_PER_CONTROLLER: i64 = 100;
/// Largest encoded report accepted.
pub const MAX_REPORT_BYTES: usize = 256 * 1024;
/// Every flag `ListControllers` can raise.
pub const FLAGS: [&str; 9] = [
    "stale",
    "clock_skew",
    "not_wal",
    "schema_drift",
    "integrity_failed",
    "backlog",
    "unreadable",
    "never_reported",
    "duplicate_agent",
];

const STATUSES: [&str; 5] = ["ok", "missing", "locked", "corrupt", "error"];
const JOURNAL_MODES: [&str; 6] = ["wal", "delete", "truncate", "persist", "memory", "off"];
const MAX_TABLES: usize = 1000;
const MAX_TEXT: usize = 4096;
/// How far a controller's clock may be off the server's before its
/// reports are flagged `clock_skew`.
const MAX_CLOCK_SKEW_MS: i64 = 300_000;
/// The range of a protobuf `Timestamp`, 0001-01-01 to 9999-12-31, in
/// seconds since the epoch.
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

static CONTROLLER_ID: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$").expect("static regex")
});
/// An agent instance: empty (an agent older than the field) or what the
/// agent generates, hex with room for a UUID's dashes.
static AGENT_INSTANCE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[0-9a-f-]{0,64}$").expect("static regex"));

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("invalid report: {0}")]
    Invalid(String),
    #[error("a token for controller {token} cannot report for controller {reported}")]
    WrongController { token: String, reported: String },
    #[error(
        "unknown flag '{0}': use one of stale, clock_skew, not_wal, schema_drift, integrity_failed, backlog, unreadable, never_reported, duplicate_agent"
    )]
    UnknownFlag(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// The transaction this report was written in with others could not be
    /// begun or committed; every report of it gets the same error.
    #[error("{0}")]
    Batch(Arc<sqlx::Error>),
    /// The report writer has stopped: the server is shutting down.
    #[error("the server is shutting down and stores no more reports; retry shortly")]
    Stopped,
}

fn invalid(message: impl Into<String>) -> FleetError {
    FleetError::Invalid(message.into())
}

/// Checks a report before anything is stored.
pub fn validate(report: &JournalReport) -> Result<(), FleetError> {
    let size = report.encoded_len();
    if size > MAX_REPORT_BYTES {
        return Err(invalid(format!(
            "the report is {size} bytes; the limit is {MAX_REPORT_BYTES} bytes"
        )));
    }
    if !CONTROLLER_ID.is_match(&report.controller_id) {
        return Err(invalid(format!(
            "controller id '{}' must be 1-64 letters, digits, '.', '_' or '-'",
            quoted(&report.controller_id)
        )));
    }
    if !AGENT_INSTANCE.is_match(&report.agent_instance) {
        return Err(invalid(format!(
            "agent_instance '{}' must be empty or 1-64 lowercase hex digits and '-'",
            quoted(&report.agent_instance)
        )));
    }
    if !STATUSES.contains(&report.status.as_str()) {
        return Err(invalid(format!(
            "status '{}' is not one of ok, missing, locked, corrupt, error",
            quoted(&report.status)
        )));
    }
    if !(1..=86_400).contains(&report.interval_seconds) {
        return Err(invalid("interval_seconds must be between 1 and 86400"));
    }
    if report.status == "ok" && !JOURNAL_MODES.contains(&report.journal_mode.as_str()) {
        return Err(invalid(format!(
            "journal_mode '{}' is not a SQLite journal mode",
            quoted(&report.journal_mode)
        )));
    }
    if report.tables.len() > MAX_TABLES {
        return Err(invalid(format!("more than {MAX_TABLES} tables")));
    }
    for table in &report.tables {
        if table.name.is_empty()
            || table.name.len() > 256
            || table.name.chars().any(char::is_control)
        {
            return Err(invalid(
                "a table name is empty, too long or holds control characters",
            ));
        }
        let is_hex =
            table.ddl_sha256.len() == 64 && table.ddl_sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex {
            return Err(invalid(format!(
                "table {}: ddl_sha256 is not a sha256 in hex",
                table.name
            )));
        }
    }
    for (name, text) in [
        ("status_detail", &report.status_detail),
        ("sqlite_version", &report.sqlite_version),
        ("quick_check", &report.quick_check),
    ] {
        if text.len() > MAX_TEXT {
            return Err(invalid(format!("{name} is longer than {MAX_TEXT} bytes")));
        }
    }
    if report.unsynced_pours < -1
        || report.user_version < i64::from(i32::MIN)
        || report.user_version > i64::from(i32::MAX)
    {
        return Err(invalid("unsynced_pours or user_version is out of range"));
    }
    // A controller's clock may be far off (no network time on a Pi without
    // a real-time clock): its report is still stored, and flagged
    // `clock_skew`, rather than the controller vanishing from the fleet.
    let is_time = |at: &prost_types::Timestamp| {
        TIMESTAMP_SECONDS.contains(&at.seconds) && (0..1_000_000_000).contains(&at.nanos)
    };
    for (name, at) in [
        ("observed_at", &report.observed_at),
        ("quick_check_at", &report.quick_check_at),
    ] {
        if at.as_ref().is_some_and(|at| !is_time(at)) {
            return Err(invalid(format!(
                "{name} is not a time between the years 1 and 9999"
            )));
        }
    }
    if let (Some(checked), Some(observed)) = (&report.quick_check_at, &report.observed_at)
        && (checked.seconds, checked.nanos) > (observed.seconds, observed.nanos)
    {
        return Err(invalid(
            "quick_check_at is later than observed_at: a check cannot be newer than the observation that reports it",
        ));
    }
    Ok(())
}

/// sha256 over the sorted (table, DDL hash) pairs of a report.
fn schema_signature(report: &JournalReport) -> String {
    signature_of(
        report
            .tables
            .iter()
            .map(|t| (t.name.as_str(), t.ddl_sha256.as_str())),
    )
}

/// The signature a journal with exactly the configured tables has.
pub fn expected_signature(config: &Fleet) -> Option<String> {
    config
        .expected_tables
        .as_ref()
        .map(|tables| signature_of(tables.iter().map(|(n, h)| (n.as_str(), h.as_str()))))
}

/// What `schema_drift` compares against under `config`: `configured` (the
/// policy file's expected tables) or `majority` (the most common schema).
pub fn schema_reference(config: &Fleet) -> &'static str {
    if config.expected_tables.is_some() {
        "configured"
    } else {
        "majority"
    }
}

fn signature_of<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = pairs.collect();
    pairs.sort_unstable();
    let mut hasher = Sha256::new();
    for (name, ddl) in pairs {
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
        hasher.update(ddl.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// A report that passed [`validate`] and the token check, encoded as it is
/// stored. Encoding and hashing happen in the calling task, so the writer
/// spends its time on SQL only.
#[derive(Debug)]
pub(crate) struct Prepared {
    controller_id: String,
    agent_instance: String,
    signature: String,
    report_hex: String,
}

impl Prepared {
    pub(crate) fn controller_id(&self) -> &str {
        &self.controller_id
    }
}

/// Checks that `token_controller` (the token's claim) may send `report` and
/// that the report is well formed; nothing is stored.
pub(crate) fn prepare(
    token_controller: Option<&str>,
    report: &JournalReport,
) -> Result<Prepared, FleetError> {
    if token_controller != Some(report.controller_id.as_str()) {
        return Err(FleetError::WrongController {
            token: token_controller.map_or_else(|| "(none)".to_string(), quoted),
            reported: quoted(&report.controller_id),
        });
    }
    validate(report)?;
    Ok(Prepared {
        controller_id: report.controller_id.clone(),
        agent_instance: report.agent_instance.clone(),
        signature: schema_signature(report),
        report_hex: hex::encode(report.encode_to_vec()),
    })
}

/// Stores a validated report from `token_controller` (the token's claim) in
/// a transaction of its own. Returns the time it was received. The server
/// sends reports through [`ReportWriter`] instead, which commits many at once.
pub async fn record(
    db: &Db,
    token_controller: Option<&str>,
    report: &JournalReport,
) -> Result<i64, FleetError> {
    let prepared = prepare(token_controller, report)?;
    Ok(store_alone(db, &prepared).await?)
}

/// One report, one transaction: the path of [`record`], and the writer's
/// fallback when a batch cannot be committed as a whole.
pub(crate) async fn store_alone(db: &Db, report: &Prepared) -> Result<i64, sqlx::Error> {
    let received = now_ms();
    let mut tx = db.pool.begin().await?;
    store(db, &mut tx, report, received).await?;
    tx.commit().await?;
    Ok(received)
}

/// The agent instances a controller's row remembers: the latest report's
/// and the one it replaced (`""` for none, or for an agent too old to send
/// one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Instances {
    latest: String,
    previous: String,
}

impl Instances {
    /// Takes in the next report's instance; true when the reports interleave
    /// (A, B, A): it goes back to the previous instance, which one agent
    /// cannot do since it keeps its instance for life and a restart picks a
    /// new one. A report without an instance never interleaves: an older
    /// agent cannot be told from another.
    fn interleaves(&mut self, incoming: &str) -> bool {
        if incoming == self.latest {
            return false;
        }
        let back = !incoming.is_empty() && incoming == self.previous;
        self.previous = std::mem::replace(&mut self.latest, incoming.to_string());
        back
    }
}

/// Writes one report inside the caller's transaction: the controller's
/// latest row (with its agent instances), its history row, and the pruning
/// of history beyond [`HISTORY_PER_CONTROLLER`]. Commits nothing. Each
/// report reads the row the one before it wrote, even in the same batch, so
/// instances are followed report by report.
pub(crate) async fn store(
    db: &Db,
    conn: &mut AnyConnection,
    report: &Prepared,
    received: i64,
) -> Result<(), sqlx::Error> {
    db.lock(
        &mut *conn,
        &format!("schemagate.controller.{}", report.controller_id),
    )
    .await?;
    let row = sqlx::query(
        "SELECT report_count, agent_instance, previous_agent_instance, duplicate_agent_at_ms FROM controllers WHERE controller_id = $1",
    )
    .bind(&report.controller_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (count, mut instances, mut duplicate_at) = match &row {
        Some(row) => (
            Some(row.try_get::<i64, _>(0)?),
            Instances {
                latest: row.try_get(1)?,
                previous: row.try_get(2)?,
            },
            row.try_get::<Option<i64>, _>(3)?,
        ),
        None => (None, Instances::default(), None),
    };
    if instances.interleaves(&report.agent_instance) {
        duplicate_at = Some(received);
    }
    let seq = count.unwrap_or(0) + 1;
    if count.is_some() {
        sqlx::query(
            "UPDATE controllers SET last_report_at_ms = $2, report_count = $3, schema_signature = $4, report_hex = $5, \
             agent_instance = $6, previous_agent_instance = $7, duplicate_agent_at_ms = $8 WHERE controller_id = $1",
        )
    } else {
        sqlx::query(
            "INSERT INTO controllers (controller_id, last_report_at_ms, report_count, schema_signature, report_hex, \
             agent_instance, previous_agent_instance, duplicate_agent_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
    }
    .bind(&report.controller_id)
    .bind(received)
    .bind(seq)
    .bind(&report.signature)
    .bind(&report.report_hex)
    .bind(&instances.latest)
    .bind(&instances.previous)
    .bind(duplicate_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO journal_reports (controller_id, seq, received_at_ms, report_hex) VALUES ($1, $2, $3, $4)")
        .bind(&report.controller_id)
        .bind(seq)
        .bind(received)
        .bind(&report.report_hex)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM journal_reports WHERE controller_id = $1 AND seq <= $2")
        .bind(&report.controller_id)
        .bind(seq - HISTORY_PER_CONTROLLER)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One controller in the fleet view.
#[derive(Clone, Debug)]
pub struct ControllerState {
    pub controller_id: String,
    /// `None` for an expected controller that never reported.
    pub last_report_at_ms: Option<i64>,
    pub flags: Vec<&'static str>,
    /// `None` for an expected controller that never reported.
    pub report: Option<JournalReport>,
}

/// Every controller that reported, and every expected one that did not,
/// ordered by id with their flags; optionally only those carrying `flag`.
pub async fn list(
    db: &Db,
    flag: Option<&str>,
    config: &Fleet,
) -> Result<Vec<ControllerState>, FleetError> {
    if let Some(flag) = flag
        && !FLAGS.contains(&flag)
    {
        return Err(FleetError::UnknownFlag(quoted(flag)));
    }
    let rows = sqlx::query(
        "SELECT controller_id, last_report_at_ms, schema_signature, report_hex, duplicate_agent_at_ms FROM controllers ORDER BY controller_id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut stored = Vec::with_capacity(rows.len());
    for row in &rows {
        let controller_id: String = row.try_get(0)?;
        let report_hex: String = row.try_get(3)?;
        let report = hex::decode(&report_hex)
            .ok()
            .and_then(|bytes| JournalReport::decode(bytes.as_slice()).ok())
            .ok_or_else(|| invalid(format!("stored report of {controller_id} is unreadable")))?;
        stored.push((
            controller_id,
            row.try_get::<i64, _>(1)?,
            row.try_get::<String, _>(2)?,
            report,
            row.try_get::<Option<i64>, _>(4)?,
        ));
    }
    let reference = match expected_signature(config) {
        Some(expected) => Some(expected),
        None => majority_signature(
            stored
                .iter()
                .filter(|s| s.3.status == "ok")
                .map(|s| s.2.as_str()),
        ),
    };
    let now = now_ms();
    let mut states: Vec<ControllerState> = stored
        .into_iter()
        .map(
            |(controller_id, last_report_at_ms, signature, report, duplicate_at)| ControllerState {
                flags: flags_of(
                    &report,
                    last_report_at_ms,
                    &signature,
                    reference.as_deref(),
                    duplicate_at,
                    config,
                    now,
                ),
                controller_id,
                last_report_at_ms: Some(last_report_at_ms),
                report: Some(report),
            },
        )
        .collect();
    let reported: HashSet<&str> = states.iter().map(|s| s.controller_id.as_str()).collect();
    let silent: Vec<ControllerState> = config
        .expected_controllers
        .iter()
        .filter(|id| !reported.contains(id.as_str()))
        .map(|id| ControllerState {
            controller_id: id.clone(),
            last_report_at_ms: None,
            flags: vec!["never_reported"],
            report: None,
        })
        .collect();
    states.extend(silent);
    // Byte order, the same on every catalog backend whatever its collation.
    states.sort_by(|a, b| a.controller_id.cmp(&b.controller_id));
    if let Some(flag) = flag {
        states.retain(|state| state.flags.contains(&flag));
    }
    Ok(states)
}

/// The most common schema signature; ties go to the smaller one so the
/// answer does not depend on row order.
fn majority_signature<'a>(signatures: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for signature in signatures {
        *counts.entry(signature).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(signature, _)| signature.to_string())
}

/// Whether the controller's clock, as its report's `observed_at` tells, is
/// more than [`MAX_CLOCK_SKEW_MS`] ahead of the server's when the report was
/// received, or behind it by more than that plus the report's interval (an
/// observation waits up to an interval for a server that was down).
fn clock_skewed(report: &JournalReport, received_at_ms: i64) -> bool {
    let Some(observed) = &report.observed_at else {
        return false;
    };
    let observed_ms = observed.seconds.saturating_mul(1000);
    let interval_ms = i64::from(report.interval_seconds).saturating_mul(1000);
    observed_ms > received_at_ms.saturating_add(MAX_CLOCK_SKEW_MS)
        || observed_ms
            < received_at_ms
                .saturating_sub(MAX_CLOCK_SKEW_MS)
                .saturating_sub(interval_ms)
}

/// The flags of one stored report; `reference` is the schema signature it
/// should have (configured or majority), if any, and `duplicate_agent_at_ms`
/// when the controller's reports last interleaved two agents.
fn flags_of(
    report: &JournalReport,
    last_report_at_ms: i64,
    signature: &str,
    reference: Option<&str>,
    duplicate_agent_at_ms: Option<i64>,
    config: &Fleet,
    now: i64,
) -> Vec<&'static str> {
    let mut flags = Vec::new();
    let stale_after_ms = i64::from(config.stale_after_intervals)
        .saturating_mul(1000)
        .saturating_mul(i64::from(report.interval_seconds));
    if now.saturating_sub(last_report_at_ms) > stale_after_ms {
        flags.push("stale");
    }
    if clock_skewed(report, last_report_at_ms) {
        flags.push("clock_skew");
    }
    let readable = report.status == "ok";
    if readable && report.journal_mode != "wal" {
        flags.push("not_wal");
    }
    if readable && reference.is_some_and(|r| r != signature) {
        flags.push("schema_drift");
    }
    if report.status == "corrupt" || (readable && report.quick_check != "ok") {
        flags.push("integrity_failed");
    }
    if report.unsynced_pours > config.backlog_threshold {
        flags.push("backlog");
    }
    if !readable {
        flags.push("unreadable");
    }
    // As long as a controller would count as live: once the second agent
    // is gone (or the clone renamed) for a stale window, the flag clears.
    if duplicate_agent_at_ms.is_some_and(|at| now.saturating_sub(at) <= stale_after_ms) {
        flags.push("duplicate_agent");
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemagate_proto::v1::JournalTable;

    fn healthy(id: &str) -> JournalReport {
        JournalReport {
            controller_id: id.into(),
            interval_seconds: 30,
            status: "ok".into(),
            journal_mode: "wal".into(),
            quick_check: "ok".into(),
            unsynced_pours: 3,
            tables: vec![JournalTable {
                name: "pours".into(),
                ddl_sha256: "a".repeat(64),
                row_count: 10,
            }],
            ..JournalReport::default()
        }
    }

    #[test]
    fn flags_follow_the_report() {
        let report = healthy("c1");
        let signature = schema_signature(&report);
        let now = 1_000_000;
        let config = Fleet::default();
        let flags_of = |report: &JournalReport, at: i64, reference: Option<&str>| {
            flags_of(report, at, &signature, reference, None, &config, now)
        };
        assert!(flags_of(&report, now, Some(&signature)).is_empty());
        assert!(flags_of(&report, now - 90_000, Some(&signature)).is_empty());
        assert_eq!(flags_of(&report, now - 91_000, Some(&signature)), ["stale"]);
        assert_eq!(flags_of(&report, now, Some("other")), ["schema_drift"]);
        let mut rollback = report.clone();
        rollback.journal_mode = "delete".into();
        rollback.unsynced_pours = 5000;
        rollback.quick_check = "*** in database main ***".into();
        assert_eq!(
            flags_of(&rollback, now, Some(&signature)),
            ["not_wal", "integrity_failed", "backlog"]
        );
        let mut missing = report.clone();
        missing.status = "missing".into();
        assert_eq!(flags_of(&missing, now, Some("x")), ["unreadable"]);
    }

    #[test]
    fn thresholds_come_from_the_policy() {
        let mut report = healthy("c1");
        let signature = schema_signature(&report);
        let now = 1_000_000;
        let config = Fleet {
            stale_after_intervals: 10,
            backlog_threshold: 2,
            ..Fleet::default()
        };
        report.unsynced_pours = 3;
        assert_eq!(
            flags_of(&report, now - 91_000, &signature, None, None, &config, now),
            ["backlog"]
        );
        assert_eq!(
            flags_of(&report, now - 301_000, &signature, None, None, &config, now),
            ["stale", "backlog"]
        );
    }

    #[test]
    fn the_configured_schema_has_the_signature_of_a_matching_report() {
        let mut report = healthy("c1");
        report.tables.push(JournalTable {
            name: "settings".into(),
            ddl_sha256: "b".repeat(64),
            row_count: 2,
        });
        let mut config = Fleet::default();
        assert_eq!(expected_signature(&config), None);
        assert_eq!(schema_reference(&config), "majority");
        config.expected_tables = Some(
            [("settings", "b"), ("pours", "a")]
                .into_iter()
                .map(|(n, h)| (n.to_string(), h.repeat(64)))
                .collect(),
        );
        assert_eq!(schema_reference(&config), "configured");
        assert_eq!(expected_signature(&config), Some(schema_signature(&report)));
        report.tables.pop();
        assert_ne!(
            expected_signature(&config),
            Some(schema_signature(&report)),
            "a missing table is drift"
        );
    }

    #[test]
    fn garbage_reports_are_refused() {
        let mut bad = healthy("c1");
        bad.controller_id = "c1; DROP TABLE controllers".into();
        assert!(validate(&bad).is_err());
        let mut bad = healthy("c1");
        bad.journal_mode = "banana".into();
        assert!(validate(&bad).is_err());
        let mut bad = healthy("c1");
        bad.interval_seconds = 0;
        assert!(validate(&bad).is_err());
        let mut bad = healthy("c1");
        bad.tables[0].ddl_sha256 = "xyz".into();
        assert!(validate(&bad).is_err());
        let mut bad = healthy("c1");
        bad.status_detail = "x".repeat(MAX_REPORT_BYTES + 1);
        assert!(
            validate(&bad)
                .unwrap_err()
                .to_string()
                .contains("the limit is")
        );
        assert!(validate(&healthy("bar3-tap2")).is_ok());
    }

    #[test]
    fn report_times_are_real_times_and_the_check_is_never_after_the_observation() {
        let now_s = now_ms() / 1000;
        let at = |seconds: i64| Some(prost_types::Timestamp { seconds, nanos: 0 });
        let mut report = healthy("c1");
        report.observed_at = at(now_s);
        // An older check, repeated by an agent that checks every Nth report.
        report.quick_check_at = at(now_s - 300);
        assert!(validate(&report).is_ok());
        report.quick_check_at = report.observed_at;
        assert!(validate(&report).is_ok());
        // Absent (an older agent, or an unreadable journal): accepted.
        report.quick_check_at = None;
        assert!(validate(&report).is_ok());

        report.quick_check_at = at(now_s + 1);
        let err = validate(&report).unwrap_err().to_string();
        assert!(err.contains("later than observed_at"), "{err}");
        // A clock far ahead is flagged when listed, not refused.
        report.observed_at = at(now_s + 600);
        report.quick_check_at = at(now_s + 600);
        assert!(validate(&report).is_ok());
        report.observed_at = None;
        for seconds in [i64::MAX, i64::MIN, 253_402_300_800] {
            report.quick_check_at = Some(prost_types::Timestamp { seconds, nanos: 0 });
            let err = validate(&report).unwrap_err().to_string();
            assert!(err.contains("quick_check_at is not a time"), "{err}");
        }
        report.quick_check_at = Some(prost_types::Timestamp {
            seconds: now_s,
            nanos: -1,
        });
        assert!(validate(&report).is_err());
    }

    #[test]
    fn a_clock_far_off_the_servers_is_flagged() {
        let mut report = healthy("c1");
        let signature = schema_signature(&report);
        let config = Fleet::default();
        let received = 1_000_000_000;
        let flags_at = |report: &JournalReport, observed_s: i64| {
            let mut report = report.clone();
            report.observed_at = Some(prost_types::Timestamp {
                seconds: observed_s,
                nanos: 0,
            });
            flags_of(&report, received, &signature, None, None, &config, received)
        };
        let received_s = received / 1000;
        assert!(flags_at(&report, received_s + 300).is_empty());
        assert_eq!(flags_at(&report, received_s + 301), ["clock_skew"]);
        // Behind: an observation may have waited an interval (30 s) for a
        // server that was down.
        assert!(flags_at(&report, received_s - 330).is_empty());
        assert_eq!(flags_at(&report, received_s - 331), ["clock_skew"]);
        report.interval_seconds = 3600;
        assert!(flags_at(&report, received_s - 3900).is_empty());
        report.observed_at = None;
        assert!(flags_of(&report, received, &signature, None, None, &config, received).is_empty());
    }

    #[test]
    fn going_back_to_the_previous_instance_is_two_agents_and_a_new_one_a_restart() {
        let interleaved = |sequence: &[&str]| -> Vec<bool> {
            let mut instances = Instances::default();
            sequence.iter().map(|i| instances.interleaves(i)).collect()
        };
        assert_eq!(
            interleaved(&["a1", "a1", "b2", "b2"]),
            [false; 4],
            "a restart"
        );
        assert_eq!(
            interleaved(&["a1", "b2", "c3", "d4"]),
            [false; 4],
            "restarts"
        );
        assert_eq!(
            interleaved(&["a1", "b2", "a1", "b2", "b2"]),
            [false, false, true, true, false],
            "two agents at once"
        );
        assert_eq!(interleaved(&["", "", ""]), [false; 3], "older agents");
        assert_eq!(interleaved(&["", "a1", "a1"]), [false; 3], "an upgrade");
        // An older agent beside a newer one: only the newer one's reports
        // can tell, and they do when they come back after the older one's.
        assert_eq!(
            interleaved(&["a1", "", "a1", ""]),
            [false, false, true, false]
        );
    }

    #[test]
    fn duplicate_agent_lasts_a_stale_window() {
        let report = healthy("c1");
        let signature = schema_signature(&report);
        let config = Fleet::default();
        let now = 1_000_000;
        let flags_at = |duplicate_at: Option<i64>| {
            flags_of(&report, now, &signature, None, duplicate_at, &config, now)
        };
        assert!(flags_at(None).is_empty());
        assert_eq!(flags_at(Some(now)), ["duplicate_agent"]);
        // 3 intervals of 30 s.
        assert_eq!(flags_at(Some(now - 90_000)), ["duplicate_agent"]);
        assert!(flags_at(Some(now - 91_000)).is_empty());
    }

    #[test]
    fn agent_instances_are_short_lowercase_hex() {
        let mut report = healthy("c1");
        for good in [
            "",
            "0123456789abcdef",
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        ] {
            report.agent_instance = good.into();
            assert!(validate(&report).is_ok(), "{good}");
        }
        report.agent_instance = "a".repeat(64);
        assert!(validate(&report).is_ok());
        for bad in [
            "a".repeat(65),
            "ABCDEF".into(),
            "ab cd".into(),
            "x\n".into(),
        ] {
            report.agent_instance = bad.clone();
            let err = validate(&report).unwrap_err().to_string();
            assert!(err.contains("agent_instance"), "{bad}: {err}");
        }
    }

    #[test]
    fn majority_is_deterministic() {
        assert_eq!(
            majority_signature(["b", "a", "b"].into_iter()),
            Some("b".into())
        );
        assert_eq!(majority_signature(["b", "a"].into_iter()), Some("a".into()));
        assert_eq!(majority_signature(std::iter::empty()), None);
    }
}
