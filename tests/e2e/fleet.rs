//! The fleet view end to end: simulated controllers' journals read by the
//! real `sg-agent --once`, reported to the real server, and listed with their
//! flags by `sgctl controllers`.

use schemagate_e2e::controller_sim::{Controller, JournalOptions, snapshot};
use schemagate_e2e::{Run, Server, bin_dir, sgctl, token};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// An agent token for `controller_id`, as an operator would mint it.
fn agent_token(controller_id: &str) -> String {
    sgctl(
        &[
            "token",
            "mint",
            "--sub",
            controller_id,
            "--role",
            "agent",
            "--controller-id",
            controller_id,
        ],
        &[],
    )
    .ok()
    .trim()
    .to_string()
}

/// Runs `sg-agent --once` against `server` (an address) with `token`.
fn agent(server: &str, token: Option<&str>, journal: &Path, id: &str, extra: &[&str]) -> Run {
    let mut command = Command::new(bin_dir().join("sg-agent"));
    command
        .arg("--journal")
        .arg(journal)
        .args(["--controller-id", id, "--once"])
        .args(extra)
        .env_remove("SCHEMAGATE_TOKEN")
        .env("SCHEMAGATE_SERVER", server);
    if let Some(token) = token {
        command.env("SCHEMAGATE_TOKEN", token);
    }
    let output = command.output().expect("run sg-agent");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Reports once for `id` with its own token and asserts delivery.
fn report(server: &Server, journal: &Path, id: &str, extra: &[&str]) -> String {
    let run = agent(&server.address, Some(&agent_token(id)), journal, id, extra);
    run.ok().to_string()
}

/// `sgctl --json controllers [--flag F]` as controller id → its JSON view
/// (`controller_id`, `last_report_at`, `flags`, `last_report`).
fn controllers(server: &Server, reader: &str, flag: Option<&str>) -> BTreeMap<String, Value> {
    let mut args = vec!["--json", "controllers"];
    if let Some(flag) = flag {
        args.extend(["--flag", flag]);
    }
    let listed = server.sgctl(reader, &args).json();
    assert!(
        ["configured", "majority"].contains(&listed["schema_reference"].as_str().unwrap()),
        "{listed:#}"
    );
    listed["controllers"]
        .as_array()
        .expect("a JSON array of controllers")
        .iter()
        .map(|c| (c["controller_id"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

fn flags(view: &Value) -> Vec<&str> {
    view["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

#[test]
fn agents_report_and_each_controller_is_flagged_for_what_is_wrong() {
    let server = Server::sqlite();
    let reader = token("ops", &["developer"]);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);

    let healthy = Controller::create(&path("healthy.db"), &JournalOptions::default()).unwrap();
    let rollback = Controller::create(
        &path("rollback.db"),
        &JournalOptions {
            wal: false,
            ..JournalOptions::default()
        },
    )
    .unwrap();
    let extra = Controller::create(
        &path("extra.db"),
        &JournalOptions {
            extra_column: true,
            ..JournalOptions::default()
        },
    )
    .unwrap();
    let stopped = Controller::create(&path("stopped.db"), &JournalOptions::default()).unwrap();

    // The one that goes quiet reports first, with a short interval. Its
    // report is dated between these two instants; the staleness clock
    // starts at that date, so only the earlier one bounds it from below.
    let before_report = Instant::now();
    let out = report(&server, stopped.path(), "bar1-tap1", &["--interval", "1s"]);
    assert!(out.contains("status ok"), "{out}");

    // The healthy controller keeps pouring while its agent reads.
    let writer = healthy.start_writer(Duration::from_millis(5)).unwrap();
    let out = report(&server, healthy.path(), "bar3-tap2", &[]);
    assert!(out.contains("journal_mode wal"), "{out}");
    let stats = writer.stop();
    assert_eq!(stats.busy, 0, "the agent blocked the controller: {stats:?}");
    assert!(stats.errors.is_empty(), "{stats:?}");

    let before = snapshot(rollback.path());
    let out = report(&server, rollback.path(), "bar4-tap1", &[]);
    assert!(out.contains("journal_mode delete"), "{out}");
    assert!(
        snapshot(rollback.path()) == before,
        "the agent changed the journal"
    );

    report(&server, extra.path(), "bar5-tap3", &[]);

    // Stale once 3 intervals (3 s) pass without a report: poll, bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !controllers(&server, &reader, Some("stale")).contains_key("bar1-tap1") {
        assert!(
            Instant::now() < deadline,
            "bar1-tap1 not flagged stale {:?} after its only report",
            before_report.elapsed()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        before_report.elapsed() >= Duration::from_secs(3),
        "flagged stale {:?} after the report began",
        before_report.elapsed()
    );

    let all = controllers(&server, &reader, None);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(flags(&all["bar3-tap2"]), Vec::<&str>::new(), "{all:#?}");
    assert_eq!(flags(&all["bar4-tap1"]), ["not_wal"], "{all:#?}");
    assert_eq!(flags(&all["bar5-tap3"]), ["schema_drift"], "{all:#?}");
    assert_eq!(flags(&all["bar1-tap1"]), ["stale"], "{all:#?}");

    let healthy_view = &all["bar3-tap2"]["last_report"];
    assert_eq!(healthy_view["status"], "ok");
    assert_eq!(healthy_view["status_detail"], Value::Null);
    assert_eq!(healthy_view["interval_seconds"], 30, "{healthy_view:#}");
    assert!(healthy_view["observed_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        healthy_view["page_count"].as_u64().unwrap() > 0,
        "{healthy_view:#}"
    );
    assert!(
        healthy_view["newest_pour_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(healthy_view["journal_mode"], "wal");
    assert_eq!(healthy_view["quick_check"], "ok");
    assert_eq!(healthy_view["user_version"], 3);
    let pours = healthy_view["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "pours")
        .expect("pours reported");
    assert!(pours["row_count"].as_u64().unwrap() >= 20, "{pours}");
    assert_eq!(pours["ddl_sha256"].as_str().unwrap().len(), 64);
    assert!(healthy_view["unsynced_pours"].as_i64().unwrap() >= 0);
    assert_eq!(all["bar4-tap1"]["last_report"]["journal_mode"], "delete");
    assert_eq!(all["bar4-tap1"]["last_report"]["wal_size_bytes"], 0);

    for flag in ["not_wal", "schema_drift"] {
        let only = controllers(&server, &reader, Some(flag));
        assert_eq!(only.len(), 1, "--flag {flag}: {only:#?}");
    }
    drop((healthy, rollback, extra, stopped));
}

#[test]
fn a_missing_journal_is_reported_and_flagged_unreadable() {
    let server = Server::sqlite();
    let reader = token("ops", &["developer"]);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("not-there.db");

    let out = report(&server, &journal, "bar6-tap1", &[]);
    assert!(out.contains("status missing"), "{out}");
    assert!(
        out.contains("journal_mode -, - tables, quick_check -"),
        "nothing was read, so nothing is counted: {out}"
    );
    assert!(!journal.exists(), "the agent created the journal");

    let all = controllers(&server, &reader, None);
    let missing = &all["bar6-tap1"]["last_report"];
    assert_eq!(missing["status"], "missing");
    assert!(missing["status_detail"].is_string(), "{missing:#}");
    // Nothing was read, so no journal figure is given, not even 0.
    for figure in ["user_version", "page_count", "tables", "unsynced_pours"] {
        assert_eq!(missing[figure], Value::Null, "{figure}: {missing:#}");
    }
    assert!(flags(&all["bar6-tap1"]).contains(&"unreadable"), "{all:#?}");
    let table = server.sgctl(&reader, &["controllers"]).ok().to_string();
    let row = table.lines().find(|l| l.starts_with("bar6-tap1")).unwrap();
    let columns: Vec<&str> = row.split_whitespace().collect();
    // CONTROLLER, LAST REPORT, STATUS, then MODE, TABLES, UNSYNCED, CHECK, CHECKED.
    assert_eq!(
        columns[2..8],
        ["missing", "-", "-", "-", "-", "-"],
        "{table}"
    );
    // Why, below the table: the detail the agent sent.
    let detail = missing["status_detail"].as_str().unwrap();
    assert!(
        table.contains(&format!("bar6-tap1: missing: {detail}")),
        "{table}"
    );
}

#[test]
fn reports_without_the_right_token_are_refused_and_nothing_is_stored() {
    let server = Server::sqlite();
    let reader = token("ops", &["developer"]);
    let dir = tempfile::tempdir().unwrap();
    let controller =
        Controller::create(&dir.path().join("j.db"), &JournalOptions::default()).unwrap();

    // A token minted for another controller.
    let other = agent_token("bar3-tap2");
    agent(
        &server.address,
        Some(&other),
        controller.path(),
        "bar9-tap1",
        &[],
    )
    .fails(4, "permission denied");

    // No token, and a token without the agent role.
    agent(&server.address, None, controller.path(), "bar9-tap1", &[]).fails(
        4,
        "SCHEMAGATE_TOKEN is not set: export an agent token minted for this controller, e.g.\n  export SCHEMAGATE_TOKEN=$(sgctl token mint --sub bar9-tap1 --role agent --controller-id bar9-tap1)",
    );
    let developer = token("alice", &["developer"]);
    agent(
        &server.address,
        Some(&developer),
        controller.path(),
        "bar9-tap1",
        &[],
    )
    .fails(4, "permission denied");

    // A controller id the server would refuse is bad usage, caught locally.
    agent(
        &server.address,
        Some(&other),
        controller.path(),
        "bar 9",
        &[],
    )
    .fails(2, "controller id 'bar 9' must be 1 to 64 letters");

    // The daemon stops on a refused token rather than retrying forever.
    let mut daemon = Command::new(bin_dir().join("sg-agent"))
        .arg("--journal")
        .arg(controller.path())
        .args(["--controller-id", "bar9-tap1", "--interval", "1s"])
        .env("SCHEMAGATE_TOKEN", &other)
        .env("SCHEMAGATE_SERVER", &server.address)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sg-agent");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = daemon.kill();
            panic!("the daemon kept running with a refused token");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("sg-agent: stopping: the server refused the token (permission denied"),
        "{stderr}"
    );

    // An interval the server would refuse is bad usage, caught locally.
    agent(
        &server.address,
        Some(&other),
        controller.path(),
        "bar3-tap2",
        &["--interval", "0s"],
    )
    .fails(2, "between 1s and 1d");

    assert!(
        controllers(&server, &reader, None).is_empty(),
        "a refused report was stored"
    );

    // No server at all.
    agent(
        "http://127.0.0.1:1",
        Some(&other),
        controller.path(),
        "bar3-tap2",
        &[],
    )
    .fails(3, "cannot reach the server");
}

/// A well-formed report for `id`; `unsynced_pours` tells reports apart.
fn journal_report(id: &str, unsynced_pours: i64) -> schemagate_client::v1::JournalReport {
    schemagate_client::v1::JournalReport {
        controller_id: id.into(),
        interval_seconds: 30,
        status: "ok".into(),
        journal_mode: "wal".into(),
        quick_check: "ok".into(),
        unsynced_pours,
        tables: vec![schemagate_client::v1::JournalTable {
            name: "pours".into(),
            ddl_sha256: "a".repeat(64),
            row_count: 10,
        }],
        ..Default::default()
    }
}

/// 200 reports from 20 controllers at once, with refused ones among them,
/// through the server's batching report writer: every good report is
/// acknowledged and stored, every bad one refused with its own status and
/// nothing stored for it; the latest row is the last report acknowledged.
fn concurrent_reports_are_stored_and_bad_ones_refused(mut server: Server) {
    use schemagate_client::connect::Connection;
    use tonic::Code;
    const CONTROLLERS: usize = 20;
    const EACH: i64 = 10;
    let ids: Vec<String> = (0..CONTROLLERS)
        .map(|i| format!("bar{i:02}-tap1"))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token_of = |id: &str| {
        let roles = ["agent".to_string()];
        schemagate_client::token::mint(schemagate_e2e::SECRET, id, &roles, Some(id), 3600, now)
            .unwrap()
    };

    schemagate_e2e::block_on(async {
        let mut connections = Vec::new();
        for id in &ids {
            let token = token_of(id);
            connections.push(
                Connection::open(&server.address, Some(&token))
                    .await
                    .unwrap(),
            );
        }
        let mut calls = tokio::task::JoinSet::new();
        for n in 0..EACH {
            for (i, id) in ids.iter().enumerate() {
                let connection = connections[i].clone();
                let mut report = journal_report(id, n);
                // In the middle of the burst: a malformed report and one
                // for another controller, from the same callers.
                let expected = match (n, i) {
                    (5, 7) => {
                        report.journal_mode = "banana".into();
                        Code::InvalidArgument
                    }
                    (5, 8) => {
                        report.controller_id = "bar99-tap1".into();
                        Code::PermissionDenied
                    }
                    _ => Code::Ok,
                };
                calls.spawn(async move {
                    let answer = connection.fleet().report_journal_state(report).await;
                    (expected, answer.map(|_| ()).map_err(|status| status.code()))
                });
            }
        }
        let mut acknowledged = 0;
        while let Some(done) = calls.join_next().await {
            match done.unwrap() {
                (Code::Ok, Ok(())) => acknowledged += 1,
                (expected, Err(code)) => assert_eq!(code, expected),
                (expected, Ok(())) => panic!("a report expecting {expected:?} was stored"),
            }
        }
        assert_eq!(acknowledged, CONTROLLERS * EACH as usize - 2);
        // Then one marked report each, after every other was acknowledged.
        for (i, id) in ids.iter().enumerate() {
            connections[i]
                .fleet()
                .report_journal_state(journal_report(id, 999))
                .await
                .unwrap();
        }
    });

    let reader = token("ops", &["developer"]);
    let all = controllers(&server, &reader, None);
    assert_eq!(all.len(), CONTROLLERS, "{all:#?}");
    assert!(!all.contains_key("bar99-tap1"));
    for id in &ids {
        let report = &all[id]["last_report"];
        assert_eq!(report["unsynced_pours"], 999, "{id}: {report:#}");
        assert_eq!(report["journal_mode"], "wal", "{id}: {report:#}");
    }
    let counts: Vec<(String, i64, i64)> = schemagate_e2e::block_on(async {
        let db = schemagate_server::db::Db::connect(&server.database_url)
            .await
            .unwrap();
        sqlx::query_as(
            "SELECT c.controller_id, c.report_count, (SELECT COUNT(*) FROM journal_reports j WHERE j.controller_id = c.controller_id) FROM controllers c ORDER BY c.controller_id",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap()
    });
    let stored = |id: &str| counts.iter().find(|c| c.0 == id).map(|c| (c.1, c.2));
    for (i, id) in ids.iter().enumerate() {
        // bar07 and bar08 each had one report refused.
        let sent = if i == 7 || i == 8 { EACH } else { EACH + 1 };
        assert_eq!(stored(id), Some((sent, sent)), "{id}: {counts:?}");
    }

    // A clean stop: the writer is stopped after the calls drained.
    let status = server.terminate(Duration::from_secs(20)).expect("exited");
    assert!(status.success(), "{status:?}\n{}", server.log());
    let log = server.log();
    assert!(log.contains("fleet report writer stopped"), "{log}");
}

#[test]
fn concurrent_reports_on_a_sqlite_catalog() {
    concurrent_reports_are_stored_and_bad_ones_refused(Server::sqlite());
}

#[test]
fn concurrent_reports_on_a_postgres_catalog() {
    concurrent_reports_are_stored_and_bad_ones_refused(Server::postgres());
}
