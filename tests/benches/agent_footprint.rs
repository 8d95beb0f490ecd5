//! sg-agent footprint (issue 7):
//! `cargo bench -p schemagate-e2e --bench agent_footprint`.
//!
//! Builds the release `sg-agent`, makes a controller journal the way the
//! controller simulator does (WAL mode, the controller holding it open, so
//! its `-wal` exists) with `AGENT_BENCH_POURS` [100000] pours, keeps a
//! writer pouring every 500 ms, starts a real server on a SQLite catalog and
//! measures:
//! - `sg-agent --once` under `/usr/bin/time -v`, `AGENT_BENCH_RUNS` [10]
//!   times: maximum resident set size and user + system CPU of the whole
//!   process (start, observe, connect, send, exit), and again reaped with
//!   `wait4` for the same figures at microsecond resolution (GNU time
//!   prints CPU seconds with two decimals);
//! - a long-running `sg-agent --interval 1s` (default `--integrity-every`,
//!   so `quick_check` and a full unsynced count on every 10th report) for
//!   `AGENT_BENCH_SECONDS` [60] after a 5 s warm-up: VmRSS sampled every
//!   second from `/proc/<pid>/status` (and VmHWM, the peak), and CPU per report = the
//!   process's CPU time over the window (`/proc/<pid>/stat` utime + stime,
//!   and the nanosecond sum of `/proc/<pid>/task/*/schedstat`) divided by
//!   the reports the server stored in that window (its catalog's
//!   `report_count`);
//! - in this process, the observation alone (`agent::observe`, median thread
//!   CPU time of 20), an observation between integrity checks (an
//!   `agent::Observer` reusing its check and counting from its watermark,
//!   median of 20), the mean over 30 observations at the default cadence,
//!   and the main scans one by one, to tell the journal's share from the
//!   agent's.

use schemagate_e2e::controller_sim::{Controller, JournalOptions};
use schemagate_e2e::{SECRET, Server, bin_dir};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CONTROLLER: &str = "bar0042-tap2";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Adds `pours` pours in one transaction, all synced but the newest 40.
fn fill(path: &Path, pours: u64) {
    let mut conn = rusqlite::Connection::open(path).expect("open the journal");
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO pours (tap_id, volume_ml, poured_at, synced) VALUES (?1, ?2, ?3, ?4)",
            )
            .unwrap();
        let start = now_seconds() - pours as i64 * 60;
        for i in 0..pours {
            let at = start + i as i64 * 60;
            insert
                .execute(rusqlite::params![
                    format!("tap{}", i % 4 + 1),
                    200 + (i as i64 * 37) % 400,
                    // ISO 8601, as the controller writes it.
                    time_text(at),
                    i + 40 < pours
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

/// `YYYY-MM-DDTHH:MM:SSZ` for unix seconds (proleptic Gregorian, UTC).
fn time_text(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// The field `name` of `/usr/bin/time -v` output.
fn time_field<'a>(output: &'a str, name: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.trim().strip_prefix(name))
        .map(|rest| rest.trim_start_matches(':').trim())
        .unwrap_or_else(|| panic!("no {name:?} in /usr/bin/time output:\n{output}"))
}

fn agent_command(server: &Server, token: &str, journal: &Path) -> Command {
    let mut command = Command::new(bin_dir().join("sg-agent"));
    command
        .arg("--journal")
        .arg(journal)
        .args(["--controller-id", CONTROLLER])
        .env_clear()
        .env("SCHEMAGATE_TOKEN", token)
        .env("SCHEMAGATE_SERVER", &server.address);
    command
}

fn process_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Nanoseconds on CPU of every thread of `pid`.
fn schedstat_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Reaps child `pid`: its exit code and resource usage.
fn wait4(pid: u32) -> (i32, libc::rusage) {
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid as libc::pid_t, "wait4");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage)
}

/// CPU nanoseconds of the calling thread so far (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// A `kB` line of `/proc/<pid>/status`, in kB.
fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| {
            rest.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Reports the server stored for the controller (its catalog's count).
fn stored_reports(catalog: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(catalog, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the catalog");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT report_count FROM controllers WHERE controller_id = ?1",
        [CONTROLLER],
        |row| row.get(0),
    )
    .unwrap_or(0)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let pours = env_number("AGENT_BENCH_POURS", 100_000);
    let runs = env_number("AGENT_BENCH_RUNS", 10).max(1);
    let seconds = env_number("AGENT_BENCH_SECONDS", 60).max(5);

    let agent = bin_dir().join("sg-agent");
    println!(
        "sg-agent: {} ({:.1} MB on disk)",
        agent.display(),
        file_size(&agent) as f64 / 1e6
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("journal.db");
    let controller = Controller::create(
        &journal,
        &JournalOptions {
            pours: 0,
            unsynced: 0,
            ..JournalOptions::default()
        },
    )
    .expect("create the journal");
    fill(&journal, pours);
    let writer = controller
        .start_writer(Duration::from_millis(500))
        .expect("writer");
    println!(
        "journal: {pours} pours, WAL mode, controller running (a pour every 500 ms); {:.1} MB + {:.1} MB -wal",
        file_size(&journal) as f64 / 1e6,
        file_size(&with_suffix(&journal, "-wal")) as f64 / 1e6
    );

    let mut observe_cpu: Vec<f64> = (0..20)
        .map(|_| {
            let started = thread_cpu_ns();
            let report = schemagate_client::agent::observe(&journal);
            assert_eq!(report.status, "ok", "{report:?}");
            (thread_cpu_ns() - started) as f64 / 1e6
        })
        .collect();
    println!(
        "observation alone (in-process agent::observe, 20 runs): median {:.1} ms CPU",
        median(&mut observe_cpu)
    );
    // The long-running agent's observations: between checks, and on average
    // over its cadence (checks on the 1st, 11th, 21st).
    let timed = |observer: &mut schemagate_client::agent::Observer| {
        let started = thread_cpu_ns();
        let report = observer.observe(&journal);
        assert_eq!(report.status, "ok", "{report:?}");
        (thread_cpu_ns() - started) as f64 / 1e6
    };
    let mut between = schemagate_client::agent::Observer::new(u32::MAX);
    timed(&mut between);
    let mut between_cpu: Vec<f64> = (0..20).map(|_| timed(&mut between)).collect();
    assert_eq!(between.stats().quick_checks, 1, "{:?}", between.stats());
    let every = schemagate_client::agent::DEFAULT_INTEGRITY_EVERY;
    let mut cadence = schemagate_client::agent::Observer::new(every);
    let cadence_cpu: Vec<f64> = (0..30).map(|_| timed(&mut cadence)).collect();
    println!(
        "observation between checks (in-process Observer, 20 runs): median {:.1} ms CPU; \
         at the default cadence (check every {every}th, 30 runs: {:?}): mean {:.1} ms CPU",
        median(&mut between_cpu),
        cadence.stats(),
        cadence_cpu.iter().sum::<f64>() / cadence_cpu.len() as f64,
    );
    // The unsynced count from the lowest unsynced rowid, as the agent
    // counts between checks.
    let watermark: i64 =
        rusqlite::Connection::open_with_flags(&journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap()
            .query_row(
                "SELECT coalesce(min(rowid), 0) FROM pours WHERE coalesce(\"synced\", 0) = 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
    let from_watermark = format!(
        "SELECT count(*), min(rowid) FROM pours WHERE rowid >= {watermark} AND (coalesce(\"synced\", 0) = 0)"
    );
    // Where that goes: the agent's scans, each on a fresh read-only
    // connection with SQLite's default page cache, as the agent opens it.
    let mut parts = Vec::new();
    for (label, sql) in [
        ("PRAGMA quick_check(20)", "PRAGMA quick_check(20)"),
        ("count(*) of pours", "SELECT count(*) FROM pours"),
        (
            "unsynced count",
            "SELECT count(*) FROM pours WHERE coalesce(\"synced\", 0) = 0",
        ),
        ("unsynced count from the watermark", from_watermark.as_str()),
        ("max(poured_at)", "SELECT max(\"poured_at\") FROM pours"),
    ] {
        let mut cpu: Vec<f64> = (0..10)
            .map(|_| {
                let started = thread_cpu_ns();
                let conn = rusqlite::Connection::open_with_flags(
                    &journal,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .unwrap();
                let _: rusqlite::types::Value = conn.query_row(sql, [], |r| r.get(0)).unwrap();
                drop(conn);
                (thread_cpu_ns() - started) as f64 / 1e6
            })
            .collect();
        parts.push(format!("{label} {:.1} ms", median(&mut cpu)));
    }
    println!(
        "  of which (median CPU, fresh connection each): {}",
        parts.join(", ")
    );

    let server = Server::sqlite();
    let catalog = server
        .database_url
        .strip_prefix("sqlite://")
        .expect("a SQLite catalog")
        .to_string();
    let token = schemagate_client::token::mint(
        SECRET,
        CONTROLLER,
        &["agent".to_string()],
        Some(CONTROLLER),
        86_400,
        now_seconds(),
    )
    .expect("mint");

    // --once under /usr/bin/time -v.
    let mut rss_kb = Vec::new();
    let mut cpu_ms = Vec::new();
    let mut wall_ms = Vec::new();
    for _ in 0..runs {
        let mut command = Command::new("/usr/bin/time");
        command.arg("-v").arg(&agent);
        let inner = agent_command(&server, &token, &journal);
        command
            .args(inner.get_args())
            .env_clear()
            .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .arg("--once");
        let output = command.output().expect("run /usr/bin/time");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "sg-agent --once failed: {}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("status ok"), "{stdout}");
        if rss_kb.is_empty() {
            println!("--once prints: {}", stdout.trim());
        }
        rss_kb.push(
            time_field(&stderr, "Maximum resident set size (kbytes)")
                .parse::<f64>()
                .unwrap(),
        );
        let user: f64 = time_field(&stderr, "User time (seconds)").parse().unwrap();
        let sys: f64 = time_field(&stderr, "System time (seconds)")
            .parse()
            .unwrap();
        cpu_ms.push((user + sys) * 1000.0);
        let wall = time_field(&stderr, "Elapsed (wall clock) time (h:mm:ss or m:ss)");
        let wall_s: f64 = wall
            .rsplit(':')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN);
        wall_ms.push(wall_s * 1000.0);
    }
    let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "--once x{runs} (/usr/bin/time -v): max RSS median {:.1} MB, max {:.1} MB; user+sys CPU median {:.0} ms, max {:.0} ms (10 ms resolution); wall median {:.0} ms",
        median(&mut rss_kb.clone()) / 1024.0,
        max(&rss_kb) / 1024.0,
        median(&mut cpu_ms.clone()),
        max(&cpu_ms),
        median(&mut wall_ms),
    );

    // The same, reaped with wait4 for microsecond CPU figures.
    let mut precise_cpu = Vec::new();
    let mut precise_rss = Vec::new();
    for _ in 0..runs {
        #[expect(
            clippy::zombie_processes,
            reason = "reaped by wait4 below, which also returns its rusage"
        )]
        let child = agent_command(&server, &token, &journal)
            .arg("--once")
            .stdout(Stdio::null())
            .spawn()
            .expect("start sg-agent --once");
        let (code, usage) = wait4(child.id());
        assert_eq!(code, 0, "sg-agent --once failed");
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        precise_cpu.push((seconds(usage.ru_utime) + seconds(usage.ru_stime)) * 1000.0);
        precise_rss.push(usage.ru_maxrss as f64);
    }
    println!(
        "--once x{runs} (wait4 rusage): user+sys CPU median {:.1} ms, max {:.1} ms; max RSS median {:.1} MB",
        median(&mut precise_cpu.clone()),
        max(&precise_cpu),
        median(&mut precise_rss) / 1024.0,
    );

    // A long-running agent, one report a second, at the default
    // --integrity-every.
    let mut child = agent_command(&server, &token, &journal)
        .args(["--interval", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sg-agent");
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(5));
    let ticks_start = process_ticks(pid);
    let ns_start = schedstat_ns(pid);
    let reports_start = stored_reports(Path::new(&catalog));
    let started = Instant::now();
    let mut rss_samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        rss_samples.push(status_kb(pid, "VmRSS") as f64);
    }
    let ticks = process_ticks(pid) - ticks_start;
    let ns = schedstat_ns(pid) - ns_start;
    let reports = stored_reports(Path::new(&catalog)) - reports_start;
    let elapsed = started.elapsed();
    let hwm = status_kb(pid, "VmHWM");
    let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    let _ = child.kill();
    let output = child.wait_with_output().expect("wait for sg-agent");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let hz = clock_ticks_per_second();
    println!(
        "--interval 1s for {:.0} s: {reports} reports stored; CPU {:.0} ms (stat) / {:.1} ms (schedstat) = {:.2} ms per report (stat, {:.0} ms ticks) / {:.2} ms per report (schedstat)",
        elapsed.as_secs_f64(),
        ticks as f64 * 1000.0 / hz,
        ns as f64 / 1e6,
        ticks as f64 * 1000.0 / hz / reports.max(1) as f64,
        1000.0 / hz,
        ns as f64 / 1e6 / reports.max(1) as f64,
    );
    println!(
        "  VmRSS first {:.1} MB, last {:.1} MB, max sampled {:.1} MB; VmHWM (peak) {:.1} MB; {threads} threads",
        rss_samples.first().copied().unwrap_or(0.0) / 1024.0,
        rss_samples.last().copied().unwrap_or(0.0) / 1024.0,
        max(&rss_samples) / 1024.0,
        hwm as f64 / 1024.0,
    );
    if !stderr.trim().is_empty() {
        println!("  agent stderr: {}", stderr.trim());
    }
    let stats = writer.stop();
    println!(
        "controller writer meanwhile: {} pours, {} busy, {} errors",
        stats.inserted,
        stats.busy,
        stats.errors.len()
    );
    drop(controller);
}
