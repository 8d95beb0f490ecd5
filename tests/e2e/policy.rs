//! The policy file: loaded at start, exposed with its sha256, and a broken
//! file stops the server with a message naming the line.

use schemagate_e2e::{Server, token};
use std::path::Path;

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/schemagate.toml")
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_loaded_policy_is_served_with_its_hash_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let dev_url = "postgres://deployer:hunter2@127.0.0.1:1/app";
    let server = Server::start(
        &url,
        &[
            ("SCHEMAGATE_CONFIG", &example()),
            ("SCHEMAGATE_TARGET_DEV_URL", dev_url),
            ("SCHEMAGATE_TARGET_CI_URL", "mysql://root@127.0.0.1/app"),
        ],
    );
    let approver = token("carol", &["approver"]);
    let policy = server.sgctl(&approver, &["--json", "policy"]).json();
    assert_eq!(
        policy["environments"],
        serde_json::json!(["dev", "ci", "pilot"])
    );
    let source = std::fs::read_to_string(example()).unwrap();
    assert_eq!(policy["source"], source);
    let human = server.sgctl(&approver, &["policy"]).ok().to_string();
    assert!(human.contains("dev -> ci -> pilot"), "{human}");

    // What each environment demands, with its target's variable as the
    // server sees it; the URL itself (and its password) is never sent.
    let details = &policy["details"];
    let targets: Vec<&str> = (0..3)
        .map(|i| details[i]["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["set", "not a postgres:// URL", "unset"]);
    assert_eq!(details[2]["target_url_env"], "SCHEMAGATE_TARGET_PILOT_URL");
    assert_eq!(details[2]["windows"], "mon-fri 13:00-17:00 (Europe/Berlin)");
    assert_eq!(
        details[2]["backup"],
        "pg_dump into $SCHEMAGATE_BACKUP_DIR (unset)"
    );
    assert_eq!(details[0]["backup"], "no");
    assert_eq!(details[2]["rollback"], "2 approvals from approver");
    assert_eq!(details[2]["destructive"], "forbidden");
    assert_eq!(
        details[2]["matrix"]["rollback"],
        serde_json::json!({ "forbidden": false, "approvals": 2, "roles": ["approver"] })
    );
    assert_eq!(
        details[2]["matrix"]["destructive"],
        serde_json::json!({ "forbidden": true, "approvals": 0, "roles": [] })
    );
    assert_eq!(details[0]["matrix"]["additive"]["approvals"], 1);
    assert_eq!(details[2]["lock_timeout"], "3s");
    assert!(
        policy["emergency"]
            .as_str()
            .unwrap()
            .ends_with("1 admin and 2 approvers, each with a written reason"),
        "{policy:#}"
    );
    for line in [
        "ENVIRONMENT  TARGET",
        "dev          $SCHEMAGATE_TARGET_DEV_URL (set)",
        "pilot        $SCHEMAGATE_TARGET_PILOT_URL (unset)",
        "mon-fri 13:00-17:00 (Europe/Berlin)",
        "lock 3s, statement 2min",
        "ENVIRONMENT  ADDITIVE",
        "1 approval from approver  2 approvals from approver  forbidden",
    ] {
        assert!(human.contains(line), "{line} in:\n{human}");
    }
    let answers = format!("{policy}{human}");
    assert!(
        !answers.contains("hunter2") && !answers.contains(dev_url),
        "{answers}"
    );
    let sha = policy["sha256"].as_str().unwrap();
    let audit = server.sgctl(&approver, &["--json", "audit"]).json();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "policy.load" && e["detail"].as_str().unwrap().contains(sha)),
        "{audit:#}"
    );

    let bare = Server::sqlite();
    bare.sgctl(&approver, &["policy"])
        .fails(1, "SCHEMAGATE_CONFIG");
}

#[test]
fn status_shows_what_the_catalog_knows_when_the_target_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let server = Server::start(
        &url,
        &[
            ("SCHEMAGATE_CONFIG", &example()),
            // A server that answers, with no such database: a refusal, not an outage.
            (
                "SCHEMAGATE_TARGET_CI_URL",
                &schemagate_e2e::postgres().url_for("no_such_database"),
            ),
            // Nothing listens on port 1.
            (
                "SCHEMAGATE_TARGET_DEV_URL",
                "postgres://app:hunter2@127.0.0.1:1/app",
            ),
        ],
    );
    let erin = token("erin", &["deployer"]);
    let root = token("root", &["admin"]);
    // Status answers for a project the catalog knows.
    server.sgctl(&erin, &["status", "--env", "dev"]).fails(
        1,
        "project default has no revisions in the catalog: check --project",
    );
    let revisions = tempfile::tempdir().unwrap();
    std::fs::write(
        revisions.path().join("0001_baseline.up.sql"),
        "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
    )
    .unwrap();
    server
        .sgctl(
            &token("alice", &["developer"]),
            &["submit", revisions.path().to_str().unwrap()],
        )
        .ok();
    server
        .sgctl(
            &root,
            &["freeze", "--env", "dev", "--reason", "INC-7: target down"],
        )
        .ok();

    let down = server.sgctl(&erin, &["status", "--env", "dev"]);
    assert_eq!(down.code, 3, "the target did not answer: {down:#?}");
    for line in [
        "current      unknown: environment 'dev': the target database is unreachable",
        "window       open: dev is always open",
        "freeze       dev is frozen by root: INC-7: target down",
        "pending      unknown until the target can be read",
        "no executions on dev yet",
    ] {
        assert!(down.stdout.contains(line), "{line} in {down:#?}");
    }
    // So does the gate: its verdict, and an outage's exit code.
    let gate = server.sgctl(&erin, &["gate", "0001_baseline", "--env", "dev"]);
    assert_eq!(gate.code, 3, "{gate:#?}");
    assert!(
        gate.stdout.contains(
            "parent     not checked  environment 'dev': the target database is unreachable"
        ),
        "{gate:#?}"
    );
    let gate = server
        .sgctl(&erin, &["--json", "gate", "0001_baseline", "--env", "dev"])
        .json();
    assert_eq!(gate["target_unreachable"], true, "{gate:#}");
    // Unknown, not failed: nothing on the target could be read.
    for condition in gate["conditions"].as_array().unwrap() {
        let on_target =
            ["parent", "drift", "exclusive"].contains(&condition["name"].as_str().unwrap());
        assert_eq!(condition["not_checked"], on_target, "{gate:#}");
    }
    let json = server.sgctl(&erin, &["--json", "status", "--env", "dev"]);
    assert_eq!(json.code, 3, "{json:#?}");
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(json["current_revision"].is_null(), "{json:#}");
    assert!(json["pending"].is_null(), "{json:#}");
    assert_eq!(json["freeze"]["passed"], false, "{json:#}");
    assert!(
        json["target_error"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{json:#}"
    );

    // A bare host:port is the server over plain HTTP/2, as it listens by
    // default; a server that cannot be reached is named with the cause.
    let bare = schemagate_e2e::sgctl(
        &["status", "--env", "dev"],
        &[
            (
                "SCHEMAGATE_SERVER",
                server.address.trim_start_matches("http://"),
            ),
            ("SCHEMAGATE_TOKEN", &erin),
        ],
    );
    assert!(
        bare.stdout.contains("freeze       dev is frozen"),
        "{bare:#?}"
    );
    schemagate_e2e::sgctl(&["history"], &[("SCHEMAGATE_SERVER", "127.0.0.1:1")])
        .fails(3, "cannot reach the server at http://127.0.0.1:1: transport error: tcp connect error: Connection refused");

    let missing = server.sgctl(&erin, &["status", "--env", "ci"]);
    assert_eq!(missing.code, 1, "the target refused: {missing:#?}");
    assert!(
        missing.stdout.contains(
            "current      unknown: environment 'ci': the target database failed: database \"no_such_database\" does not exist (SQLSTATE 3D000)"
        ),
        "{missing:#?}"
    );
    assert!(
        !missing.stdout.contains(" at line "),
        "PostgreSQL's source line leaks: {missing:#?}"
    );

    let unset = server.sgctl(&erin, &["status", "--env", "pilot"]);
    assert_eq!(unset.code, 1, "no URL for the target: {unset:#?}");
    assert!(
        unset
            .stdout
            .contains("current      unknown: environment 'pilot': the variable SCHEMAGATE_TARGET_PILOT_URL holding its target URL is not set on the server"),
        "{unset:#?}"
    );
    assert!(
        unset.stdout.contains("window       ")
            && unset.stdout.contains("freeze       pilot is not frozen"),
        "{unset:#?}"
    );
    for out in [&down, &unset] {
        assert!(!out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"));
    }
}

#[test]
fn a_broken_policy_file_stops_the_server_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("schemagate.toml");
    let text =
        std::fs::read_to_string(example())
            .unwrap()
            .replacen("Europe/Berlin", "Europe/Atlantis", 1);
    std::fs::write(&broken, &text).unwrap();
    let line = text.lines().position(|l| l.contains("Atlantis")).unwrap() + 1;
    let output = std::process::Command::new(schemagate_e2e::bin_dir().join("schemagate-server"))
        .env_clear()
        .env("SCHEMAGATE_LISTEN", "127.0.0.1:0")
        .env("SCHEMAGATE_JWT_SECRET", schemagate_e2e::SECRET)
        .env(
            "SCHEMAGATE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("c.db").display()),
        )
        .env("SCHEMAGATE_CONFIG", &broken)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "schemagate.toml:{line}: unknown time zone 'Europe/Atlantis'"
        )),
        "{stderr}"
    );
}

#[test]
fn a_catalog_that_cannot_be_opened_stops_the_server_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let start = |catalog: &str| {
        let output =
            std::process::Command::new(schemagate_e2e::bin_dir().join("schemagate-server"))
                .env_clear()
                .env("SCHEMAGATE_LISTEN", "127.0.0.1:0")
                .env("SCHEMAGATE_JWT_SECRET", schemagate_e2e::SECRET)
                .env("SCHEMAGATE_DATABASE_URL", catalog)
                .current_dir(dir.path())
                .output()
                .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // Nothing listens on port 1: the cause, not the pool's timeout.
    let refused = start("postgres://app:hunter2@127.0.0.1:1/catalog");
    assert!(
        refused.contains("cannot open the catalog database postgres://app:***@127.0.0.1:1/catalog: error communicating with database: Connection refused"),
        "{refused}"
    );
    assert!(!refused.contains("hunter2"), "{refused}");
    // A server that answers and refuses: what it said, without its source line.
    let url = schemagate_e2e::postgres().url_for("no_such_catalog");
    let missing = start(&url);
    assert!(
        missing.contains("database \"no_such_catalog\" does not exist (SQLSTATE 3D000)"),
        "{missing}"
    );
    assert!(!missing.contains("at line"), "{missing}");
}
