//! A simulated tap controller: creates a SQLite journal the way the
//! controller software does (a `pours` table it owns, WAL mode by default)
//! and can keep writing to it from a background thread, so tests can observe
//! a journal while it is being written.
//!
//! This file depends on `rusqlite` and `std` only: the client crate's agent
//! tests include it by path so both suites drive the same simulator.

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the controller software set up its journal.
#[derive(Clone, Debug)]
pub struct JournalOptions {
    /// WAL mode (the controller default); `false` leaves the rollback journal (`delete`).
    pub wal: bool,
    /// Adds a `temperature_c` column to `pours`, as a newer firmware would.
    pub extra_column: bool,
    /// Pours written at creation.
    pub pours: u32,
    /// How many of those are not yet synced (the newest ones).
    pub unsynced: u32,
}

impl Default for JournalOptions {
    fn default() -> JournalOptions {
        JournalOptions {
            wal: true,
            extra_column: false,
            pours: 20,
            unsynced: 5,
        }
    }
}

/// The newest `poured_at` the seeded pours carry.
pub const NEWEST_SEEDED_POUR: &str = "2026-03-01T18:00:19Z";

/// The controller process: holds its connection open like the real software,
/// so a WAL journal keeps its `-wal` file while the controller runs.
pub struct Controller {
    path: PathBuf,
    conn: Connection,
}

impl Controller {
    /// Creates the journal at `path` with the controller's schema and seed pours.
    pub fn create(path: &Path, options: &JournalOptions) -> rusqlite::Result<Controller> {
        let conn = Connection::open(path)?;
        if options.wal {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            assert_eq!(mode, "wal", "the simulator needs a WAL-capable filesystem");
        }
        let extra = if options.extra_column {
            ",\n    temperature_c REAL"
        } else {
            ""
        };
        conn.execute_batch(&format!(
            "PRAGMA user_version = 3;
             CREATE TABLE pours (
                 id INTEGER PRIMARY KEY,
                 tap_id TEXT NOT NULL,
                 volume_ml INTEGER NOT NULL,
                 poured_at TEXT NOT NULL,
                 synced INTEGER NOT NULL DEFAULT 0{extra}
             );
             CREATE INDEX pours_poured_at ON pours (poured_at);
             CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO settings VALUES ('tap_id', 'tap2'), ('firmware', '4.2.0');"
        ))?;
        let synced_below = options.pours.saturating_sub(options.unsynced);
        for i in 0..options.pours {
            conn.execute(
                "INSERT INTO pours (tap_id, volume_ml, poured_at, synced) VALUES ('tap2', ?1, ?2, ?3)",
                rusqlite::params![
                    330 + i,
                    format!("2026-03-01T18:00:{:02}Z", i % 20),
                    i < synced_below
                ],
            )?;
        }
        Ok(Controller {
            path: path.to_path_buf(),
            conn,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one pour now, unsynced.
    pub fn pour(&self, volume_ml: i64) -> rusqlite::Result<()> {
        insert_pour(&self.conn, volume_ml)
    }

    /// Starts a second writer thread that pours every `pace` until stopped or dropped.
    pub fn start_writer(&self, pace: Duration) -> rusqlite::Result<Writer> {
        Writer::start(&self.path, pace)
    }

    /// Stops like a power cut: no checkpoint on close, so a WAL journal keeps
    /// its `-wal` file with committed frames the database file lacks.
    pub fn power_cut(self) -> rusqlite::Result<()> {
        self.conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        self.conn.close().map_err(|(_, err)| err)
    }
}

fn insert_pour(conn: &Connection, volume_ml: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO pours (tap_id, volume_ml, poured_at, synced)
         VALUES ('tap2', ?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0)",
        [volume_ml],
    )?;
    Ok(())
}

/// What a writer thread saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriterStats {
    pub inserted: u64,
    /// SQLITE_BUSY / SQLITE_LOCKED answers: a reader that blocks the
    /// controller shows up here.
    pub busy: u64,
    /// Any other failure, as text.
    pub errors: Vec<String>,
}

/// A writer thread on its own connection, like the controller's pour logger.
/// It has no busy timeout, so any lock a reader takes shows up as `busy`.
pub struct Writer {
    stop: Arc<AtomicBool>,
    inserted: Arc<AtomicU64>,
    handle: Option<JoinHandle<WriterStats>>,
}

impl Writer {
    pub fn start(path: &Path, pace: Duration) -> rusqlite::Result<Writer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::ZERO)?;
        let stop = Arc::new(AtomicBool::new(false));
        let inserted = Arc::new(AtomicU64::new(0));
        let handle = {
            let stop = Arc::clone(&stop);
            let inserted = Arc::clone(&inserted);
            std::thread::spawn(move || {
                let mut stats = WriterStats::default();
                while !stop.load(Ordering::Relaxed) {
                    match insert_pour(&conn, 500) {
                        Ok(()) => {
                            stats.inserted += 1;
                            inserted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(rusqlite::Error::SqliteFailure(e, _))
                            if matches!(
                                e.code,
                                rusqlite::ErrorCode::DatabaseBusy
                                    | rusqlite::ErrorCode::DatabaseLocked
                            ) =>
                        {
                            stats.busy += 1;
                        }
                        Err(err) => stats.errors.push(err.to_string()),
                    }
                    // The sync uploader marks older pours as sent, which keeps
                    // the backlog small however long the writer runs.
                    if stats.inserted % 50 == 0
                        && let Err(err) = conn.execute(
                            "UPDATE pours SET synced = 1 WHERE synced = 0 AND id < (SELECT max(id) - 10 FROM pours)",
                            [],
                        )
                    {
                        stats.errors.push(err.to_string());
                    }
                    std::thread::sleep(pace);
                }
                stats
            })
        };
        Ok(Writer {
            stop,
            inserted,
            handle: Some(handle),
        })
    }

    /// Pours so far.
    pub fn inserted(&self) -> u64 {
        self.inserted.load(Ordering::Relaxed)
    }

    /// Stops the thread and returns what it saw.
    pub fn stop(mut self) -> WriterStats {
        self.finish()
    }

    fn finish(&mut self) -> WriterStats {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(stats)) => stats,
            Some(Err(_)) => WriterStats {
                errors: vec!["writer thread panicked".into()],
                ..WriterStats::default()
            },
            None => WriterStats::default(),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Bytes of the database file and of its `-wal` (None when absent).
pub fn snapshot(path: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    let db = std::fs::read(path).unwrap_or_default();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    (db, std::fs::read(PathBuf::from(wal)).ok())
}
