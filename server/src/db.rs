//! The catalog database: one connection pool over the embedded SQLite file or a
//! PostgreSQL server, the catalog's migrations, and the few places where the
//! two backends need different SQL.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use std::str::FromStr;
use std::time::Duration;

/// Where the catalog lives when `SCHEMAGATE_DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://schemagate.db";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported catalog database URL '{0}': use sqlite://FILE or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot open the catalog database {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("cannot migrate the catalog database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    /// Reads that run beside a write: the executor reads the next gate's
    /// catalog conditions while it writes the records of the revision
    /// before. SQLite's single writing connection would queue the two;
    /// in WAL mode a second connection reads the last commit while the
    /// first one commits. With PostgreSQL, the pool itself.
    reads: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// Opens (creating a SQLite file if missing) and migrates the catalog.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        let options =
            AnyConnectOptions::from_str(&url).map_err(|source| connect_error(&url, &source))?;
        let (pool, reads) = match backend {
            // SQLite takes one writer at a time; a single connection turns
            // would-be SQLITE_BUSY errors into an orderly queue and makes every
            // transaction serializable, which the audit chain relies on.
            Backend::Sqlite => {
                let pool = sqlite_pool(options.clone(), false).await?;
                MIGRATOR.run(&pool).await.map_err(DbError::Migrate)?;
                // A second connection to an in-memory database would open
                // another, empty one.
                let reads = if url.contains(":memory:") || url.contains("mode=memory") {
                    pool.clone()
                } else {
                    sqlite_pool(options, true).await?
                };
                (pool, reads)
            }
            Backend::Postgres => {
                let pool = match AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options.clone())
                    .await
                {
                    Ok(pool) => pool,
                    // The pool says only that it timed out; one connection
                    // of its own says why (connection refused, no such
                    // database).
                    Err(sqlx::Error::PoolTimedOut) => {
                        let cause = match AnyConnection::connect_with(&options).await {
                            Err(cause) => cause,
                            Ok(_) => sqlx::Error::PoolTimedOut,
                        };
                        return Err(connect_error(&url, &cause));
                    }
                    Err(source) => return Err(connect_error(&url, &source)),
                };
                MIGRATOR.run(&pool).await.map_err(DbError::Migrate)?;
                (pool.clone(), pool)
            }
        };
        Ok(Db {
            pool,
            reads,
            backend,
        })
    }

    /// This catalog with [reads that run beside a write](Db::reads) as its
    /// pool: for reads only (on SQLite, its connection refuses writes).
    pub fn for_reads(&self) -> Db {
        Db {
            pool: self.reads.clone(),
            reads: self.reads.clone(),
            backend: self.backend,
        }
    }

    /// Serializes writers of `key` until the surrounding transaction ends.
    /// SQLite needs nothing: its single connection already serializes them.
    pub async fn lock(&self, conn: &mut AnyConnection, key: &str) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS held")
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// True when the catalog answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }
}

/// A pool of one SQLite connection: the writer, or a reader whose
/// connection refuses writes (`query_only`).
async fn sqlite_pool(options: AnyConnectOptions, query_only: bool) -> Result<AnyPool, DbError> {
    let url = options.database_url.to_string();
    AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 5000").await?;
                if query_only {
                    conn.execute("PRAGMA query_only = ON").await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|source| connect_error(&url, &source))
}

/// The catalog could not be opened: its URL without the password, and what
/// PostgreSQL or the driver said (without PostgreSQL's source location).
fn connect_error(url: &str, source: &sqlx::Error) -> DbError {
    DbError::Connect {
        url: redact_url(url),
        cause: crate::target::describe(source),
    }
}

fn normalize_url(url: &str) -> Result<(Backend, String), DbError> {
    if crate::target::is_postgres_url(url) {
        Ok((Backend::Postgres, url.to_string()))
    } else if url.starts_with("sqlite:") {
        // Create the file on first start unless the URL says otherwise.
        let url = if url.contains("mode=") || url.contains(":memory:") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        Ok((Backend::Sqlite, url))
    } else {
        Err(DbError::UnsupportedUrl(redact_url(url)))
    }
}

/// Strips a password from a URL so it can appear in a message or a log line.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
                }
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Milliseconds since the unix epoch, the catalog's time format.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file_by_default() {
        let (backend, url) = normalize_url("sqlite://schemagate.db").unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert_eq!(url, "sqlite://schemagate.db?mode=rwc");
        let (_, url) = normalize_url("sqlite://x.db?mode=ro").unwrap();
        assert_eq!(url, "sqlite://x.db?mode=ro");
    }

    #[test]
    fn unknown_schemes_are_refused_without_leaking_passwords() {
        let err = normalize_url("mysql://root:hunter2@db/x").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("mysql://root:***@db/x"), "{message}");
        assert!(!message.contains("hunter2"));
        // No password, nothing to hide.
        assert_eq!(
            redact_url("postgres://postgres@db/x"),
            "postgres://postgres@db/x"
        );
    }
}
