//! Agent tests over real SQLite files in temporary directories, driven by
//! the same controller simulator the end-to-end tests use.

#[allow(dead_code)]
#[path = "../../../tests/harness/controller_sim.rs"]
mod controller_sim;

use super::ddl;
use super::journal::{Observer, ObserverStats, observe, wal_path};
use super::reporter::{Backoff, SendError, Transport, run_forever};
use crate::v1::JournalReport;
use controller_sim::{Controller, JournalOptions, snapshot};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn journal(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("journal.db")
}

fn table<'a>(report: &'a JournalReport, name: &str) -> &'a crate::v1::JournalTable {
    report
        .tables
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name} in {report:#?}"))
}

/// Compares journal snapshots without dumping megabytes of bytes on failure.
#[track_caller]
fn assert_unchanged(path: &Path, before: &(Vec<u8>, Option<Vec<u8>>)) {
    let after = snapshot(path);
    let sizes = |s: &(Vec<u8>, Option<Vec<u8>>)| (s.0.len(), s.1.as_ref().map(Vec::len));
    assert!(
        after == *before,
        "the journal changed: (db, wal) sizes before {:?}, after {:?}",
        sizes(before),
        sizes(&after)
    );
}

fn rfc3339(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[test]
fn a_running_wal_journal_is_reported_without_changing_a_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let controller = Controller::create(&path, &JournalOptions::default()).unwrap();
    let before = snapshot(&path);
    assert!(before.1.as_ref().is_some_and(|wal| !wal.is_empty()));

    let report = observe(&path);

    assert_unchanged(&path, &before);
    assert_eq!(report.status, "ok", "{report:#?}");
    assert_eq!(report.journal_mode, "wal");
    assert_eq!(report.user_version, 3);
    assert_eq!(report.sqlite_version, rusqlite::version());
    assert_eq!(report.page_size, 4096);
    assert!(report.page_count > 0);
    assert_eq!(report.wal_size_bytes, before.1.unwrap().len() as u64);
    assert_eq!(report.quick_check, "ok");
    let names: Vec<&str> = report.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["pours", "settings"]);
    assert_eq!(table(&report, "pours").row_count, 20);
    assert_eq!(table(&report, "settings").row_count, 2);
    assert_eq!(report.unsynced_pours, 5);
    let newest = report.newest_pour_at.unwrap();
    assert_eq!(rfc3339(newest.seconds), controller_sim::NEWEST_SEEDED_POUR);
    drop(controller);
}

#[test]
fn after_a_power_cut_the_wal_is_read_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let controller = Controller::create(&path, &JournalOptions::default()).unwrap();
    controller.pour(400).unwrap();
    controller.power_cut().unwrap();
    let before = snapshot(&path);
    assert!(before.1.as_ref().is_some_and(|wal| !wal.is_empty()));

    // Ours is now the only connection: SQLite would checkpoint on close.
    let report = observe(&path);

    assert_unchanged(&path, &before);
    assert_eq!(report.status, "ok", "{report:#?}");
    assert_eq!(table(&report, "pours").row_count, 21);
    assert_eq!(report.unsynced_pours, 6);
}

#[test]
fn a_cleanly_closed_wal_journal_gets_no_wal_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    drop(Controller::create(&path, &JournalOptions::default()).unwrap());
    let before = snapshot(&path);

    let report = observe(&path);

    assert_unchanged(&path, &before);
    assert!(!wal_path(&path).exists());
    assert!(!dir.path().join("journal.db-shm").exists());
    assert_eq!(report.status, "ok", "{report:#?}");
    assert_eq!(report.journal_mode, "wal");
    assert_eq!(table(&report, "pours").row_count, 20);
    assert_eq!(report.quick_check, "ok");
}

#[test]
fn a_writer_is_never_blocked_by_repeated_observations() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let controller = Controller::create(&path, &JournalOptions::default()).unwrap();
    let writer = controller.start_writer(Duration::from_micros(200)).unwrap();
    let mut counts = Vec::new();
    for _ in 0..100 {
        let report = observe(&path);
        assert_eq!(report.status, "ok", "{report:#?}");
        assert_eq!(report.quick_check, "ok");
        counts.push(table(&report, "pours").row_count);
    }
    let stats = writer.stop();
    assert_eq!(stats.busy, 0, "the writer was blocked: {stats:?}");
    assert!(stats.errors.is_empty(), "{stats:?}");
    assert!(stats.inserted > 0);
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(
        counts.last() > counts.first(),
        "no new pours observed: {counts:?}"
    );
}

#[test]
fn a_controller_that_closes_its_journal_after_every_write_is_never_read_torn() {
    // Each close checkpoints the WAL into the file and deletes -wal, so an
    // observation may find no -wal and read the file without locks while
    // the next write's checkpoint rewrites its pages. Before the agent
    // checked that the file stayed the same under such a read, this
    // reported a sound journal `corrupt` within a few observations.
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    drop(Controller::create(&path, &JournalOptions::default()).unwrap());
    let fill = Connection::open(&path).unwrap();
    fill.execute_batch(
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, note TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
         INSERT INTO readings (note) SELECT printf('%0100d', i) FROM n;",
    )
    .unwrap();
    drop(fill);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut writes = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let conn = Connection::open(&path).unwrap();
                conn.busy_timeout(Duration::from_secs(5)).unwrap();
                conn.execute_batch(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
                     INSERT INTO readings (note) SELECT hex(randomblob(50)) FROM n;",
                )
                .unwrap();
                conn.close().unwrap();
                writes += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            writes
        })
    };
    let mut read = 0;
    for _ in 0..60 {
        let report = observe(&path);
        // A journal rewritten under every read is `locked` for this
        // observation, never `corrupt`.
        if report.status == "locked" {
            assert!(
                report.status_detail.contains("rewrote the journal"),
                "{report:#?}"
            );
            continue;
        }
        assert_eq!(report.status, "ok", "{report:#?}");
        assert_eq!(report.quick_check, "ok", "{report:#?}");
        assert!(table(&report, "readings").row_count >= 300000);
        read += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
    assert!(read > 0, "no observation read the journal");
}

#[test]
fn a_transaction_left_unfinished_in_rollback_mode_is_reported_with_its_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let conn = Connection::open(&live).unwrap();
    // Enough rows that the update cannot stay in the page cache, however
    // much memory the other tests' connections left it: it spills changed
    // pages into the file, their old contents into the -journal.
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE;
         CREATE TABLE pours (id INTEGER PRIMARY KEY, ml INTEGER);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
         INSERT INTO pours (ml) SELECT i FROM n;
         PRAGMA cache_size = 1;
         BEGIN;
         UPDATE pours SET ml = ml + 1;",
    )
    .unwrap();
    // The files as a power cut in the middle of that transaction leaves them.
    let path = journal(&dir);
    let mut hot = path.as_os_str().to_owned();
    hot.push("-journal");
    std::fs::copy(&live, &path).unwrap();
    std::fs::copy(dir.path().join("live.db-journal"), &hot).unwrap();
    conn.execute_batch("ROLLBACK").unwrap();

    let report = observe(&path);

    assert_eq!(report.status, "error", "{report:#?}");
    assert!(
        report
            .status_detail
            .contains("is left from a transaction the controller did not finish"),
        "{report:#?}"
    );
    assert!(!report.status_detail.contains("readonly"), "{report:#?}");
}

#[test]
fn every_report_of_a_process_carries_its_one_random_instance() {
    let dir = tempfile::tempdir().unwrap();
    let first = super::report(&journal(&dir), "bar1-tap1", Duration::from_secs(30));
    let second = super::report(&journal(&dir), "bar1-tap1", Duration::from_secs(30));
    assert_eq!(first.agent_instance, super::instance());
    assert_eq!(second.agent_instance, first.agent_instance);
    // What the server accepts: lowercase hex, at most 64 characters.
    let instance = super::new_instance();
    assert_eq!(instance.len(), 32);
    assert!(
        instance
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
    assert_ne!(instance, super::new_instance(), "not random");
}

#[test]
fn a_one_shot_run_has_one_instance_per_machine_and_journal() {
    let dir = tempfile::tempdir().unwrap();
    let first = super::once_instance(&journal(&dir));
    assert_eq!(first.len(), 32);
    assert!(
        first
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
    if super::machine_identity().is_some() {
        assert_eq!(super::once_instance(&journal(&dir)), first, "not stable");
        let other = tempfile::tempdir().unwrap();
        assert_ne!(super::once_instance(&journal(&other)), first);
    } else {
        // Nothing to tell this machine by: random, like a daemon's.
        assert_ne!(super::once_instance(&journal(&dir)), first);
    }
}

#[test]
fn a_machine_is_told_by_one_built_in_hardware_address() {
    let pick = |interfaces: &[(bool, &str)]| {
        super::machine_address(
            interfaces
                .iter()
                .map(|(usb, address)| (*usb, address.to_string())),
        )
    };
    // Built in first, whatever the addresses, then the lowest.
    assert_eq!(
        pick(&[(true, "00:0e:c6:00:00:01"), (false, "dc:a6:32:00:00:02")]).as_deref(),
        Some("dc:a6:32:00:00:02")
    );
    assert_eq!(
        pick(&[(false, "dc:a6:32:00:00:03"), (false, "dc:a6:32:00:00:02")]).as_deref(),
        Some("dc:a6:32:00:00:02")
    );
    assert_eq!(
        pick(&[(true, "00:0e:c6:00:00:01")]).as_deref(),
        Some("00:0e:c6:00:00:01")
    );
    // No address at all (loopback's, a missing one).
    assert_eq!(pick(&[(false, "00:00:00:00:00:00"), (false, "")]), None);
    assert_eq!(pick(&[]), None);
}

#[test]
fn a_missing_journal_is_reported_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let report = observe(&path);
    assert_eq!(report.status, "missing");
    assert!(report.status_detail.contains("does not exist"));
    assert_eq!(report.unsynced_pours, -1);
    assert!(report.tables.is_empty());
    assert!(!path.exists(), "observing created the journal");
}

#[test]
fn a_wal_left_without_its_journal_says_it_holds_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    std::fs::write(wal_path(&path), vec![0u8; 12_352]).unwrap();
    let report = observe(&path);
    assert_eq!(report.status, "missing", "{report:#?}");
    assert_eq!(report.wal_size_bytes, 12_352);
    assert!(
        report
            .status_detail
            .contains("journal.db-wal holds 12352 bytes of commits it never received"),
        "{report:#?}"
    );
    assert!(!path.exists(), "observing created the journal");
}

#[test]
fn an_empty_journal_file_is_reported_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    std::fs::write(&path, b"").unwrap();
    let report = observe(&path);
    assert_eq!(report.status, "missing", "{report:#?}");
    assert!(
        report
            .status_detail
            .contains("journal.db is empty (0 bytes)"),
        "{report:#?}"
    );
    assert!(report.journal_mode.is_empty() && report.quick_check.is_empty());
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        0,
        "observing wrote it"
    );
    assert!(!wal_path(&path).exists(), "observing created a -wal");
}

#[test]
fn a_garbage_file_is_reported_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let report = observe(&path);
    assert_eq!(report.status, "corrupt", "{report:#?}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn damaged_pages_behind_a_valid_header_are_not_ok() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let options = JournalOptions {
        wal: false,
        pours: 2000,
        ..JournalOptions::default()
    };
    drop(Controller::create(&path, &options).unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    for byte in &mut bytes[4096 * 2..4096 * 6] {
        *byte = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let report = observe(&path);
    assert!(
        report.status == "corrupt" || (report.status == "ok" && report.quick_check != "ok"),
        "{report:#?}"
    );
}

#[test]
fn a_rollback_journal_reads_as_delete() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let options = JournalOptions {
        wal: false,
        ..JournalOptions::default()
    };
    let controller = Controller::create(&path, &options).unwrap();
    let before = snapshot(&path);
    let report = observe(&path);
    assert_unchanged(&path, &before);
    assert_eq!(report.status, "ok", "{report:#?}");
    assert_eq!(report.journal_mode, "delete");
    assert_eq!(report.wal_size_bytes, 0);
    assert!(!wal_path(&path).exists());
    drop(controller);
}

#[test]
fn a_journal_held_exclusively_is_reported_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let options = JournalOptions {
        wal: false,
        ..JournalOptions::default()
    };
    drop(Controller::create(&path, &options).unwrap());
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let report = observe(&path);
    assert_eq!(report.status, "locked", "{report:#?}");
    holder.execute_batch("COMMIT").unwrap();
    assert_eq!(observe(&path).status, "ok");
}

#[test]
fn an_extra_column_changes_only_that_tables_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let plain_path = dir.path().join("plain.db");
    let extra_path = dir.path().join("extra.db");
    let _plain = Controller::create(&plain_path, &JournalOptions::default()).unwrap();
    let options = JournalOptions {
        extra_column: true,
        ..JournalOptions::default()
    };
    let _extra = Controller::create(&extra_path, &options).unwrap();
    let (plain, extra) = (observe(&plain_path), observe(&extra_path));
    assert_ne!(
        table(&plain, "pours").ddl_sha256,
        table(&extra, "pours").ddl_sha256
    );
    assert_eq!(
        table(&plain, "settings").ddl_sha256,
        table(&extra, "settings").ddl_sha256
    );
    assert_eq!(table(&plain, "pours").ddl_sha256.len(), 64);
}

fn custom_journal(path: &Path, sql: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[test]
fn sync_time_columns_and_millisecond_timestamps_are_understood() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    custom_journal(
        &path,
        "CREATE TABLE pours (id INTEGER PRIMARY KEY, created_at INTEGER, synced_at TEXT);
         INSERT INTO pours (created_at, synced_at) VALUES
             (1767261600000, '2026-01-01 10:00:00'), (1767261601500, NULL), (1767261599000, NULL);",
    );
    let report = observe(&path);
    assert_eq!(report.unsynced_pours, 2);
    let newest = report.newest_pour_at.unwrap();
    assert_eq!(
        (newest.seconds, newest.nanos / 1_000_000),
        (1_767_261_601, 500)
    );
}

#[test]
fn epoch_numbers_a_text_column_holds_as_text_are_read_as_epoch_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    // Column affinity stores an inserted number as text in a TEXT column.
    custom_journal(
        &path,
        "CREATE TABLE pours (id INTEGER PRIMARY KEY, poured_at TEXT NOT NULL);
         INSERT INTO pours (poured_at) VALUES (1767261600), (1767261601);",
    );
    let report = observe(&path);
    assert_eq!(
        rfc3339(report.newest_pour_at.unwrap().seconds),
        "2026-01-01T10:00:01Z"
    );
}

#[test]
fn integrity_findings_are_reported_on_one_line() {
    let findings = [
        "*** in database main ***\nTree 3 page 10 cell 2: invalid page number".to_string(),
        "row 4 missing from index  i".to_string(),
    ];
    assert_eq!(
        super::journal::one_line(&findings),
        "*** in database main *** Tree 3 page 10 cell 2: invalid page number; row 4 missing from index i"
    );
}

#[test]
fn without_a_sync_column_the_backlog_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    custom_journal(
        &path,
        "CREATE TABLE Pours (id INTEGER PRIMARY KEY, ts TEXT);
         INSERT INTO Pours (ts) VALUES ('2026-01-01 10:00:00'), ('2026-01-01 09:00:00');",
    );
    let report = observe(&path);
    assert_eq!(report.status, "ok");
    assert_eq!(report.unsynced_pours, -1);
    assert_eq!(
        rfc3339(report.newest_pour_at.unwrap().seconds),
        "2026-01-01T10:00:00Z"
    );
    assert_eq!(
        table(&report, "Pours").ddl_sha256,
        ddl::fingerprint("create table Pours(id integer primary key, ts text)")
    );
}

#[test]
fn backoff_grows_with_jitter_and_stops_at_the_cap() {
    let cap = Duration::from_secs(30);
    let mut backoff = Backoff::new(cap);
    let delays: Vec<Duration> = (0..12).map(|_| backoff.next_delay()).collect();
    for (attempt, delay) in delays.iter().enumerate() {
        let step = Duration::from_secs(1 << attempt.min(20)).min(cap);
        assert!(
            *delay >= step / 2 && *delay <= step,
            "attempt {attempt}: {delay:?}"
        );
    }
    backoff.reset();
    assert!(backoff.next_delay() <= Duration::from_secs(1));
}

/// Fails while `down` and records when each attempt came and which
/// observation it carried.
struct Flaky {
    down: bool,
    attempts: std::rc::Rc<std::cell::RefCell<Vec<(tokio::time::Instant, i64)>>>,
}

impl Transport for Flaky {
    async fn send(&mut self, report: &JournalReport) -> Result<(), SendError> {
        self.attempts
            .borrow_mut()
            .push((tokio::time::Instant::now(), report.user_version));
        if self.down {
            Err(tonic::Status::unavailable("down").into())
        } else {
            Ok(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_outage_keeps_only_the_newest_report_and_retries_within_the_interval() {
    let interval = Duration::from_secs(30);
    let attempts = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut observations = 0i64;
    let mut transport = Flaky {
        down: true,
        attempts: attempts.clone(),
    };
    let start = tokio::time::Instant::now();
    let observe = || {
        observations += 1;
        JournalReport {
            user_version: observations,
            ..JournalReport::default()
        }
    };
    // Ten intervals of outage.
    let _ = tokio::time::timeout(
        interval * 10,
        run_forever(interval, observe, &mut transport),
    )
    .await;
    let seen = attempts.borrow().clone();
    assert!(
        seen.len() >= 10 && seen.len() < 60,
        "{} attempts",
        seen.len()
    );
    for pair in seen.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap <= interval, "a retry waited {gap:?}");
        // Each attempt carries the newest observation made before it.
        let due = (pair[1].0 - start).as_secs() / interval.as_secs() + 1;
        assert_eq!(pair[1].1, due as i64);
    }
}

/// Refuses every report with one status code, counting the attempts.
struct Refusing {
    code: tonic::Code,
    attempts: u32,
}

impl Transport for Refusing {
    async fn send(&mut self, _: &JournalReport) -> Result<(), SendError> {
        self.attempts += 1;
        Err(tonic::Status::new(self.code, "refused").into())
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_stops_the_agent_and_a_refused_report_does_not() {
    let interval = Duration::from_secs(30);
    for code in [tonic::Code::Unauthenticated, tonic::Code::PermissionDenied] {
        let mut transport = Refusing { code, attempts: 0 };
        let stopped = tokio::time::timeout(
            interval * 10,
            run_forever(interval, JournalReport::default, &mut transport),
        )
        .await
        .expect("the agent stops on a refused token");
        assert_eq!(stopped.exit_code(), crate::exit::AUTH, "{code:?}");
        assert_eq!(transport.attempts, 1, "{code:?}");
    }
    // An invalid report: the next observation gets its chance an interval later.
    let mut transport = Refusing {
        code: tonic::Code::InvalidArgument,
        attempts: 0,
    };
    let kept_going = tokio::time::timeout(
        interval * 10,
        run_forever(interval, JournalReport::default, &mut transport),
    )
    .await;
    assert!(
        kept_going.is_err(),
        "the agent stopped on an invalid report"
    );
    // One each interval: at 0 s, 30 s, ... and perhaps at the timeout's 300 s.
    assert!(
        (10..=11).contains(&transport.attempts),
        "{}",
        transport.attempts
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_that_does_not_answer_in_time_is_retried_before_the_next_interval() {
    // The call's own timeout ends it as CANCELLED "Timeout expired": the
    // server is hung, which is an outage, not a refusal of the report.
    let interval = Duration::from_secs(30);
    let mut transport = Refusing {
        code: tonic::Code::Cancelled,
        attempts: 0,
    };
    // Refused reports would be sent at 0 s and 30 s only.
    let _ = tokio::time::timeout(
        interval * 2 - Duration::from_secs(1),
        run_forever(interval, JournalReport::default, &mut transport),
    )
    .await;
    assert!(transport.attempts > 2, "{}", transport.attempts);
    let hung = SendError::from(tonic::Status::cancelled("Timeout expired"));
    assert_eq!(hung.exit_code(), crate::exit::UNAVAILABLE);
    assert!(hung.is_transient());
}

#[tokio::test(start_paused = true)]
async fn a_delivered_report_waits_for_the_next_interval() {
    let interval = Duration::from_secs(5);
    let attempts = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut transport = Flaky {
        down: false,
        attempts: attempts.clone(),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(22),
        run_forever(interval, JournalReport::default, &mut transport),
    )
    .await;
    let seen = attempts.borrow();
    assert_eq!(seen.len(), 5);
    for pair in seen.windows(2) {
        assert_eq!(pair[1].0 - pair[0].0, interval);
    }
}

#[test]
fn the_printed_schema_carries_the_hashes_reports_carry_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let controller = Controller::create(&path, &JournalOptions::default()).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE \"odd \"\"name\"\"\" (a TEXT DEFAULT 'x\ny')")
        .unwrap();
    let before = snapshot(&path);
    let printed = super::expected_schema_toml(&path).unwrap();
    assert_unchanged(&path, &before);

    let report = observe(&path);
    assert!(printed.contains("\n[fleet.expected_tables]\n"), "{printed}");
    for name in ["pours", "settings"] {
        let line = format!("\n{name} = \"{}\"\n", table(&report, name).ddl_sha256);
        assert!(printed.contains(&line), "{line} not in {printed}");
    }
    let odd = format!(
        "\n\"odd \\\"name\\\"\" = \"{}\"\n",
        table(&report, "odd \"name\"").ddl_sha256
    );
    assert!(printed.contains(&odd), "{odd} not in {printed}");
    // Every line is a comment, a header or a key = value: the newline in
    // the default value did not escape its comment.
    for line in printed.lines() {
        assert!(
            line.starts_with('#') || line.starts_with('[') || line.contains(" = \""),
            "{line:?}"
        );
    }
    drop(controller);

    let missing = super::expected_schema_toml(&dir.path().join("absent.db")).unwrap_err();
    assert!(missing.contains("does not exist"), "{missing}");
    assert!(!dir.path().join("absent.db").exists());

    // The reference schema never comes from a damaged journal.
    let damaged = dir.path().join("damaged.db");
    journal_failing_quick_check(&damaged);
    let refused = super::expected_schema_toml(&damaged).unwrap_err();
    assert!(
        refused.contains("fails its integrity check") && refused.contains("NULL value"),
        "{refused}"
    );
}

/// A journal whose `quick_check` finds a NULL in a NOT NULL column while
/// every query the agent runs still works: the constraint is added to the
/// stored schema after the row went in, as a damaged journal could have it.
fn journal_failing_quick_check(path: &Path) {
    custom_journal(
        path,
        "CREATE TABLE pours (id INTEGER PRIMARY KEY, poured_at TEXT, synced INTEGER, note TEXT);
         INSERT INTO pours (poured_at, synced, note) VALUES ('2026-01-01 10:00:00', 0, NULL);
         PRAGMA writable_schema = ON;
         UPDATE sqlite_schema SET sql = replace(sql, 'note TEXT', 'note TEXT NOT NULL') WHERE name = 'pours';
         PRAGMA writable_schema = OFF;",
    );
}

fn timestamp(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

#[test]
fn the_integrity_result_is_reused_between_checks_and_checked_again_on_the_cadence() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let controller = Controller::create(&path, &JournalOptions::default()).unwrap();
    let before = snapshot(&path);
    let mut observer = Observer::new(3);
    let mut reports = Vec::new();
    for i in 0..7 {
        reports.push(observer.observe_at(&path, timestamp(1_800_000_000 + 30 * i)));
    }
    assert_unchanged(&path, &before);
    // Checked on the 1st, 4th and 7th observations; the others carry the
    // last result with the time it was obtained.
    assert_eq!(observer.stats().quick_checks, 3, "{:?}", observer.stats());
    let checked_at: Vec<i64> = reports
        .iter()
        .map(|r| {
            assert_eq!(r.status, "ok", "{r:#?}");
            assert_eq!(r.quick_check, "ok", "{r:#?}");
            r.quick_check_at.unwrap().seconds
        })
        .collect();
    let at = |i: i64| 1_800_000_000 + 30 * i;
    assert_eq!(
        checked_at,
        [at(0), at(0), at(0), at(3), at(3), at(3), at(6)]
    );
    // A one-shot observation always checks, and dates the check to itself.
    let once = observe(&path);
    assert_eq!(once.quick_check_at, once.observed_at);
    // 1 checks on every observation.
    let mut every = Observer::new(1);
    for i in 0..3 {
        let report = every.observe_at(&path, timestamp(at(i)));
        assert_eq!(report.quick_check_at, report.observed_at);
    }
    assert_eq!(every.stats().quick_checks, 3);
    drop(controller);
}

#[test]
fn a_replaced_journal_a_failed_check_or_a_clock_gone_back_is_checked_again_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    drop(Controller::create(&path, &JournalOptions::default()).unwrap());
    let mut observer = Observer::new(100);
    let checks = |o: &Observer| o.stats().quick_checks;
    observer.observe_at(&path, timestamp(1_800_000_000));
    observer.observe_at(&path, timestamp(1_800_000_030));
    assert_eq!(checks(&observer), 1);

    // The clock went back past the last check: checked again.
    let report = observer.observe_at(&path, timestamp(1_799_999_000));
    assert_eq!(checks(&observer), 2);
    assert_eq!(report.quick_check_at, Some(timestamp(1_799_999_000)));

    // Another file under the same name (a restore): checked again.
    let replacement = dir.path().join("restored.db");
    drop(Controller::create(&replacement, &JournalOptions::default()).unwrap());
    std::fs::rename(&replacement, &path).unwrap();
    let report = observer.observe_at(&path, timestamp(1_800_000_060));
    assert_eq!(checks(&observer), 3);
    assert_eq!(report.quick_check_at, Some(timestamp(1_800_000_060)));

    // A journal that cannot be read forgets the last result.
    let aside = dir.path().join("aside.db");
    std::fs::rename(&path, &aside).unwrap();
    assert_eq!(
        observer.observe_at(&path, timestamp(1_800_000_090)).status,
        "missing"
    );
    std::fs::rename(&aside, &path).unwrap();
    observer.observe_at(&path, timestamp(1_800_000_120));
    assert_eq!(checks(&observer), 4);

    // Findings are never reused: every observation checks until it passes.
    let failing = dir.path().join("failing.db");
    journal_failing_quick_check(&failing);
    let mut observer = Observer::new(100);
    for i in 0..3 {
        let report = observer.observe_at(&failing, timestamp(1_800_000_000 + i));
        assert_eq!(report.status, "ok", "{report:#?}");
        assert!(report.quick_check.contains("NULL value"), "{report:#?}");
        assert_eq!(report.quick_check_at, report.observed_at);
    }
    assert_eq!(checks(&observer), 3);
}

/// The unsynced count as a fresh, full observation gives it.
fn full_count(path: &Path) -> i64 {
    observe(path).unsynced_pours
}

#[test]
fn the_incremental_unsynced_count_equals_a_full_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    let controller = Controller::create(
        &path,
        &JournalOptions {
            pours: 500,
            unsynced: 30,
            ..JournalOptions::default()
        },
    )
    .unwrap();
    let other = Connection::open(&path).unwrap();
    let mut observer = Observer::new(1000);
    let mut at = 1_800_000_000;
    let mut observe_now = |observer: &mut Observer| {
        at += 30;
        observer.observe_at(&path, timestamp(at))
    };
    assert_eq!(observe_now(&mut observer).unsynced_pours, 30);
    assert_eq!(observer.stats().full_counts, 1);

    let steps: [&dyn Fn(); 6] = [
        // New pours appended, unsynced.
        &|| {
            for volume in 0..25 {
                controller.pour(volume).unwrap();
            }
        },
        // The uploader syncs the oldest ones.
        &|| {
            other
                .execute_batch("UPDATE pours SET synced = 1 WHERE id <= 490")
                .unwrap()
        },
        // Both at once, and out of order.
        &|| {
            controller.pour(1).unwrap();
            other
                .execute_batch("UPDATE pours SET synced = 1 WHERE id IN (495, 500, 510)")
                .unwrap();
            controller.pour(2).unwrap();
        },
        // Everything synced: the watermark moves past the last row...
        &|| other.execute_batch("UPDATE pours SET synced = 1").unwrap(),
        // ...and new pours above it are seen.
        &|| {
            for volume in 0..3 {
                controller.pour(volume).unwrap();
            }
        },
        // Old synced pours pruned, newest kept.
        &|| {
            other
                .execute_batch("DELETE FROM pours WHERE id < 100")
                .unwrap()
        },
    ];
    for (i, step) in steps.iter().enumerate() {
        step();
        let report = observe_now(&mut observer);
        assert_eq!(report.status, "ok", "{report:#?}");
        assert_eq!(report.unsynced_pours, full_count(&path), "after step {i}");
    }
    assert_eq!(
        observer.stats(),
        ObserverStats {
            quick_checks: 1,
            full_counts: 1,
            incremental_counts: 6
        }
    );

    // The newest rows deleted: their rowids may be reused below the
    // watermark, so the count is made in full.
    other
        .execute_batch("DELETE FROM pours WHERE id > 520")
        .unwrap();
    controller.pour(7).unwrap();
    let report = observe_now(&mut observer);
    assert_eq!(report.unsynced_pours, full_count(&path));
    assert_eq!(observer.stats().full_counts, 2);
    drop(controller);
}

#[test]
fn a_table_without_rowid_is_always_counted_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(&dir);
    custom_journal(
        &path,
        "CREATE TABLE pours (id TEXT PRIMARY KEY, poured_at TEXT, synced INTEGER) WITHOUT ROWID;
         INSERT INTO pours VALUES ('b', '2026-01-01 10:00:00', 0), ('a', '2026-01-01 09:00:00', 1);",
    );
    let mut observer = Observer::new(100);
    assert_eq!(observer.observe(&path).unsynced_pours, 1);
    custom_journal(
        &path,
        "INSERT INTO pours VALUES ('0', '2026-01-01 11:00:00', 0)",
    );
    assert_eq!(observer.observe(&path).unsynced_pours, 2);
    assert_eq!(observer.stats().full_counts, 2);
    assert_eq!(observer.stats().incremental_counts, 0);

    // A column named rowid shadows that alias; another one is used.
    let shadowed = dir.path().join("shadowed.db");
    custom_journal(
        &shadowed,
        "CREATE TABLE pours (rowid TEXT, poured_at TEXT, synced INTEGER);
         INSERT INTO pours VALUES ('z', '2026-01-01 10:00:00', 0), ('a', '2026-01-01 09:00:00', 1);",
    );
    let mut observer = Observer::new(100);
    assert_eq!(observer.observe(&shadowed).unsynced_pours, 1);
    custom_journal(
        &shadowed,
        "INSERT INTO pours VALUES ('0', '2026-01-01 11:00:00', NULL)",
    );
    assert_eq!(observer.observe(&shadowed).unsynced_pours, 2);
    assert_eq!(observer.stats().incremental_counts, 1);
}
