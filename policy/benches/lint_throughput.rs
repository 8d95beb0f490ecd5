//! Lint throughput benchmark (`cargo bench -p schemagate-policy`).
//!
//! Generates a deterministic corpus of 100,000 mixed statements, lints it as
//! one revision and prints statements per second; then times a 1,000-statement
//! revision (median of several runs, target < 50 ms). If `squawk` is on PATH
//! the same texts are timed with it for comparison.

use schemagate_policy::{LintConfig, lint};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Small deterministic PRNG (xorshift64*), so every run lints the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const TABLES: &[&str] = &[
    "venues",
    "taps",
    "kegs",
    "beverages",
    "controllers",
    "pour_records",
];

/// One statement of a realistic migration mix: mostly additive DDL and data
/// fixes, some risky and destructive statements, comments and a function.
fn statement(rng: &mut Rng, i: usize) -> String {
    let t = TABLES[rng.below(TABLES.len() as u64) as usize];
    match rng.below(20) {
        0..=3 => format!(
            "CREATE TABLE t_{i} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    venue_id uuid NOT NULL REFERENCES venues (id),\n    amount numeric(12, 2) NOT NULL DEFAULT 0,\n    created_at timestamptz NOT NULL DEFAULT now()\n);"
        ),
        4..=6 => format!("ALTER TABLE {t} ADD COLUMN c_{i} text;"),
        7 => format!("ALTER TABLE {t} ADD COLUMN c_{i} uuid DEFAULT gen_random_uuid();"),
        8 => format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_{i}_idx ON {t} (c_{i});"),
        9 => format!("CREATE INDEX {t}_{i}_idx ON {t} (created_at) WHERE c_{i} IS NOT NULL;"),
        10 => format!("INSERT INTO {t} (id, label) VALUES ({i}, 'row {i}; not a statement');"),
        11 => format!("UPDATE {t} SET label = 'x' WHERE id = {i};"),
        12 => format!(
            "ALTER TABLE {t} ADD CONSTRAINT {t}_{i}_fk FOREIGN KEY (c_{i}) REFERENCES kegs (id) NOT VALID;"
        ),
        13 => format!("-- schema change {i}: keep taps in sync\nSET lock_timeout = '2s';"),
        14 => format!(
            "CREATE OR REPLACE FUNCTION f_{i}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n    NEW.updated_at := now();\n    RETURN NEW;\nEND;\n$$;"
        ),
        15 => format!("ALTER TABLE {t} ALTER COLUMN c_{i} SET NOT NULL;"),
        16 => format!("ALTER TABLE {t} DROP COLUMN IF EXISTS c_{i};"),
        17 => format!("COMMENT ON COLUMN {t}.c_{i} IS 'added in release {i}';"),
        18 => {
            format!("CREATE VIEW v_{i} AS SELECT id, amount FROM pour_records WHERE amount > {i};")
        }
        _ => format!("ALTER TABLE {t} ALTER COLUMN c_{i} TYPE varchar(64);"),
    }
}

fn corpus(n: usize, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut out = String::with_capacity(n * 80);
    for i in 0..n {
        out.push_str(&statement(&mut rng, i));
        out.push('\n');
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn squawk_available() -> bool {
    Command::new("squawk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Wall time of `squawk <file>` (its exit status reflects violations, which
/// is expected here). Returns None if it could not run.
fn time_squawk(path: &std::path::Path) -> Option<Duration> {
    let start = Instant::now();
    let status = Command::new("squawk")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let elapsed = start.elapsed();
    // squawk exits 1 on violations; anything else (e.g. 2, a crash) is a failure to lint.
    if status.code().is_some_and(|c| c <= 1) {
        Some(elapsed)
    } else {
        eprintln!("squawk exited with {status}");
        None
    }
}

fn main() {
    let config = LintConfig::default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("lint_throughput: {cores} cores available (linting is single-threaded)");

    // 100,000 mixed statements as one revision.
    let big = corpus(100_000, 0x5eed_1234);
    let start = Instant::now();
    let report = lint(&big, Some("SELECT 1;"), &config);
    let big_time = start.elapsed();
    assert!(report.parse_error.is_none(), "{:?}", report.parse_error);
    assert_eq!(report.statements, 100_000);
    let ours_per_stmt = big_time.as_secs_f64() / report.statements as f64;
    println!(
        "schemagate: 100,000 statements ({:.1} MiB) in {:.3} s = {:.0} statements/s ({} findings, risk {})",
        big.len() as f64 / (1024.0 * 1024.0),
        big_time.as_secs_f64(),
        report.statements as f64 / big_time.as_secs_f64(),
        report.findings.len(),
        report.risk,
    );

    // A 1,000-statement revision, median of 15 runs.
    let rev = corpus(1_000, 0xfeed_5678);
    let runs: Vec<Duration> = (0..15)
        .map(|_| {
            let s = Instant::now();
            let r = lint(&rev, Some("SELECT 1;"), &config);
            let d = s.elapsed();
            assert_eq!(r.statements, 1_000);
            d
        })
        .collect();
    let rev_median = median(runs);
    println!(
        "schemagate: 1,000-statement revision median of 15 runs = {:.2} ms (target < 50 ms: {})",
        rev_median.as_secs_f64() * 1e3,
        if rev_median < Duration::from_millis(50) {
            "met"
        } else {
            "MISSED"
        }
    );

    if !squawk_available() {
        println!(
            "squawk: not found on PATH, comparison skipped (install with `pip install squawk-cli`)"
        );
        return;
    }
    let version = Command::new("squawk")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let big_path = dir.path().join("corpus_100k.sql");
    let rev_path = dir.path().join("revision_1k.sql");
    for (p, text) in [(&big_path, &big), (&rev_path, &rev)] {
        let mut f = std::fs::File::create(p).expect("create temp file");
        f.write_all(text.as_bytes()).expect("write temp file");
    }
    match time_squawk(&big_path) {
        Some(t) => {
            let theirs_per_stmt = t.as_secs_f64() / 100_000.0;
            println!(
                "squawk ({version}): 100,000 statements in {:.3} s = {:.0} statements/s (process wall time, includes startup)",
                t.as_secs_f64(),
                100_000.0 / t.as_secs_f64()
            );
            println!(
                "per-statement ratio schemagate/squawk = {:.2} ({})",
                ours_per_stmt / theirs_per_stmt,
                if ours_per_stmt <= theirs_per_stmt {
                    "schemagate is faster"
                } else {
                    "schemagate is slower"
                }
            );
        }
        None => println!("squawk: failed on the 100,000-statement corpus"),
    }
    let runs: Vec<Duration> = (0..5).filter_map(|_| time_squawk(&rev_path)).collect();
    if runs.is_empty() {
        println!("squawk: failed on the 1,000-statement revision");
    } else {
        println!(
            "squawk: 1,000-statement revision median of {} runs = {:.2} ms (process wall time)",
            runs.len(),
            median(runs).as_secs_f64() * 1e3
        );
    }
}
