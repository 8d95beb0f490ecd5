//! The long-running `sg-agent` end to end: it checks the journal's
//! integrity on the first report and then every Nth, dates the result it
//! repeats in between, counts unsynced pours right while the controller
//! pours and syncs, and the server stores and lists the check's time. Two
//! agents under one controller id are flagged `duplicate_agent`; an agent
//! started again is not.

use prost::Message;
use schemagate_client::v1::JournalReport;
use schemagate_e2e::controller_sim::{Controller, JournalOptions};
use schemagate_e2e::{SECRET, Server, bin_dir, token, wait_for};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CONTROLLER: &str = "bar7-tap1";

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An agent token for `controller`.
fn agent_token(controller: &str) -> String {
    schemagate_client::token::mint(
        SECRET,
        controller,
        &["agent".to_string()],
        Some(controller),
        3600,
        now_seconds(),
    )
    .unwrap()
}

/// Every report the server kept for the controller, oldest first, read
/// from its SQLite catalog.
fn stored_reports(server: &Server) -> Vec<JournalReport> {
    stored_reports_of(server, CONTROLLER)
}

fn stored_reports_of(server: &Server, controller: &str) -> Vec<JournalReport> {
    let catalog = server
        .database_url
        .strip_prefix("sqlite://")
        .expect("a SQLite catalog");
    let conn =
        rusqlite::Connection::open_with_flags(catalog, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the catalog");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let Ok(mut rows) = conn
        .prepare("SELECT report_hex FROM journal_reports WHERE controller_id = ?1 ORDER BY seq")
    else {
        return Vec::new(); // not created yet
    };
    rows.query_map([controller], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|hex_text| {
            let bytes = hex::decode(hex_text.unwrap()).unwrap();
            JournalReport::decode(bytes.as_slice()).unwrap()
        })
        .collect()
}

fn key(ts: &Option<prost_types::Timestamp>) -> (i64, i32) {
    let ts = ts.expect("a timestamp");
    (ts.seconds, ts.nanos)
}

/// Polls until the server stored `count` reports, within a minute.
fn wait_for_reports(server: &Server, count: usize) -> Vec<JournalReport> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reports = stored_reports(server);
        if reports.len() >= count {
            return reports;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} reports stored after a minute",
            reports.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn unsynced(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM pours WHERE coalesce(synced, 0) = 0",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn a_long_running_agent_checks_every_nth_report_and_dates_the_result_it_repeats() {
    let server = Server::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let controller = Controller::create(
        &dir.path().join("journal.db"),
        &JournalOptions {
            pours: 2000,
            unsynced: 40,
            ..JournalOptions::default()
        },
    )
    .unwrap();
    // Pours every 20 ms and syncs the older ones every 50 pours.
    let writer = controller.start_writer(Duration::from_millis(20)).unwrap();
    let agent_token = agent_token(CONTROLLER);
    let mut agent = Command::new(bin_dir().join("sg-agent"))
        .arg("--journal")
        .arg(controller.path())
        .args(["--controller-id", CONTROLLER, "--interval", "1s"])
        .args(["--integrity-every", "3"])
        .env_clear()
        .env("SCHEMAGATE_TOKEN", &agent_token)
        .env("SCHEMAGATE_SERVER", &server.address)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sg-agent");

    wait_for_reports(&server, 4);
    let stats = writer.stop();
    assert_eq!(stats.busy, 0, "the agent blocked the controller: {stats:?}");
    assert!(stats.errors.is_empty(), "{stats:?}");
    let quiet_since = now_seconds() + 1;
    let backlog = unsynced(controller.path());
    let before = stored_reports(&server).len();
    let reports = wait_for_reports(&server, before + 5);
    let _ = agent.kill();
    let _ = agent.wait();

    // The first report checked; every report carries a passing check no
    // later than itself, and one check serves at most 3 reports.
    let first = &reports[0];
    assert_eq!(key(&first.quick_check_at), key(&first.observed_at));
    let mut serving = 0;
    for (i, pair) in reports.windows(2).enumerate() {
        let report = &pair[1];
        assert_eq!(report.status, "ok", "{report:#?}");
        assert_eq!(report.quick_check, "ok", "{report:#?}");
        assert!(key(&report.quick_check_at) <= key(&report.observed_at));
        if key(&report.quick_check_at) == key(&pair[0].quick_check_at) {
            serving += 1;
            assert!(serving < 3, "report {}: a check served 4 reports", i + 1);
        } else {
            serving = 0;
        }
    }
    let repeated = reports
        .iter()
        .filter(|r| key(&r.quick_check_at) < key(&r.observed_at))
        .count();
    let checked = reports.len() - repeated;
    assert!(
        repeated > 0 && checked > 0,
        "{checked} checked, {repeated} repeated"
    );

    // Once the controller is quiet every report counts its backlog exactly,
    // the ones counted from the watermark included.
    let quiet: Vec<&JournalReport> = reports
        .iter()
        .filter(|r| r.observed_at.unwrap().seconds > quiet_since)
        .collect();
    assert!(!quiet.is_empty());
    for report in quiet {
        assert_eq!(report.unsynced_pours, backlog, "{report:#?}");
    }

    // The server lists the check's time.
    let reader = token("ops", &["developer"]);
    let listed = server.sgctl(&reader, &["--json", "controllers"]).json();
    let checked_at = listed["controllers"][0]["last_report"]["quick_check_at"]
        .as_str()
        .unwrap_or_default();
    assert!(checked_at.ends_with('Z'), "{listed:#}");
    let table = server.sgctl(&reader, &["controllers"]).ok().to_string();
    assert!(table.contains("CHECKED"), "{table}");
    assert!(table.contains(checked_at), "{table}");
}

/// Agent daemons, killed when the test ends, passing or not: they would
/// otherwise retry a vanished server for ever.
struct Daemons(Vec<std::process::Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for daemon in &mut self.0 {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}

/// The audit's case: two controllers run an agent under one id (a cloned
/// SD card), one journal healthy and one not. Run from cron (`--once`),
/// one controller's runs are one instance and are not flagged; runs of
/// the two that alternate are two instances, and the controller is
/// flagged `duplicate_agent`. Running side by side as daemons, their
/// reports alternate too and the controller is flagged, with the instance
/// that reported last. (The two agents run on one machine here: what
/// tells their `--once` instances apart is the journal's path, on two
/// controllers also their hardware.)
#[test]
fn two_agents_under_one_controller_id_are_flagged_from_cron_and_as_daemons() {
    const CLONED: &str = "bar8-tap1";
    const CLONED_FROM_CRON: &str = "bar8-tap2";
    let server = Server::sqlite();
    let reader = token("ops", &["developer"]);
    let dir = tempfile::tempdir().unwrap();
    let healthy = Controller::create(&dir.path().join("a.db"), &JournalOptions::default()).unwrap();
    let rollback = Controller::create(
        &dir.path().join("b.db"),
        &JournalOptions {
            wal: false,
            ..JournalOptions::default()
        },
    )
    .unwrap();
    let agent = |controller: &str, journal: &Path, once: bool| {
        let mut command = Command::new(bin_dir().join("sg-agent"));
        command
            .arg("--journal")
            .arg(journal)
            .args(["--controller-id", controller, "--interval", "1s"])
            .env_clear()
            .env("SCHEMAGATE_TOKEN", agent_token(controller))
            .env("SCHEMAGATE_SERVER", &server.address)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if once {
            command.arg("--once");
        }
        command
    };
    let listed = |controller: &str| {
        let listed = server.sgctl(&reader, &["--json", "controllers"]).json();
        let view = listed["controllers"].as_array().and_then(|views| {
            views
                .iter()
                .find(|view| view["controller_id"] == controller)
                .cloned()
        });
        (view, listed)
    };
    let view_of = |controller: &str| {
        let (view, listed) = listed(controller);
        view.unwrap_or_else(|| panic!("{controller} not listed: {listed:#}"))
    };
    let is_flagged =
        |view: &serde_json::Value| view["flags"].to_string().contains("duplicate_agent");
    let flagged = |controller: &str| is_flagged(&view_of(controller));

    let run_once = |journal: &Path| {
        let output = agent(CLONED_FROM_CRON, journal, true)
            .stdout(Stdio::piped())
            .output()
            .expect("run sg-agent --once");
        assert!(output.status.success());
        let printed = String::from_utf8_lossy(&output.stdout).to_string();
        let instance = stored_reports_of(&server, CLONED_FROM_CRON)
            .pop()
            .map(|report| report.agent_instance)
            .unwrap_or_default();
        assert!(
            printed.contains(&format!(
                "reported {CLONED_FROM_CRON} as agent instance {instance}: status ok"
            )),
            "{printed}"
        );
    };
    for _ in 0..3 {
        run_once(healthy.path());
    }
    let instances = || -> Vec<String> {
        stored_reports_of(&server, CLONED_FROM_CRON)
            .into_iter()
            .map(|r| r.agent_instance)
            .collect()
    };
    let from_cron = instances();
    assert_eq!(from_cron.len(), 3);
    assert!(
        from_cron.iter().all(|instance| *instance == from_cron[0]),
        "one controller's runs are one instance (unless this machine has neither a network hardware address nor /etc/machine-id): {from_cron:?}"
    );
    assert!(
        !flagged(CLONED_FROM_CRON),
        "{:#}",
        view_of(CLONED_FROM_CRON)
    );
    run_once(rollback.path());
    run_once(healthy.path());
    let from_cron = instances();
    assert_ne!(from_cron[3], from_cron[0], "{from_cron:?}");
    assert_eq!(from_cron[4], from_cron[0], "{from_cron:?}");
    assert!(flagged(CLONED_FROM_CRON), "{:#}", view_of(CLONED_FROM_CRON));

    let mut daemons = Daemons(
        [healthy.path(), rollback.path()]
            .map(|journal| {
                agent(CLONED, journal, false)
                    .spawn()
                    .expect("start sg-agent")
            })
            .into(),
    );
    // Not listed yet (neither daemon has reported) is not flagged yet.
    wait_for(Duration::from_secs(30), "duplicate_agent", || {
        listed(CLONED).0.as_ref().is_some_and(is_flagged)
    });
    let table = server.sgctl(&reader, &["controllers"]).ok().to_string();
    let mut printed = String::new();
    for daemon in &mut daemons.0 {
        let _ = daemon.kill();
        let _ = daemon.wait();
        std::io::Read::read_to_string(&mut daemon.stderr.take().unwrap(), &mut printed).unwrap();
    }
    // Each daemon printed its instance on start; the table names the one
    // that reported last, which is one of them.
    let started: Vec<&str> = printed
        .lines()
        .filter_map(|line| line.split("as agent instance ").nth(1))
        .collect();
    assert_eq!(started.len(), 2, "{printed}");
    let last = table
        .lines()
        .filter(|line| line.contains(CLONED))
        .find_map(|line| line.split("(the last from instance ").nth(1))
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no duplicate_agent line: {table}"));
    assert!(started.contains(&last), "{last} not in {started:?}");
    drop((healthy, rollback));
}
