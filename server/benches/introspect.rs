//! Schema introspection benchmark (`cargo bench -p schemagate-server --bench
//! introspect`).
//!
//! Creates a scratch database `schemagate_bench_<pid>` on the PostgreSQL
//! server named by `SCHEMAGATE_BENCH_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), generates 500 tables of
//! 10 columns, 2 secondary indexes and 1 foreign key each, and times
//! `schema::introspect`, `Schema::fingerprint` and `schema::diff` of two
//! introspections (median and minimum of several runs; target: introspection
//! plus diff under 1 s). In the same run it times `pg_dump --schema-only` of
//! the same database (process wall time) for comparison. The scratch
//! database is dropped at the end.

use schemagate_server::schema::{self, Schema};
use sqlx::{Connection, PgConnection};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const TABLES: usize = 500;
/// Timed runs per measurement (after one untimed warm-up).
const RUNS: usize = 11;
const TARGET: Duration = Duration::from_secs(1);

/// The generated schema: `t_000` … `t_499`, each with 10 columns, a primary
/// key, 2 secondary indexes and a foreign key to the table before it (the
/// first one to the last), added after all tables exist.
fn ddl() -> String {
    let mut sql = String::new();
    for i in 0..TABLES {
        sql.push_str(&format!(
            "CREATE TABLE t_{i:03} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id bigint NOT NULL,
    name text NOT NULL,
    code varchar(32),
    amount numeric(10,2) NOT NULL DEFAULT 0,
    quantity integer NOT NULL DEFAULT 1 CHECK (quantity > 0),
    active boolean NOT NULL DEFAULT true,
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
);
CREATE INDEX t_{i:03}_parent_idx ON t_{i:03} (parent_id);
CREATE INDEX t_{i:03}_created_idx ON t_{i:03} (created_at DESC, name) WHERE active;
"
        ));
    }
    for i in 0..TABLES {
        let parent = (i + TABLES - 1) % TABLES;
        sql.push_str(&format!(
            "ALTER TABLE t_{i:03} ADD CONSTRAINT t_{i:03}_parent_fk FOREIGN KEY (parent_id) REFERENCES t_{parent:03} (id);\n"
        ));
    }
    sql
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Median and minimum of `RUNS` timed runs.
struct Timing {
    median: Duration,
    min: Duration,
}

impl Timing {
    fn of(samples: Vec<Duration>) -> Timing {
        Timing {
            min: samples.iter().copied().min().unwrap_or_default(),
            median: median(samples),
        }
    }
}

fn pg_dump_version() -> Option<String> {
    let out = Command::new("pg_dump").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One `pg_dump --schema-only` of `url`: wall time and bytes written.
fn pg_dump(url: &str) -> Result<(Duration, usize), String> {
    let start = Instant::now();
    let out = Command::new("pg_dump")
        .args(["--schema-only", "--no-password", "--dbname", url])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run pg_dump: {e}"))?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        return Err(format!(
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((elapsed, out.stdout.len()))
}

/// Checks that the introspection saw the whole generated schema, so the
/// figures are for what they claim to be.
fn check_shape(schema: &Schema) -> Result<(), String> {
    let columns: usize = schema.tables.values().map(|t| t.columns.len()).sum();
    // Primary key, check and foreign key of every table.
    let constraints: usize = schema.tables.values().map(|t| t.constraints.len()).sum();
    let seen = (
        schema.tables.len(),
        columns,
        constraints,
        schema.indexes.len(),
    );
    let expected = (TABLES, TABLES * 10, TABLES * 3, TABLES * 2);
    if seen == expected {
        Ok(())
    } else {
        Err(format!(
            "introspection saw (tables, columns, constraints, indexes) = {seen:?}, expected {expected:?}"
        ))
    }
}

/// The load average over the last minute, to judge how busy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

async fn bench(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let load_before = load_average();
    let mut conn = PgConnection::connect(url).await?;
    let start = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("BEGIN;\n{}COMMIT;", ddl())))
        .execute(&mut conn)
        .await?;
    sqlx::raw_sql("ANALYZE").execute(&mut conn).await?;
    println!(
        "generated {TABLES} tables (10 columns, primary key, check, 2 indexes, 1 foreign key each) in {}",
        ms(start.elapsed())
    );

    // Warm-up: the first introspection on a new connection also loads the
    // catalog caches of the backend; it is reported, not counted.
    let start = Instant::now();
    let warm = schema::introspect(&mut conn).await?;
    let cold = start.elapsed();
    check_shape(&warm)?;

    let mut introspect = Vec::new();
    let mut fingerprint = Vec::new();
    let mut diff = Vec::new();
    let mut total = Vec::new();
    let mut previous = warm;
    let mut fingerprint_text = String::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let live = schema::introspect(&mut conn).await?;
        let t_introspect = start.elapsed();

        let start = Instant::now();
        fingerprint_text = live.fingerprint();
        let t_fingerprint = start.elapsed();

        let start = Instant::now();
        let differences = schema::diff(&previous, &live);
        let t_diff = start.elapsed();
        if !differences.is_empty() {
            return Err(format!("two introspections differ: {differences:?}").into());
        }

        introspect.push(t_introspect);
        fingerprint.push(t_fingerprint);
        diff.push(t_diff);
        total.push(t_introspect + t_fingerprint + t_diff);
        previous = live;
    }
    let server: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;

    let version = pg_dump_version().unwrap_or_else(|| "pg_dump not found".into());
    let mut dump = Vec::new();
    let mut dump_bytes = 0;
    let dump_error = match pg_dump(url) {
        // The first run warms the same caches; not counted.
        Ok(_) => {
            let mut error = None;
            for _ in 0..RUNS {
                match pg_dump(url) {
                    Ok((elapsed, bytes)) => {
                        dump.push(elapsed);
                        dump_bytes = bytes;
                    }
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            error
        }
        Err(e) => Some(e),
    };

    let introspect = Timing::of(introspect);
    let fingerprint = Timing::of(fingerprint);
    let diff = Timing::of(diff);
    let total = Timing::of(total);

    println!();
    println!(
        "PostgreSQL {server}; {version}; {RUNS} timed runs after one warm-up; load average {load_before} before, {} after",
        load_average()
    );
    println!("fingerprint {fingerprint_text}");
    println!();
    println!("| measurement | median | min |");
    println!("| --- | --- | --- |");
    println!(
        "| `schema::introspect` (first, on a new connection) | {} | — |",
        ms(cold)
    );
    for (name, t) in [
        ("`schema::introspect`", &introspect),
        ("`Schema::fingerprint`", &fingerprint),
        ("`schema::diff` of two introspections", &diff),
        ("sum: introspect + fingerprint + diff", &total),
    ] {
        println!("| {name} | {} | {} |", ms(t.median), ms(t.min));
    }
    let dump = (!dump.is_empty()).then(|| Timing::of(dump));
    match &dump {
        Some(d) => println!(
            "| `pg_dump --schema-only` ({} KiB of SQL, process wall time) | {} | {} |",
            dump_bytes / 1024,
            ms(d.median),
            ms(d.min)
        ),
        None => println!(
            "| `pg_dump --schema-only` | {} | — |",
            dump_error.as_deref().unwrap_or("not run")
        ),
    }
    println!();
    let verdict = if total.median < TARGET {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "target: introspection + diff under 1 s: median {} ({} with the fingerprint) → {verdict}",
        ms(introspect.median + diff.median),
        ms(total.median)
    );
    if let Some(d) = &dump {
        println!(
            "ratio schemagate (sum) / pg_dump: {:.2} (median), {:.2} (min); introspect alone / pg_dump: {:.2} (median)",
            total.median.as_secs_f64() / d.median.as_secs_f64(),
            total.min.as_secs_f64() / d.min.as_secs_f64(),
            introspect.median.as_secs_f64() / d.median.as_secs_f64(),
        );
    }
    Ok(())
}

/// `url` with its database replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let authority = base.find("://").map_or(0, |at| at + 3);
    let server = match base[authority..].find('/') {
        Some(at) => &base[..authority + at],
        None => base,
    };
    format!("{server}/{database}{query}")
}

fn main() {
    let admin_url =
        std::env::var("SCHEMAGATE_BENCH_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into());
    let database = format!("schemagate_bench_{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {admin_url}: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await
            .expect("create the bench database");
        let url = with_database(&admin_url, &database);
        let result = bench(&url).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .expect("drop the bench database");
        let _ = admin.close().await;
        if let Err(e) = result {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    });
}
