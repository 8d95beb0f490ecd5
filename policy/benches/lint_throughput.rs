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

fn statements(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let mut s = statement(&mut rng, i);
            s.push('\n');
            s
        })
        .collect()
}

fn corpus(n: usize, seed: u64) -> String {
    statements(n, seed).concat()
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

/// Wall time of `squawk <files...>`, killed after `cap`. squawk exits 1 on
/// violations, which is expected here; other codes mean it failed to lint.
fn time_squawk(paths: &[std::path::PathBuf], cap: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut child = Command::new("squawk")
        .args(paths)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let elapsed = start.elapsed();
            return if status.code().is_some_and(|c| c <= 1) {
                Ok(elapsed)
            } else {
                Err(format!("squawk exited with {status}"))
            };
        }
        if start.elapsed() > cap {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("did not finish within {} s, killed", cap.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
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

    // Where the time goes: the PostgreSQL parser alone on the same text.
    let start = Instant::now();
    let parsed = pg_query::parse(&big, 0).map(|p| p.protobuf.stmts.len());
    let parse_time = start.elapsed();
    println!(
        "  of which pg_query::parse alone: {:.3} s ({:?} statements)",
        parse_time.as_secs_f64(),
        parsed.ok()
    );
    for n in [10_000usize, 30_000] {
        let text = corpus(n, 0x5eed_1234);
        let s = Instant::now();
        let _ = pg_query::parse(&text, 0);
        let p = s.elapsed();
        let s = Instant::now();
        let _ = lint(&text, Some("SELECT 1;"), &config);
        println!(
            "  scaling: {n} statements: parse {:.3} s, lint {:.3} s",
            p.as_secs_f64(),
            s.elapsed().as_secs_f64()
        );
    }

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
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        let mut f = std::fs::File::create(&p).expect("create temp file");
        f.write_all(text.as_bytes()).expect("write temp file");
        p
    };
    let big_path = write("corpus_100k.sql", &big);
    let rev_path = write("revision_1k.sql", &rev);

    // squawk's time grows faster than linearly with file size, so the same
    // 100,000 statements are also given to it as 100 files of 1,000 (one
    // invocation), which is the fair per-statement comparison.
    let chunks: Vec<std::path::PathBuf> = statements(100_000, 0x5eed_1234)
        .chunks(1_000)
        .enumerate()
        .map(|(i, c)| write(&format!("chunk_{i:03}.sql"), &c.concat()))
        .collect();

    println!("squawk: {version}");
    let chunked = time_squawk(&chunks, Duration::from_secs(300));
    match &chunked {
        Ok(t) => println!(
            "squawk: 100,000 statements as {} files of 1,000 in {:.3} s = {:.0} statements/s (one process, wall time)",
            chunks.len(),
            t.as_secs_f64(),
            100_000.0 / t.as_secs_f64()
        ),
        Err(e) => println!("squawk: chunked corpus: {e}"),
    }
    match time_squawk(std::slice::from_ref(&big_path), Duration::from_secs(60)) {
        Ok(t) => println!(
            "squawk: 100,000 statements as one file in {:.3} s = {:.0} statements/s",
            t.as_secs_f64(),
            100_000.0 / t.as_secs_f64()
        ),
        Err(e) => println!("squawk: 100,000 statements as one file: {e}"),
    }
    let runs: Vec<Duration> = (0..5)
        .filter_map(|_| time_squawk(std::slice::from_ref(&rev_path), Duration::from_secs(60)).ok())
        .collect();
    let squawk_rev = (!runs.is_empty()).then(|| median(runs));
    match squawk_rev {
        Some(m) => println!(
            "squawk: 1,000-statement revision median of 5 runs = {:.2} ms (process wall time, includes startup)",
            m.as_secs_f64() * 1e3
        ),
        None => println!("squawk: failed on the 1,000-statement revision"),
    }
    if let Ok(t) = chunked {
        let theirs_per_stmt = t.as_secs_f64() / 100_000.0;
        println!(
            "per-statement ratio schemagate/squawk (100k, chunked for squawk) = {:.2} ({})",
            ours_per_stmt / theirs_per_stmt,
            if ours_per_stmt <= theirs_per_stmt {
                "schemagate is faster"
            } else {
                "schemagate is slower"
            }
        );
    }
    if let Some(m) = squawk_rev {
        println!(
            "1,000-statement revision ratio schemagate/squawk = {:.2}",
            rev_median.as_secs_f64() / m.as_secs_f64()
        );
    }
}
