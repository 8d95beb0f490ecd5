//! Fleet ingestion load benchmark (issue 7):
//! `cargo bench -p schemagate-e2e --bench fleet_load`.
//!
//! Starts the real `schemagate-server` (release build) once on a SQLite
//! catalog file and once on a fresh PostgreSQL catalog database, and drives
//! `ReportJournalState` over loopback from simulated controllers. Each
//! controller has its own agent token (role `agent`, its `controller_id`)
//! and its own connection, opened the way `sg-agent` opens it, and sends a
//! real `sg-agent` report: the one the agent library makes of a simulated
//! controller journal with four tables, relabelled per controller.
//!
//! Before the load, the catalog is seeded directly with the history a fleet
//! in steady state has (`FLEET_BENCH_HISTORY` reports per controller, the
//! server keeps 100), so every report also prunes one old row, as it would
//! in production.
//!
//! Phases, per catalog:
//! - sustained: every controller reports every `FLEET_BENCH_INTERVAL`
//!   seconds, the controllers spread evenly over the interval (10,000 / 30 s
//!   = one report every 3 ms), for `FLEET_BENCH_SECONDS`; open loop, so a
//!   slow answer does not delay the next controller. Prints the rate
//!   ingested and the per-request latency p50 / p99 / max, and the schedule
//!   lag of the generator itself (it shares the machine with the server);
//! - maximum throughput: `FLEET_BENCH_CONCURRENCY` (comma-separated list)
//!   tasks each sending one report at a time, back to back, for
//!   `FLEET_BENCH_MAX_SECONDS`;
//! - one `ListControllers` over the whole fleet, idle.
//!
//! Also printed: CPU seconds of the server process, of the catalog's
//! PostgreSQL backends and of this load generator, the machine's busy
//! share, and the disk's fdatasync latency sampled meanwhile, per phase:
//! every report is one committed transaction, so on a shared virtual disk
//! the sync latency of the moment weighs on every figure.
//!
//! Environment (defaults in brackets): `FLEET_BENCH_CONTROLLERS` [10000],
//! `FLEET_BENCH_INTERVAL` [30], `FLEET_BENCH_SECONDS` [60],
//! `FLEET_BENCH_MAX_SECONDS` [20], `FLEET_BENCH_CONCURRENCY` [8,64],
//! `FLEET_BENCH_HISTORY` [100], `FLEET_BENCH_CATALOGS` [sqlite,postgres].
//! Two diagnostic catalogs, run only when named: `sqlite-tmpfs` (the
//! SQLite catalog file on /dev/shm, where a sync costs nothing) and
//! `postgres-async` (the catalog database with `synchronous_commit = off`),
//! to show how much of the cost is waiting for the disk.
//! PostgreSQL is `SCHEMAGATE_TEST_DATABASE_URL` or the harness's own
//! throwaway cluster. One connection per controller needs twice that many
//! file descriptors over the two processes; with a lower limit the
//! controllers share fewer connections (printed).

use schemagate_client::connect::Connection;
use schemagate_client::v1::{JournalReport, JournalTable, ListControllersRequest};
use schemagate_e2e::controller_sim::{Controller, JournalOptions};
use schemagate_e2e::{SECRET, Server, postgres};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {text:?}")),
        _ => default,
    }
}

struct Settings {
    controllers: usize,
    interval: Duration,
    sustained: Duration,
    max_duration: Duration,
    concurrency: Vec<usize>,
    history: u64,
    catalogs: Vec<String>,
}

impl Settings {
    fn from_env() -> Settings {
        let list = |name: &str, default: &str| -> Vec<String> {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string())
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        Settings {
            controllers: env_number("FLEET_BENCH_CONTROLLERS", 10_000) as usize,
            interval: Duration::from_secs(env_number("FLEET_BENCH_INTERVAL", 30)),
            sustained: Duration::from_secs(env_number("FLEET_BENCH_SECONDS", 60)),
            max_duration: Duration::from_secs(env_number("FLEET_BENCH_MAX_SECONDS", 20)),
            concurrency: list("FLEET_BENCH_CONCURRENCY", "8,64")
                .iter()
                .map(|c| c.parse().expect("FLEET_BENCH_CONCURRENCY: numbers"))
                .collect(),
            history: env_number("FLEET_BENCH_HISTORY", 100),
            catalogs: list("FLEET_BENCH_CATALOGS", "sqlite,postgres"),
        }
    }
}

fn controller_id(i: usize) -> String {
    format!("bar{:04}-tap{}", i / 4, i % 4 + 1)
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A real sg-agent report: the agent library observing a simulated
/// controller journal (pours, settings, and two more tables a controller
/// keeps), WAL mode, a few hundred pours.
fn template_report(dir: &Path, interval: Duration) -> JournalReport {
    let path = dir.join("template-journal.db");
    let controller = Controller::create(
        &path,
        &JournalOptions {
            pours: 500,
            unsynced: 7,
            ..JournalOptions::default()
        },
    )
    .expect("create the template journal");
    let conn = rusqlite::Connection::open(&path).expect("open the template journal");
    conn.execute_batch(
        "CREATE TABLE sync_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_synced_id INTEGER NOT NULL, last_sync_at TEXT);
         INSERT INTO sync_state VALUES (1, 493, '2026-03-01T18:00:10Z');
         CREATE TABLE tap_events (id INTEGER PRIMARY KEY, tap_id TEXT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL, detail TEXT);
         INSERT INTO tap_events (tap_id, kind, at) VALUES ('tap2', 'keg_change', '2026-03-01T12:00:00Z'), ('tap2', 'clean', '2026-03-01T06:00:00Z');",
    )
    .expect("add tables");
    drop(conn);
    let report = schemagate_client::agent::report(&path, "template", interval);
    assert_eq!(report.status, "ok", "{report:?}");
    drop(controller);
    report
}

/// The report controller `i` sends, its `n`th.
fn report_for(template: &JournalReport, i: usize, n: u64) -> JournalReport {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut report = template.clone();
    report.controller_id = controller_id(i);
    report.observed_at = Some(prost_types::Timestamp {
        seconds: now.as_secs() as i64,
        nanos: now.subsec_nanos() as i32,
    });
    for table in &mut report.tables {
        if table.name == "pours" {
            table.row_count += (i as u64 % 97) * 10 + n;
        }
    }
    report.unsynced_pours = ((i as u64 + n) % 13) as i64;
    report.wal_size_bytes = 4096 * (1 + (i as u64 + n) % 200);
    report
}

fn hex_of(report: &JournalReport) -> String {
    use prost::Message;
    hex::encode(report.encode_to_vec())
}

/// Seeds the history a fleet in steady state has: `history` reports per
/// controller, the controller row saying so.
fn seed_sqlite(file: &Path, template: &JournalReport, controllers: usize, history: u64) {
    let mut conn = rusqlite::Connection::open(file).expect("open the catalog");
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut controller = tx
            .prepare("INSERT INTO controllers (controller_id, last_report_at_ms, report_count, schema_signature, report_hex) VALUES (?1, ?2, ?3, ?4, ?5)")
            .unwrap();
        let mut report = tx
            .prepare("INSERT INTO journal_reports (controller_id, seq, received_at_ms, report_hex) VALUES (?1, ?2, ?3, ?4)")
            .unwrap();
        let now_ms = now_seconds() * 1000;
        for i in 0..controllers {
            let hex = hex_of(&report_for(template, i, 0));
            let id = controller_id(i);
            controller
                .execute(rusqlite::params![
                    id,
                    now_ms,
                    history as i64,
                    signature(template),
                    hex
                ])
                .unwrap();
            for seq in 1..=history {
                report
                    .execute(rusqlite::params![id, seq as i64, now_ms, hex])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

async fn seed_postgres(url: &str, template: &JournalReport, controllers: usize, history: u64) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let hex = hex_of(&report_for(template, 0, 0));
    let now_ms = now_seconds() * 1000;
    sqlx::query(
        "INSERT INTO controllers (controller_id, last_report_at_ms, report_count, schema_signature, report_hex)
         SELECT format('bar%s-tap%s', lpad((i / 4)::text, 4, '0'), i % 4 + 1), $1, $2, $3, $4
         FROM generate_series(0, $5 - 1) AS i",
    )
    .bind(now_ms)
    .bind(history as i64)
    .bind(signature(template))
    .bind(&hex)
    .bind(controllers as i64)
    .execute(&mut conn)
    .await
    .expect("seed controllers");
    sqlx::query(
        "INSERT INTO journal_reports (controller_id, seq, received_at_ms, report_hex)
         SELECT controller_id, s, $1, $2 FROM controllers, generate_series(1, $3) AS s",
    )
    .bind(now_ms)
    .bind(&hex)
    .bind(history as i64)
    .execute(&mut conn)
    .await
    .expect("seed history");
    // What autovacuum would have done in a fleet that grew to this size.
    sqlx::query("VACUUM ANALYZE controllers")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("VACUUM ANALYZE journal_reports")
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The server's schema signature of a report (sorted name, DDL hash pairs).
fn signature(report: &JournalReport) -> String {
    use sha2::{Digest, Sha256};
    let mut pairs: Vec<&JournalTable> = report.tables.iter().collect();
    pairs.sort_by(|a, b| (&a.name, &a.ddl_sha256).cmp(&(&b.name, &b.ddl_sha256)));
    let mut hasher = Sha256::new();
    for t in pairs {
        hasher.update(t.name.as_bytes());
        hasher.update(b"\0");
        hasher.update(t.ddl_sha256.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// CPU ticks (user + system) of a process, from /proc/<pid>/stat.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15 (1-based).
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks of the PostgreSQL backends serving `database`.
fn backend_ticks(database: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let needle = format!(" {database} ");
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline);
            (cmdline.starts_with("postgres: ") && cmdline.contains(&needle))
                .then(|| process_ticks(&pid))
                .flatten()
        })
        .sum()
}

/// (busy, total) jiffies of the whole machine, from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU use over one phase.
struct CpuProbe {
    server_pid: String,
    database: Option<String>,
    start: (u64, u64, u64, (u64, u64)),
}

impl CpuProbe {
    fn start(server_pid: u32, database: Option<&str>) -> CpuProbe {
        let mut probe = CpuProbe {
            server_pid: server_pid.to_string(),
            database: database.map(str::to_string),
            start: (0, 0, 0, (0, 0)),
        };
        probe.start = probe.read();
        probe
    }

    fn read(&self) -> (u64, u64, u64, (u64, u64)) {
        (
            process_ticks(&self.server_pid).unwrap_or(0),
            self.database.as_deref().map_or(0, backend_ticks),
            process_ticks("self").unwrap_or(0),
            machine_ticks(),
        )
    }

    fn finish(&self, reports: u64) -> String {
        let end = self.read();
        let hz = clock_ticks_per_second();
        let seconds = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / hz;
        let server = seconds(self.start.0, end.0);
        let backends = seconds(self.start.1, end.1);
        let generator = seconds(self.start.2, end.2);
        let busy = (end.3.0 - self.start.3.0) as f64 / (end.3.1 - self.start.3.1).max(1) as f64;
        let per_report = |s: f64| s * 1000.0 / reports.max(1) as f64;
        let mut line = format!(
            "CPU: server {server:.1} s ({:.2} ms/report)",
            per_report(server)
        );
        if self.database.is_some() {
            line.push_str(&format!(
                ", PostgreSQL backends {backends:.1} s ({:.2} ms/report)",
                per_report(backends)
            ));
        }
        line.push_str(&format!(
            ", load generator {generator:.1} s; machine busy {:.0}%",
            busy * 100.0
        ));
        line
    }
}

/// Samples the disk's fdatasync latency (4 KiB appends, 10 a second) in a
/// thread while a phase runs: both catalogs sync their log on every commit,
/// so this is the floor under their commit latency at that moment.
struct FsyncProbe {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<u64>>,
}

impl FsyncProbe {
    fn start(dir: &Path) -> FsyncProbe {
        use std::io::Write;
        let path = dir.join("fsync-probe");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut file = std::fs::File::create(&path).expect("probe file");
            let mut samples = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                file.write_all(&[0u8; 4096]).expect("probe write");
                let started = Instant::now();
                file.sync_data().expect("probe fdatasync");
                samples.push(started.elapsed().as_micros() as u64);
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = std::fs::remove_file(&path);
            samples
        });
        FsyncProbe { stop, handle }
    }

    fn finish(self) -> String {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut samples = self.handle.join().unwrap_or_default();
        samples.sort_unstable();
        format!(
            "disk fdatasync meanwhile: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
            percentile(&samples, 50.0),
            percentile(&samples, 99.0),
            percentile(&samples, 100.0),
            samples.len()
        )
    }
}

/// Latencies and failures of one phase.
#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    lag_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.latencies_us.extend(other.latencies_us);
        self.lag_us.extend(other.lag_us);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn describe(stats: &mut Stats, elapsed: Duration) -> String {
    stats.latencies_us.sort_unstable();
    let ok = stats.latencies_us.len();
    let over_50ms = stats.latencies_us.iter().filter(|&&us| us > 50_000).count();
    let mut line = format!(
        "{ok} reports in {:.1} s = {:.0} reports/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.1}% over 50 ms",
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64(),
        percentile(&stats.latencies_us, 50.0),
        percentile(&stats.latencies_us, 99.0),
        percentile(&stats.latencies_us, 100.0),
        over_50ms as f64 * 100.0 / ok.max(1) as f64,
    );
    if stats.errors > 0 {
        line.push_str(&format!(
            "; {} FAILED (first: {})",
            stats.errors,
            stats.first_error.as_deref().unwrap_or("?")
        ));
    }
    line
}

async fn send(connection: &Connection, report: JournalReport, stats: &mut Stats) {
    let started = Instant::now();
    let mut request = tonic::Request::new(report);
    request.set_timeout(Duration::from_secs(10));
    match connection.fleet().report_journal_state(request).await {
        Ok(_) => stats
            .latencies_us
            .push(started.elapsed().as_micros() as u64),
        Err(status) => {
            stats.errors += 1;
            if stats.first_error.is_none() {
                stats.first_error = Some(format!("{:?}: {}", status.code(), status.message()));
            }
        }
    }
}

/// Every controller reports every `interval`, spread evenly; open loop.
async fn sustained(
    connections: &Arc<Vec<Connection>>,
    template: &Arc<JournalReport>,
    settings: &Settings,
) -> (Stats, Duration) {
    let n = settings.controllers;
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let end = start + settings.sustained;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let connections = Arc::clone(connections);
        let template = Arc::clone(template);
        let offset = settings.interval.mul_f64(i as f64 / n as f64);
        let interval = settings.interval;
        tasks.spawn(async move {
            let mut stats = Stats::default();
            let connection = &connections[i % connections.len()];
            let mut due = start + offset;
            let mut sent = 1;
            while due < end {
                tokio::time::sleep_until(due).await;
                let lag = tokio::time::Instant::now().saturating_duration_since(due);
                stats.lag_us.push(lag.as_micros() as u64);
                send(connection, report_for(&template, i, sent), &mut stats).await;
                sent += 1;
                due += interval;
            }
            stats
        });
    }
    let mut stats = Stats::default();
    while let Some(done) = tasks.join_next().await {
        stats.merge(done.expect("controller task"));
    }
    (stats, end.saturating_duration_since(start))
}

/// `concurrency` tasks, each sending the next controller's report as soon
/// as the previous one is acknowledged.
async fn max_throughput(
    connections: &Arc<Vec<Connection>>,
    template: &Arc<JournalReport>,
    settings: &Settings,
    concurrency: usize,
) -> (Stats, Duration) {
    let started = Instant::now();
    let deadline = started + settings.max_duration;
    let n = settings.controllers;
    let mut tasks = tokio::task::JoinSet::new();
    for j in 0..concurrency {
        let connections = Arc::clone(connections);
        let template = Arc::clone(template);
        tasks.spawn(async move {
            let mut stats = Stats::default();
            let mut k = j;
            while Instant::now() < deadline {
                let i = k % n;
                send(
                    &connections[i % connections.len()],
                    report_for(&template, i, 1000 + (k / n) as u64),
                    &mut stats,
                )
                .await;
                k += concurrency;
            }
            stats
        });
    }
    let mut stats = Stats::default();
    while let Some(done) = tasks.join_next().await {
        stats.merge(done.expect("load task"));
    }
    (stats, started.elapsed())
}

/// The most connections this process and the server can each hold, leaving
/// room for everything else.
fn connection_budget(controllers: usize) -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    controllers.min(soft.saturating_sub(512).max(1))
}

async fn open_connections(address: &str, count: usize) -> Vec<Connection> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    let now = now_seconds();
    for i in 0..count {
        let address = address.to_string();
        let semaphore = Arc::clone(&semaphore);
        tasks.spawn(async move {
            let _permit = semaphore.acquire().await.unwrap();
            let id = controller_id(i);
            let token = schemagate_client::token::mint(
                SECRET,
                &id,
                &["agent".to_string()],
                Some(&id),
                86_400,
                now,
            )
            .expect("mint an agent token");
            let connection = Connection::open(&address, Some(&token))
                .await
                .expect("connect");
            (i, connection)
        });
    }
    let mut connections: Vec<Option<Connection>> = (0..count).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (i, connection) = done.expect("connect task");
        connections[i] = Some(connection);
    }
    connections.into_iter().map(Option::unwrap).collect()
}

fn run_catalog(
    runtime: &tokio::runtime::Runtime,
    settings: &Settings,
    template: &Arc<JournalReport>,
    catalog: &str,
) {
    // The fsync probe samples the disk the catalogs normally live on.
    let disk_dir = tempfile::tempdir().expect("temp dir");
    let dir = if catalog == "sqlite-tmpfs" {
        tempfile::tempdir_in("/dev/shm").expect("a temp dir on /dev/shm")
    } else {
        tempfile::tempdir().expect("temp dir")
    };
    let (url, database) = match catalog {
        "sqlite" | "sqlite-tmpfs" => (
            format!("sqlite://{}", dir.path().join("catalog.db").display()),
            None,
        ),
        "postgres" | "postgres-async" => {
            let url = runtime.block_on(postgres().create_database());
            let name = url
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .split('?')
                .next()
                .unwrap_or_default()
                .to_string();
            if catalog == "postgres-async" {
                runtime.block_on(async {
                    use sqlx::Connection as _;
                    let mut admin = sqlx::PgConnection::connect(postgres().admin_url())
                        .await
                        .expect("connect");
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "ALTER DATABASE {name} SET synchronous_commit = off"
                    )))
                    .execute(&mut admin)
                    .await
                    .expect("set synchronous_commit");
                });
            }
            (url, Some(name))
        }
        other => panic!(
            "unknown catalog {other:?}: use sqlite, postgres, sqlite-tmpfs or postgres-async"
        ),
    };
    println!("\n== {catalog} catalog ==");
    let mut server = Server::start(&url, &[]);
    let seeding = Instant::now();
    if settings.history > 0 {
        match catalog {
            "sqlite" | "sqlite-tmpfs" => seed_sqlite(
                &dir.path().join("catalog.db"),
                template,
                settings.controllers,
                settings.history,
            ),
            _ => runtime.block_on(seed_postgres(
                &url,
                template,
                settings.controllers,
                settings.history,
            )),
        }
    }
    println!(
        "seeded {} controllers x {} history reports in {:.1} s",
        settings.controllers,
        settings.history,
        seeding.elapsed().as_secs_f64()
    );

    let budget = connection_budget(settings.controllers);
    let opening = Instant::now();
    let connections = Arc::new(runtime.block_on(open_connections(&server.address, budget)));
    println!(
        "{} connections (one per controller{}) opened in {:.1} s",
        connections.len(),
        if connections.len() < settings.controllers {
            ", too few file descriptors: shared"
        } else {
            ""
        },
        opening.elapsed().as_secs_f64()
    );

    let probe = CpuProbe::start(server.pid(), database.as_deref());
    let disk = FsyncProbe::start(disk_dir.path());
    let (mut stats, elapsed) = runtime.block_on(sustained(&connections, template, settings));
    let cpu = probe.finish(stats.latencies_us.len() as u64);
    let disk = disk.finish();
    let target = settings.controllers as f64 / settings.interval.as_secs_f64();
    println!(
        "sustained, {} controllers every {} s (target {:.0} reports/s): {}",
        settings.controllers,
        settings.interval.as_secs(),
        target,
        describe(&mut stats, elapsed)
    );
    stats.lag_us.sort_unstable();
    println!(
        "  generator schedule lag p99 {:.2} ms, max {:.2} ms",
        percentile(&stats.lag_us, 99.0),
        percentile(&stats.lag_us, 100.0)
    );
    println!("  {cpu}");
    println!("  {disk}");

    for &concurrency in &settings.concurrency {
        let probe = CpuProbe::start(server.pid(), database.as_deref());
        let disk = FsyncProbe::start(disk_dir.path());
        let (mut stats, elapsed) = runtime.block_on(max_throughput(
            &connections,
            template,
            settings,
            concurrency,
        ));
        let cpu = probe.finish(stats.latencies_us.len() as u64);
        let disk = disk.finish();
        println!(
            "max throughput, {concurrency} in flight: {}",
            describe(&mut stats, elapsed)
        );
        println!("  {cpu}");
        println!("  {disk}");
    }

    let reader = schemagate_client::token::mint(
        SECRET,
        "ops",
        &["developer".to_string()],
        None,
        3600,
        now_seconds(),
    )
    .unwrap();
    let listed = runtime.block_on(async {
        let connection = Connection::open(&server.address, Some(&reader))
            .await
            .expect("connect");
        let started = Instant::now();
        let answer = connection
            .fleet()
            .max_decoding_message_size(256 * 1024 * 1024)
            .list_controllers(ListControllersRequest::default())
            .await
            .expect("list controllers")
            .into_inner();
        (answer.controllers.len(), started.elapsed())
    });
    println!(
        "ListControllers (idle): {} controllers in {:.0} ms",
        listed.0,
        listed.1.as_secs_f64() * 1000.0
    );

    drop(connections);
    server.kill();
    if let Some(name) = database {
        runtime.block_on(async {
            use sqlx::Connection as _;
            if let Ok(mut admin) = sqlx::PgConnection::connect(postgres().admin_url()).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
            }
        });
    }
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test` run of benches passes nothing useful.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let settings = Settings::from_env();
    let dir = tempfile::tempdir().expect("temp dir");
    let template = Arc::new(template_report(dir.path(), settings.interval));
    {
        use prost::Message;
        println!(
            "fleet_load: {} controllers, report every {} s, {} tables per report ({} bytes encoded); sustained {} s, max throughput {} s at {:?} in flight; {} history reports seeded per controller",
            settings.controllers,
            settings.interval.as_secs(),
            template.tables.len(),
            template.encoded_len(),
            settings.sustained.as_secs(),
            settings.max_duration.as_secs(),
            settings.concurrency,
            settings.history,
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    for catalog in &settings.catalogs {
        run_catalog(&runtime, &settings, &template, catalog);
    }
}
