//! Gated deploy benchmark (issue 5): 200 small additive revisions applied to
//! an empty PostgreSQL target three ways, in the same run and on the same
//! server:
//!
//! - gated: the real `schemagate-server` (SQLite catalog, or PostgreSQL
//!   with `SCHEMAGATE_BENCH_CATALOG=postgres`; a `dev`
//!   environment that is always open, backup off, one approver for additive
//!   revisions) driven by `sgctl deploy --env dev`, with every revision's
//!   approval recorded beforehand (not timed) and the full gate (approvals,
//!   parent, promotion, window, freeze, drift (whether any transaction
//!   committed on the target since the read after the previous revision of
//!   the execution, the catalog stamp when one did, a full introspection
//!   only when that changed), exclusive) checked before each revision;
//! - `psql -X -q -v ON_ERROR_STOP=1 -f all.sql`, the same SQL concatenated
//!   with every file wrapped in its own BEGIN/COMMIT;
//! - `sqlx migrate run` over the same directory (sqlx's reversible layout,
//!   `<version>_<name>.up.sql`, is the revision layout).
//!
//! Every measurement runs on a fresh database, `SCHEMAGATE_BENCH_RUNS` times
//! (default 3, order rotated between runs); the medians, the ratio
//! gated/sqlx and the per-revision gate overhead are printed, followed by
//! where the gated time goes: per-phase times from the deploy's own event
//! stream, and the in-process cost of what the server does per revision
//! (the schema read in full with its catalog stamp and incrementally,
//! fingerprint, schema JSON, the commit check, the
//! stamp alone)
//! measured on a fourth database, where the incremental read is also checked
//! against the full one after every revision.
//!
//! Run (release build; the harness builds the binaries in the same profile):
//!
//! ```sh
//! SCHEMAGATE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench -p schemagate-e2e --bench deploy
//! ```
//!
//! `SCHEMAGATE_BENCH_REVISIONS` (default 200) sets the number of revisions
//! and `SCHEMAGATE_BENCH_BASE_TABLES` (default 0) a number of tables, each
//! with an index, that the first revision creates besides its own, so that
//! the others run on a schema of that size.
//!
//! `SCHEMAGATE_BENCH_GATED_ONLY=1` times the gated deploy alone (no psql,
//! no sqlx, no in-process figures): a few seconds a run, for comparing two
//! builds of the server run after run (`SCHEMAGATE_E2E_BIN_DIR` names the
//! directory of the binaries to time).
//!
//! `SCHEMAGATE_BENCH_TRAFFIC=N` commits N small transactions a second on
//! another database of the same cluster while all three run, as an
//! application would on a live target; the in-process figures, which need a
//! cluster where nothing else commits, are then skipped.
//!
//! Without `SCHEMAGATE_TEST_DATABASE_URL` the harness starts a throwaway
//! cluster (with fsync off). `sqlx` (sqlx-cli) and `psql` must be on PATH; a
//! missing one is reported and its row skipped.

use schemagate_e2e::{Server, block_on, postgres, token, write_revisions};
use schemagate_server::schema;
use sqlx::{Connection, PgConnection, Row};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment the benchmark deploys to: always open, no backup, one
/// approver for an additive revision (the `dev` block of
/// examples/schemagate.toml).
const POLICY: &str = r#"
[[environment]]
name = "dev"
target_url_env = "SCHEMAGATE_TARGET_DEV_URL"
backup = false
windows = ["always"]
lock_timeout = "5s"
statement_timeout = "5min"

[environment.approvals]
additive = { approvals = 1, roles = ["approver"] }
risky = { approvals = 2, roles = ["approver"] }
destructive = "forbidden"
rollback = { approvals = 1, roles = ["approver"] }
"#;

/// Commits `per_second` one-row inserts a second on a database of its own
/// until dropped, on a thread of its own: other transactions committing on
/// the target's cluster, as on a live target.
struct Traffic {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
    database: String,
}

impl Traffic {
    fn start(per_second: usize) -> Traffic {
        let database = block_on(postgres().create_database());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let url = database.clone();
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            block_on(async move {
                let mut conn = PgConnection::connect(&url).await.expect("connect");
                sqlx::raw_sql("CREATE TABLE hits (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
                    .execute(&mut conn)
                    .await
                    .expect("create hits");
                let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second as u32);
                let mut commits = 0;
                while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    tick.tick().await;
                    sqlx::raw_sql("INSERT INTO hits DEFAULT VALUES")
                        .execute(&mut conn)
                        .await
                        .expect("insert");
                    commits += 1;
                }
                commits
            })
        });
        Traffic {
            stop,
            thread: Some(thread),
            database,
        }
    }

    /// Stops the traffic and returns how many transactions it committed.
    fn stop(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let commits = self
            .thread
            .take()
            .map_or(0, |thread| thread.join().expect("traffic thread"));
        drop_database(&self.database);
        commits
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// One revision: id, up SQL, down SQL.
struct Revision {
    id: String,
    up: String,
    down: String,
}

/// Tables the first revision creates besides its own, each with an index
/// (`SCHEMAGATE_BENCH_BASE_TABLES`, default none): the revisions after it
/// then run on a schema of that size.
fn base_tables() -> usize {
    env_usize("SCHEMAGATE_BENCH_BASE_TABLES", 0)
}

/// `count` small additive revisions in a repeating pattern of four: a
/// table; a table with an index on a column of it; a nullable column on the
/// previous table; a table with an index on its own column. The first also
/// creates the [`base_tables`].
fn revisions(count: usize) -> Vec<Revision> {
    (1..=count)
        .map(|i| {
            let t = format!("t{i:04}");
            let table = |extra: &str| {
                format!(
                    "CREATE TABLE {t} (\n    id bigint PRIMARY KEY,\n    name text NOT NULL,\n    created_at timestamptz NOT NULL DEFAULT now(){extra}\n);\n"
                )
            };
            let (name, up, down) = match i % 4 {
                1 => (
                    format!("create_{t}"),
                    table(""),
                    format!("DROP TABLE {t};\n"),
                ),
                2 => (
                    format!("create_{t}_indexed"),
                    format!("{}CREATE INDEX {t}_name_idx ON {t} (name);\n", table("")),
                    format!("DROP TABLE {t};\n"),
                ),
                3 => {
                    let previous = format!("t{:04}", i - 1);
                    (
                        format!("add_note_to_{previous}"),
                        format!("ALTER TABLE {previous} ADD COLUMN note text;\n"),
                        format!("ALTER TABLE {previous} DROP COLUMN note;\n"),
                    )
                }
                _ => (
                    format!("create_{t}_with_code"),
                    format!(
                        "{}CREATE INDEX {t}_code_idx ON {t} (code);\n",
                        table(",\n    code text")
                    ),
                    format!("DROP TABLE {t};\n"),
                ),
            };
            let (up, down) = if i == 1 {
                let base = (1..=base_tables()).map(|b| {
                    format!(
                        "CREATE TABLE base_{b:05} (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n\
                         CREATE INDEX base_{b:05}_name_idx ON base_{b:05} (name);\n"
                    )
                });
                let drops = (1..=base_tables()).map(|b| format!("DROP TABLE base_{b:05};\n"));
                (
                    format!("{up}{}", base.collect::<String>()),
                    format!("{}{down}", drops.collect::<String>()),
                )
            } else {
                (up, down)
            };
            Revision {
                id: format!("{i:04}_{name}"),
                up: format!("-- description: benchmark revision {i}\n{up}"),
                down,
            }
        })
        .collect()
}

/// The database name at the end of a URL.
fn database_name(url: &str) -> &str {
    let base = url.split('?').next().unwrap_or(url);
    base.rsplit('/').next().unwrap_or(base)
}

fn drop_database(url: &str) {
    let name = database_name(url).to_string();
    block_on(async {
        if let Ok(mut admin) = PgConnection::connect(postgres().admin_url()).await {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
        }
    });
}

fn query_i64(url: &str, sql: &str) -> i64 {
    block_on(async {
        let mut conn = PgConnection::connect(url).await.expect("connect");
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut conn)
            .await
            .expect("query")
    })
}

fn user_tables(url: &str) -> i64 {
    query_i64(
        url,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    )
}

fn tool_version(program: &str) -> Option<String> {
    let output = Command::new(program).arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Other compilers running right now, to note a machine that is not idle.
fn busy_note() -> String {
    let mut compilers = 0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm"))
                && matches!(comm.trim(), "rustc" | "cc1" | "cc1plus" | "ld" | "clang")
            {
                compilers += 1;
            }
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "load average {}, {compilers} compiler process(es) running",
        load.join(" ")
    )
}

/// What one gated deploy took, with the time of every event line.
struct Gated {
    total: Duration,
    /// Spawn to the first revision's gate verdict: process start, connect,
    /// lineage read, executor lock, first gate check.
    startup: Duration,
    /// Per revision after the first: previous `done` to this `gate`. Behind
    /// a revision whose schema is read while the next one runs, the next
    /// one's `gate` and `apply` follow that revision's `done` at once, and
    /// the whole cycle shows in `apply`.
    gate: Vec<Duration>,
    /// `gate` to `apply`: the backup when there is one.
    record: Vec<Duration>,
    /// `apply` to `done`: for a revision run sequentially, its SQL and the
    /// read after it; behind, a whole cycle (the gate's round trip, the next
    /// revision's SQL beside the read, the commit).
    apply: Vec<Duration>,
}

fn deploy_gated(server: &Server, deployer: &str, expected: usize) -> Gated {
    let mut command = Command::new(schemagate_e2e::bin_dir().join("sgctl"));
    command
        .args(["--json", "deploy", "--env", "dev"])
        .env_remove("SCHEMAGATE_PROJECT")
        .env("SCHEMAGATE_SERVER", &server.address)
        .env("SCHEMAGATE_TOKEN", deployer)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("run sgctl deploy");
    let stdout = child.stdout.take().expect("stdout");
    let mut events: Vec<(Instant, serde_json::Value)> = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read sgctl output");
        let at = Instant::now();
        let value: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|err| panic!("sgctl printed a non-JSON line ({err}): {line}"));
        events.push((at, value));
    }
    let output = child.wait_with_output().expect("wait for sgctl deploy");
    let total = started.elapsed();
    assert!(
        output.status.success(),
        "sgctl deploy failed ({}): {}\nlast events: {:#?}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        events
            .iter()
            .rev()
            .take(3)
            .map(|e| &e.1)
            .collect::<Vec<_>>()
    );

    let step = |value: &serde_json::Value| value["step"].as_str().unwrap_or("").to_string();
    let mut gate = Vec::new();
    let mut record = Vec::new();
    let mut apply = Vec::new();
    let mut startup = Duration::ZERO;
    let mut last_done: Option<Instant> = None;
    let mut last_gate = started;
    let mut last_apply = started;
    let mut done = 0;
    for (at, value) in &events {
        match step(value).as_str() {
            "gate" => {
                match last_done {
                    Some(previous) => gate.push(*at - previous),
                    None => startup = *at - started,
                }
                last_gate = *at;
            }
            "apply" => {
                record.push(*at - last_gate);
                last_apply = *at;
            }
            "done" => {
                assert_eq!(value["state"], "succeeded", "{value}");
                apply.push(*at - last_apply);
                last_done = Some(*at);
                done += 1;
            }
            other => panic!("unexpected step {other}: {value}"),
        }
    }
    assert_eq!(done, expected, "every revision should have been applied");
    Gated {
        total,
        startup,
        gate,
        record,
        apply,
    }
}

fn run_timed(mut command: Command, what: &str) -> Duration {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let started = Instant::now();
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("run {what}: {err}"));
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn mean(values: &[Duration]) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.iter().sum::<Duration>() / values.len() as u32
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Submits and approves every revision on a fresh server, then deploys.
fn gated_run(dir: &Path, count: usize, ids: &[String]) -> Gated {
    let target = block_on(postgres().create_database());
    let work = tempfile::tempdir().expect("temp dir");
    let policy = work.path().join("schemagate.toml");
    std::fs::write(&policy, POLICY).expect("write policy");
    let catalog = if catalog_on_postgres() {
        block_on(postgres().create_database())
    } else {
        format!("sqlite://{}", work.path().join("catalog.db").display())
    };
    let server = Server::start(
        &catalog,
        &[
            ("SCHEMAGATE_CONFIG", policy.to_str().expect("utf-8 path")),
            ("SCHEMAGATE_TARGET_DEV_URL", &target),
        ],
    );
    let alice = token("alice", &["developer"]);
    let carol = token("carol", &["approver"]);
    let erin = token("erin", &["deployer"]);

    server
        .sgctl(&alice, &["submit", dir.to_str().expect("utf-8 path")])
        .ok();
    // Approvals are recorded before the clock starts, a few at a time.
    std::thread::scope(|scope| {
        for chunk in ids.chunks(ids.len().div_ceil(4)) {
            let server = &server;
            let carol = &carol;
            scope.spawn(move || {
                for id in chunk {
                    server.sgctl(carol, &["approve", id, "--env", "dev"]).ok();
                }
            });
        }
    });

    // With base tables, the first revision builds the schema the others run
    // on, and is applied before the clock starts, as for psql and sqlx.
    if base_tables() > 0 {
        server
            .sgctl(&erin, &["deploy", "--env", "dev", "--to", &ids[0]])
            .ok();
    }
    let gated = deploy_gated(&server, &erin, timed_revisions(count));
    assert_eq!(
        query_i64(&target, "SELECT count(*) FROM schemagate.applied_revisions"),
        count as i64
    );
    assert_eq!(user_tables(&target), tables_created(count));
    drop(server);
    drop_database(&target);
    if catalog.starts_with("postgres") {
        drop_database(&catalog);
    }
    gated
}

/// `SCHEMAGATE_BENCH_CATALOG=postgres` puts the gated run's catalog in a
/// fresh database on the test server instead of a SQLite file.
fn catalog_on_postgres() -> bool {
    std::env::var("SCHEMAGATE_BENCH_CATALOG").is_ok_and(|v| v == "postgres")
}

/// Tables created by the first `count` revisions: three of every four.
fn tables_created(count: usize) -> i64 {
    ((1..=count).filter(|i| i % 4 != 3).count() + base_tables()) as i64
}

/// The revisions the clock runs for: with base tables, all but the first.
fn timed_revisions(count: usize) -> usize {
    if base_tables() > 0 { count - 1 } else { count }
}

/// `psql -f` of `first` (not timed) when given, then of `all_sql` (timed).
fn psql_run(first: Option<&Path>, all_sql: &Path, count: usize) -> Duration {
    let target = block_on(postgres().create_database());
    if let Some(first) = first {
        let mut command = Command::new("psql");
        command
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &target, "-f"])
            .arg(first);
        run_timed(command, "psql -f first.sql");
    }
    let mut command = Command::new("psql");
    command
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &target, "-f"])
        .arg(all_sql);
    let elapsed = run_timed(command, "psql -f all.sql");
    assert_eq!(user_tables(&target), tables_created(count));
    drop_database(&target);
    elapsed
}

fn sqlx_run(dir: &Path, count: usize) -> Duration {
    let target = block_on(postgres().create_database());
    if base_tables() > 0 {
        let mut command = Command::new("sqlx");
        command
            .args([
                "migrate",
                "run",
                "--no-dotenv",
                "--target-version",
                "1",
                "--source",
            ])
            .arg(dir)
            .args(["--database-url", &target]);
        run_timed(command, "sqlx migrate run --target-version 1");
    }
    let mut command = Command::new("sqlx");
    command
        .args(["migrate", "run", "--no-dotenv", "--source"])
        .arg(dir)
        .args(["--database-url", &target]);
    let elapsed = run_timed(command, "sqlx migrate run");
    assert_eq!(
        query_i64(&target, "SELECT count(*) FROM _sqlx_migrations"),
        count as i64
    );
    drop_database(&target);
    elapsed
}

/// In-process cost of what the executor does per revision besides running
/// its SQL, on a schema growing revision by revision.
#[derive(Default)]
struct Profile {
    /// BEGIN; the revision's SQL; COMMIT.
    apply: Duration,
    /// As the executor does it: lock and statement timeouts with the
    /// transaction id, the SQL, the version table's DDL (first revision
    /// only) and the version row, in one transaction, committed apart.
    apply_executor: Duration,
    /// The schema and its catalog stamp, read in full after each revision.
    introspect: Duration,
    /// The same, read incrementally: what the revision's transaction
    /// changed, merged into the schema before it (what the executor does
    /// between the first and the last revision of an execution).
    introspect_after: Duration,
    /// The next gate's drift check: did anything commit since the read?
    committed_since: Duration,
    /// Revisions the executor's rule would read incrementally: nothing but
    /// the revision committed since the read before it.
    alone: usize,
    /// The catalog stamp alone: the drift check when something committed
    /// since the read.
    stamp: Duration,
    fingerprint: Duration,
    to_json: Duration,
    first_introspect: Duration,
    last_introspect: Duration,
    json_bytes: usize,
}

fn profile(revisions: &[Revision]) -> Profile {
    let mut p = Profile::default();
    // With base tables, the first revision builds the schema and is not
    // counted: the figures are means over the revisions after it.
    let untimed = revisions.len() - timed_revisions(revisions.len());
    // Pass 1: the SQL alone, one transaction per revision.
    let plain = block_on(postgres().create_database());
    block_on(async {
        let mut conn = PgConnection::connect(&plain).await.expect("connect");
        for (n, revision) in revisions.iter().enumerate() {
            if n == untimed {
                p.apply = Duration::ZERO;
            }
            let started = Instant::now();
            let mut tx = conn.begin().await.expect("begin");
            sqlx::raw_sql(sqlx::AssertSqlSafe(revision.up.clone()))
                .execute(&mut *tx)
                .await
                .expect("apply");
            tx.commit().await.expect("commit");
            p.apply += started.elapsed();
        }
    });
    drop_database(&plain);

    // Pass 2: applied as the executor applies it, then everything the
    // executor and the next gate check do with the schema.
    let target = block_on(postgres().create_database());
    block_on(async {
        let mut conn = PgConnection::connect(&target).await.expect("connect");
        let mut before = schema::introspect_stamped(&mut conn)
            .await
            .expect("introspect");
        for (n, revision) in revisions.iter().enumerate() {
            if n == untimed {
                p = Profile {
                    apply: p.apply,
                    ..Profile::default()
                };
            }
            // As the executor sends a transactional revision: one message,
            // then the commit.
            let started = Instant::now();
            let message = format!(
                "BEGIN;\nSELECT pg_catalog.pg_current_xact_id()::text, \
                 pg_catalog.set_config('lock_timeout', '5s', true), \
                 pg_catalog.set_config('statement_timeout', '5min', true), \
                 pg_catalog.set_config('client_connection_check_interval', '1s', true);\n\
                 {}\n;\n{};\n\
                 INSERT INTO schemagate.applied_revisions (project, id, checksum, sequence, executed_by, execution_id, transactional, stamped) \
                 VALUES ('default', {}, 'x', {}, 'bench', 'bench', true, false)",
                revision.up,
                if n == 0 {
                    schemagate_server::target::VERSION_TABLE_DDL
                } else {
                    ""
                },
                schemagate_server::target::literal(&revision.id),
                n + 1,
            );
            let xid: String = sqlx::raw_sql(sqlx::AssertSqlSafe(message))
                .fetch_one(&mut conn)
                .await
                .expect("apply")
                .get(0);
            // The commit goes apart, once the running record is written.
            sqlx::raw_sql("COMMIT")
                .execute(&mut conn)
                .await
                .expect("commit");
            p.apply_executor += started.elapsed();

            assert!(
                schema::SqlTraits::of(&revision.up).traceable,
                "{}",
                revision.up
            );
            // The executor hands its reading over; the bench keeps its own.
            let traits = schema::SqlTraits::of(&revision.up);
            let started = Instant::now();
            let schema::Incremental {
                reading: incremental,
                triggers,
                alone,
                tables_only,
            } = schema::introspect_after(&mut conn, before.clone(), &xid, &traits, None)
                .await
                .expect("introspect after");
            assert!(
                tables_only,
                "the bench's revisions touch tables alone, read with the tables' parts"
            );
            assert!(
                !triggers.may_have_fired(&traits),
                "the bench creates no trigger"
            );
            p.introspect_after += started.elapsed();
            if alone {
                p.alone += 1;
            }

            let started = Instant::now();
            let reading = schema::introspect_stamped(&mut conn)
                .await
                .expect("introspect");
            let (stamp, live) = (&reading.stamp, &reading.schema);
            let took = started.elapsed();
            p.introspect += took;
            if n == untimed {
                p.first_introspect = took;
            }
            p.last_introspect = took;
            assert_eq!(
                serde_json::to_value(&incremental.schema).expect("json"),
                serde_json::to_value(live).expect("json"),
                "the incremental read differs from the full read after {}",
                revision.id
            );

            let started = Instant::now();
            std::hint::black_box(live.fingerprint());
            p.fingerprint += started.elapsed();

            let started = Instant::now();
            let json = serde_json::to_string(live).expect("to json");
            p.to_json += started.elapsed();
            p.json_bytes = json.len();

            // The next gate's drift check: nothing committed since the
            // read; the stamp when something did, unchanged when no DDL ran.
            let started = Instant::now();
            let committed =
                schemagate_server::target::committed_since(&mut conn, &reading.snapshot)
                    .await
                    .expect("committed since");
            p.committed_since += started.elapsed();
            assert!(!committed, "nothing ran since the read");
            let started = Instant::now();
            let again = schema::catalog_stamp(&mut conn).await.expect("stamp");
            p.stamp += started.elapsed();
            assert_eq!(&again, stamp, "no DDL ran in between");
            before = reading;
        }
    });
    drop_database(&target);
    p
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let count = env_usize("SCHEMAGATE_BENCH_REVISIONS", 200);
    let runs = env_usize("SCHEMAGATE_BENCH_RUNS", 3);
    let gated_only = std::env::var("SCHEMAGATE_BENCH_GATED_ONLY").is_ok_and(|v| v == "1");
    let traffic_per_second = env_usize("SCHEMAGATE_BENCH_TRAFFIC", 0);
    let revisions = revisions(count);
    let ids: Vec<String> = revisions.iter().map(|r| r.id.clone()).collect();

    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().join("revisions");
    std::fs::create_dir(&dir).expect("revisions dir");
    let files: Vec<(&str, &str, &str)> = revisions
        .iter()
        .map(|r| (r.id.as_str(), r.up.as_str(), r.down.as_str()))
        .collect();
    write_revisions(&dir, &files);
    let all_sql = work.path().join("all.sql");
    let first_sql = work.path().join("first.sql");
    let (first, timed) = revisions.split_at(count - timed_revisions(count));
    if let Some(r) = first.first() {
        std::fs::write(&first_sql, format!("BEGIN;\n{}COMMIT;\n", r.up)).expect("write first.sql");
    }
    let first_sql = (!first.is_empty()).then_some(first_sql.as_path());
    let mut concatenated = String::new();
    for r in timed {
        concatenated.push_str("BEGIN;\n");
        concatenated.push_str(&r.up);
        concatenated.push_str("COMMIT;\n");
    }
    std::fs::write(&all_sql, concatenated).expect("write all.sql");

    // Build the binaries (release under `cargo bench`) before any clock runs.
    let bin = schemagate_e2e::bin_dir();
    let psql = tool_version("psql");
    let sqlx_cli = tool_version("sqlx");
    let server_version = query_i64(
        postgres().admin_url(),
        "SELECT current_setting('server_version_num')::bigint",
    );
    let settings = block_on(async {
        let mut conn = PgConnection::connect(postgres().admin_url())
            .await
            .expect("connect");
        sqlx::query_scalar::<_, String>(
            "SELECT format('fsync=%s synchronous_commit=%s shared_buffers=%s', \
             current_setting('fsync'), current_setting('synchronous_commit'), current_setting('shared_buffers'))",
        )
        .fetch_one(&mut conn)
        .await
        .expect("settings")
    });
    println!("gated deploy benchmark: {count} revisions, {runs} run(s) of each",);
    if base_tables() > 0 {
        println!(
            "  the first revision also creates {} base table(s) and runs before the clock starts: {} revisions timed",
            base_tables(),
            timed_revisions(count)
        );
    }
    println!("  binaries: {}", bin.display());
    println!(
        "  gated catalog: {}",
        if catalog_on_postgres() {
            "PostgreSQL (SCHEMAGATE_BENCH_CATALOG=postgres)"
        } else {
            "SQLite file"
        }
    );
    println!("  PostgreSQL {server_version} ({settings})");
    println!(
        "  psql: {}; sqlx-cli: {}",
        psql.as_deref().unwrap_or("NOT FOUND"),
        sqlx_cli.as_deref().unwrap_or("NOT FOUND (install: cargo install sqlx-cli --no-default-features --features postgres,rustls --locked)")
    );
    println!(
        "  cores: {}; at start: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        busy_note()
    );

    let traffic = (traffic_per_second > 0).then(|| {
        println!(
            "  traffic: {traffic_per_second} one-row insert(s) a second, each its own transaction, on another database of the cluster"
        );
        (Instant::now(), Traffic::start(traffic_per_second))
    });

    let mut gated: Vec<Gated> = Vec::new();
    let mut psql_times = Vec::new();
    let mut sqlx_times = Vec::new();
    for run in 0..runs {
        // Rotate the order so no method always runs first.
        for which in 0..3 {
            match (run + which) % 3 {
                0 => {
                    let g = gated_run(&dir, count, &ids);
                    println!("  run {}: gated  {}", run + 1, secs(g.total));
                    gated.push(g);
                }
                1 if psql.is_some() && !gated_only => {
                    let t = psql_run(first_sql, &all_sql, count);
                    println!("  run {}: psql   {}", run + 1, secs(t));
                    psql_times.push(t);
                }
                2 if sqlx_cli.is_some() && !gated_only => {
                    let t = sqlx_run(&dir, count);
                    println!("  run {}: sqlx   {}", run + 1, secs(t));
                    sqlx_times.push(t);
                }
                _ => {}
            }
        }
        println!("  after run {}: {}", run + 1, busy_note());
    }
    if let Some((started, traffic)) = traffic {
        let seconds = started.elapsed().as_secs_f64();
        let commits = traffic.stop();
        println!(
            "  traffic committed {commits} transaction(s) in {seconds:.1} s ({:.0} a second)",
            commits as f64 / seconds
        );
    }

    let gated_median = median(&gated.iter().map(|g| g.total).collect::<Vec<_>>());
    println!();
    let timed = timed_revisions(count);
    println!("medians over {runs} run(s), {timed} revisions, fresh database each:");
    println!("  gated (sgctl deploy)   {}", secs(gated_median));
    if !psql_times.is_empty() {
        println!("  psql -f all.sql        {}", secs(median(&psql_times)));
    }
    if !sqlx_times.is_empty() {
        let sqlx_median = median(&sqlx_times);
        println!("  sqlx migrate run       {}", secs(sqlx_median));
        let ratio = gated_median.as_secs_f64() / sqlx_median.as_secs_f64();
        let overhead = (gated_median.as_secs_f64() - sqlx_median.as_secs_f64()) / timed as f64;
        println!(
            "  ratio gated/sqlx       {ratio:.2} (target <= 1.5: {})",
            if ratio <= 1.5 { "met" } else { "MISSED" }
        );
        println!(
            "  gate overhead          {:.2} ms per revision ((gated - sqlx) / {timed})",
            overhead * 1000.0
        );
    }

    // Where the gated time goes, from the deploy's event stream (the run
    // whose total is the median).
    let mut by_total: Vec<&Gated> = gated.iter().collect();
    by_total.sort_by_key(|g| g.total);
    if let Some(g) = by_total.get(by_total.len() / 2) {
        let head = |v: &[Duration]| mean(&v[..v.len().min(20)]);
        let tail = |v: &[Duration]| mean(&v[v.len().saturating_sub(20)..]);
        println!();
        println!(
            "gated run {} split by its event stream (client-side timestamps):",
            secs(g.total)
        );
        println!("  start-up to first gate verdict  {}", ms(g.startup));
        for (name, values) in [
            ("done -> next gate               ", &g.gate),
            ("gate -> apply                   ", &g.record),
            ("apply -> done (one cycle)       ", &g.apply),
        ] {
            println!(
                "  {name} total {}, median {}, first 20 {}, last 20 {}",
                secs(values.iter().sum()),
                ms(median(values)),
                ms(head(values)),
                ms(tail(values))
            );
        }
    }

    if gated_only {
        return;
    }
    if traffic_per_second > 0 {
        println!();
        println!(
            "in-process figures skipped: they need a cluster where nothing else commits (SCHEMAGATE_BENCH_TRAFFIC is set)"
        );
        return;
    }
    let p = profile(&revisions);
    let n = timed as u32;
    println!();
    println!("in-process, per revision on the growing schema (mean over {timed}):");
    println!("  apply SQL in a transaction  {}", ms(p.apply / n));
    println!(
        "  apply as the executor does  {} (one message: timeouts and xid, SQL, version row; the commit apart; version-table DDL once)",
        ms(p.apply_executor / n)
    );
    println!(
        "  introspect with its stamp   {} (first {}, last {})",
        ms(p.introspect / n),
        ms(p.first_introspect),
        ms(p.last_introspect)
    );
    println!(
        "  the same, incrementally     {} (equal to the full read after every revision)",
        ms(p.introspect_after / n)
    );
    println!("  fingerprint                 {}", ms(p.fingerprint / n));
    println!(
        "  schema to JSON              {} (last {} bytes; written to the catalog after an execution's last revision only)",
        ms(p.to_json / n),
        p.json_bytes
    );
    println!(
        "  catalog stamp alone         {} (a drift check when something committed since the read)",
        ms(p.stamp / n)
    );
    println!(
        "  read incrementally by the executor's rule: {} of {timed} (nothing else committed on the cluster meanwhile)",
        p.alone
    );
    println!(
        "  committed since the read?   {} (the next gate's drift check)",
        ms(p.committed_since / n)
    );
    let server_side = p.introspect_after + p.committed_since + p.fingerprint;
    println!(
        "  on a quiet target, per revision, the executor reads the schema incrementally \
         and takes a fingerprint, and the next gate asks whether anything committed: {} in all, {} per revision",
        secs(server_side),
        ms(server_side / n)
    );
    println!("at the end: {}", busy_note());
}
