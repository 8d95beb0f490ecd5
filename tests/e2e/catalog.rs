//! The catalog through sgctl: a lineage grows only on its head, identical
//! resubmissions are harmless, history comes back in order.

use schemagate_e2e::{Server, token, write_revisions};

const BASELINE: &str = "-- description: venues and taps\nCREATE TABLE venues (id bigint PRIMARY KEY, name text NOT NULL);\nCREATE TABLE taps (id bigint PRIMARY KEY, venue_id bigint NOT NULL REFERENCES venues (id));\n";
const ADD_KEGS: &str =
    "CREATE TABLE kegs (id bigint PRIMARY KEY, volume_ml numeric(8,2) NOT NULL);\n";
const ADD_LABEL: &str = "ALTER TABLE taps ADD COLUMN label text;\n";

fn lineage_round_trip(server: &Server) {
    let dev = token("alice", &["developer"]);
    let dir = tempfile::tempdir().unwrap();
    write_revisions(
        dir.path(),
        &[
            (
                "0001_baseline",
                BASELINE,
                "DROP TABLE taps;\nDROP TABLE venues;\n",
            ),
            ("0002_add_kegs", ADD_KEGS, "DROP TABLE kegs;\n"),
            (
                "0003_add_tap_label",
                ADD_LABEL,
                "ALTER TABLE taps DROP COLUMN label;\n",
            ),
        ],
    );
    let path = dir.path().to_str().unwrap();

    let out = server.sgctl(&dev, &["submit", path]).ok().to_string();
    assert_eq!(out.matches("created").count(), 3, "{out}");
    let kegs_line = out
        .lines()
        .find(|l| l.starts_with("0002_add_kegs"))
        .unwrap_or_default();
    assert!(kegs_line.contains("0001_baseline"), "parent column: {out}");

    // Submitting the same directory again changes nothing.
    let run = server.sgctl(&dev, &["--json", "submit", path]);
    let submitted = run.json()["submitted"].as_array().unwrap().clone();
    assert_eq!(submitted.len(), 3);
    assert!(
        submitted.iter().all(|r| r["created"] == false),
        "{submitted:?}"
    );

    // A second child of 0002 is a fork: refused, naming the head.
    let fork_dir = tempfile::tempdir().unwrap();
    write_revisions(
        fork_dir.path(),
        &[(
            "0004_fork",
            "CREATE TABLE beverages (id bigint PRIMARY KEY);",
            "DROP TABLE beverages;",
        )],
    );
    let fork = fork_dir.path().join("0004_fork.up.sql");
    server
        .sgctl(
            &dev,
            &[
                "submit",
                fork.to_str().unwrap(),
                "--parent",
                "0002_add_kegs",
            ],
        )
        .fails(1, "rebase onto 0003_add_tap_label");
    // A parent that does not exist is named as such, not as a fork.
    server
        .sgctl(
            &dev,
            &[
                "submit",
                fork.to_str().unwrap(),
                "--parent",
                "0009_nope",
            ],
        )
        .fails(
            1,
            "parent 0009_nope does not exist in project default: rebase onto 0003_add_tap_label, the head",
        );

    // The same id with other content is a clash.
    let clash_dir = tempfile::tempdir().unwrap();
    write_revisions(
        clash_dir.path(),
        &[(
            "0003_add_tap_label",
            "ALTER TABLE taps ADD COLUMN label varchar(20);",
            "",
        )],
    );
    let clash = clash_dir.path().join("0003_add_tap_label.up.sql");
    server
        .sgctl(&dev, &["submit", clash.to_str().unwrap()])
        .fails(1, "already exists");

    // Without --parent a single new file goes on top of the head.
    let out = server
        .sgctl(&dev, &["submit", fork.to_str().unwrap()])
        .ok()
        .to_string();
    assert!(
        out.contains("0004_fork") && out.contains("0003_add_tap_label"),
        "{out}"
    );

    let history = server.sgctl(&dev, &["--json", "history"]).json();
    let ids: Vec<&str> = history["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "0001_baseline",
            "0002_add_kegs",
            "0003_add_tap_label",
            "0004_fork"
        ]
    );
    assert_eq!(history["head"], "0004_fork");
    assert_eq!(history["revisions"][0]["description"], "venues and taps");

    let table = server.sgctl(&dev, &["history"]).ok().to_string();
    let first_data_line = table.lines().nth(1).unwrap();
    assert!(first_data_line.starts_with("1  0001_baseline"), "{table}");

    let show = server
        .sgctl(&dev, &["show", "0002_add_kegs"])
        .ok()
        .to_string();
    assert!(show.contains("parent       0001_baseline"), "{show}");
    assert!(show.contains("CREATE TABLE kegs"), "{show}");
    server
        .sgctl(&dev, &["show", "0099_missing"])
        .fails(1, "not found");

    let health = server.sgctl("", &["health"]);
    assert_eq!(health.ok().trim(), "SERVING");

    let audit = server.sgctl(&dev, &["--json", "audit"]).json();
    let refused = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "refused")
        .count();
    assert_eq!(
        refused, 3,
        "the fork, the unknown parent and the clash are recorded: {audit:#}"
    );
    // Without --project every project's entries are listed (the default is
    // not a filter); with it, only that project's.
    let entries = |args: &[&str]| server.sgctl(&dev, args).json().as_array().unwrap().len();
    assert_eq!(
        entries(&["--json", "audit", "--project", "default"]),
        audit.as_array().unwrap().len()
    );
    assert_eq!(entries(&["--json", "audit", "--project", "other"]), 0);
    assert_eq!(entries(&["--json", "--project", "other", "audit"]), 0);
    // A project the catalog does not hold is refused with the ones it does,
    // so a mistyped --project does not read as an empty history.
    server
        .sgctl(&dev, &["--project", "other", "history"])
        .fails(
            1,
            "project other has no revisions in the catalog (it holds default): check --project",
        );
    let table = server
        .sgctl(&dev, &["audit", "--limit", "1"])
        .ok()
        .to_string();
    assert!(
        table.contains("ACTION") && table.contains("PROJECT"),
        "{table}"
    );
    assert!(table.contains(" default "), "{table}");
    assert!(
        server
            .sgctl(&dev, &["audit", "verify"])
            .ok()
            .contains("intact")
    );
    let verified = server.sgctl(&dev, &["--json", "audit", "verify"]).json();
    assert_eq!(verified["intact"], true, "{verified:#}");
    assert_eq!(
        verified["first_broken_id"],
        serde_json::Value::Null,
        "{verified:#}"
    );
    assert_eq!(verified["detail"], serde_json::Value::Null, "{verified:#}");
    let head = verified["head_sha256"].as_str().unwrap().to_string();
    assert_eq!(
        verified["head_id"], verified["rows_checked"],
        "{verified:#}"
    );
    server
        .sgctl(&dev, &["audit", "verify", "--anchor", &head])
        .ok();
    server
        .sgctl(&dev, &["audit", "verify", "--anchor", "not-a-hash"])
        .fails(2, "the anchor must be a sha256 in hex");

    // A second project starts with its baseline, without --parent.
    let other = tempfile::tempdir().unwrap();
    write_revisions(
        other.path(),
        &[("0001_baseline", "CREATE TABLE other_t (id int);\n", "")],
    );
    server
        .sgctl(
            &dev,
            &[
                "--project",
                "other",
                "submit",
                other.path().to_str().unwrap(),
            ],
        )
        .ok();
    let history = server
        .sgctl(&dev, &["--json", "--project", "other", "history"])
        .json();
    assert_eq!(history["head"], "0001_baseline", "{history:#}");
    assert_eq!(
        history["revisions"][0]["parent_id"],
        serde_json::Value::Null
    );
}

/// Deleting the newest audit rows leaves a chain that is intact, only
/// shorter: the head recorded before shows it.
#[test]
fn a_recorded_head_shows_that_the_newest_audit_rows_were_deleted() {
    let server = Server::sqlite();
    let dev = token("alice", &["developer"]);
    let revisions = tempfile::tempdir().unwrap();
    write_revisions(
        revisions.path(),
        &[
            ("0001_baseline", "CREATE TABLE a (id int);\n", ""),
            ("0002_b", "CREATE TABLE b (id int);\n", ""),
        ],
    );
    server
        .sgctl(&dev, &["submit", revisions.path().to_str().unwrap()])
        .ok();
    let verified = server.sgctl(&dev, &["--json", "audit", "verify"]).json();
    let head = verified["head_sha256"].as_str().unwrap().to_string();
    let rows = verified["rows_checked"].as_i64().unwrap();
    let path = server.database_url.trim_start_matches("sqlite://");
    rusqlite::Connection::open(path)
        .unwrap()
        .execute("DELETE FROM audit_log WHERE id = ?1", [rows])
        .unwrap();
    // Without the anchor the shorter chain verifies; with it, it does not.
    server.sgctl(&dev, &["audit", "verify"]).ok();
    let broken = server.sgctl(&dev, &["audit", "verify", "--anchor", &head]);
    assert_eq!(broken.code, 1, "{broken:#?}");
    assert!(
        broken.stdout.contains(&format!(
            "audit chain BROKEN: the anchor {head} is not in the chain: rows up to it were deleted or rewritten"
        )),
        "{broken:#?}"
    );
}

#[test]
fn lineage_on_the_sqlite_catalog() {
    lineage_round_trip(&Server::sqlite());
}

#[test]
fn lineage_on_the_postgres_catalog() {
    lineage_round_trip(&Server::postgres());
}

#[test]
fn the_sqlite_catalog_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
    let dev = token("alice", &["developer"]);
    let revisions = tempfile::tempdir().unwrap();
    write_revisions(revisions.path(), &[("0001_baseline", BASELINE, "")]);
    {
        let server = Server::start(&url, &[]);
        server
            .sgctl(&dev, &["submit", revisions.path().to_str().unwrap()])
            .ok();
    }
    let server = Server::start(&url, &[]);
    let history = server.sgctl(&dev, &["--json", "history"]).json();
    assert_eq!(history["head"], "0001_baseline");
}

/// A revision stored with a lint this server's rules would not give it (as
/// by an older server whose rules missed a DROP) is linted again when the
/// server starts: it gets today's findings and the risk class the gate
/// judges it by, and the audit and the log say so. A start with the same
/// rules changes nothing.
#[test]
fn a_revision_stored_under_other_rules_is_linted_again_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
    let dev = token("alice", &["developer"]);
    let revisions = tempfile::tempdir().unwrap();
    write_revisions(
        revisions.path(),
        &[
            ("0001_baseline", BASELINE, ""),
            (
                "0002_drop_taps",
                "DROP TABLE taps;\n",
                "CREATE TABLE taps (id bigint PRIMARY KEY);\n",
            ),
        ],
    );
    let risk_and_rules = |server: &Server| {
        let shown = server
            .sgctl(&dev, &["--json", "show", "0002_drop_taps"])
            .json();
        let rules: Vec<String> = shown["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect();
        (shown["risk"].as_str().unwrap().to_string(), rules)
    };
    let relints = |server: &Server| -> Vec<serde_json::Value> {
        let audit = server.sgctl(&dev, &["--json", "audit"]).json();
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "revision.relint")
            .cloned()
            .collect()
    };
    let submitted = {
        let server = Server::start(&url, &[]);
        server
            .sgctl(&dev, &["submit", revisions.path().to_str().unwrap()])
            .ok();
        risk_and_rules(&server)
    };
    assert_eq!(submitted.0, "destructive");
    assert!(
        submitted.1.contains(&"drop-table".to_string()),
        "{submitted:?}"
    );

    // As an older server's rules would have stored it.
    let path = url.trim_start_matches("sqlite://");
    let tampered = rusqlite::Connection::open(path)
        .unwrap()
        .execute(
            "UPDATE revisions SET risk = 'additive', \
             lint_json = '{\"statements\":1,\"transactional\":true,\"findings\":[]}' \
             WHERE id = '0002_drop_taps'",
            [],
        )
        .unwrap();
    assert_eq!(tampered, 1);

    let server = Server::start(&url, &[]);
    assert_eq!(risk_and_rules(&server), submitted);
    let relinted = relints(&server);
    assert_eq!(relinted.len(), 1, "{relinted:#?}");
    assert_eq!(relinted[0]["subject"], "0002_drop_taps");
    assert_eq!(relinted[0]["actor"], "schemagate-server");
    let detail = relinted[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("risk=destructive previous_risk=additive findings=")
            && detail.contains("drop-table@1"),
        "{detail}"
    );
    let log = server.log();
    assert!(
        log.contains("the revision's risk class changed with this server's rules")
            && log.contains("0002_drop_taps"),
        "{log}"
    );
    server.sgctl(&dev, &["audit", "verify"]).ok();
    drop(server);

    let server = Server::start(&url, &[]);
    assert_eq!(relints(&server).len(), 1, "the same rules change nothing");
}
