//! The release flow end to end: approvals, the gate, gated execution with
//! backups, rollback, drift and the executor lock, on real PostgreSQL
//! targets driven through the real server by the real `sgctl`.

use schemagate_e2e::postgres::Cluster;
use schemagate_e2e::{Run, Server, block_on, postgres, token, write_revisions};
use sqlx::{Connection, PgConnection};
use std::path::Path;
use std::time::Duration;

pub const BASELINE: (&str, &str, &str) = (
    "0001_baseline",
    "CREATE TABLE venues (id bigint PRIMARY KEY, name text NOT NULL);\n",
    "DROP TABLE venues;\n",
);
pub const ADD_TAPS: (&str, &str, &str) = (
    "0002_add_taps",
    "CREATE TABLE taps (id bigint PRIMARY KEY, venue_id bigint NOT NULL REFERENCES venues (id));\n",
    "DROP TABLE taps;\n",
);

/// A server with the example policy (pilot made always open unless
/// `edit` says otherwise) and three empty targets.
pub struct Fixture {
    pub server: Server,
    pub dev: String,
    pub ci: String,
    pub pilot: String,
    pub backups: tempfile::TempDir,
    pub revisions: tempfile::TempDir,
    /// The server's environment, kept to restart it.
    env: Vec<(String, String)>,
    _policy_dir: tempfile::TempDir,
    /// The cluster `dev`'s target has to itself, if any; dropped (stopped)
    /// after the server.
    _quiet_cluster: Option<Cluster>,
}

pub struct Tokens {
    pub alice: String,
    pub carol: String,
    pub dave: String,
    pub erin: String,
    pub root: String,
}

pub fn tokens() -> Tokens {
    Tokens {
        // The author of every revision.
        alice: token("alice", &["developer"]),
        carol: token("carol", &["approver"]),
        dave: token("dave", &["approver"]),
        erin: token("erin", &["deployer"]),
        root: token("root", &["admin"]),
    }
}

pub fn example_policy() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/schemagate.toml"),
    )
    .unwrap()
}

impl Fixture {
    pub fn start(edit: impl Fn(String) -> String) -> Fixture {
        Fixture::start_with(edit, |dev, ci, pilot| {
            (dev.to_string(), ci.to_string(), pilot.to_string())
        })
    }

    /// `urls` maps the three database URLs to what the server is given.
    pub fn start_with(
        edit: impl Fn(String) -> String,
        urls: impl Fn(&str, &str, &str) -> (String, String, String),
    ) -> Fixture {
        Fixture::build(edit, urls, None)
    }

    /// Like [`Fixture::start`], with `dev`'s target alone on a PostgreSQL
    /// cluster of its own. The executor reads a revision incrementally only
    /// when no other transaction committed on the target's cluster
    /// meanwhile, as on a quiet target; the shared test cluster is busy with
    /// the other tests.
    pub fn start_with_quiet_dev(edit: impl Fn(String) -> String) -> Fixture {
        let cluster = Cluster::start();
        let quiet = cluster.url("postgres");
        let mut f = Fixture::start_with(edit, |_, ci, pilot| {
            (quiet.clone(), ci.to_string(), pilot.to_string())
        });
        f.dev = quiet;
        f._quiet_cluster = Some(cluster);
        f
    }

    /// Like [`Fixture::start`], with the catalog in a fresh PostgreSQL
    /// database instead of a SQLite file.
    pub fn start_on_postgres_catalog(edit: impl Fn(String) -> String) -> Fixture {
        let catalog = block_on(postgres().create_database());
        Fixture::build(
            edit,
            |dev, ci, pilot| (dev.to_string(), ci.to_string(), pilot.to_string()),
            Some(catalog),
        )
    }

    fn build(
        edit: impl Fn(String) -> String,
        urls: impl Fn(&str, &str, &str) -> (String, String, String),
        catalog: Option<String>,
    ) -> Fixture {
        let (dev, ci, pilot) = block_on(async {
            (
                postgres().create_database().await,
                postgres().create_database().await,
                postgres().create_database().await,
            )
        });
        let policy_dir = tempfile::tempdir().unwrap();
        let policy = policy_dir.path().join("schemagate.toml");
        std::fs::write(
            &policy,
            edit(example_policy().replace("[\"mon-fri 13:00-17:00\"]", "[\"always\"]")),
        )
        .unwrap();
        let backups = tempfile::tempdir().unwrap();
        let catalog = catalog.unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                policy_dir.path().join("catalog.db").display()
            )
        });
        let (dev_url, ci_url, pilot_url) = urls(&dev, &ci, &pilot);
        let env: Vec<(String, String)> = [
            ("SCHEMAGATE_CONFIG", policy.to_str().unwrap()),
            ("SCHEMAGATE_TARGET_DEV_URL", &dev_url),
            ("SCHEMAGATE_TARGET_CI_URL", &ci_url),
            ("SCHEMAGATE_TARGET_PILOT_URL", &pilot_url),
            ("SCHEMAGATE_BACKUP_DIR", backups.path().to_str().unwrap()),
            ("SCHEMAGATE_SHADOW_URL", postgres().admin_url()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let server = Server::start(&catalog, &pairs);
        Fixture {
            server,
            dev,
            ci,
            pilot,
            backups,
            revisions: tempfile::tempdir().unwrap(),
            env,
            _policy_dir: policy_dir,
            _quiet_cluster: None,
        }
    }

    /// A connection to the server's SQLite catalog file, to look at what it
    /// recorded or to leave what a crash would.
    pub fn open_catalog(&self) -> rusqlite::Connection {
        let path = self.server.database_url.trim_start_matches("sqlite://");
        rusqlite::Connection::open(path).expect("open the SQLite catalog")
    }

    /// Stops the server with SIGKILL and starts it again on the same
    /// catalog, with `overrides` replacing variables of its environment.
    pub fn restart(&mut self, overrides: &[(&str, &str)]) {
        self.server.kill();
        for (key, value) in overrides {
            match self.env.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value.to_string(),
                None => self.env.push((key.to_string(), value.to_string())),
            }
        }
        let pairs: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.server = Server::start(&self.server.database_url.clone(), &pairs);
    }

    pub fn submit(&self, t: &Tokens, revisions: &[(&str, &str, &str)]) {
        write_revisions(self.revisions.path(), revisions);
        self.server
            .sgctl(
                &t.alice,
                &["submit", self.revisions.path().to_str().unwrap()],
            )
            .ok();
    }

    /// Submits `revisions` (by alice) and has carol approve each of them
    /// on `envs`.
    pub fn submit_approved(&self, t: &Tokens, revisions: &[(&str, &str, &str)], envs: &[&str]) {
        self.submit(t, revisions);
        for revision in revisions {
            self.approve(&t.carol, revision.0, envs);
        }
    }

    pub fn run(&self, token: &str, args: &[&str]) -> Run {
        self.server.sgctl(token, args)
    }

    pub fn approve(&self, token: &str, id: &str, envs: &[&str]) {
        for env in envs {
            self.run(token, &["approve", id, "--env", env]).ok();
        }
    }

    /// Deploys to each environment in turn; every deploy must succeed.
    pub fn deploy(&self, token: &str, envs: &[&str]) {
        for env in envs {
            self.run(token, &["deploy", "--env", env]).ok();
        }
    }
}

pub fn query_i64(url: &str, sql: &str) -> i64 {
    block_on(async {
        let mut conn = PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

pub fn execute(url: &str, sql: &str) {
    block_on(async {
        let mut conn = PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap();
    });
}

pub fn table_exists(url: &str, table: &str) -> bool {
    query_i64(
        url,
        &format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = '{table}'"
        ),
    ) == 1
}

/// How many revisions the target's version table holds (0 without one).
pub fn applied(url: &str) -> i64 {
    applied_ids(url).len() as i64
}

/// The ids in the target's version table, in lineage order.
pub fn applied_ids(url: &str) -> Vec<String> {
    block_on(async {
        let mut conn = PgConnection::connect(url).await.unwrap();
        let exists: bool =
            sqlx::query_scalar("SELECT to_regclass('schemagate.applied_revisions') IS NOT NULL")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        if !exists {
            return Vec::new();
        }
        sqlx::query_scalar("SELECT id FROM schemagate.applied_revisions ORDER BY sequence")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    })
}

#[test]
fn an_additive_revision_is_promoted_dev_ci_pilot_in_order_with_a_restorable_backup() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(&t, &[BASELINE]);

    // Nothing approved yet: the gate says so and exits 1.
    let gate = f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"]);
    assert_eq!(gate.code, 1, "{gate:#?}");
    assert!(gate.stdout.contains("CLOSED"), "{gate:#?}");
    assert!(gate.stdout.contains("0 of 1"), "{gate:#?}");

    f.approve(&t.carol, "0001_baseline", &["dev", "ci", "pilot"]);

    // Skipping an environment is refused by the promotion condition.
    let skip = f.run(&t.erin, &["deploy", "--env", "ci"]);
    assert_eq!(skip.code, 1, "{skip:#?}");
    assert!(skip.stdout.contains("has not run on dev yet"), "{skip:#?}");
    assert!(!table_exists(&f.ci, "venues"));

    let gate = f.run(
        &t.erin,
        &["--json", "gate", "0001_baseline", "--env", "dev"],
    );
    assert_eq!(gate.code, 0, "{gate:#?}");
    let verdict = gate.json();
    assert_eq!(verdict["open"], true);
    let names: Vec<&str> = verdict["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "approvals",
            "parent",
            "promotion",
            "window",
            "freeze",
            "drift",
            "exclusive"
        ]
    );

    for env in ["dev", "ci", "pilot"] {
        let out = f.run(&t.erin, &["deploy", "--env", env]);
        assert_eq!(out.code, 0, "deploy to {env}: {out:#?}");
        assert!(out.stdout.contains("applied 0001_baseline"), "{out:#?}");
    }
    for url in [&f.dev, &f.ci, &f.pilot] {
        assert!(table_exists(url, "venues"));
        assert_eq!(
            query_i64(
                url,
                "SELECT count(*) FROM schemagate.applied_revisions WHERE id = '0001_baseline' AND executed_by = 'erin'"
            ),
            1
        );
    }
    // A second deploy has nothing to do.
    let again = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(again.code, 0, "{again:#?}");
    assert!(again.stdout.contains("nothing to do"), "{again:#?}");

    // pilot demands a backup: one file, recorded and restorable.
    execute(
        &f.pilot,
        "INSERT INTO venues VALUES (1, 'Taproom'), (2, 'Cellar')",
    );
    f.submit(&t, &[BASELINE, ADD_TAPS]);
    f.approve(&t.carol, "0002_add_taps", &["dev", "ci", "pilot"]);
    f.deploy(&t.erin, &["dev", "ci", "pilot"]);
    let dumps: Vec<_> = std::fs::read_dir(f.backups.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dumps.len(), 2, "one backup per pilot execution: {dumps:?}");
    let status = f
        .run(&t.erin, &["--json", "status", "--env", "pilot"])
        .json();
    assert_eq!(status["current_revision"], "0002_add_taps", "{status:#}");
    let newest = &status["recent_executions"][0];
    assert_eq!(newest["revision_id"], "0002_add_taps", "{status:#}");
    let backup = newest["backup_path"].as_str().unwrap().to_string();
    assert!(Path::new(&backup).exists(), "{status:#}");
    // Every row of the target is in it: the server's user alone reads it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{backup}: {mode:o}");
    let bytes = std::fs::read(&backup).unwrap();
    assert_eq!(newest["backup_bytes"].as_u64().unwrap(), bytes.len() as u64);
    use sha2::Digest;
    assert_eq!(
        newest["backup_sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&bytes))
    );

    // Restore the backup taken before 0002 into a fresh database: the rows
    // are there and the schema is the one before 0002.
    let restored = block_on(postgres().create_database());
    let output = std::process::Command::new("pg_restore")
        .arg("--no-owner")
        .arg("--dbname")
        .arg(&restored)
        .arg(&backup)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(query_i64(&restored, "SELECT count(*) FROM venues"), 2);
    assert!(!table_exists(&restored, "taps"));
    assert_eq!(
        query_i64(
            &restored,
            "SELECT count(*) FROM schemagate.applied_revisions WHERE id = '0001_baseline'"
        ),
        1
    );
}

#[test]
fn approvals_follow_the_matrix_and_are_bound_to_checksum_and_policy() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(&t, &[BASELINE]);

    // The author cannot approve, even holding the approver role.
    let author = token("alice", &["developer", "approver"]);
    f.run(&author, &["approve", "0001_baseline", "--env", "dev"])
        .fails(4, "cannot approve their own revision");
    // Nor under another spelling of the name: case and Unicode
    // compatibility forms are one person; whitespace around it no name.
    for alias in ["Alice", "ＡＬＩＣＥ"] {
        f.run(
            &token(alias, &["approver"]),
            &["approve", "0001_baseline", "--env", "dev"],
        )
        .fails(4, "cannot approve their own revision");
    }
    f.run(
        &token("alice ", &["approver"]),
        &["approve", "0001_baseline", "--env", "dev"],
    )
    .fails(4, "leading or trailing whitespace");
    // An admin is not in dev's additive entry (approver only).
    f.run(&t.root, &["approve", "0001_baseline", "--env", "dev"])
        .fails(4, "needs approvals from the role approver");
    // A deployer holds no approving role at all.
    f.run(&t.erin, &["approve", "0001_baseline", "--env", "dev"])
        .fails(4, "permission denied");
    f.run(&t.carol, &["approve", "0001_baseline", "--env", "staging"])
        .fails(2, "unknown environment 'staging'");

    // A rejection blocks until revoked.
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    f.run(
        &t.dave,
        &[
            "reject",
            "0001_baseline",
            "--env",
            "dev",
            "--reason",
            "needs an index",
        ],
    )
    .ok();
    let gate = f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"]);
    assert_eq!(gate.code, 1, "{gate:#?}");
    assert!(gate.stdout.contains("rejected by dave"), "{gate:#?}");
    f.run(
        &t.carol,
        &["revoke", "0001_baseline", "--env", "dev", "--rollback"],
    )
    .fails(1, "no active decision");
    // The refused revoke is audited, as refused approvals are.
    let audit = last_audit_row(&f, &t, "dev");
    assert_eq!(audit["action"], "approval.revoke", "{audit:#}");
    assert_eq!(audit["actor"], "carol", "{audit:#}");
    assert_eq!(audit["outcome"], "refused", "{audit:#}");
    assert!(
        audit["detail"]
            .as_str()
            .unwrap()
            .contains("no active decision"),
        "{audit:#}"
    );
    f.run(&t.dave, &["revoke", "0001_baseline", "--env", "dev"])
        .ok();
    f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"])
        .ok();

    let list = f
        .run(&t.erin, &["--json", "approvals", "0001_baseline"])
        .json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:#?}");
    assert!(
        list.iter()
            .any(|a| a["approver"] == "dave" && a["revoked"] == true)
    );

    // Resubmitting different content under the same id is refused, so an
    // approval can never silently cover other SQL.
    std::fs::write(
        f.revisions.path().join("0001_baseline.up.sql"),
        "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
    )
    .unwrap();
    f.run(&t.alice, &["submit", f.revisions.path().to_str().unwrap()])
        .fails(1, "already exists with different content");

    // SQL changed in the catalog behind the server's back no longer has the
    // checksum the approvals vouch for: the gate refuses it.
    let db = f.open_catalog();
    let tampered =
        "CREATE TABLE venues (id bigint PRIMARY KEY);\nCREATE TABLE backdoor (id int);\n";
    db.execute(
        "UPDATE revisions SET up_sql = ?1 WHERE id = '0001_baseline'",
        [tampered],
    )
    .unwrap();
    let gate = f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"]);
    assert_eq!(gate.code, 1, "{gate:#?}");
    assert!(
        gate.stdout.contains("no longer has its checksum"),
        "{gate:#?}"
    );
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(applied(&f.dev), 0);
    assert!(!table_exists(&f.dev, "backdoor"));
    // Whatever the catalog holds as a checksum, the gate answers.
    db.execute(
        "UPDATE revisions SET checksum = ?1 WHERE id = '0001_baseline'",
        ["xéééééééééé"],
    )
    .unwrap();
    let gate = f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"]);
    assert_eq!(gate.code, 1, "{gate:#?}");
    assert!(gate.stdout.contains("checksum xéééééééééé:"), "{gate:#?}");

    // With the checksum rewritten to match, the approvals, bound to the old
    // one, no longer count.
    let (down,): (String,) = db
        .query_row(
            "SELECT down_sql FROM revisions WHERE id = '0001_baseline'",
            [],
            |row| Ok((row.get(0)?,)),
        )
        .unwrap();
    db.execute(
        "UPDATE revisions SET checksum = ?1 WHERE id = '0001_baseline'",
        [schemagate_server::catalog::checksum(tampered, &down)],
    )
    .unwrap();
    let gate = f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"]);
    assert_eq!(gate.code, 1, "{gate:#?}");
    assert!(gate.stdout.contains("void"), "{gate:#?}");
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(applied(&f.dev), 0);
}

/// An admin lifts the rejection of an approver who left, naming them and
/// giving a reason; nobody else can, and the audit row says whose and why.
#[test]
fn an_admin_revokes_the_rejection_of_someone_who_left_with_a_reason() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(&t, &[BASELINE]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    f.run(
        &t.dave,
        &[
            "reject",
            "0001_baseline",
            "--env",
            "dev",
            "--reason",
            "wait",
        ],
    )
    .ok();
    let revoke_of = |approver: &str, token: &str, extra: &[&str]| {
        let mut args = vec!["revoke", "0001_baseline", "--env", "dev", "--of", approver];
        args.extend_from_slice(extra);
        f.run(token, &args)
    };
    let revoke_daves = |token: &str, extra: &[&str]| revoke_of("dave", token, extra);
    // Another approver cannot; nor an admin without a reason.
    revoke_daves(&t.carol, &["--reason", "dave left"]).fails(
        4,
        "only an admin can revoke another person's decision (dave's)",
    );
    revoke_daves(&t.root, &[]).fails(2, "--reason");
    revoke_daves(&t.root, &["--reason", "  "]).fails(2, "needs a reason");
    revoke_of("frank", &t.root, &["--reason", "x"]).fails(1, "frank has no active decision");
    f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"])
        .refused("rejected by dave");

    let revoked = revoke_daves(&t.root, &["--reason", "dave left in May; OPS-31"]);
    assert!(
        revoked
            .ok()
            .contains("revoked dave's rejection of 0001_baseline for dev"),
        "{revoked:#?}"
    );
    f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"])
        .ok();
    let audit = last_audit_row(&f, &t, "dev");
    assert_eq!(audit["action"], "approval.revoke", "{audit:#}");
    assert_eq!(audit["actor"], "root", "{audit:#}");
    assert_eq!(audit["outcome"], "ok", "{audit:#}");
    assert_eq!(
        audit["detail"], "revoked dave's rejection for apply: dave left in May; OPS-31",
        "{audit:#}"
    );
    // Carol's approval stands; her own revoke still needs no --of.
    f.run(&t.carol, &["revoke", "0001_baseline", "--env", "dev"])
        .ok();
}

/// The executor runs a revision in one transaction with its version row;
/// SQL that begins or ends transactions itself is refused at submit (up or
/// down, naming the line), shown by `sgctl lint`, and never run should a
/// catalog hold it anyway.
#[test]
fn a_revision_that_controls_its_own_transaction_is_refused_and_never_run() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    let dir = f.revisions.path();
    let venues = "CREATE TABLE venues (id bigint PRIMARY KEY);\n";

    schemagate_e2e::write_revisions(
        dir,
        &[(
            "0001_baseline",
            &format!("BEGIN;\n{venues}COMMIT;\n"),
            "DROP TABLE venues;\n",
        )],
    );
    let up = dir.join("0001_baseline.up.sql");
    let lint = f.run(&t.alice, &["lint", up.to_str().unwrap()]);
    assert_eq!(lint.code, 1, "{lint:#?}");
    assert!(lint.stdout.contains("transaction-control"), "{lint:#?}");
    f.run(&t.alice, &["submit", dir.to_str().unwrap()])
        .fails(2, "0001_baseline, up SQL line 1: BEGIN in a revision");

    schemagate_e2e::write_revisions(
        dir,
        &[("0001_baseline", venues, "DROP TABLE venues;\nROLLBACK;\n")],
    );
    // `sgctl lint` reads the down file beside the up and says so first.
    let lint = f.run(&t.alice, &["lint", up.to_str().unwrap()]);
    assert_eq!(lint.code, 1, "{lint:#?}");
    assert!(
        lint.stdout.contains(
            "0001_baseline.down.sql:2:1: error[transaction-control]: ROLLBACK in a revision"
        ) && lint.stdout.contains("2 | ROLLBACK;"),
        "{lint:#?}"
    );
    f.run(&t.alice, &["submit", dir.to_str().unwrap()])
        .fails(2, "0001_baseline, down SQL line 2: ROLLBACK in a revision");
    assert!(
        f.run(&t.alice, &["history"])
            .ok()
            .contains("no revisions yet")
    );

    // A catalog written before the rule, holding (with a matching checksum
    // and approvals) SQL that rolls itself back: the executor refuses to
    // run it rather than record it applied.
    f.submit(&t, &[("0001_baseline", venues, "DROP TABLE venues;\n")]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    let rolled_back = format!("{venues}ROLLBACK;\n");
    let checksum = schemagate_server::catalog::checksum(&rolled_back, "DROP TABLE venues;\n");
    let db = f.open_catalog();
    db.execute(
        "UPDATE revisions SET up_sql = ?1, checksum = ?2 WHERE id = '0001_baseline'",
        [&rolled_back, &checksum],
    )
    .unwrap();
    db.execute(
        "UPDATE approvals SET revision_checksum = ?1 WHERE revision_id = '0001_baseline'",
        [&checksum],
    )
    .unwrap();
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("holds ROLLBACK"), "{out:#?}");
    assert_eq!(applied(&f.dev), 0);
    assert!(!table_exists(&f.dev, "venues"));
}

/// A revision's session settings do not reach the next revision of the
/// same execution: each runs as it would in an execution of its own.
#[test]
fn a_revision_runs_in_a_fresh_session_whatever_the_one_before_set() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(
        &t,
        &[
            (
                "0001_app",
                "CREATE SCHEMA app;\nSET search_path = app;\nCREATE TABLE settings (id int);\n",
                "DROP TABLE app.settings;\nDROP SCHEMA app;\n",
            ),
            (
                "0002_plain",
                "CREATE TABLE plain (id int);\n",
                "DROP TABLE plain;\n",
            ),
        ],
    );
    for id in ["0001_app", "0002_plain"] {
        f.approve(&t.carol, id, &["dev"]);
    }
    f.deploy(&t.erin, &["dev"]);
    let in_schema = |schema: &str, table: &str| {
        query_i64(
            &f.dev,
            &format!(
                "SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename = '{table}'"
            ),
        )
    };
    assert_eq!(in_schema("app", "settings"), 1);
    assert_eq!(in_schema("public", "plain"), 1, "search_path was reset");
    assert_eq!(in_schema("app", "plain"), 0);
    assert_eq!(applied(&f.dev), 2);
}

#[test]
fn sql_nested_as_deep_as_postgresql_runs_it_is_linted_and_deployed() {
    // A CSV line of 200 columns nests one level per `||`: 400 levels, each
    // two protobuf messages deep, where prost's default decode limit of 100
    // once made the linter and the executor call such SQL unparsable.
    let line = (0..200)
        .map(|n| format!("c{n}::text"))
        .collect::<Vec<_>>()
        .join(" || ',' || ");
    let columns = (0..200)
        .map(|n| format!("c{n} int"))
        .collect::<Vec<_>>()
        .join(", ");
    let up = format!(
        "CREATE TABLE readings ({columns});\nCREATE VIEW readings_csv AS SELECT {line} AS line FROM readings;\n"
    );
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(
        &t,
        &[(
            "0001_readings_csv",
            &up,
            "DROP VIEW readings_csv;\nDROP TABLE readings;\n",
        )],
    );
    f.approve(&t.carol, "0001_readings_csv", &["dev"]);
    f.deploy(&t.erin, &["dev"]);
    assert_eq!(applied(&f.dev), 1);
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM pg_views WHERE viewname = 'readings_csv'"
        ),
        1
    );
    f.run(&t.erin, &["drift", "--env", "dev"]).ok();
}

#[test]
fn a_policy_change_voids_earlier_approvals() {
    let t = tokens();
    let dir = tempfile::tempdir().unwrap();
    let catalog = format!("sqlite://{}", dir.path().join("c.db").display());
    let dev = block_on(postgres().create_database());
    let policy = dir.path().join("p.toml");
    let start = |text: &str| {
        std::fs::write(&policy, text).unwrap();
        Server::start(
            &catalog,
            &[
                ("SCHEMAGATE_CONFIG", policy.to_str().unwrap()),
                ("SCHEMAGATE_TARGET_DEV_URL", &dev),
            ],
        )
    };
    let server = start(&example_policy());
    let revisions = tempfile::tempdir().unwrap();
    write_revisions(revisions.path(), &[BASELINE]);
    server
        .sgctl(&t.alice, &["submit", revisions.path().to_str().unwrap()])
        .ok();
    server
        .sgctl(&t.carol, &["approve", "0001_baseline", "--env", "dev"])
        .ok();
    server
        .sgctl(&t.erin, &["gate", "0001_baseline", "--env", "dev"])
        .ok();
    // A rejection on ci, before the edit.
    server
        .sgctl(
            &t.dave,
            &[
                "reject",
                "0001_baseline",
                "--env",
                "ci",
                "--reason",
                "not on ci yet",
            ],
        )
        .ok();
    drop(server);

    let server = start(&example_policy().replace("lock_timeout = \"5s\"", "lock_timeout = \"4s\""));
    let gate = server.sgctl(&t.erin, &["gate", "0001_baseline", "--env", "dev"]);
    assert_eq!(gate.code, 1, "{gate:#?}");
    assert!(gate.stdout.contains("0 of 1"), "{gate:#?}");
    assert!(gate.stdout.contains("void"), "{gate:#?}");
    // The rejection stands: an edit of the policy file lifts no rejection
    // that nobody revoked, even once approvals under the new file are in.
    server
        .sgctl(&t.carol, &["approve", "0001_baseline", "--env", "ci"])
        .ok();
    server
        .sgctl(&t.erin, &["gate", "0001_baseline", "--env", "ci"])
        .refused("rejected by dave: not on ci yet");
}

#[test]
fn destructive_is_forbidden_but_for_the_emergency_path_and_freeze_and_windows_close_the_gate() {
    let t = tokens();
    // pilot's window is on a weekday three days away: closed now.
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let today = block_on(async {
        let mut conn = PgConnection::connect(postgres().admin_url()).await.unwrap();
        sqlx::query_scalar::<_, f64>(
            "SELECT extract(isodow FROM now() AT TIME ZONE 'Europe/Berlin')::float8",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    }) as usize;
    let closed = format!("[\"{} 00:00-23:59\"]", days[(today - 1 + 3) % 7]);
    let f = Fixture::start(move |p| {
        p.replacen(
            "windows = [\"always\"]\nlock_timeout = \"3s\"",
            &format!("windows = {closed}\nlock_timeout = \"3s\""),
            1,
        )
    });
    let drop_venues = (
        "0002_drop_venues",
        "DROP TABLE venues;\n",
        "CREATE TABLE venues (id bigint PRIMARY KEY, name text NOT NULL);\n",
    );
    f.submit(&t, &[BASELINE, drop_venues]);
    f.approve(&t.carol, "0001_baseline", &["dev", "ci", "pilot"]);
    f.run(
        &t.erin,
        &["deploy", "--env", "dev", "--to", "0001_baseline"],
    )
    .ok();

    // Forbidden: approvers cannot approve it without a written reason, and
    // ordinary approvals never open the gate.
    f.run(&t.carol, &["approve", "0002_drop_venues", "--env", "dev"])
        .fails(2, "emergency path");
    let gate = f.run(&t.erin, &["gate", "0002_drop_venues", "--env", "dev"]);
    assert_eq!(gate.code, 1);
    assert!(gate.stdout.contains("forbidden"), "{gate:#?}");
    // The emergency path: an admin and two approvers, each with a reason.
    // One person under two spellings of their name fills one seat.
    let approve_with_reason = |who: &str| {
        f.run(
            who,
            &[
                "approve",
                "0002_drop_venues",
                "--env",
                "dev",
                "--reason",
                "GDPR erasure",
            ],
        )
        .ok();
    };
    approve_with_reason(&t.carol);
    approve_with_reason(&token("Carol", &["approver"]));
    let gate = f.run(&t.erin, &["gate", "0002_drop_venues", "--env", "dev"]);
    assert!(
        gate.stdout.contains("0/1 admin and 1/2 approver"),
        "{gate:#?}"
    );
    approve_with_reason(&t.dave);
    let gate = f.run(&t.erin, &["gate", "0002_drop_venues", "--env", "dev"]);
    assert!(
        gate.stdout.contains("0/1 admin and 2/2 approver"),
        "{gate:#?}"
    );
    approve_with_reason(&t.root);

    // Freeze closes the gate until an admin unfreezes.
    f.run(&t.carol, &["freeze", "--env", "dev", "--reason", "x"])
        .fails(4, "permission denied");
    f.run(
        &t.root,
        &["freeze", "--env", "dev", "--reason", "pilot weekend"],
    )
    .ok();
    let frozen = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(frozen.code, 1, "{frozen:#?}");
    assert!(
        frozen.stdout.contains("frozen by root: pilot weekend"),
        "{frozen:#?}"
    );
    assert!(table_exists(&f.dev, "venues"));
    // Status shows the window and the freeze, who set it and why, whatever
    // is pending.
    let status_shows = |env: &str, line: &str| {
        let status = f.run(&t.erin, &["status", "--env", env]).ok().to_string();
        assert!(status.contains(line), "{line} in:\n{status}");
    };
    status_shows("dev", "freeze       dev is frozen by root: pilot weekend");
    status_shows("dev", "window       open: dev is always open");
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    assert_eq!(status["freeze"]["passed"], false, "{status:#}");
    assert_eq!(status["window"]["passed"], true, "{status:#}");
    // A second freeze would overwrite the first one's reason: refused.
    f.run(&t.root, &["freeze", "--env", "dev", "--reason", "another"])
        .fails(
            1,
            "dev is already frozen by root: pilot weekend; unfreeze it first",
        );
    status_shows("dev", "freeze       dev is frozen by root: pilot weekend");
    f.run(&t.root, &["unfreeze", "--env", "dev", "--reason", "back"])
        .ok();
    status_shows("dev", "freeze       dev is not frozen");
    f.run(&t.root, &["unfreeze", "--env", "dev", "--reason", "again"])
        .fails(1, "dev is not frozen");
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert!(!table_exists(&f.dev, "venues"));
    // The execution is marked as one on the emergency path, in its record
    // and its audit row; the baseline's, which the matrix allows, is not.
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    let executions = status["recent_executions"].as_array().unwrap();
    let emergency_of = |revision: &str| {
        executions
            .iter()
            .find(|e| e["revision_id"] == revision && e["state"] == "succeeded")
            .map(|e| e["emergency"].clone())
    };
    assert_eq!(
        emergency_of("0002_drop_venues"),
        Some(true.into()),
        "{status:#}"
    );
    assert_eq!(
        emergency_of("0001_baseline"),
        Some(false.into()),
        "{status:#}"
    );
    // The attempt the freeze refused forced nothing through.
    let refused = executions
        .iter()
        .find(|e| e["revision_id"] == "0002_drop_venues" && e["state"] == "refused")
        .unwrap_or_else(|| panic!("the refused attempt: {status:#}"));
    assert_eq!(refused["emergency"], false, "{status:#}");
    let forced = executions
        .iter()
        .find(|e| e["revision_id"] == "0002_drop_venues")
        .and_then(|e| e["id"].as_str())
        .unwrap()
        .to_string();
    let shown = f.run(&t.erin, &["execution", &forced]).ok().to_string();
    assert!(shown.contains("approvals    emergency path"), "{shown}");
    let audit = last_audit_row(&f, &t, "dev");
    assert_eq!(audit["action"], "execution.apply", "{audit:#}");
    assert!(
        audit["detail"]
            .as_str()
            .unwrap()
            .contains("emergency_path=yes"),
        "{audit:#}"
    );

    // A closed window refuses; an admin's one-off window opens it, audited.
    let baseline_only = ["--to", "0001_baseline"];
    f.run(
        &t.erin,
        &[&["deploy", "--env", "ci"][..], &baseline_only].concat(),
    )
    .ok();
    let closed = f.run(
        &t.erin,
        &[&["deploy", "--env", "pilot"][..], &baseline_only].concat(),
    );
    assert_eq!(closed.code, 1, "{closed:#?}");
    assert!(
        closed.stdout.contains("outside the deployment window"),
        "{closed:#?}"
    );
    assert!(!table_exists(&f.pilot, "venues"));
    status_shows(
        "pilot",
        "window       closed: outside the deployment window",
    );
    f.run(
        &t.root,
        &[
            "open-window",
            "--env",
            "pilot",
            "--reason",
            "hotfix",
            "--for",
            "30m",
        ],
    )
    .ok();
    status_shows(
        "pilot",
        "window       open: one-off window opened by root until ",
    );
    // A second one-off window replaces the first, and says so.
    let again = f
        .run(
            &t.root,
            &[
                "open-window",
                "--env",
                "pilot",
                "--reason",
                "hotfix, longer",
                "--for",
                "45m",
            ],
        )
        .ok()
        .to_string();
    assert!(
        again.contains("it replaces the window root opened until ") && again.contains(": hotfix"),
        "{again}"
    );
    let audit = last_audit_row(&f, &t, "pilot");
    assert!(
        audit["detail"]
            .as_str()
            .unwrap()
            .contains("; replaces the window root opened until"),
        "{audit:#}"
    );
    f.run(
        &t.erin,
        &[&["deploy", "--env", "pilot"][..], &baseline_only].concat(),
    )
    .ok();
    assert!(table_exists(&f.pilot, "venues"));
    let audit = f.run(&t.root, &["--json", "audit"]).json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "environment.freeze",
        "environment.unfreeze",
        "environment.open_window",
        "approval.approve",
        "execution.apply",
    ] {
        assert!(actions.contains(&action), "{action} missing: {actions:?}");
    }
}

#[test]
fn out_of_band_changes_are_drift_and_close_the_gate() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    baseline_deployed_before(&f, &t, ADD_TAPS);
    assert!(
        f.run(&t.erin, &["drift", "--env", "dev"])
            .ok()
            .contains("no drift")
    );

    execute(&f.dev, "ALTER TABLE venues ADD COLUMN capacity integer");
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 1, "{drift:#?}");
    assert!(drift.stdout.contains("capacity"), "{drift:#?}");
    let gate = f.run(&t.erin, &["gate", "0002_add_taps", "--env", "dev"]);
    assert_eq!(gate.code, 1, "{gate:#?}");
    assert!(gate.stdout.contains("capacity"), "{gate:#?}");
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(!table_exists(&f.dev, "taps"));

    execute(&f.dev, "ALTER TABLE venues DROP COLUMN capacity");
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert!(table_exists(&f.dev, "taps"));
}

#[test]
fn a_failing_statement_leaves_the_target_exactly_as_before() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    let broken = (
        "0001_baseline",
        "CREATE TABLE venues (id bigint PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n",
        "DROP TABLE venues;\n",
    );
    f.submit(&t, &[broken]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    let out = f.run(&t.erin, &["--json", "deploy", "--env", "dev"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("no_such_table"), "{out:#?}");
    assert!(
        out.stdout
            .contains("0001_baseline failed at statement 2 of 2 (line 2) and was rolled back"),
        "the failing statement is named: {out:#?}"
    );
    // A pipeline that keeps only stderr, or only the error line, learns it too.
    assert!(
        out.stderr
            .contains("sgctl: execution failed: 0001_baseline failed at statement 2 of 2"),
        "{out:#?}"
    );
    let error: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(error["error"]["exit_code"], 1, "{out:#?}");
    // The server logs the failure as a warning, which alerting looks for.
    let log = f.server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("0001_baseline failed at statement 2")),
        "{log}"
    );
    assert!(!table_exists(&f.dev, "venues"));
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'schemagate'"
        ),
        0,
        "not even the version table was left behind"
    );
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let id = events
        .iter()
        .find_map(|e| e["execution_id"].as_str().filter(|s| !s.is_empty()))
        .unwrap()
        .to_string();
    let record = f.run(&t.erin, &["--json", "execution", &id]).json();
    assert_eq!(record["state"], "failed", "{record:#}");
    assert!(record["error"].as_str().unwrap().contains("no_such_table"));
    assert!(
        record["finished_at"].is_string() || record["finished_at"].is_object(),
        "{record:#}"
    );
}

/// Sending a revision again as it is stores nothing, so it makes nobody an
/// author: an approver who syncs the revisions directory can still approve.
#[test]
fn sending_a_revision_again_unchanged_makes_nobody_its_author() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(&t, &[BASELINE]);
    let reviewer = token("mallory", &["developer", "approver"]);
    let again = f
        .run(&reviewer, &["submit", f.revisions.path().to_str().unwrap()])
        .ok()
        .to_string();
    assert!(again.contains("unchanged"), "{again}");
    f.run(&reviewer, &["approve", "0001_baseline", "--env", "dev"])
        .ok();
}

/// A revision without down SQL (none, or comments only) cannot be rolled
/// back: the rollback would only delete its version row and leave its
/// change in place.
#[test]
fn a_revision_without_down_sql_is_not_rolled_back() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    let baseline = (
        "0001_baseline",
        "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
        "DROP TABLE venues;\n",
    );
    let capacity = (
        "0002_add_capacity",
        "ALTER TABLE venues ADD COLUMN capacity int;\n",
        "-- kept: nothing to undo here\n",
    );
    let no_down = ("0003_add_taps", "CREATE TABLE taps (id bigint);\n", "");
    f.submit_approved(&t, &[baseline, capacity, no_down], &["dev"]);
    f.deploy(&t.erin, &["dev"]);
    f.run(
        &t.carol,
        &["approve", "0003_add_taps", "--env", "dev", "--rollback"],
    )
    .ok();
    f.run(
        &t.erin,
        &["gate", "0003_add_taps", "--env", "dev", "--rollback"],
    )
    .refused("0003_add_taps has no down SQL: a rollback would run nothing");
    f.run(&t.erin, &["rollback", "--env", "dev"])
        .refused("0003_add_taps has no down SQL");
    assert!(table_exists(&f.dev, "taps"));
    assert_eq!(applied(&f.dev), 3, "the version row stays");

    // Comments only count as none.
    execute(&f.dev, "DROP TABLE taps");
    execute(
        &f.dev,
        "DELETE FROM schemagate.applied_revisions WHERE id = '0003_add_taps'",
    );
    f.run(
        &t.carol,
        &["approve", "0002_add_capacity", "--env", "dev", "--rollback"],
    )
    .ok();
    let verdict = f.run(
        &t.erin,
        &[
            "--json",
            "gate",
            "0002_add_capacity",
            "--env",
            "dev",
            "--rollback",
        ],
    );
    assert_eq!(verdict.code, 1, "{verdict:#?}");
    let verdict = verdict.json();
    assert_eq!(condition(&verdict, "down")["passed"], false, "{verdict:#}");
}

/// The condition `name` of a `--json` gate verdict.
fn condition(verdict: &serde_json::Value, name: &str) -> serde_json::Value {
    verdict["conditions"]
        .as_array()
        .expect("the verdict's conditions")
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no condition {name} in {verdict:#}"))
}

/// A baseline of `venues` and `0002_add_capacity` (`up`, `down`) deployed
/// on dev, its rollback approved by carol.
fn capacity_on_dev_approved_for_rollback(t: &Tokens, up: &str, down: &str) -> Fixture {
    let f = Fixture::start(|p| p);
    let baseline = (
        "0001_baseline",
        "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
        "DROP TABLE venues;\n",
    );
    f.submit_approved(t, &[baseline, ("0002_add_capacity", up, down)], &["dev"]);
    f.deploy(&t.erin, &["dev"]);
    f.run(
        &t.carol,
        &["approve", "0002_add_capacity", "--env", "dev", "--rollback"],
    )
    .ok();
    f
}

/// A rollback whose down SQL leaves part of the revision in place says so:
/// the reading after it becomes the reference, so drift would not.
#[test]
fn a_rollback_that_leaves_part_of_the_revision_says_so() {
    let t = tokens();
    let f = capacity_on_dev_approved_for_rollback(
        &t,
        "ALTER TABLE venues ADD COLUMN capacity int, ADD COLUMN city text;\n",
        "ALTER TABLE venues DROP COLUMN capacity;\n",
    );
    let rolled_back = f.run(&t.erin, &["rollback", "--env", "dev"]);
    assert_eq!(rolled_back.code, 0, "{rolled_back:#?}");
    assert!(
        rolled_back
            .stdout
            .contains("the schema is not the one recorded after 0001_baseline (fingerprint ")
            && rolled_back
                .stdout
                .contains("the down SQL did not undo everything 0002_add_capacity did"),
        "{rolled_back:#?}"
    );
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    assert!(
        status["recent_executions"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("warning: the schema is not the one recorded after 0001_baseline"),
        "{status:#}"
    );
}

/// A rollback announces the statements of the down SQL it runs, and a
/// failed one says the revision is still applied rather than reading as
/// though it had been rolled back.
#[test]
fn a_failed_rollback_says_the_revision_is_still_applied() {
    let t = tokens();
    let f = capacity_on_dev_approved_for_rollback(
        &t,
        "ALTER TABLE venues ADD COLUMN capacity int;\n",
        "ALTER TABLE venues DROP COLUMN capacity;\nDROP TABLE no_such_table;\n",
    );
    let failed = f.run(&t.erin, &["rollback", "--env", "dev"]);
    assert_eq!(failed.code, 1, "{failed:#?}");
    let out = format!("{}{}", failed.stdout, failed.stderr);
    assert!(
        out.contains("rolling back 0002_add_capacity (2 statement(s), one transaction)"),
        "{out}"
    );
    assert!(
        out.contains("the rollback of 0002_add_capacity failed at statement 2 of 2 (line 2) and was undone; 0002_add_capacity is still applied"),
        "{out}"
    );
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    assert_eq!(
        status["current_revision"], "0002_add_capacity",
        "{status:#}"
    );
    assert_eq!(status["off_lineage"], serde_json::Value::Null, "{status:#}");
    // A revision the target moved past is said to be applied, not to
    // apply on top of an empty target.
    f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"]).refused(
        "0001_baseline is already applied on dev: the target is at 0002_add_capacity, which comes after it",
    );
    // So is a deploy pinned to it.
    f.run(
        &t.erin,
        &["deploy", "--env", "dev", "--to", "0001_baseline"],
    )
    .fails(
        1,
        "dev's target is at 0002_add_capacity, which comes after 0001_baseline",
    );
    // An execution id given with another --project is refused, not shown.
    let id = status["recent_executions"][0]["id"].as_str().unwrap();
    f.run(&t.erin, &["--project", "other", "execution", id])
        .fails(
            1,
            &format!("execution {id} belongs to project default, not other"),
        );
    f.run(&t.erin, &["execution", "nope"]).fails(
        2,
        "'nope' is not an execution id: `sgctl status --env ENV` lists the recent ones",
    );
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'venues' AND column_name = 'capacity'"
        ),
        1
    );

    // A version row naming a revision outside the lineage leaves nothing
    // pending, rather than the whole lineage.
    execute(
        &f.dev,
        "UPDATE schemagate.applied_revisions SET id = '0009_ghost' WHERE id = '0002_add_capacity'",
    );
    f.run(&t.erin, &["status", "--env", "dev"]).refused(
        "pending      none: the target is at 0009_ghost, which is not in the lineage of project default",
    );
}

/// The amend tests' lineage: a baseline, a `0002_add_capacity` that fails
/// (it names a table that does not exist), its fix, and a revision after it.
const VENUES: (&str, &str, &str) = (
    "0001_baseline",
    "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
    "DROP TABLE venues;\n",
);
const CAPACITY_DOWN: &str = "ALTER TABLE venues DROP COLUMN capacity;\n";
const CAPACITY_BROKEN: (&str, &str, &str) = (
    "0002_add_capacity",
    "ALTER TABLE venue ADD COLUMN capacity int;\n",
    CAPACITY_DOWN,
);
const CAPACITY_FIXED: (&str, &str, &str) = (
    "0002_add_capacity",
    "ALTER TABLE venues ADD COLUMN capacity int;\n",
    CAPACITY_DOWN,
);
/// Another content for the fix, once it has landed.
const CAPACITY_BIGINT: (&str, &str, &str) = (
    "0002_add_capacity",
    "ALTER TABLE venues ADD COLUMN capacity bigint;\n",
    CAPACITY_DOWN,
);
const CITY: (&str, &str, &str) = (
    "0003_add_city",
    "ALTER TABLE venues ADD COLUMN city text;\n",
    "ALTER TABLE venues DROP COLUMN city;\n",
);

/// A revision that fails on its first environment would block every one
/// behind it for good: its author fixes its files and amends it. The
/// approval given to the broken content does not count for the fix; once
/// approved again it deploys. Only its author (or an admin) may amend it,
/// and only until it lands.
#[test]
fn a_revision_that_failed_before_landing_is_amended_and_approved_again() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit_approved(&t, &[VENUES], &["dev"]);
    f.deploy(&t.erin, &["dev"]);
    // A misspelt project is not "nothing to do", "up to date" or every
    // table drifted.
    for command in [
        &["deploy", "--env", "dev"][..],
        &["status", "--env", "dev"],
        &["drift", "--env", "dev"],
    ] {
        let mut args = vec!["--project", "nosuch"];
        args.extend(command);
        f.run(&t.erin, &args).fails(
            1,
            "project nosuch has no revisions in the catalog (it holds default): check --project",
        );
    }
    f.submit_approved(&t, &[VENUES, CAPACITY_BROKEN], &["dev"]);
    let failed = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(failed.code, 1, "{failed:#?}");
    assert!(
        failed.stdout.contains("\"venue\" does not exist"),
        "{failed:#?}"
    );

    write_revisions(f.revisions.path(), &[CAPACITY_FIXED]);
    let dir = f.revisions.path().to_str().unwrap();
    let unasked = f.run(&t.alice, &["submit", dir]);
    assert_eq!(unasked.code, 1, "{unasked:#?}");
    assert!(
        unasked.stderr.contains("sgctl submit --amend"),
        "{unasked:#?}"
    );
    // With --json, what was submitted before the failure and the failure
    // come as one object.
    let unasked = f.run(&t.alice, &["--json", "submit", dir]);
    assert_eq!(unasked.code, 1, "{unasked:#?}");
    let unasked = unasked.json();
    assert_eq!(
        unasked["submitted"][0]["result"], "unchanged",
        "{unasked:#}"
    );
    assert_eq!(unasked["error"]["exit_code"], 1, "{unasked:#}");
    let bob = token("bob", &["developer"]);
    let not_bobs = f.run(&bob, &["submit", "--amend", dir]);
    assert_eq!(not_bobs.code, 4, "{not_bobs:#?}");
    assert!(not_bobs.stderr.contains("only alice"), "{not_bobs:#?}");

    assert_eq!(
        amend_all(&f, &t.alice),
        ["0001_baseline unchanged", "0002_add_capacity amended"]
    );
    let gate = f.run(&t.erin, &["gate", "0002_add_capacity", "--env", "dev"]);
    assert_eq!(
        gate.code, 1,
        "the approval of the broken content counts: {gate:#?}"
    );
    assert!(gate.stdout.contains("approvals"), "{gate:#?}");
    // An admin's amend makes the admin its author; whoever wrote an earlier
    // version still cannot approve it.
    let reviewed = (
        "0002_add_capacity",
        "-- reviewed by root\nALTER TABLE venues ADD COLUMN capacity int;\n",
        CAPACITY_DOWN,
    );
    write_revisions(f.revisions.path(), &[reviewed]);
    f.run(&t.root, &["submit", "--amend", dir]).ok();
    f.run(
        &token("alice", &["approver"]),
        &["approve", "0002_add_capacity", "--env", "dev"],
    )
    .fails(
        4,
        "alice submitted an earlier version of 0002_add_capacity (amended since by root)",
    );
    f.approve(&t.carol, "0002_add_capacity", &["dev"]);
    f.deploy(&t.erin, &["dev"]);
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'venues' AND column_name = 'capacity'"
        ),
        1
    );

    write_revisions(f.revisions.path(), &[CAPACITY_BIGINT]);
    let landed = f.run(&t.root, &["submit", "--amend", dir]);
    assert_eq!(landed.code, 1, "{landed:#?}");
    assert!(
        landed
            .stderr
            .contains("0002_add_capacity has landed on dev: roll it back there first"),
        "{landed:#?}"
    );
    // Two amends: alice's own, and root's, which took over from her.
    let audit = f.run(&t.root, &["--json", "audit"]).json();
    let amends: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "revision.amend"
                && e["subject"] == "0002_add_capacity"
                && e["outcome"] == "ok"
        })
        .map(|e| (e["actor"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(amends.len(), 2, "{audit:#}");
    // The unchanged baseline sent along with --amend amended nothing.
    assert!(
        !audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "revision.amend" && e["subject"] == "0001_baseline"),
        "{audit:#}"
    );
    assert!(
        amends
            .iter()
            .all(|(_, detail)| detail.contains("previous_author=alice")),
        "{amends:#?}"
    );
    assert_eq!(amends[0].0, "root", "newest first: {amends:#?}");

    // The gate holds the target to the catalog's content: a version row
    // whose checksum is not the catalog's (an amend that raced a deploy, a
    // hand edit) refuses the next revision.
    execute(
        &f.dev,
        "UPDATE schemagate.applied_revisions SET checksum = 'edited' WHERE id = '0002_add_capacity'",
    );
    f.submit_approved(&t, &[reviewed, CITY], &["dev"]);
    let gate = f.run(&t.erin, &["gate", "0003_add_city", "--env", "dev"]);
    assert_eq!(gate.code, 1, "{gate:#?}");
    assert!(
        gate.stdout.contains("the target ran 0002_add_capacity with checksum edited, but the catalog's 0002_add_capacity has checksum"),
        "{gate:#?}"
    );
}

/// `sgctl submit --amend` of the fixture's revisions directory: each
/// revision's id and what became of it (`0002_x amended`).
fn amend_all(f: &Fixture, token: &str) -> Vec<String> {
    let dir = f.revisions.path().to_str().unwrap();
    let amended = f.run(token, &["--json", "submit", "--amend", dir]).json();
    amended["submitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["id"].as_str().unwrap(),
                r["result"].as_str().unwrap()
            )
        })
        .collect()
}

/// A revision that failed with later ones submitted behind it is amended in
/// place (those apply on top of it, so nothing else could get an
/// environment past it), and the later ones keep their approvals.
#[test]
fn a_failed_revision_with_later_ones_behind_it_is_amended_in_place() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit_approved(&t, &[VENUES, CAPACITY_BROKEN, CITY], &["dev"]);
    let failed = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(failed.code, 1, "{failed:#?}");
    assert_eq!(applied_ids(&f.dev), vec!["0001_baseline".to_string()]);

    write_revisions(f.revisions.path(), &[CAPACITY_FIXED]);
    let dir = f.revisions.path().to_str().unwrap();
    assert_eq!(
        amend_all(&f, &t.alice),
        [
            "0001_baseline unchanged",
            "0002_add_capacity amended",
            "0003_add_city unchanged"
        ]
    );
    f.approve(&t.carol, "0002_add_capacity", &["dev"]);
    f.deploy(&t.erin, &["dev"]);
    assert_eq!(
        applied_ids(&f.dev),
        ["0001_baseline", "0002_add_capacity", "0003_add_city"]
    );
    // Landed now: amending it is refused.
    let landed = f.run(&t.alice, &["submit", "--amend", dir]);
    assert_eq!(landed.code, 0, "nothing changed: {landed:#?}");
    write_revisions(f.revisions.path(), &[CAPACITY_BIGINT]);
    f.run(&t.alice, &["submit", "--amend", dir]).fails(
        1,
        "0002_add_capacity has landed on dev: roll it back there first",
    );
}

/// A baseline whose `relabels` table has a trigger that renames the
/// column `taps.name`, which the view `tap_names` reads: a revision that
/// inserts into `relabels` changes the view's definition while none of the
/// view's catalog rows change, which an incremental read cannot see.
const RELABEL_BASELINE: (&str, &str, &str) = (
    "0001_baseline",
    "CREATE TABLE taps (id bigint PRIMARY KEY, name text);\n\
     CREATE VIEW tap_names AS SELECT name FROM taps;\n\
     CREATE TABLE relabels (id int);\n\
     CREATE FUNCTION relabel() RETURNS trigger LANGUAGE plpgsql AS $$\n\
     BEGIN EXECUTE 'ALTER TABLE taps RENAME COLUMN name TO label'; RETURN NEW; END $$;\n\
     CREATE TRIGGER relabels_relabel AFTER INSERT ON relabels FOR EACH ROW EXECUTE FUNCTION relabel();\n",
    "DROP VIEW tap_names;\nDROP TABLE relabels, taps;\nDROP FUNCTION relabel();\n",
);

/// The same rename without a trigger: a function that a data statement
/// calls directly.
const RELABEL_FUNCTION_BASELINE: (&str, &str, &str) = (
    "0001_baseline",
    "CREATE TABLE taps (id bigint PRIMARY KEY, name text);\n\
     CREATE VIEW tap_names AS SELECT name FROM taps;\n\
     CREATE TABLE relabels (id int);\n\
     CREATE FUNCTION relabel_now() RETURNS int LANGUAGE plpgsql AS $$\n\
     BEGIN EXECUTE 'ALTER TABLE taps RENAME COLUMN name TO label'; RETURN 1; END $$;\n",
    "DROP VIEW tap_names;\nDROP TABLE relabels, taps;\nDROP FUNCTION relabel_now();\n",
);

/// Revision 2 is read incrementally and keeps no schema of its own, since
/// revision 3 would end the execution; revision 3 fails, so the execution
/// stops right after revision 2 and keeps a reference read in full, with its
/// catalog stamp and its schema.
#[test]
fn an_execution_that_stops_early_still_ends_on_a_reference_read_in_full() {
    let t = tokens();
    let f = Fixture::start_with_quiet_dev(|p| p);
    f.submit(
        &t,
        &[
            RELABEL_FUNCTION_BASELINE,
            (
                "0002_relabel_log",
                "CREATE TABLE relabel_log (id int);\n",
                "DROP TABLE relabel_log;\n",
            ),
            (
                "0003_broken",
                "INSERT INTO no_such_table VALUES (1);\n",
                "SELECT 1;\n",
            ),
        ],
    );
    for id in ["0001_baseline", "0002_relabel_log", "0003_broken"] {
        f.approve(&t.carol, id, &["dev"]);
    }
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("no_such_table"), "{out:#?}");
    assert_eq!(applied_ids(&f.dev), ["0001_baseline", "0002_relabel_log"]);
    let catalog = f.open_catalog();
    let (revision, stamp, schema): (String, String, String) = catalog
        .query_row(
            "SELECT revision_id, catalog_stamp, schema_json FROM target_schemas WHERE environment = 'dev'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(revision, "0002_relabel_log");
    assert!(!stamp.is_empty(), "the reference was read in full");
    assert!(schema.contains("relabel_log"), "{schema}");
    assert!(
        !f.server.log().contains("differs from the full read"),
        "{}",
        f.server.log()
    );

    // A catalog change the schema model ignores makes the next drift check
    // compare the whole schema with the reference: it is the full read.
    execute(&f.dev, "ALTER TABLE taps SET (fillfactor = 90)");
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 0, "{drift:#?}");
    assert!(drift.stdout.contains("no drift"), "{drift:#?}");
    // The reference kept its schema, so a change is listed by name.
    execute(
        &f.dev,
        "CREATE INDEX relabel_log_out_of_band ON relabel_log (id)",
    );
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 1, "{drift:#?}");
    assert!(
        drift.stdout.contains("relabel_log_out_of_band"),
        "{drift:#?}"
    );
}

/// The reference's schema is kept only where an execution ends; the same
/// on a PostgreSQL catalog, for an execution that stops after a middle
/// revision.
#[test]
fn on_a_postgres_catalog_an_execution_that_stops_keeps_its_reference() {
    let t = tokens();
    let f = Fixture::start_on_postgres_catalog(|p| p);
    f.submit(
        &t,
        &[
            (
                "0001_baseline",
                "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
                "DROP TABLE venues;\n",
            ),
            (
                "0002_taps",
                "CREATE TABLE taps (id bigint PRIMARY KEY);\n",
                "DROP TABLE taps;\n",
            ),
            (
                "0003_broken",
                "INSERT INTO no_such_table VALUES (1);\n",
                "SELECT 1;\n",
            ),
        ],
    );
    for id in ["0001_baseline", "0002_taps", "0003_broken"] {
        f.approve(&t.carol, id, &["dev"]);
    }
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(applied_ids(&f.dev), ["0001_baseline", "0002_taps"]);
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 0, "{drift:#?}");
    execute(&f.dev, "CREATE INDEX taps_out_of_band ON taps (id)");
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 1, "{drift:#?}");
    assert!(drift.stdout.contains("taps_out_of_band"), "{drift:#?}");
}

/// Deploys `baseline`, `revision` and one more revision in one execution
/// on a target where nothing else commits, so that the executor would read
/// `revision` incrementally, and checks that the fingerprint recorded after
/// `revision` is that of a full read of the same SQL.
fn assert_recorded_after_a_full_read(baseline: (&str, &str, &str), revision: (&str, &str, &str)) {
    let t = tokens();
    let f = Fixture::start_with_quiet_dev(|p| p);
    let more = (
        "0003_more_taps",
        "CREATE TABLE more_taps (id int);\n",
        "DROP TABLE more_taps;\n",
    );
    f.submit_approved(&t, &[baseline, revision, more], &["dev"]);
    // A second approver, for a revision that is risky: a column of a
    // domain with a check, which the baseline made, rewrites its table.
    f.approve(&t.dave, revision.0, &["dev"]);
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        !f.server.log().contains("differs from the full read"),
        "{}",
        f.server.log()
    );

    // The same SQL by hand, read in full after the revision.
    let by_hand = block_on(postgres().create_database());
    execute(&by_hand, baseline.1);
    execute(&by_hand, revision.1);
    let fingerprint = block_on(async {
        let mut conn = PgConnection::connect(&by_hand).await.unwrap();
        schemagate_server::schema::introspect(&mut conn)
            .await
            .unwrap()
            .fingerprint()
    });
    let line = out
        .stdout
        .lines()
        .find(|line| line.contains(&format!("applied {} on dev in ", revision.0)))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(
        line.contains(&format!("schema fingerprint {}", &fingerprint[..12])),
        "{line}: a full read gives {fingerprint}"
    );
}

/// A row trigger that a data statement may fire can run any DDL: the
/// executor reads in full after a revision with data statements on a target
/// with triggers, also when the revision runs DDL of its own.
#[test]
fn a_revision_whose_trigger_runs_ddl_is_read_in_full() {
    assert_recorded_after_a_full_read(
        RELABEL_BASELINE,
        (
            "0002_relabel",
            "CREATE TABLE relabel_log (id int);\nINSERT INTO relabels VALUES (1);\n",
            "DELETE FROM relabels;\nDROP TABLE relabel_log;\n",
        ),
    );
}

/// A function a data statement calls can run any DDL: the executor reads
/// in full after a revision that may call a function on a target that has
/// functions.
#[test]
fn a_data_revision_that_changed_the_schema_is_read_in_full() {
    assert_recorded_after_a_full_read(
        RELABEL_FUNCTION_BASELINE,
        (
            "0002_relabel",
            "INSERT INTO relabels SELECT relabel_now();\n",
            "DELETE FROM relabels;\n",
        ),
    );
}

/// The same when the revision also runs DDL of its own, which the
/// incremental read would follow, but not the function's.
#[test]
fn a_revision_that_runs_ddl_and_calls_a_function_is_read_in_full() {
    assert_recorded_after_a_full_read(
        RELABEL_FUNCTION_BASELINE,
        (
            "0002_relabel",
            "CREATE TABLE relabel_log (id int);\nINSERT INTO relabels SELECT relabel_now();\n",
            "DELETE FROM relabels;\nDROP TABLE relabel_log;\n",
        ),
    );
}

/// And when the function is called through a column default, with no call
/// in the data statement itself.
#[test]
fn a_function_called_through_a_column_default_is_read_in_full() {
    assert_recorded_after_a_full_read(
        RELABEL_FUNCTION_BASELINE,
        (
            "0002_relabel",
            "CREATE TABLE relabel_log (id int DEFAULT relabel_now());\nINSERT INTO relabel_log DEFAULT VALUES;\n",
            "DROP TABLE relabel_log;\n",
        ),
    );
}

/// Functions that run DDL, reached with no call in a revision's SQL: through
/// an operator and through a domain's check. Each drops a table, which the
/// incremental read cannot see (a removal leaves no catalog row to find).
const IMPLICIT_CALL_BASELINE: (&str, &str, &str) = (
    "0001_baseline",
    "CREATE TABLE taps (id bigint PRIMARY KEY, name text);\n\
     INSERT INTO taps VALUES (1, 'north');\n\
     CREATE TABLE doomed_by_operator (id int);\n\
     CREATE TABLE doomed_by_domain (id int);\n\
     CREATE FUNCTION drops_a_table(bigint, int) RETURNS boolean LANGUAGE plpgsql AS $$\n\
     BEGIN EXECUTE 'DROP TABLE IF EXISTS doomed_by_operator'; RETURN $1 = $2; END $$;\n\
     CREATE OPERATOR === (LEFTARG = bigint, RIGHTARG = int, FUNCTION = drops_a_table);\n\
     CREATE FUNCTION positive_dropping_a_table(int) RETURNS boolean LANGUAGE plpgsql AS $$\n\
     BEGIN EXECUTE 'DROP TABLE IF EXISTS doomed_by_domain'; RETURN $1 > 0; END $$;\n\
     CREATE DOMAIN positive AS int CHECK (positive_dropping_a_table(VALUE));\n",
    "DROP TABLE taps;\nDROP TABLE IF EXISTS doomed_by_operator, doomed_by_domain;\n\
     DROP DOMAIN positive;\nDROP OPERATOR === (bigint, int);\n\
     DROP FUNCTION drops_a_table(bigint, int), positive_dropping_a_table(int);\n",
);

#[test]
fn a_function_reached_through_an_operator_is_read_in_full() {
    assert_recorded_after_a_full_read(
        IMPLICIT_CALL_BASELINE,
        (
            "0002_first_tap",
            "ALTER TABLE taps ADD COLUMN first boolean DEFAULT (2::bigint === 1);\n",
            "ALTER TABLE taps DROP COLUMN first;\n",
        ),
    );
}

#[test]
fn a_function_reached_through_a_domain_check_is_read_in_full() {
    assert_recorded_after_a_full_read(
        IMPLICIT_CALL_BASELINE,
        (
            "0002_tap_rank",
            "ALTER TABLE taps ADD COLUMN rank positive NOT NULL DEFAULT 1;\n",
            "ALTER TABLE taps DROP COLUMN rank;\n",
        ),
    );
}

#[test]
fn two_concurrent_deploys_apply_the_revision_once() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    let slow = (
        "0001_baseline",
        "CREATE TABLE venues (id bigint PRIMARY KEY);\nSELECT pg_sleep(2);\n",
        "DROP TABLE venues;\n",
    );
    f.submit(&t, &[slow]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| f.run(&t.erin, &["deploy", "--env", "dev"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = runs.iter().filter(|r| r.code == 0).count();
    assert_eq!(ok, 1, "{runs:#?}");
    let refused = runs.iter().find(|r| r.code != 0).unwrap();
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(
        refused.stderr.contains("aborted") && refused.stderr.contains("schemagate apply by erin"),
        "{refused:#?}"
    );
    assert_eq!(applied(&f.dev), 1);
}

#[test]
fn while_an_execution_holds_the_target_drift_is_left_to_it() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(
        &t,
        &[
            (
                "0001_baseline",
                "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
                "DROP TABLE venues;\n",
            ),
            (
                "0002_taps",
                "CREATE TABLE taps (id bigint PRIMARY KEY);\n",
                "DROP TABLE taps;\n",
            ),
        ],
    );
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    f.approve(&t.carol, "0002_taps", &["dev"]);
    let deploy = f.run(
        &t.erin,
        &["deploy", "--env", "dev", "--to", "0001_baseline"],
    );
    assert_eq!(deploy.code, 0, "{deploy:#?}");
    // The executor lock, held the way an execution holds it: its catalog
    // reference trails its revisions, so only it can tell drift.
    // One runtime for the connection's whole life.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut execution = runtime.block_on(PgConnection::connect(&f.dev)).unwrap();
    let locked = runtime
        .block_on(schemagate_server::target::try_lock(
            &mut execution,
            "default",
        ))
        .unwrap();
    assert!(locked.is_ok(), "{locked:?}");
    let gate = f.run(&t.erin, &["--json", "gate", "0002_taps", "--env", "dev"]);
    assert_eq!(gate.code, 1, "{gate:#?}");
    let verdict = gate.json();
    let condition = |name: &str| condition(&verdict, name);
    assert_eq!(condition("drift")["passed"], false, "{verdict:#}");
    assert_eq!(condition("drift")["not_checked"], true, "{verdict:#}");
    assert!(
        condition("drift")["reason"]
            .as_str()
            .unwrap()
            .contains("not checked while an execution changes the target"),
        "{verdict:#}"
    );
    assert_eq!(condition("exclusive")["passed"], false, "{verdict:#}");
    assert_eq!(condition("exclusive")["not_checked"], false, "{verdict:#}");
    f.run(&t.erin, &["drift", "--env", "dev"])
        .fails(1, "check drift when it ends");
    // A deploy is turned away, and the refusal is audited.
    f.run(&t.erin, &["deploy", "--env", "dev"])
        .fails(1, "another execution holds dev's target");
    let audit = last_audit_row(&f, &t, "dev");
    assert_eq!(audit["action"], "execution.apply", "{audit:#}");
    assert_eq!(audit["outcome"], "refused", "{audit:#}");
    assert_eq!(audit["actor"], "erin", "{audit:#}");

    runtime.block_on(execution.close()).unwrap();
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 0, "{drift:#?}");
    let gate = f.run(&t.erin, &["gate", "0002_taps", "--env", "dev"]);
    assert_eq!(gate.code, 0, "{gate:#?}");
}

#[test]
fn rollback_needs_its_own_approvals_runs_the_down_sql_and_uses_up_the_approvals_to_apply() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit_approved(&t, &[BASELINE, ADD_TAPS], &["dev"]);
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert!(table_exists(&f.dev, "taps"));

    let refused = f.run(&t.erin, &["rollback", "--env", "dev"]);
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(refused.stdout.contains("rollback approval"), "{refused:#?}");
    f.run(
        &t.dave,
        &["approve", "0002_add_taps", "--env", "dev", "--rollback"],
    )
    .ok();
    let out = f.run(&t.erin, &["rollback", "--env", "dev"]);
    assert_eq!(out.code, 0, "{out:#?}");
    // Its down SQL undid everything: back at the baseline's schema.
    assert!(!out.stdout.contains("did not undo everything"), "{out:#?}");
    assert!(!table_exists(&f.dev, "taps"));
    assert!(table_exists(&f.dev, "venues"));
    assert_eq!(applied(&f.dev), 1);
    assert!(
        f.run(&t.erin, &["drift", "--env", "dev"])
            .ok()
            .contains("no drift")
    );

    // The rollback used up the approvals to apply it as well: the next
    // deploy does not run it again until someone approves it again.
    f.run(&t.erin, &["deploy", "--env", "dev"])
        .refused("1 earlier approval(s) used up by a rollback or restore on dev");
    // dave's approval to roll back and carol's to apply, in the audit row.
    let detail = audit_detail(&f, &t, "execution.rollback", "0002_add_taps");
    assert!(detail.contains("approvals_used_up=2"), "{detail}");
    assert!(!table_exists(&f.dev, "taps"));
    f.approve(&t.carol, "0002_add_taps", &["dev"]);
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert!(table_exists(&f.dev, "taps"));

    // A second rollback needs fresh rollback approval.
    f.run(&t.erin, &["rollback", "--env", "dev"])
        .refused("1 earlier approval(s) used up by a rollback");
    assert!(table_exists(&f.dev, "taps"));
}

/// The detail of the one successful audit row with `action` on `subject`.
/// The newest audit row of `env`, as root reads it.
fn last_audit_row(f: &Fixture, t: &Tokens, env: &str) -> serde_json::Value {
    f.run(&t.root, &["--json", "audit", "--env", env, "--limit", "1"])
        .json()[0]
        .clone()
}

fn audit_detail(f: &Fixture, t: &Tokens, action: &str, subject: &str) -> String {
    let audit = f.run(&t.root, &["--json", "audit"]).json();
    let rows: Vec<&serde_json::Value> = audit
        .as_array()
        .expect("audit entries")
        .iter()
        .filter(|e| e["action"] == action && e["subject"] == subject && e["outcome"] == "ok")
        .collect();
    assert_eq!(rows.len(), 1, "{audit:#}");
    rows.first()
        .and_then(|e| e["detail"].as_str())
        .unwrap_or_else(|| panic!("no {action} row for {subject}: {audit:#}"))
        .to_string()
}

/// Both revisions on dev and ci, pilot at the baseline: `0002_add_taps`
/// waits for pilot.
fn taps_on_dev_and_ci_not_yet_on_pilot(t: &Tokens) -> Fixture {
    let f = Fixture::start(|p| p);
    f.submit_approved(t, &[BASELINE, ADD_TAPS], &["dev", "ci", "pilot"]);
    f.deploy(&t.erin, &["dev", "ci"]);
    f.run(
        &t.erin,
        &["deploy", "--env", "pilot", "--to", "0001_baseline"],
    )
    .ok();
    f
}

/// `0002_add_taps`, taken off ci, is refused on pilot; approved and run on
/// ci again, it goes on to pilot.
fn taps_reach_pilot_only_after_ci_again(f: &Fixture, t: &Tokens, why: &str) {
    f.run(&t.erin, &["gate", "0002_add_taps", "--env", "pilot"])
        .refused(why);
    f.run(&t.erin, &["deploy", "--env", "pilot"]).refused(why);
    assert!(!table_exists(&f.pilot, "taps"));
    f.run(&t.erin, &["gate", "0002_add_taps", "--env", "ci"])
        .refused("1 earlier approval(s) used up by a rollback or restore on ci");
    f.approve(&t.carol, "0002_add_taps", &["ci"]);
    f.deploy(&t.erin, &["ci", "pilot"]);
    assert!(table_exists(&f.pilot, "taps"));
}

#[test]
fn a_revision_rolled_back_on_the_previous_environment_is_not_promoted_until_it_runs_there_again() {
    let t = tokens();
    let f = taps_on_dev_and_ci_not_yet_on_pilot(&t);
    f.run(
        &t.dave,
        &["approve", "0002_add_taps", "--env", "ci", "--rollback"],
    )
    .ok();
    f.run(&t.erin, &["rollback", "--env", "ci"]).ok();
    assert!(!table_exists(&f.ci, "taps"));
    taps_reach_pilot_only_after_ci_again(&f, &t, "0002_add_taps was rolled back on ci (execution");
}

#[test]
fn a_restore_on_the_previous_environment_takes_its_approvals_and_blocks_promotion() {
    let t = tokens();
    let f = taps_on_dev_and_ci_not_yet_on_pilot(&t);
    // ci restored from a backup taken before 0002_add_taps: the dump brings
    // back the schema and the version table of 0001_baseline.
    execute(
        &f.ci,
        "DROP TABLE taps; DELETE FROM schemagate.applied_revisions WHERE id = '0002_add_taps'",
    );
    f.run(
        &t.erin,
        &[
            "stamp",
            "--env",
            "ci",
            "--revision",
            "0001_baseline",
            "--restored",
        ],
    )
    .ok();
    let detail = audit_detail(&f, &t, "target.stamp_restored", "0001_baseline");
    assert!(detail.contains("approvals_used_up=1"), "{detail}");
    let on_ci = f
        .run(
            &t.erin,
            &["--json", "approvals", "0002_add_taps", "--env", "ci"],
        )
        .json();
    assert_eq!(on_ci[0]["approver"], "carol", "{on_ci:#}");
    assert_eq!(on_ci[0]["used_up"], true, "{on_ci:#}");
    assert_eq!(on_ci[0]["valid"], false, "{on_ci:#}");
    let table = f.run(&t.erin, &["approvals", "0002_add_taps", "--env", "ci"]);
    assert!(table.ok().contains("no (used up)"), "{table:#?}");
    // dev was not restored: its decisions stand.
    let on_dev = f
        .run(
            &t.erin,
            &["--json", "approvals", "0002_add_taps", "--env", "dev"],
        )
        .json();
    let decisions = on_dev.as_array().expect("a list of decisions");
    assert!(
        !decisions.is_empty() && decisions.iter().all(|a| a["valid"] == true),
        "{on_dev:#}"
    );
    taps_reach_pilot_only_after_ci_again(
        &f,
        &t,
        "0002_add_taps has not run on ci since its target was recorded at the earlier 0001_baseline",
    );
}

/// `url` with its port replaced by 1, where nothing listens.
fn with_port_one(url: &str) -> String {
    let Some(at) = url.rfind('@') else {
        return url.to_string();
    };
    let host_start = at + 1;
    let Some(colon) = url[host_start..].find(':').map(|i| host_start + i) else {
        return url.to_string();
    };
    let digits = url[colon + 1..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(url.len(), |i| colon + 1 + i);
    format!("{}1{}", &url[..=colon], &url[digits..])
}

#[test]
fn target_credentials_appear_in_no_response_log_or_error() {
    let t = tokens();
    const SECRET: &str = "Sup3rSecretPassw0rd";
    let with_password = |url: &str| {
        url.replacen(
            "postgres://postgres@",
            &format!("postgres://postgres:{SECRET}@"),
            1,
        )
    };
    let f = Fixture::start_with(
        |p| p,
        |dev, ci, pilot| {
            // ci points at a port where nothing listens (port 1; prefixing
            // the port with a digit could make it larger than 65535, which
            // does not parse).
            let unreachable = with_port_one(&with_password(ci));
            (with_password(dev), unreachable, with_password(pilot))
        },
    );
    assert!(
        f.dev.contains("postgres://postgres@"),
        "the harness URL has the expected shape: {}",
        f.dev
    );
    f.submit(&t, &[BASELINE]);
    f.approve(&t.carol, "0001_baseline", &["dev", "ci", "pilot"]);
    let mut outputs = vec![
        f.run(&t.erin, &["deploy", "--env", "dev"]),
        f.run(&t.erin, &["deploy", "--env", "ci"]),
        f.run(&t.erin, &["gate", "0001_baseline", "--env", "ci"]),
        f.run(&t.erin, &["status", "--env", "dev"]),
        f.run(&t.erin, &["status", "--env", "ci"]),
        f.run(&t.erin, &["drift", "--env", "ci"]),
        f.run(&t.erin, &["--json", "status", "--env", "dev"]),
    ];
    outputs[0].ok();
    assert_eq!(
        outputs[1].code, 3,
        "an unreachable target is UNAVAILABLE: {:#?}",
        outputs[1]
    );
    outputs.push(f.run(&t.root, &["--json", "audit"]));
    for out in &outputs {
        assert!(
            !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
            "{out:#?}"
        );
    }
    let log = f.server.log();
    assert!(
        log.contains("execution"),
        "the log covers the execution: {log}"
    );
    assert!(!log.contains(SECRET), "{log}");
}

#[test]
fn only_postgres_targets_are_accepted() {
    let t = tokens();
    let f = Fixture::start_with(
        |p| p,
        |_dev, ci, pilot| {
            (
                "sqlite:///var/lib/tapd/journal.db".into(),
                ci.into(),
                pilot.into(),
            )
        },
    );
    f.submit(&t, &[BASELINE]);
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    out.fails(1, "never migrated");
}

#[test]
fn a_non_transactional_revision_runs_statement_by_statement_and_is_recorded_as_such() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    let concurrent = (
        "0002_index_venue_names",
        "CREATE INDEX CONCURRENTLY venues_name_idx ON venues (name);\n",
        "DROP INDEX CONCURRENTLY venues_name_idx;\n",
    );
    f.submit(&t, &[BASELINE, concurrent]);
    let shown = f
        .run(&t.alice, &["--json", "show", "0002_index_venue_names"])
        .json();
    assert_eq!(shown["transactional"], false, "{shown:#}");
    for id in ["0001_baseline", "0002_index_venue_names"] {
        f.approve(&t.carol, id, &["dev"]);
    }
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("statement by statement"), "{out:#?}");
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'venues_name_idx'"
        ),
        1
    );
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM schemagate.applied_revisions WHERE id = '0002_index_venue_names' AND NOT transactional"
        ),
        1
    );
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    assert_eq!(
        status["recent_executions"][0]["transactional"], false,
        "{status:#}"
    );
}

/// A statement-by-statement revision that failed part way left some of its
/// statements and no version row: the target is still at its parent, so
/// the way on is an amend, once the leftovers are undone by hand.
#[test]
fn a_revision_that_ran_in_part_can_be_amended_once_its_leftovers_are_undone() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    let broken = (
        "0002_index_venues",
        "CREATE INDEX CONCURRENTLY venues_name_idx ON venues (name);\n\
         CREATE INDEX CONCURRENTLY venues_city_idx ON venues (city);\n",
        "DROP INDEX CONCURRENTLY venues_name_idx;\n",
    );
    f.submit(&t, &[BASELINE, broken]);
    for id in ["0001_baseline", "0002_index_venues"] {
        f.approve(&t.carol, id, &["dev"]);
    }
    let failed = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(failed.code, 1, "{failed:#?}");
    let leftover = "SELECT count(*) FROM pg_indexes WHERE indexname = 'venues_name_idx'";
    assert_eq!(query_i64(&f.dev, leftover), 1);

    let fixed = (
        "0002_index_venues",
        "CREATE INDEX CONCURRENTLY venues_name_idx ON venues (name);\n",
        "DROP INDEX CONCURRENTLY venues_name_idx;\n",
    );
    write_revisions(f.revisions.path(), &[fixed]);
    let dir = f.revisions.path().to_str().unwrap();
    f.run(&t.alice, &["submit", "--amend", dir]).ok();
    let audit = audit_detail(&f, &t, "revision.amend", "0002_index_venues");
    assert!(audit.contains("ran_in_part_on=dev"), "{audit}");
    f.approve(&t.carol, "0002_index_venues", &["dev"]);
    // The leftover index is drift until it is dropped.
    let drifted = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(drifted.code, 1, "{drifted:#?}");
    assert!(drifted.stdout.contains("venues_name_idx"), "{drifted:#?}");
    execute(&f.dev, "DROP INDEX venues_name_idx");
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert_eq!(query_i64(&f.dev, leftover), 1);
    assert_eq!(
        applied_ids(&f.dev),
        vec!["0001_baseline".to_string(), "0002_index_venues".to_string()]
    );
}

/// A transactional revision travels in one message with its version row.
/// What its SQL leaves behind in that message (rows it returns, a last line
/// that is a comment with no line break, string settings changed for its
/// transaction) does not change the version row written after it: a
/// deployer whose name holds a quote and a backslash is recorded as is.
#[test]
fn a_revision_sent_with_its_version_row_leaves_the_row_as_it_is() {
    let t = tokens();
    let deployer_name = r"o'hara\ops";
    let deployer = token(deployer_name, &["deployer"]);
    let f = Fixture::start(|p| p);
    f.submit(
        &t,
        &[
            (
                "0001_baseline",
                "CREATE TABLE venues (id bigint PRIMARY KEY);\n",
                "DROP TABLE venues;\n",
            ),
            (
                "0002_taps",
                "SET LOCAL standard_conforming_strings TO off;\n\
                 SET LOCAL backslash_quote TO off;\n\
                 SELECT 42 AS answer, 'x' AS letter;\n\
                 CREATE TABLE taps (id bigint PRIMARY KEY);\n\
                 -- the last line, with no line break",
                "DROP TABLE taps;\n",
            ),
        ],
    );
    for id in ["0001_baseline", "0002_taps"] {
        f.approve(&t.carol, id, &["dev"]);
    }
    let out = f.run(&deployer, &["--json", "deploy", "--env", "dev"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(applied_ids(&f.dev), ["0001_baseline", "0002_taps"]);
    let recorded: Vec<(String, String)> = block_on(async {
        let mut conn = PgConnection::connect(&f.dev).await.unwrap();
        sqlx::query_as(
            "SELECT executed_by, execution_id FROM schemagate.applied_revisions ORDER BY sequence",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
    });
    for (executed_by, execution_id) in &recorded {
        assert_eq!(executed_by, deployer_name);
        assert!(
            out.stdout.contains(execution_id.as_str()),
            "{execution_id} is not among the execution ids the deploy printed: {out:#?}"
        );
    }
}

/// Every execution record in the catalog, in the order the revisions
/// started: revision, state and fingerprint.
fn execution_records(f: &Fixture) -> Vec<(String, String, String)> {
    let catalog = f.open_catalog();
    let mut statement = catalog
        .prepare(
            "SELECT revision_id, state, fingerprint FROM executions ORDER BY started_at_ms, revision_id",
        )
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The fingerprint a full read gives after running `revisions`' SQL by hand
/// on a fresh database.
fn fingerprint_by_hand(revisions: &[(&str, &str, &str)]) -> String {
    let by_hand = block_on(postgres().create_database());
    for revision in revisions {
        execute(&by_hand, revision.1);
    }
    block_on(async {
        let mut conn = PgConnection::connect(&by_hand).await.unwrap();
        schemagate_server::schema::introspect(&mut conn)
            .await
            .unwrap()
            .fingerprint()
    })
}

/// The schema after a revision is read on a second connection while the
/// next revision runs, whose commit waits for that reading, when the two
/// name no relation in common (the reading then needs no lock the running
/// revision holds). An event trigger has the reading read the whole schema,
/// which does need one (a view's table, which the next revision alters):
/// the reading gives up at once, that revision is rolled back, the schema is read on its
/// own, and the revision runs again. Every revision is applied once, every
/// record is settled, and the fingerprint recorded is that of a full read.
#[test]
fn a_reading_that_waits_for_the_next_revision_gives_way_to_it() {
    let t = tokens();
    let f = Fixture::start_with_quiet_dev(|p| p);
    let revisions = [
        (
            "0001_taps",
            "CREATE TABLE taps (id bigint PRIMARY KEY, name text NOT NULL);\n\
             CREATE VIEW tap_names AS SELECT name FROM taps;\n\
             CREATE FUNCTION note_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;\n\
             CREATE EVENT TRIGGER note_ddl ON ddl_command_end EXECUTE FUNCTION note_ddl();\n",
            "DROP EVENT TRIGGER note_ddl;\nDROP FUNCTION note_ddl();\nDROP VIEW tap_names;\nDROP TABLE taps;\n",
        ),
        (
            "0002_pours",
            "CREATE TABLE pours (id int);\n",
            "DROP TABLE pours;\n",
        ),
        (
            "0003_tap_notes",
            "ALTER TABLE taps ADD COLUMN note text;\nSELECT pg_sleep(0.5);\n",
            "ALTER TABLE taps DROP COLUMN note;\n",
        ),
        (
            "0004_more_taps",
            "CREATE TABLE more_taps (id int);\n",
            "DROP TABLE more_taps;\n",
        ),
    ];
    f.submit_approved(&t, &revisions, &["dev"]);
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let log = f.server.log();
    assert!(
        log.contains("read on a second connection while the next one runs"),
        "{log}"
    );
    assert!(
        log.contains("could not be read beside the next one"),
        "the reading should have given way: {log}"
    );
    assert!(!log.contains("differs from the full read"), "{log}");
    assert_eq!(
        applied_ids(&f.dev),
        revisions.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'taps' AND column_name = 'note'"
        ),
        1
    );
    let states: Vec<(String, String)> = execution_records(&f)
        .into_iter()
        .map(|(id, state, _)| (id, state))
        .collect();
    assert_eq!(
        states,
        revisions
            .iter()
            .map(|r| (r.0.to_string(), "succeeded".to_string()))
            .collect::<Vec<_>>()
    );
    // The events follow the revisions' order, each revision's `done` before
    // the next one's `gate`.
    let steps: Vec<&str> = out
        .stdout
        .lines()
        .filter(|line| line.contains("gate open") || line.contains(" on dev in "))
        .collect();
    assert_eq!(steps.len(), 8, "{out:#?}");
    for (n, pair) in steps.chunks(2).enumerate() {
        assert!(
            pair[0].contains("gate open")
                && pair[1].contains(&format!("applied {}", revisions[n].0)),
            "{steps:#?}"
        );
    }
    let line = steps[3];
    let fingerprint = fingerprint_by_hand(&revisions[..2]);
    assert!(
        line.contains(&format!("schema fingerprint {}", &fingerprint[..12])),
        "{line}: a full read gives {fingerprint}"
    );
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 0, "{drift:#?}");
}

/// A revision read behind the next one and a revision read after its own
/// commit (the next one alters its table) leave their records to the next
/// revision's catalog transaction. When that revision fails, both are
/// written before its failed record, each with the fingerprint a full read
/// gives after it, and the execution ends on the last one's schema.
#[test]
fn records_left_for_the_next_revision_are_written_when_it_fails() {
    let t = tokens();
    let f = Fixture::start_with_quiet_dev(|p| p);
    let revisions = [
        (
            "0001_taps",
            "CREATE TABLE taps (id int);\n",
            "DROP TABLE taps;\n",
        ),
        (
            "0002_pours",
            "CREATE TABLE pours (id int);\n",
            "DROP TABLE pours;\n",
        ),
        (
            "0003_kegs",
            "CREATE TABLE kegs (id int);\n",
            "DROP TABLE kegs;\n",
        ),
        (
            "0004_keg_sizes",
            "ALTER TABLE kegs ADD COLUMN litres int;\nINSERT INTO no_such_table VALUES (1);\n",
            "ALTER TABLE kegs DROP COLUMN litres;\n",
        ),
    ];
    f.submit_approved(&t, &revisions, &["dev"]);
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("no_such_table"), "{out:#?}");
    assert!(
        f.server
            .log()
            .contains("read on a second connection while the next one runs"),
        "0002 should have been read behind 0003: {}",
        f.server.log()
    );
    assert_eq!(
        applied_ids(&f.dev),
        ["0001_taps", "0002_pours", "0003_kegs"]
    );
    let records = execution_records(&f);
    let states: Vec<(&str, &str)> = records
        .iter()
        .map(|(id, state, _)| (id.as_str(), state.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("0001_taps", "succeeded"),
            ("0002_pours", "succeeded"),
            ("0003_kegs", "succeeded"),
            ("0004_keg_sizes", "failed"),
        ]
    );
    for (n, (id, _, fingerprint)) in records.iter().take(3).enumerate() {
        assert_eq!(
            fingerprint,
            &fingerprint_by_hand(&revisions[..=n]),
            "{id}'s fingerprint"
        );
    }
    let reference: String = f
        .open_catalog()
        .query_row(
            "SELECT revision_id FROM target_schemas WHERE environment = 'dev'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(reference, "0003_kegs");
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 0, "{drift:#?}");
}

/// Runs `sgctl deploy --env dev` while a revision of it waits, inside its
/// transaction, for advisory lock 4242, held here until `ddl` committed on
/// the dev target beside it.
fn deploy_beside(f: &Fixture, t: &Tokens, ddl: &str) -> Run {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut holder = runtime.block_on(PgConnection::connect(&f.dev)).unwrap();
    runtime
        .block_on(sqlx::raw_sql("SELECT pg_advisory_lock(4242)").execute(&mut holder))
        .unwrap();
    std::thread::scope(|scope| {
        let deploy = scope.spawn(|| f.run(&t.erin, &["deploy", "--env", "dev"]));
        // dev's lock_timeout is 5 s. pg_locks shows every database's locks.
        let waiting = "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                       WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.objid = 4242 AND NOT l.granted";
        let started = std::time::Instant::now();
        while query_i64(&f.dev, waiting) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no revision waited"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        execute(&f.dev, ddl);
        runtime
            .block_on(sqlx::raw_sql("SELECT pg_advisory_unlock(4242)").execute(&mut holder))
            .unwrap();
        deploy.join().unwrap()
    })
}

/// Submits [`BASELINE`] and `next`, approves both for dev and deploys the
/// baseline alone.
fn baseline_deployed_before(f: &Fixture, t: &Tokens, next: (&str, &str, &str)) {
    f.submit(t, &[BASELINE, next]);
    f.approve(&t.carol, BASELINE.0, &["dev"]);
    f.approve(&t.carol, next.0, &["dev"]);
    f.run(&t.erin, &["deploy", "--env", "dev", "--to", BASELINE.0])
        .ok();
}

/// A revision that waits for [`deploy_beside`]'s lock.
const WAITS: (&str, &str, &str) = (
    "0002_waits",
    "CREATE TABLE waited AS SELECT 1 AS n FROM pg_advisory_xact_lock(4242);\n",
    "DROP TABLE waited;\n",
);

/// Whether the server said it kept DDL from elsewhere out of a reference.
fn logged_a_change_outside(f: &Fixture) -> bool {
    f.server
        .log()
        .contains("the schema changed outside Schemagate while this revision ran")
}

#[test]
fn ddl_outside_schemagate_while_a_revision_runs_is_drift_and_stops_the_execution() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(
        &t,
        &[
            BASELINE,
            WAITS,
            (
                "0003_taps",
                "CREATE TABLE taps (id bigint PRIMARY KEY);\n",
                "DROP TABLE taps;\n",
            ),
        ],
    );
    for id in ["0001_baseline", "0002_waits", "0003_taps"] {
        f.approve(&t.carol, id, &["dev"]);
    }
    let deploy = deploy_beside(&f, &t, "CREATE TABLE intruder (id int)");

    // 0002 ran and is recorded; the reference after it is the schema it
    // left, without the intruder, so 0003's gate finds drift.
    assert_eq!(deploy.code, 1, "{deploy:#?}");
    assert!(
        deploy.stdout.contains("drift") && deploy.stdout.contains("intruder"),
        "{deploy:#?}"
    );
    assert_eq!(applied_ids(&f.dev), ["0001_baseline", "0002_waits"]);
    assert!(!table_exists(&f.dev, "taps"));
    assert!(logged_a_change_outside(&f), "{}", f.server.log());
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 1, "{drift:#?}");
    assert!(drift.stdout.contains("intruder"), "{drift:#?}");

    // Undone by hand, the schema is the one 0002 left: the gate opens.
    execute(&f.dev, "DROP TABLE intruder");
    f.run(&t.erin, &["drift", "--env", "dev"]).ok();
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert!(table_exists(&f.dev, "taps"));
}

/// Commits a transaction on `url` every few milliseconds, as an
/// application does, until the returned guard drops. Each takes a
/// transaction id and writes nothing.
fn application_commits(url: &str) -> impl Drop {
    struct Stop(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        Option<std::thread::JoinHandle<u64>>,
    );
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            if let Some(thread) = self.1.take() {
                let committed = thread.join().unwrap();
                assert!(committed > 0, "the application committed nothing");
            }
        }
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = url.to_string();
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        block_on(async {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            let mut committed = 0;
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                sqlx::raw_sql("SELECT pg_current_xact_id()")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                committed += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            committed
        })
    });
    Stop(stop, Some(thread))
}

/// Logged when a revision's schema could not be read incrementally alone.
const READ_IN_FULL_AS_WELL: &str =
    "another transaction may have changed the target's catalogs since the last reading";

#[test]
fn an_applications_commits_beside_an_execution_leave_each_revision_read_incrementally() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    let revisions = [
        BASELINE,
        ADD_TAPS,
        (
            "0003_kegs",
            "CREATE TABLE kegs (id bigint PRIMARY KEY, tap_id bigint REFERENCES taps (id));\nCREATE INDEX ON kegs (tap_id);\n",
            "DROP TABLE kegs;\n",
        ),
        (
            "0004_tap_label",
            "ALTER TABLE taps ADD COLUMN label text DEFAULT 'none';\n",
            "ALTER TABLE taps DROP COLUMN label;\n",
        ),
        (
            "0005_pours",
            "CREATE TABLE pours (id bigserial PRIMARY KEY, keg_id bigint NOT NULL REFERENCES kegs (id), volume_ml int CHECK (volume_ml > 0));\n",
            "DROP TABLE pours;\n",
        ),
    ];
    f.submit_approved(&t, &revisions, &["dev"]);
    let application = application_commits(&f.dev);
    let deploy = f.run(&t.erin, &["deploy", "--env", "dev"]);
    drop(application);

    assert_eq!(deploy.code, 0, "{deploy:#?}");
    assert_eq!(
        applied_ids(&f.dev),
        revisions.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let log = f.server.log();
    // The proof that the application's commits wrote no catalog rests on
    // PostgreSQL's statistics counters, which a backend flushes on its own
    // schedule: under a loaded machine one revision in a run may miss it
    // and be read in full as well (safe, only slower). More than one means
    // the incremental reading broke.
    let read_in_full = log.matches(READ_IN_FULL_AS_WELL).count();
    assert!(read_in_full <= 1, "{read_in_full} read in full:\n{log}");
    assert!(!log.contains("differs from the full read"), "{log}");
    // Every recorded fingerprint is a full read's.
    for (n, (id, _, fingerprint)) in execution_records(&f).iter().enumerate() {
        assert_eq!(
            fingerprint,
            &fingerprint_by_hand(&revisions[..=n]),
            "{id}'s fingerprint"
        );
    }
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 0, "{drift:#?}");
}

#[test]
fn ddl_that_only_removes_beside_an_applications_commits_is_drift_and_stops_the_execution() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    // The index dropped beside 0003 comes from the first revision, read in
    // full before 0003 starts: whichever reading follows the drop, the
    // revision it reads after wrote nothing the drop touched.
    let baseline = (
        "0001_baseline",
        "CREATE TABLE venues (id bigint PRIMARY KEY, name text NOT NULL);\n\
         CREATE TABLE spare (id int);\nCREATE INDEX spare_id ON spare (id);\n",
        "DROP TABLE spare;\nDROP TABLE venues;\n",
    );
    let pours = (
        "0002_pours",
        "CREATE TABLE pours (id int);\n",
        "DROP TABLE pours;\n",
    );
    let waits = ("0003_waits", WAITS.1, WAITS.2);
    let taps = (
        "0004_taps",
        "CREATE TABLE taps (id bigint PRIMARY KEY);\n",
        "DROP TABLE taps;\n",
    );
    f.submit_approved(&t, &[baseline, pours, waits, taps], &["dev"]);
    let application = application_commits(&f.dev);
    // Deletes catalog rows and writes none.
    let deploy = deploy_beside(&f, &t, "DROP INDEX spare_id");
    drop(application);

    assert_eq!(deploy.code, 1, "{deploy:#?}\n{}", f.server.log());
    assert!(
        deploy.stdout.contains("drift") && deploy.stdout.contains("spare_id"),
        "{deploy:#?}"
    );
    assert_eq!(
        applied_ids(&f.dev),
        ["0001_baseline", "0002_pours", "0003_waits"]
    );
    assert!(!table_exists(&f.dev, "taps"));
    assert!(f.server.log().contains(READ_IN_FULL_AS_WELL));
    assert!(logged_a_change_outside(&f), "{}", f.server.log());
}

#[test]
fn ddl_outside_schemagate_while_an_execution_s_first_revision_runs_is_drift() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    baseline_deployed_before(&f, &t, WAITS);

    // One revision, the first and last of its execution: it succeeds, and
    // the reference after it leaves the intruder out.
    let deploy = deploy_beside(&f, &t, "ALTER TABLE venues ADD COLUMN intruder int");
    assert_eq!(deploy.code, 0, "{deploy:#?}");
    assert_eq!(applied_ids(&f.dev), ["0001_baseline", "0002_waits"]);
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 1, "{drift:#?}");
    assert!(drift.stdout.contains("intruder"), "{drift:#?}");
    assert!(logged_a_change_outside(&f), "{}", f.server.log());
}

#[test]
fn a_kept_schema_whose_fingerprint_no_longer_matches_is_not_read_against() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    baseline_deployed_before(&f, &t, WAITS);
    // As kept by a server whose model read something else: the recorded
    // fingerprint is not the kept schema's.
    let changed = f
        .open_catalog()
        .execute(
            "UPDATE target_schemas SET schema_json = replace(schema_json, 'venues', 'venues_then')",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);

    // A transaction that changes no schema commits beside the revision.
    let deploy = deploy_beside(&f, &t, "SELECT pg_current_xact_id()");
    assert_eq!(deploy.code, 0, "{deploy:#?}");
    f.run(&t.erin, &["drift", "--env", "dev"]).ok();
    assert!(!logged_a_change_outside(&f), "{}", f.server.log());
}
