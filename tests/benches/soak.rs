//! Soak: mixed load on loopback against the real server for a bounded time
//! (`SCHEMAGATE_SOAK_SECONDS`, default 600), sampling the server's resident
//! memory every 10 s. Prints the samples and compares the first and the last
//! minute, so a leak shows as growth.
//!
//!     cargo bench -p schemagate-e2e --bench soak
//!
//! The load, from four client threads through the real `sgctl` and
//! `sg-agent`: submit a new additive revision, approve it, check its gate,
//! deploy it to dev (up to `SCHEMAGATE_SOAK_MAX_REVISIONS`, default 200;
//! after that approvals, gates, status and deploys on the same revisions, so
//! the data set stops growing), lint, read history, the audit log and the
//! fleet, and agents reporting journals. The catalog is the embedded SQLite file; the
//! dev target a database of the test PostgreSQL.

use schemagate_e2e::controller_sim::{Controller, JournalOptions};
use schemagate_e2e::{Server, bin_dir, block_on, postgres, sgctl, token};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

fn main() {
    let seconds: u64 = std::env::var("SCHEMAGATE_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    // After this many revisions the writer stops adding to the catalog, so
    // the second half of the run has a steady data set.
    let max_revisions: u32 = std::env::var("SCHEMAGATE_SOAK_MAX_REVISIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let dev = block_on(postgres().create_database());
    let policy = dir.path().join("schemagate.toml");
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/schemagate.toml"),
    )
    .unwrap();
    std::fs::write(&policy, example).unwrap();
    let catalog = format!("sqlite://{}", dir.path().join("catalog.db").display());
    let server = Server::start(
        &catalog,
        &[
            ("SCHEMAGATE_CONFIG", policy.to_str().unwrap()),
            ("SCHEMAGATE_TARGET_DEV_URL", &dev),
            ("RUST_LOG", "warn"),
        ],
    );
    let pid = server.pid();
    let address = server.address.clone();
    let alice = token("alice", &["developer"]);
    let carol = token("carol", &["approver"]);
    let erin = token("erin", &["deployer"]);
    let journal = dir.path().join("journal.db");
    let _controller = Controller::create(&journal, &JournalOptions::default()).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let revisions = Arc::new(AtomicU64::new(0));
    let run = |token: &str, args: &[&str]| {
        sgctl(
            args,
            &[("SCHEMAGATE_SERVER", &address), ("SCHEMAGATE_TOKEN", token)],
        )
    };

    std::thread::scope(|scope| {
        // Writer: one revision after the other, approved, gated, deployed.
        {
            let (stop, ops, failures, run, submitted) = (&stop, &ops, &failures, &run, &revisions);
            let (alice, carol, erin, dir) = (&alice, &carol, &erin, dir.path());
            scope.spawn(move || {
                let revisions = dir.join("revisions");
                std::fs::create_dir_all(&revisions).unwrap();
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    if n >= max_revisions {
                        // A steady data set from here on: the same calls
                        // on revisions that exist (a new approval replaces
                        // the approver's earlier one).
                        let id = format!("{0:05}_soak_{0}", 1 + (n % max_revisions));
                        n += 1;
                        for (token, args) in [
                            (carol, vec!["approve", id.as_str(), "--env", "dev"]),
                            (erin, vec!["gate", id.as_str(), "--env", "dev"]),
                            (erin, vec!["status", "--env", "dev"]),
                            (erin, vec!["deploy", "--env", "dev"]),
                        ] {
                            let out = run(token, &args);
                            ops.fetch_add(1, Ordering::Relaxed);
                            // The gate of an applied revision is closed (parent).
                            if out.code != 0 && args[0] != "gate" {
                                failures.fetch_add(1, Ordering::Relaxed);
                                eprintln!("{args:?} failed: {}{}", out.stdout, out.stderr);
                            }
                        }
                        continue;
                    }
                    n += 1;
                    let id = format!("{n:05}_soak_{n}");
                    let up = revisions.join(format!("{id}.up.sql"));
                    std::fs::write(
                        &up,
                        format!("CREATE TABLE soak_{n} (id bigint PRIMARY KEY, note text);\n"),
                    )
                    .unwrap();
                    std::fs::write(
                        revisions.join(format!("{id}.down.sql")),
                        format!("DROP TABLE soak_{n};\n"),
                    )
                    .unwrap();
                    let steps: [(&str, Vec<&str>); 4] = [
                        (alice, vec!["submit", up.to_str().unwrap()]),
                        (carol, vec!["approve", &id, "--env", "dev"]),
                        (erin, vec!["gate", &id, "--env", "dev"]),
                        (erin, vec!["deploy", "--env", "dev"]),
                    ];
                    for (token, args) in steps {
                        let out = run(token, &args);
                        ops.fetch_add(1, Ordering::Relaxed);
                        if out.code != 0 {
                            failures.fetch_add(1, Ordering::Relaxed);
                            eprintln!("{args:?} failed: {}{}", out.stdout, out.stderr);
                        }
                    }
                    std::fs::remove_file(&up).ok();
                    submitted.store(u64::from(n), Ordering::Relaxed);
                }
            });
        }
        // Readers.
        for reader in 0..2 {
            let (stop, ops, failures, run, erin) = (&stop, &ops, &failures, &run, &erin);
            scope.spawn(move || {
                let lint_file = std::env::temp_dir().join(format!("soak-lint-{}-{reader}.sql", std::process::id()));
                std::fs::write(&lint_file, "ALTER TABLE venues ADD COLUMN capacity integer;\nCREATE INDEX ON pours (tap_id);\n").unwrap();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let out = match i % 4 {
                        0 => run(erin, &["--json", "history"]),
                        1 => run(erin, &["--json", "audit"]),
                        2 => run(erin, &["--json", "controllers"]),
                        _ => run(erin, &["lint", lint_file.to_str().unwrap()]),
                    };
                    ops.fetch_add(1, Ordering::Relaxed);
                    // lint exits 1 on findings; everything else must succeed.
                    if out.code != 0 && !(i % 4 == 3 && out.code == 1) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::fs::remove_file(&lint_file).ok();
            });
        }
        // Agents: a hundred controllers reporting in turn.
        {
            let (stop, ops, failures, address, journal) =
                (&stop, &ops, &failures, &address, &journal);
            scope.spawn(move || {
                let tokens: Vec<(String, String)> = (0..100)
                    .map(|i| {
                        let id = format!("soak-{i:03}");
                        let token = sgctl(
                            &[
                                "token",
                                "mint",
                                "--sub",
                                &id,
                                "--role",
                                "agent",
                                "--controller-id",
                                &id,
                            ],
                            &[],
                        )
                        .ok()
                        .trim()
                        .to_string();
                        (id, token)
                    })
                    .collect();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (id, token) = &tokens[i % tokens.len()];
                    i += 1;
                    let status = std::process::Command::new(bin_dir().join("sg-agent"))
                        .arg("--journal")
                        .arg(journal)
                        .args(["--controller-id", id, "--once"])
                        .env("SCHEMAGATE_SERVER", address)
                        .env("SCHEMAGATE_TOKEN", token)
                        .output()
                        .map(|o| o.status.success())
                        .unwrap_or(false);
                    ops.fetch_add(1, Ordering::Relaxed);
                    if !status {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }

        // Sampler.
        let started = Instant::now();
        // (second, rss KiB, operations, revisions)
        let mut samples: Vec<(u64, u64, u64, u64)> = Vec::new();
        println!(
            "{:>6}  {:>10}  {:>8}  {:>8}",
            "second", "rss_kib", "ops", "failures"
        );
        while started.elapsed() < Duration::from_secs(seconds) {
            std::thread::sleep(Duration::from_secs(10).min(Duration::from_secs(seconds)));
            let sample = (
                started.elapsed().as_secs(),
                rss_kib(pid),
                ops.load(Ordering::Relaxed),
                revisions.load(Ordering::Relaxed),
            );
            println!(
                "{:>6}  {:>10}  {:>8}  {:>8}  {:>9}",
                sample.0,
                sample.1,
                sample.2,
                failures.load(Ordering::Relaxed),
                sample.3
            );
            samples.push(sample);
        }
        stop.store(true, Ordering::Relaxed);

        let window = samples.len().min(6);
        let mut first: Vec<u64> = samples.iter().take(window).map(|s| s.1).collect();
        let mut last: Vec<u64> = samples.iter().rev().take(window).map(|s| s.1).collect();
        let (first, last) = (median(&mut first), median(&mut last));
        let total_ops = samples.last().map_or(0, |s| s.2);
        println!();
        println!("duration            {seconds} s");
        println!(
            "operations          {total_ops} ({:.1}/s)",
            total_ops as f64 / seconds as f64
        );
        println!("failures            {}", failures.load(Ordering::Relaxed));
        println!("rss first minute    {first} KiB (median)");
        println!("rss last minute     {last} KiB (median)");
        println!(
            "growth              {:+.1}%",
            (last as f64 - first as f64) * 100.0 / first.max(1) as f64
        );
        // What a leak would show: growth once the data set stopped growing.
        match samples.iter().position(|s| s.3 >= u64::from(max_revisions)) {
            Some(at) if samples.len() > at + 2 * window => {
                let mut steady: Vec<u64> = samples[at..at + window].iter().map(|s| s.1).collect();
                let steady = median(&mut steady);
                println!(
                    "steady data set     from second {} ({} revisions)",
                    samples[at].0, samples[at].3
                );
                println!("rss its first minute {steady} KiB (median)");
                println!(
                    "growth since        {:+.1}%",
                    (last as f64 - steady as f64) * 100.0 / steady.max(1) as f64
                );
            }
            _ => {
                println!("steady data set     not reached for two minutes: no steady-state figure")
            }
        }
    });
}
