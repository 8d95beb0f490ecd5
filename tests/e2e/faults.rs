//! Faults during execution on real processes: the server killed mid-run,
//! the target's connection cut, a backup directory that cannot be written.
//! Nothing is applied twice, nothing is left "running", and the next deploy
//! continues correctly.

use crate::release::{
    Fixture, Tokens, applied, applied_ids, execute, query_i64, table_exists, tokens,
};
use schemagate_e2e::{Run, wait_for};
use std::time::Duration;

const SLOW: (&str, &str, &str) = (
    "0001_baseline",
    "CREATE TABLE venues (id bigint PRIMARY KEY);\nSELECT pg_sleep(4);\n",
    "DROP TABLE venues;\n",
);

/// Sessions of the executor running `pg_sleep` on the target.
fn sleeping_executors(url: &str) -> i64 {
    query_i64(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'schemagate apply by erin' AND query LIKE '%pg_sleep%'",
    )
}

fn executors(url: &str) -> i64 {
    query_i64(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'schemagate apply%'",
    )
}

fn newest_execution(f: &Fixture, token: &str) -> serde_json::Value {
    let status = f.run(token, &["--json", "status", "--env", "dev"]).json();
    status["recent_executions"][0].clone()
}

/// Starts `sgctl deploy --env dev` in a thread.
fn deploy_in_background(f: &Fixture, token: &str) -> std::thread::JoinHandle<Run> {
    let address = f.server.address.clone();
    let token = token.to_string();
    std::thread::spawn(move || {
        schemagate_e2e::sgctl(
            &["deploy", "--env", "dev"],
            &[
                ("SCHEMAGATE_SERVER", &address),
                ("SCHEMAGATE_TOKEN", &token),
            ],
        )
    })
}

/// Starts `sgctl deploy --env dev` as a process of its own, to be
/// signalled; its output is piped.
fn spawn_deploy(f: &Fixture, token: &str) -> std::process::Child {
    std::process::Command::new(schemagate_e2e::bin_dir().join("sgctl"))
        .args(["deploy", "--env", "dev"])
        .env("SCHEMAGATE_SERVER", &f.server.address)
        .env("SCHEMAGATE_TOKEN", token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends SIGINT to a deploy from [`spawn_deploy`], as Ctrl-C does, and
/// returns its output once it exited 130.
fn interrupt(deploy: std::process::Child) -> std::process::Output {
    std::process::Command::new("kill")
        .args(["-INT", &deploy.id().to_string()])
        .status()
        .unwrap();
    let interrupted = deploy.wait_with_output().unwrap();
    assert_eq!(interrupted.status.code(), Some(130), "{interrupted:#?}");
    interrupted
}

#[test]
fn a_server_killed_mid_execution_settles_its_record_on_its_own_and_the_next_deploy_applies_once() {
    let t = tokens();
    let mut f = Fixture::start(|p| p);
    f.submit(&t, &[SLOW]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);

    let deploy = deploy_in_background(&f, &t.erin);
    wait_for(Duration::from_secs(30), "the revision to run", || {
        sleeping_executors(&f.dev) == 1
    });
    f.restart(&[]); // SIGKILL, then start on the same catalog
    let cut = deploy.join().unwrap();
    assert_ne!(cut.code, 0, "{cut:#?}");

    // The orphaned transaction rolls back once PostgreSQL notices; until
    // then it holds the executor lock and a deploy is refused, not doubled.
    wait_for(
        Duration::from_secs(30),
        "the orphaned session to end",
        || executors(&f.dev) == 0,
    );
    assert!(!table_exists(&f.dev, "venues"));
    assert_eq!(applied(&f.dev), 0);
    // The restarted server settles the record once the lock is free, with
    // no deploy to prompt it.
    wait_for(Duration::from_secs(40), "the record to be settled", || {
        newest_execution(&f, &t.erin)["state"] == "failed"
    });

    let again = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(again.code, 0, "{again:#?}");
    assert_eq!(applied(&f.dev), 1);
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    let records = status["recent_executions"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{status:#}");
    assert_eq!(records[0]["state"], "succeeded", "{status:#}");
    assert_eq!(records[1]["state"], "failed", "{status:#}");
    assert!(
        records[1]["error"]
            .as_str()
            .unwrap()
            .contains("did not commit"),
        "{status:#}"
    );
    assert!(
        records.iter().all(|r| r["state"] != "running"),
        "{status:#}"
    );
}

/// Between two revisions of an execution, the reference keeps no schema;
/// a server killed before the execution ends cannot keep it at the end.
/// The next execution on the target keeps it, so the drift check lists
/// differences again.
#[test]
fn a_reference_left_without_its_schema_by_a_killed_server_is_kept_by_the_next_execution() {
    let t = tokens();
    let mut f = Fixture::start(|p| p);
    let slow = (
        "0002_slow",
        "CREATE TABLE pours (id bigint PRIMARY KEY);\nSELECT pg_sleep(4);\n",
        "DROP TABLE pours;\n",
    );
    let quick = (
        "0001_baseline",
        "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
        "DROP TABLE venues;\n",
    );
    f.submit(&t, &[quick, slow]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    f.approve(&t.carol, "0002_slow", &["dev"]);

    let deploy = deploy_in_background(&f, &t.erin);
    wait_for(
        Duration::from_secs(30),
        "the second revision to run",
        || sleeping_executors(&f.dev) == 1,
    );
    f.restart(&[]);
    assert_ne!(deploy.join().unwrap().code, 0);
    wait_for(
        Duration::from_secs(30),
        "the orphaned session to end",
        || executors(&f.dev) == 0,
    );
    assert_eq!(applied(&f.dev), 1);

    // Nothing left to apply up to the baseline, but the execution settles
    // what the killed one left.
    let settle = f.run(
        &t.erin,
        &["deploy", "--env", "dev", "--to", "0001_baseline"],
    );
    assert_eq!(settle.code, 0, "{settle:#?}");
    // The baseline's record (written while the second revision ran, or
    // settled from the version table had the server died before that) says
    // succeeded; the second's says it did not commit.
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    let records = status["recent_executions"].as_array().unwrap();
    let state_of = |revision: &str| {
        records
            .iter()
            .find(|r| r["revision_id"] == revision)
            .map(|r| r["state"].clone())
    };
    assert_eq!(
        state_of("0001_baseline").unwrap(),
        "succeeded",
        "{status:#}"
    );
    assert_eq!(state_of("0002_slow").unwrap(), "failed", "{status:#}");
    assert!(
        records.iter().all(|r| r["state"] != "running"),
        "{status:#}"
    );
    execute(&f.dev, "CREATE INDEX venues_out_of_band ON venues (id)");
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 1, "{drift:#?}");
    assert!(drift.stdout.contains("venues_out_of_band"), "{drift:#?}");
}

/// A fixture whose `dev` target is at the one revision it has, `venues`.
fn venues_deployed_on_dev() -> (Tokens, Fixture) {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(
        &t,
        &[(
            "0001_baseline",
            "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
            "DROP TABLE venues;\n",
        )],
    );
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    (t, f)
}

/// A server stopped between two revisions leaves a reference without its
/// schema and no record running. The next start keeps the live schema when
/// it still has the reference's fingerprint, so the drift check lists
/// differences again without waiting for an execution.
#[test]
fn a_reference_left_without_its_schema_between_two_revisions_is_kept_at_start() {
    let (t, mut f) = venues_deployed_on_dev();

    f.server.kill();
    let kept_schema = |f: &Fixture| -> String {
        f.open_catalog()
            .query_row(
                "SELECT schema_json FROM target_schemas WHERE environment = 'dev'",
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    assert!(kept_schema(&f).contains("venues"));
    f.open_catalog()
        .execute("UPDATE target_schemas SET schema_json = ''", [])
        .unwrap();

    f.restart(&[]);
    wait_for(
        Duration::from_secs(30),
        "the reference kept at start",
        || kept_schema(&f).contains("venues"),
    );
    execute(&f.dev, "CREATE INDEX venues_out_of_band ON venues (id)");
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 1, "{drift:#?}");
    assert!(drift.stdout.contains("venues_out_of_band"), "{drift:#?}");
}

#[test]
fn a_committed_execution_the_server_did_not_record_is_reconciled_at_start() {
    let (t, mut f) = venues_deployed_on_dev();
    let id = newest_execution(&f, &t.erin)["id"]
        .as_str()
        .unwrap()
        .to_string();

    // What a crash between the target's commit and the catalog's would
    // leave: the record still running and no schema reference.
    f.server.kill();
    let db = f.open_catalog();
    db.execute(
        "UPDATE executions SET state = 'running', finished_at_ms = NULL, fingerprint = '' WHERE id = ?1",
        [&id],
    )
    .unwrap();
    db.execute("DELETE FROM target_schemas", []).unwrap();
    drop(db);

    f.restart(&[]);
    wait_for(Duration::from_secs(30), "reconciliation at start", || {
        newest_execution(&f, &t.erin)["state"] == "succeeded"
    });
    let record = f.run(&t.erin, &["--json", "execution", &id]).json();
    assert!(
        record["error"].as_str().unwrap().contains("committed"),
        "{record:#}"
    );
    assert!(!record["fingerprint"].as_str().unwrap().is_empty());
    // The reference was rebuilt: no drift, and applied exactly once.
    assert!(
        f.run(&t.erin, &["drift", "--env", "dev"])
            .ok()
            .contains("no drift")
    );
    assert_eq!(applied(&f.dev), 1);
}

#[test]
fn a_target_connection_cut_mid_execution_fails_cleanly_and_a_retry_succeeds() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(&t, &[SLOW]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);

    let deploy = deploy_in_background(&f, &t.erin);
    wait_for(Duration::from_secs(30), "the revision to run", || {
        sleeping_executors(&f.dev) == 1
    });
    execute(
        &f.dev,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'schemagate apply by erin'",
    );
    let cut = deploy.join().unwrap();
    assert_eq!(cut.code, 1, "{cut:#?}");
    assert!(cut.stdout.contains("(FAILED)"), "{cut:#?}");
    assert!(!table_exists(&f.dev, "venues"));
    assert_eq!(applied(&f.dev), 0);
    let record = newest_execution(&f, &t.erin);
    assert_eq!(record["state"], "failed", "{record:#}");

    // Nothing is stuck: the gate opens again and the retry applies it once.
    f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"])
        .ok();
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert!(table_exists(&f.dev, "venues"));
    assert_eq!(applied(&f.dev), 1);
}

#[test]
fn an_unwritable_backup_directory_refuses_the_execution_with_its_reason() {
    let t = tokens();
    let mut f = Fixture::start(|p| p);
    f.submit(
        &t,
        &[(
            "0001_baseline",
            "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
            "DROP TABLE venues;\n",
        )],
    );
    f.approve(&t.carol, "0001_baseline", &["dev", "ci", "pilot"]);
    f.deploy(&t.erin, &["dev", "ci"]);
    // A path below a regular file cannot become a directory (this holds
    // for root too, unlike file permissions).
    let blocker = f.backups.path().join("not-a-directory");
    std::fs::write(&blocker, b"x").unwrap();
    let unwritable = blocker.join("backups");
    f.restart(&[("SCHEMAGATE_BACKUP_DIR", unwritable.to_str().unwrap())]);
    let out = f.run(&t.erin, &["deploy", "--env", "pilot"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("not writable"), "{out:#?}");
    assert!(out.stdout.contains("nothing ran"), "{out:#?}");
    assert!(!table_exists(&f.pilot, "venues"));
    assert_eq!(applied(&f.pilot), 0);

    // Without the variable at all, the reason names it.
    f.restart(&[("SCHEMAGATE_BACKUP_DIR", "")]);
    let out = f.run(&t.erin, &["deploy", "--env", "pilot"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("SCHEMAGATE_BACKUP_DIR"), "{out:#?}");
    assert!(!table_exists(&f.pilot, "venues"));
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// None when this process may not mount (not root, no CAP_SYS_ADMIN).
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_disk_filling_up_during_the_backup_refuses_the_execution_and_leaves_no_partial_dump() {
    let Some(disk) = SmallDisk::mount("256k") else {
        // CI runs as root; a developer without mount rights is told why.
        eprintln!("SKIPPED: mounting a 256 KiB tmpfs needs root (CAP_SYS_ADMIN)");
        return;
    };
    let t = tokens();
    let mut f = Fixture::start(|p| p);
    f.submit(
        &t,
        &[(
            "0001_baseline",
            "CREATE TABLE readings (n int PRIMARY KEY, noise text NOT NULL);\n",
            "DROP TABLE readings;\n",
        )],
    );
    f.approve(&t.carol, "0001_baseline", &["dev", "ci", "pilot"]);
    f.deploy(&t.erin, &["dev", "ci", "pilot"]);
    // Data that does not compress into 256 KiB: the dump starts, then the
    // disk is full.
    execute(
        &f.pilot,
        "INSERT INTO readings SELECT n, md5(n::text) || md5((n * 7)::text) \
         FROM generate_series(1, 40000) AS n",
    );
    f.submit(
        &t,
        &[(
            "0002_add_venues",
            "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
            "DROP TABLE venues;\n",
        )],
    );
    f.approve(&t.carol, "0002_add_venues", &["dev", "ci", "pilot"]);
    f.deploy(&t.erin, &["dev", "ci"]);
    f.restart(&[("SCHEMAGATE_BACKUP_DIR", disk.dir.path().to_str().unwrap())]);
    let out = f.run(&t.erin, &["deploy", "--env", "pilot"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("No space left on device"), "{out:#?}");
    assert!(out.stdout.contains("nothing ran"), "{out:#?}");
    assert!(!table_exists(&f.pilot, "venues"));
    assert_eq!(applied(&f.pilot), 1, "only the baseline");
    let left: Vec<_> = std::fs::read_dir(disk.dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the partial dump is removed: {left:?}");
    let status = f
        .run(&t.erin, &["--json", "status", "--env", "pilot"])
        .json();
    let record = &status["recent_executions"][0];
    assert_eq!(record["revision_id"], "0002_add_venues", "{record:#}");
    assert_eq!(record["state"], "failed", "{record:#}");
    assert!(
        record["error"]
            .as_str()
            .unwrap_or_default()
            .contains("No space left on device"),
        "{record:#}"
    );
}

#[test]
fn sigterm_lets_a_running_execution_finish_even_when_its_client_went_away() {
    let t = tokens();
    let mut f = Fixture::start(|p| p);
    f.submit(&t, &[SLOW]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);

    let mut client = spawn_deploy(&f, &t.erin);
    wait_for(Duration::from_secs(30), "the revision to run", || {
        sleeping_executors(&f.dev) == 1
    });
    client.kill().unwrap();
    client.wait().unwrap();

    let status = f.server.terminate(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the server exits cleanly after the execution: {status:?}\n{}",
        f.server.log()
    );
    assert!(table_exists(&f.dev, "venues"));
    assert_eq!(applied(&f.dev), 1);
    let log = f.server.log();
    assert!(log.contains("every running call finished"), "{log}");

    f.restart(&[]);
    let record = newest_execution(&f, &t.erin);
    assert_eq!(record["state"], "succeeded", "{record:#}");
}

/// A quick revision to follow `SLOW`.
const TAPS: (&str, &str, &str) = (
    "0002_add_taps",
    "CREATE TABLE taps (id bigint PRIMARY KEY);\n",
    "DROP TABLE taps;\n",
);

/// Submits `SLOW` then `TAPS`, approved on dev, and starts a deploy of both
/// that is running `SLOW` when this returns.
fn deploying_slow_then_taps(t: &Tokens, f: &Fixture) -> std::thread::JoinHandle<Run> {
    f.submit(t, &[SLOW, TAPS]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    f.approve(&t.carol, "0002_add_taps", &["dev"]);
    let deploy = deploy_in_background(f, &t.erin);
    wait_for(Duration::from_secs(30), "the slow revision to run", || {
        sleeping_executors(&f.dev) == 1
    });
    deploy
}

#[test]
fn a_freeze_while_a_revision_runs_refuses_the_next_one() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    let deploy = deploying_slow_then_taps(&t, &f);
    // The next revision's record, written while the slow one runs, is
    // shown queued, not running.
    let states = || {
        let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
        status["recent_executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["revision_id"].as_str().unwrap().to_string(),
                    e["state"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    wait_for(
        Duration::from_secs(10),
        "the next record written ahead",
        || states().len() == 2,
    );
    assert_eq!(
        states(),
        [
            ("0002_add_taps".to_string(), "queued".to_string()),
            ("0001_baseline".to_string(), "running".to_string())
        ]
    );
    f.run(
        &t.root,
        &["freeze", "--env", "dev", "--reason", "incident 42"],
    )
    .ok();
    let run = deploy.join().unwrap();
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout.contains("frozen by root: incident 42"),
        "{run:#?}"
    );
    assert!(table_exists(&f.dev, "venues"));
    assert!(!table_exists(&f.dev, "taps"));
    // Each record starts when its revision does: the refused one took no
    // time, though it was written while the slow one ran.
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    let record = |revision: &str| {
        status["recent_executions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["revision_id"] == revision)
            .cloned()
            .unwrap()
    };
    assert_eq!(record("0002_add_taps")["state"], "refused", "{status:#}");
    assert!(
        record("0002_add_taps")["duration_seconds"]
            .as_f64()
            .unwrap()
            < 2.0,
        "{status:#}"
    );
    assert!(
        record("0001_baseline")["duration_seconds"]
            .as_f64()
            .unwrap()
            >= 4.0,
        "{status:#}"
    );
}

#[test]
fn an_interrupted_deploy_stops_before_the_next_revision() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(&t, &[SLOW, TAPS]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    f.approve(&t.carol, "0002_add_taps", &["dev"]);
    let deploy = spawn_deploy(&f, &t.erin);
    wait_for(Duration::from_secs(30), "the slow revision to run", || {
        sleeping_executors(&f.dev) == 1
    });
    let interrupted = interrupt(deploy);
    let said = String::from_utf8_lossy(&interrupted.stderr);
    assert!(
        said.contains("interrupted: the server finishes the revision it is running and stops before the next one"),
        "{said}"
    );
    // The revision that ran commits; the next one never starts.
    wait_for(Duration::from_secs(30), "the execution to end", || {
        executors(&f.dev) == 0
    });
    assert_eq!(applied_ids(&f.dev), vec!["0001_baseline".to_string()]);
    assert!(!table_exists(&f.dev, "taps"));
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    let states: Vec<(&str, &str)> = status["recent_executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["revision_id"].as_str().unwrap(),
                e["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(states, vec![("0001_baseline", "succeeded")], "{status:#}");
    assert!(
        f.server
            .log()
            .contains("stopped before 0002_add_taps: the client that asked for it went away"),
        "{}",
        f.server.log()
    );
    // Deploying again goes on from there.
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert!(table_exists(&f.dev, "taps"));
}

#[test]
fn a_deploy_interrupted_during_its_backup_runs_nothing() {
    let t = tokens();
    let mut f = Fixture::start(|p| {
        p.replacen(
            "backup = false\n",
            "backup = true\nbackup_dir_env = \"SCHEMAGATE_BACKUP_DIR\"\n",
            1,
        )
    });
    // A pg_dump that takes its time, and says when it started.
    let bin = tempfile::tempdir().unwrap();
    let started = bin.path().join("pg_dump.started");
    let real = |program: &str| {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .unwrap();
        String::from_utf8(found.stdout).unwrap().trim().to_string()
    };
    let wrapper = bin.path().join("pg_dump");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ntouch '{}'\nsleep 3\nexec '{}' \"$@\"\n",
            started.display(),
            real("pg_dump")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(real("pg_restore"), bin.path().join("pg_restore")).unwrap();
    f.restart(&[("SCHEMAGATE_PG_BIN", bin.path().to_str().unwrap())]);
    f.submit(&t, &[SLOW]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);

    let deploy = spawn_deploy(&f, &t.erin);
    wait_for(Duration::from_secs(30), "the backup to start", || {
        started.exists()
    });
    let interrupted = interrupt(deploy);
    wait_for(Duration::from_secs(30), "the execution to stop", || {
        f.server
            .log()
            .contains("stopped before 0001_baseline: the client that asked for it went away; nothing ran (the backup taken first is kept: ")
    });
    assert!(applied_ids(&f.dev).is_empty());
    assert!(!table_exists(&f.dev, "venues"));
    // The execution the client was pointed at is on record, as one that ran
    // nothing, with its backup.
    let stderr = String::from_utf8_lossy(&interrupted.stderr);
    let id = stderr
        .split("see `sgctl execution ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no execution named: {stderr}"));
    let record = f.run(&t.erin, &["--json", "execution", id]).json();
    assert_eq!(record["state"], "refused", "{record}");
    assert_eq!(record["statements_run"], 0, "{record}");
    let error = record["error"].as_str().unwrap();
    assert!(error.contains("nothing ran"), "{record}");
    assert!(record["backup_path"].as_str().is_some(), "{record}");
    // Deploying again runs it.
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert_eq!(applied_ids(&f.dev), vec!["0001_baseline".to_string()]);
}

#[test]
fn a_server_asked_to_stop_finishes_the_running_revision_and_runs_no_other() {
    let t = tokens();
    let mut f = Fixture::start(|p| p);
    let deploy = deploying_slow_then_taps(&t, &f);
    let stopped = f.server.terminate(Duration::from_secs(60));
    assert!(stopped.is_some(), "the server did not stop");
    let run = deploy.join().unwrap();
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr
            .contains("stopped before 0002_add_taps: the server is shutting down; 0001_baseline is applied, 1 revision(s) did not run (0002_add_taps); deploy again to go on"),
        "{run:#?}"
    );
    assert!(table_exists(&f.dev, "venues"));
    assert!(!table_exists(&f.dev, "taps"));
}
