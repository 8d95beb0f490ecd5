//! Observes a controller's SQLite journal without changing it and turns what
//! it sees into a `JournalReport`.
//!
//! The journal belongs to the controller software: the connection is opened
//! with `SQLITE_OPEN_READ_ONLY`, runs only queries and read-only pragmas
//! inside one short deferred read transaction, and is closed with
//! checkpoint-on-close disabled, because SQLite otherwise checkpoints and
//! deletes the `-wal` file when the last connection to a WAL database closes
//! (as ours is after the controller lost power). In WAL mode a reader never
//! blocks the controller's writers; in rollback mode the shared lock is held
//! only for the few milliseconds the queries take, and a journal that stays
//! locked is reported as `locked` after a short busy timeout.
//!
//! One file is written, and it is not the journal: a reader of a live WAL
//! journal takes its read marks in the shared-memory `-shm` file (the WAL
//! index, rebuilt by SQLite after a crash), as every SQLite reader must. A
//! WAL journal whose `-wal` is absent (the controller is not running) is read
//! as immutable so that no `-wal` or `-shm` file is created at all; such a
//! read counts only if the file did not change under it ([`read_stopped`]).
//!
//! What is reported and from where:
//! - `sqlite_version`: the library version that last wrote the file (header
//!   offset 96), i.e. the controller's SQLite, not the agent's;
//! - `journal_mode`, `user_version`, `page_size`, `page_count`,
//!   `freelist_count`: the pragmas of those names (rollback journals read as
//!   `delete`, since truncate/persist are per connection and not stored);
//! - `wal_size_bytes`: the size of `<journal>-wal`, 0 when absent;
//! - `tables`: every ordinary table except SQLite's own `sqlite_*`, with the
//!   fingerprint of its DDL (see `ddl`) and its `count(*)` (0 for virtual
//!   tables, whose module may not be available here);
//! - for `pours`: the newest value of the first of [`TIMESTAMP_COLUMNS`] it
//!   has, and the unsynced count from the first of [`SYNC_FLAG_COLUMNS`]
//!   (0 or NULL = unsynced) or [`SYNC_TIME_COLUMNS`] (NULL = unsynced); -1
//!   without one;
//! - `quick_check`: "ok", or its first findings joined with "; ", and
//!   `quick_check_at`, when that result was obtained (see below).
//!
//! A one-shot observation ([`observe`], `sg-agent --once`) reads everything.
//! The long-running agent keeps an [`Observer`], which spares the two reads
//! that grow with the journal between integrity checks:
//! - `PRAGMA quick_check` reads and checks every page. It runs on the first
//!   observation and then on every `integrity_every`th; the observations in
//!   between repeat the last result with its `quick_check_at`, so the server
//!   and operators see how old it is. A failing result is never reused: the
//!   check runs again on the next observation, and so it does after the
//!   journal file changed identity (device and inode), after an observation
//!   that could not read the journal, and if the clock went back past the
//!   last check.
//! - the unsynced count is a full scan of `pours` (there is no index on the
//!   sync column). Between checks it counts only from a rowid watermark;
//!   see [`read_unsynced`] for why that is sound and what it can miss.

use super::ddl;
use crate::v1::{JournalReport, JournalTable};
use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Columns of `pours` taken as the pour time, in order of preference.
pub const TIMESTAMP_COLUMNS: [&str; 5] = ["poured_at", "created_at", "ts", "timestamp", "time"];
/// Columns of `pours` holding a synced flag (0 or NULL = not yet synced).
pub const SYNC_FLAG_COLUMNS: [&str; 3] = ["synced", "is_synced", "uploaded"];
/// Columns of `pours` holding the sync time (NULL = not yet synced).
pub const SYNC_TIME_COLUMNS: [&str; 2] = ["synced_at", "uploaded_at"];

/// Observations per `quick_check` in the long-running agent by default: one
/// every 5 minutes at the default 30 s interval.
pub const DEFAULT_INTEGRITY_EVERY: u32 = 10;

/// How long to wait for a rollback-mode writer before reporting `locked`.
/// Short on purpose: while we wait we hold no lock, but the report is late.
const BUSY_TIMEOUT: Duration = Duration::from_millis(250);
/// The server refuses text fields over 4 KiB; findings are cut well below.
const MAX_DETAIL: usize = 1000;
/// Integers above this are taken as milliseconds rather than seconds since
/// the epoch (1e11 seconds is the year 5138).
const MILLIS_THRESHOLD: f64 = 1e11;

/// Why an observation did not complete: maps onto the report's `status`.
#[derive(Debug)]
enum Failure {
    Missing(String),
    Locked(String),
    Corrupt(String),
    Error(String),
}

impl From<rusqlite::Error> for Failure {
    fn from(err: rusqlite::Error) -> Failure {
        let text = err.to_string();
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Failure::Locked(text),
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Failure::Corrupt(text),
            _ => Failure::Error(text),
        }
    }
}

/// Observes the journal at `path`, reading everything (`quick_check` and a
/// full unsynced count included). Never fails: a journal that cannot be read
/// is reported with the status saying why.
pub fn observe(path: &Path) -> JournalReport {
    Observer::new(1).observe(path)
}

/// The journal file as the filesystem knows it: replacing the file (a
/// restore, a new controller image) changes it, writing to it does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
}

fn file_identity(path: &Path) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    // Follows symlinks, as SQLite's open does.
    std::fs::metadata(path).ok().map(|m| FileIdentity {
        device: m.dev(),
        inode: m.ino(),
    })
}

/// The last passing `quick_check`, reused until it is due again.
#[derive(Clone, Debug)]
struct Integrity {
    at: prost_types::Timestamp,
    /// Observations that may still reuse it.
    reuses_left: u32,
}

/// Where the next unsynced count of `pours` may start: every row below
/// `from_rowid` was synced when it was last counted. Valid only for the
/// table, schema, filter and rowid alias it was taken with.
#[derive(Clone, Debug)]
struct Watermark {
    table: String,
    ddl: String,
    filter: String,
    alias: &'static str,
    page_count: u64,
    from_rowid: i64,
    /// The largest rowid when counted; `None` for an empty table.
    max_rowid: Option<i64>,
}

/// What one observation is asked to do.
struct Plan<'a> {
    /// Run `quick_check` (otherwise the caller supplies the last result).
    quick_check: bool,
    /// Count unsynced pours from this watermark rather than in full.
    watermark: Option<&'a Watermark>,
}

/// How many times each of the expensive reads ran; for tests and benches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObserverStats {
    /// `PRAGMA quick_check` runs.
    pub quick_checks: u64,
    /// Unsynced counts over the whole of `pours`.
    pub full_counts: u64,
    /// Unsynced counts from a watermark.
    pub incremental_counts: u64,
}

/// Observes one journal again and again (the long-running agent), carrying
/// the last integrity result and the unsynced-count watermark from one
/// observation to the next. Holds no connection and no lock in between.
#[derive(Debug)]
pub struct Observer {
    integrity_every: u32,
    /// The journal file the cached results belong to.
    identity: Option<FileIdentity>,
    integrity: Option<Integrity>,
    watermark: Option<Watermark>,
    stats: ObserverStats,
}

impl Observer {
    /// Runs `quick_check` on the first observation and then on every
    /// `integrity_every`th (1: on every observation; 0 counts as 1).
    pub fn new(integrity_every: u32) -> Observer {
        Observer {
            integrity_every: integrity_every.max(1),
            identity: None,
            integrity: None,
            watermark: None,
            stats: ObserverStats::default(),
        }
    }

    /// How often each expensive read ran so far.
    pub fn stats(&self) -> ObserverStats {
        self.stats
    }

    /// Observes the journal at `path`. Never fails: a journal that cannot be
    /// read is reported with the status saying why.
    pub fn observe(&mut self, path: &Path) -> JournalReport {
        self.observe_at(path, timestamp_now())
    }

    /// [`Observer::observe`] at the given time (`observed_at`).
    pub(crate) fn observe_at(&mut self, path: &Path, now: prost_types::Timestamp) -> JournalReport {
        let identity = file_identity(path);
        let reuse = self.reusable(identity, &now);
        let report = self.observe_once(path, identity, now, reuse);
        if reuse && file_identity(path) != identity {
            // Replaced while it was read: the cached result may describe
            // another file, so this observation is made again in full.
            return self.observe_once(path, file_identity(path), now, false);
        }
        report
    }

    /// Whether the last check's result (and the watermark that shares its
    /// cadence) may stand for the journal as it is now.
    fn reusable(&self, identity: Option<FileIdentity>, now: &prost_types::Timestamp) -> bool {
        match (&self.integrity, identity) {
            (Some(last), Some(identity)) => {
                last.reuses_left > 0
                    && self.identity == Some(identity)
                    // A clock that went back would date the check after the
                    // observation that carries it.
                    && (last.at.seconds, last.at.nanos) <= (now.seconds, now.nanos)
            }
            _ => false,
        }
    }

    fn observe_once(
        &mut self,
        path: &Path,
        identity: Option<FileIdentity>,
        now: prost_types::Timestamp,
        reuse: bool,
    ) -> JournalReport {
        let plan = Plan {
            quick_check: !reuse,
            watermark: if reuse { self.watermark.as_ref() } else { None },
        };
        let (mut report, learned) = read_report(path, now, &plan, &mut self.stats);
        if report.status != "ok" || identity.is_none() {
            // Nothing carries over an observation that did not read the
            // journal: the next one checks and counts in full.
            self.identity = None;
            self.integrity = None;
            self.watermark = None;
            return report;
        }
        self.identity = identity;
        self.watermark = learned;
        if reuse && let Some(last) = self.integrity.as_mut() {
            last.reuses_left -= 1;
            report.quick_check = "ok".into();
            report.quick_check_at = Some(last.at);
        } else if report.quick_check == "ok" {
            self.integrity = Some(Integrity {
                at: now,
                reuses_left: self.integrity_every - 1,
            });
        } else {
            // Findings are never reused: the next observation checks again.
            self.integrity = None;
        }
        report
    }
}

/// One observation as `plan` asks, and the watermark it leaves.
fn read_report(
    path: &Path,
    now: prost_types::Timestamp,
    plan: &Plan,
    stats: &mut ObserverStats,
) -> (JournalReport, Option<Watermark>) {
    let mut report = JournalReport {
        observed_at: Some(now),
        unsynced_pours: -1,
        ..JournalReport::default()
    };
    let mut learned = None;
    report.wal_size_bytes = std::fs::metadata(wal_path(path))
        .map(|m| m.len())
        .unwrap_or(0);
    let outcome = read_header(path, report.wal_size_bytes).and_then(|header| {
        report.sqlite_version = header.version;
        let wal = wal_path(path);
        if header.wal
            && !wal.exists()
            && let Some((quiet, outcome)) = read_stopped(path, &report, plan, stats)
        {
            report = quiet;
            return outcome.map(|watermark| learned = watermark);
        }
        read_journal(path, Access::Shared, &mut report, plan, stats)
            .map(|watermark| learned = watermark)
    });
    let (status, detail) = match outcome {
        Ok(()) => ("ok", String::new()),
        Err(Failure::Missing(d)) => match report.wal_size_bytes {
            0 => ("missing", d),
            // The -wal holds commits the database file never received.
            wal => (
                "missing",
                format!(
                    "{d}, but {} holds {wal} bytes of commits it never received: the file was deleted or moved while the controller ran; put it back before the controller starts again, or those commits are lost",
                    wal_path(path).display()
                ),
            ),
        },
        Err(Failure::Locked(d)) => ("locked", d),
        Err(Failure::Corrupt(d)) => ("corrupt", d),
        Err(Failure::Error(d)) => ("error", hot_journal(path).unwrap_or(d)),
    };
    if status != "ok" {
        // Half-read figures would mislead; keep only what stands on its own.
        report = JournalReport {
            observed_at: report.observed_at,
            sqlite_version: report.sqlite_version,
            wal_size_bytes: report.wal_size_bytes,
            unsynced_pours: -1,
            ..JournalReport::default()
        };
        learned = None;
    }
    report.status = status.to_string();
    report.status_detail = truncate(detail, MAX_DETAIL);
    (report, learned)
}

/// Reads a WAL journal whose -wal file is absent: the controller is not
/// running, or is between two connections, and the database file alone is
/// the whole journal. A normal read-only open would create -wal and -shm
/// here (owned by the agent's user, which can lock the controller out of
/// its own journal), so the file is read as immutable, that is without
/// locks. A controller that opens the journal, writes and closes it again
/// while that read runs checkpoints into the file under the read, which
/// then sees torn pages ("database disk image is malformed"). So a read
/// counts only when the file was the same after it as before (size,
/// modification time, inode), and a failed read only when a second one
/// fails on an unchanged file too. After a read the controller wrote under,
/// the agent waits a little for the controller's next connection: while
/// its -wal exists, the caller reads with locks as for a running controller
/// (`None`). A journal that changed under every read is reported `locked`.
fn read_stopped(
    path: &Path,
    report: &JournalReport,
    plan: &Plan,
    stats: &mut ObserverStats,
) -> Option<(JournalReport, Result<Option<Watermark>, Failure>)> {
    let file_state = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.len(), m.modified().ok(), m.dev(), m.ino()))
    };
    let wal = wal_path(path);
    let mut failed_unchanged = false;
    for _ in 0..STOPPED_READ_ATTEMPTS {
        let before = file_state();
        let mut quiet = report.clone();
        let outcome = read_journal(path, Access::Immutable, &mut quiet, plan, stats);
        if wal.exists() {
            return None;
        }
        if before.is_some() && file_state() == before {
            if outcome.is_ok() || failed_unchanged {
                // Without the WAL open SQLite answers "delete"; the header
                // is what says the journal is in WAL mode.
                quiet.journal_mode = "wal".into();
                return Some((quiet, outcome));
            }
            failed_unchanged = true;
            continue;
        }
        failed_unchanged = false;
        let waiting_since = std::time::Instant::now();
        while waiting_since.elapsed() < WAIT_FOR_WRITER {
            if wal.exists() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut unread = report.clone();
    unread.journal_mode = "wal".into();
    Some((
        unread,
        Err(Failure::Locked(format!(
            "the controller rewrote the journal during each of {STOPPED_READ_ATTEMPTS} reads (it opens and closes it for every write); the next observation tries again"
        ))),
    ))
}

/// Immutable reads of a stopped WAL journal before it is reported `locked`.
const STOPPED_READ_ATTEMPTS: usize = 5;
/// How long, after a read the controller wrote under, to wait for its next
/// connection (its -wal) before reading without locks again.
const WAIT_FOR_WRITER: Duration = Duration::from_millis(200);

/// Why a rollback journal cannot be read when a transaction the controller
/// did not finish left its `-journal` behind (a crash or power cut in
/// rollback mode): SQLite rolls such a hot journal back before anyone
/// reads, which takes writing, so a read-only open fails with "attempt to
/// write a readonly database". That says the agent tried to write; this
/// says what happened and what recovers it.
fn hot_journal(path: &Path) -> Option<String> {
    let mut journal = path.as_os_str().to_owned();
    journal.push("-journal");
    let size = std::fs::metadata(PathBuf::from(&journal)).ok()?.len();
    (size > 0).then(|| {
        format!(
            "{} ({size} bytes) is left from a transaction the controller did not finish; SQLite rolls it back before anyone reads, which a read-only reader cannot: start the controller software, which recovers it",
            PathBuf::from(journal).display()
        )
    })
}

/// `<journal>-wal`, where SQLite keeps a WAL journal's recent commits.
pub fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// What the 100-byte database header says.
struct Header {
    /// The SQLite version that last wrote the file, or empty.
    version: String,
    /// The file is in WAL mode (read and write versions 2).
    wal: bool,
}

/// Checks the 100-byte header. An empty file is a valid empty database to
/// SQLite, but a controller writes the header as it creates its journal, so
/// an empty file with no commits in a `-wal` (`wal_bytes`) is a journal
/// that lost everything, and is reported missing.
fn read_header(path: &Path, wal_bytes: u64) -> Result<Header, Failure> {
    let mut file = std::fs::File::open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => {
            Failure::Missing(format!("{} does not exist", path.display()))
        }
        _ => Failure::Error(format!("cannot open {}: {err}", path.display())),
    })?;
    let mut header = Vec::with_capacity(100);
    file.by_ref()
        .take(100)
        .read_to_end(&mut header)
        .map_err(|err| Failure::Error(format!("cannot read {}: {err}", path.display())))?;
    if header.is_empty() && wal_bytes == 0 {
        return Err(Failure::Missing(format!(
            "{} is empty (0 bytes): it holds no journal, not even SQLite's header, which the controller writes as it creates the journal; a crash before the file system wrote the file out, or a failed copy or restore, leaves it so; restore it from a backup",
            path.display()
        )));
    }
    if header.is_empty() {
        return Ok(Header {
            version: String::new(),
            wal: false,
        });
    }
    if header.len() < 100 || !header.starts_with(b"SQLite format 3\0") {
        return Err(Failure::Corrupt(format!(
            "{} is not a SQLite database (bad header)",
            path.display()
        )));
    }
    let number = u32::from_be_bytes([header[96], header[97], header[98], header[99]]);
    let version = if number == 0 {
        String::new()
    } else {
        format!(
            "{}.{}.{}",
            number / 1_000_000,
            number / 1000 % 1000,
            number % 1000
        )
    };
    Ok(Header {
        version,
        wal: header[18] == 2 && header[19] == 2,
    })
}

/// How the journal is opened; both are read-only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// With SQLite's usual locks and the WAL, as any reader would.
    Shared,
    /// Without locks or WAL files, for a WAL journal whose -wal is absent.
    Immutable,
}

/// A `file:` URI for `path` with `immutable=1`; every byte outside a safe
/// set is percent-encoded, so any path (even non-UTF-8) is a valid URI.
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// The journal's tables with their CREATE statements as SQLite keeps them,
/// read the way `observe` reads (read-only, immutable when the controller
/// is stopped), for `sg-agent --print-schema`. The fingerprint of each
/// statement (`ddl::fingerprint`) is what reports carry.
pub fn table_ddl(path: &Path) -> Result<Vec<(String, String)>, String> {
    let describe = |failure: Failure| match failure {
        Failure::Missing(d) => d,
        Failure::Locked(d) => format!("the journal is locked: {d}"),
        Failure::Corrupt(d) => format!("the journal is corrupt: {d}"),
        Failure::Error(d) => d,
    };
    let wal_bytes = std::fs::metadata(wal_path(path)).map_or(0, |m| m.len());
    let header = read_header(path, wal_bytes).map_err(describe)?;
    let access = if header.wal && !wal_path(path).exists() {
        Access::Immutable
    } else {
        Access::Shared
    };
    let conn = open(path, access).map_err(describe)?;
    let tables = conn
        .unchecked_transaction()
        .map_err(Failure::from)
        .and_then(|tx| {
            let tables = read_tables(&conn)?;
            let check = quick_check(&conn)?;
            tx.finish()?;
            Ok((tables, check))
        })
        .map_err(describe)
        .and_then(|(tables, check)| match check.as_str() {
            "ok" => Ok(tables),
            // The reference every journal is compared with must not come
            // from a damaged one.
            _ => Err(format!(
                "the journal fails its integrity check ({check}): print the schema from a sound journal"
            )),
        });
    match (tables, conn.close()) {
        (Err(message), _) => Err(message),
        (Ok(_), Err((_, err))) => Err(describe(err.into())),
        (Ok(tables), Ok(())) => Ok(tables),
    }
}

/// Opens the journal read-only, without checkpoint on close.
fn open(path: &Path, access: Access) -> Result<Connection, Failure> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let opened = match access {
        Access::Shared => Connection::open_with_flags(path, flags),
        Access::Immutable => {
            Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
        }
    };
    let conn = opened.map_err(|err| {
        if path.exists() {
            Failure::from(err)
        } else {
            Failure::Missing(format!("{} does not exist", path.display()))
        }
    })?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

fn read_journal(
    path: &Path,
    access: Access,
    report: &mut JournalReport,
    plan: &Plan,
    stats: &mut ObserverStats,
) -> Result<Option<Watermark>, Failure> {
    let conn = open(path, access)?;
    let result = read_snapshot(&conn, report, plan, stats);
    // Close explicitly so a close error is reported, not swallowed by Drop.
    match (result, conn.close()) {
        (Err(failure), _) => Err(failure),
        (Ok(_), Err((_, err))) => Err(err.into()),
        (Ok(watermark), Ok(())) => Ok(watermark),
    }
}

/// Every figure from one read snapshot, so they agree with each other.
fn read_snapshot(
    conn: &Connection,
    report: &mut JournalReport,
    plan: &Plan,
    stats: &mut ObserverStats,
) -> Result<Option<Watermark>, Failure> {
    let mut watermark = None;
    let tx = conn.unchecked_transaction()?;
    // The schema read comes first: it starts the snapshot and opens the WAL,
    // before which `journal_mode` would still answer the default.
    let mut tables = read_tables(conn)?;
    report.journal_mode = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))?
        .to_ascii_lowercase();
    report.user_version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    report.page_size = pragma_u64(conn, "page_size")?;
    report.page_count = pragma_u64(conn, "page_count")?;
    report.freelist_count = pragma_u64(conn, "freelist_count")?;
    for (name, sql) in tables.drain(..) {
        let virtual_table = sql
            .trim_start()
            .get(..20)
            .is_some_and(|head| head.eq_ignore_ascii_case("create virtual table"));
        let row_count = if virtual_table {
            0
        } else {
            conn.query_row(
                &format!("SELECT count(*) FROM {}", quote_identifier(&name)),
                [],
                |r| r.get::<_, i64>(0),
            )?
        };
        if name.eq_ignore_ascii_case("pours") && !virtual_table {
            watermark = read_pours(conn, &name, &sql, report, plan, stats)?;
        }
        report.tables.push(JournalTable {
            ddl_sha256: ddl::fingerprint(&sql),
            name,
            row_count: u64::try_from(row_count).unwrap_or(0),
        });
    }
    if plan.quick_check {
        report.quick_check = quick_check(conn)?;
        report.quick_check_at = report.observed_at;
        stats.quick_checks += 1;
    }
    tx.finish()?;
    Ok(watermark)
}

/// Every ordinary table except SQLite's own, with its CREATE statement.
fn read_tables(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    conn.prepare(
        "SELECT name, sql FROM sqlite_schema
         WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
         ORDER BY name",
    )?
    .query_map([], |row| {
        Ok((
            row.get(0)?,
            row.get::<_, Option<String>>(1)?.unwrap_or_default(),
        ))
    })?
    .collect()
}

fn pragma_u64(conn: &Connection, pragma: &str) -> Result<u64, Failure> {
    let value: i64 = conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))?;
    Ok(u64::try_from(value).unwrap_or(0))
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Newest pour and unsynced count, from whichever columns `pours` has;
/// returns the watermark for the next count, if one can be trusted.
fn read_pours(
    conn: &Connection,
    table: &str,
    ddl: &str,
    report: &mut JournalReport,
    plan: &Plan,
    stats: &mut ObserverStats,
) -> Result<Option<Watermark>, Failure> {
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")?
        .query_map([table], |row| row.get::<_, String>(0))?
        .map(|name| name.map(|n| n.to_ascii_lowercase()))
        .collect::<Result<_, _>>()?;
    let has = |wanted: &str| columns.iter().any(|c| c == wanted);
    let quoted = quote_identifier(table);
    if let Some(column) = TIMESTAMP_COLUMNS.into_iter().find(|c| has(c)) {
        let newest: Value = conn.query_row(
            &format!("SELECT max({}) FROM {quoted}", quote_identifier(column)),
            [],
            |r| r.get(0),
        )?;
        report.newest_pour_at = time_value(conn, newest)?;
    }
    let unsynced_filter = if let Some(column) = SYNC_FLAG_COLUMNS.into_iter().find(|c| has(c)) {
        Some(format!("coalesce({}, 0) = 0", quote_identifier(column)))
    } else {
        SYNC_TIME_COLUMNS
            .into_iter()
            .find(|c| has(c))
            .map(|column| format!("{} IS NULL", quote_identifier(column)))
    };
    let Some(filter) = unsynced_filter else {
        return Ok(None);
    };
    // A rowid table's rowid under a name no column of it shadows.
    let without_rowid: bool = conn
        .query_row(
            "SELECT wr FROM pragma_table_list(?1) WHERE schema = 'main'",
            [table],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(true);
    let alias = ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|alias| !has(alias))
        .filter(|_| !without_rowid);
    let Some(alias) = alias else {
        report.unsynced_pours = conn.query_row(
            &format!("SELECT count(*) FROM {quoted} WHERE {filter}"),
            [],
            |r| r.get(0),
        )?;
        stats.full_counts += 1;
        return Ok(None);
    };
    read_unsynced(
        conn,
        Watermark {
            table: table.to_string(),
            ddl: ddl.to_string(),
            filter,
            alias,
            page_count: report.page_count,
            from_rowid: i64::MIN,
            max_rowid: None,
        },
        report,
        plan.watermark,
        stats,
    )
}

/// The unsynced count of a rowid table, in full or from `last`'s watermark,
/// and the watermark for the next count. `current` describes the table as it
/// is now (its `from_rowid` and `max_rowid` are filled in here).
///
/// Why counting only rows at or above the watermark is sound enough: the
/// controller appends pours (SQLite gives a new row a rowid above the
/// largest one, whichever of them exists), and a pour only goes from
/// unsynced to synced, never back. Every row below the watermark was synced
/// when it was last counted (the watermark is the lowest unsynced rowid
/// then, or one above the largest rowid when none was unsynced), so it still
/// is, and every row added since has a rowid above it. The count from the
/// watermark is then the full count, and it comes from a rowid range scan of
/// the newest rows rather than a scan of the whole table.
///
/// What it could miss, until the next full count (on the integrity cadence,
/// at most `integrity_every` observations later): a pour marked unsynced
/// again below the watermark (a re-queued upload); a row inserted with an
/// explicit rowid below it (a re-import); a rowid reused after the newest
/// rows were deleted and as many new ones inserted between two observations
/// (when the largest rowid went down, that is seen and counted in full).
/// It counts in full instead when the table has no usable rowid (`WITHOUT
/// ROWID`, or columns named `rowid`, `_rowid_` and `oid`), when its schema,
/// the sync column or the journal file changed, when the largest rowid or
/// the page count went down (rows deleted, a VACUUM that may renumber
/// rowids), when the largest rowid is the largest possible (SQLite then
/// picks random rowids) and after any observation that could not read the
/// journal. A stuck old pour keeps the watermark low, so the scan is as long
/// as the backlog, never longer than the full count.
fn read_unsynced(
    conn: &Connection,
    mut current: Watermark,
    report: &mut JournalReport,
    last: Option<&Watermark>,
    stats: &mut ObserverStats,
) -> Result<Option<Watermark>, Failure> {
    let alias = current.alias;
    let table = quote_identifier(&current.table);
    current.max_rowid = conn.query_row(&format!("SELECT max({alias}) FROM {table}"), [], |r| {
        r.get(0)
    })?;
    let from = last
        .filter(|last| {
            last.table == current.table
                && last.ddl == current.ddl
                && last.filter == current.filter
                && last.alias == current.alias
                && current.page_count >= last.page_count
                && current.max_rowid >= last.max_rowid
        })
        .map(|last| last.from_rowid);
    let (count, lowest): (i64, Option<i64>) = conn.query_row(
        &format!(
            "SELECT count(*), min({alias}) FROM {table} WHERE {alias} >= ?1 AND ({})",
            current.filter
        ),
        [from.unwrap_or(i64::MIN)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if from.is_some() {
        stats.incremental_counts += 1;
    } else {
        stats.full_counts += 1;
    }
    report.unsynced_pours = count;
    if current.max_rowid == Some(i64::MAX) {
        return Ok(None);
    }
    current.from_rowid = match (lowest, current.max_rowid) {
        (Some(lowest), _) => lowest,
        (None, Some(max)) => max + 1,
        (None, None) => i64::MIN,
    };
    Ok(Some(current))
}

/// A pour time as stored: seconds or milliseconds since the epoch, or text
/// in any format SQLite's date functions read (ISO 8601 and its
/// `YYYY-MM-DD HH:MM:SS` form, UTC unless it says otherwise).
fn time_value(conn: &Connection, value: Value) -> Result<Option<prost_types::Timestamp>, Failure> {
    let seconds = match value {
        Value::Integer(i) => Some(i as f64),
        Value::Real(r) => Some(r),
        // Epoch numbers inserted into a TEXT column are stored as text
        // (column affinity); SQLite's date functions would read them as
        // Julian day numbers.
        Value::Text(text) => match text.trim().parse::<f64>() {
            Ok(number) => Some(number),
            Err(_) => conn.query_row("SELECT unixepoch(?1, 'subsec')", [text], |r| {
                r.get::<_, Option<f64>>(0)
            })?,
        },
        Value::Null | Value::Blob(_) => None,
    };
    Ok(seconds.filter(|s| s.is_finite()).map(|s| {
        let s = if s.abs() > MILLIS_THRESHOLD {
            s / 1000.0
        } else {
            s
        };
        let whole = s.floor();
        prost_types::Timestamp {
            seconds: whole as i64,
            nanos: ((s - whole) * 1e9) as i32,
        }
    }))
}

fn quick_check(conn: &Connection) -> Result<String, Failure> {
    let findings: Vec<String> = conn
        .prepare("PRAGMA quick_check(20)")?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    Ok(truncate(one_line(&findings), MAX_DETAIL))
}

/// `quick_check`'s findings on one line, joined with `; `: a finding may
/// span lines ("*** in database main ***\nTree 3 page 10 ...").
pub(super) fn one_line(findings: &[String]) -> String {
    findings
        .iter()
        .map(|finding| finding.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("; ")
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

fn timestamp_now() -> prost_types::Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}
