//! Target databases: the PostgreSQL servers Schemagate migrates. Their URLs
//! come from the environment variables the policy names and never leave this
//! module: no error, log line or response carries them. Owns the target's
//! version table, `schemagate.applied_revisions`, and the executor lock.

use crate::config::Environment;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Row};
use std::str::FromStr;
use std::time::Duration;

/// Creates the version table; runs inside the transaction of the first
/// revision or stamp, so a failed first revision leaves nothing behind.
pub const VERSION_TABLE_DDL: &str = "CREATE SCHEMA IF NOT EXISTS schemagate; \
     CREATE TABLE IF NOT EXISTS schemagate.applied_revisions ( \
        project        text        NOT NULL, \
        id             text        NOT NULL, \
        checksum       text        NOT NULL, \
        sequence       bigint      NOT NULL, \
        applied_at     timestamptz NOT NULL DEFAULT now(), \
        executed_by    text        NOT NULL, \
        execution_id   text        NOT NULL, \
        transactional  boolean     NOT NULL, \
        stamped        boolean     NOT NULL DEFAULT false, \
        PRIMARY KEY (project, id))";

#[derive(Clone, Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "environment '{environment}': the variable {variable} holding its target URL is not set on the server"
    )]
    MissingUrl {
        environment: String,
        variable: String,
    },
    #[error(
        "environment '{environment}': {variable} does not hold a postgres:// URL. Schemagate migrates PostgreSQL targets only; SQLite journals on edge controllers are observed by sg-agent, never migrated"
    )]
    NotPostgres {
        environment: String,
        variable: String,
    },
    #[error("{} is unreachable: {detail}", database_of(environment))]
    Unreachable { environment: String, detail: String },
    #[error("{} failed: {detail}", database_of(environment))]
    Failed { environment: String, detail: String },
}

/// What a [`TargetError`] names as its `environment` when it is about the
/// shadow server (no environment's name starts with `$`).
pub const SHADOW: &str = "$SCHEMAGATE_SHADOW_URL";

/// `environment 'dev': the target database`, or the shadow server.
fn database_of(environment: &str) -> String {
    if environment == SHADOW {
        "the shadow server ($SCHEMAGATE_SHADOW_URL)".to_string()
    } else {
        format!("environment '{environment}': the target database")
    }
}

/// A target's URL, read from the environment when needed.
pub struct Target {
    pub environment: String,
    url: String,
    /// The variable the URL came from, for messages about the URL itself.
    variable: String,
}

impl Target {
    pub fn of(env: &Environment) -> Result<Target, TargetError> {
        let url = std::env::var(&env.target_url_env).map_err(|_| TargetError::MissingUrl {
            environment: env.name.clone(),
            variable: env.target_url_env.clone(),
        })?;
        if !is_postgres_url(&url) {
            return Err(TargetError::NotPostgres {
                environment: env.name.clone(),
                variable: env.target_url_env.clone(),
            });
        }
        Ok(Target {
            environment: env.name.clone(),
            url,
            variable: env.target_url_env.clone(),
        })
    }

    /// The shadow server of the parity check, at `url` (a postgres:// URL):
    /// its errors name it rather than an environment, and hide its password
    /// as a target's do.
    pub fn shadow(url: String) -> Target {
        Target {
            environment: SHADOW.to_string(),
            url,
            variable: "SCHEMAGATE_SHADOW_URL".to_string(),
        }
    }

    /// The URL, for the backup tool only.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub async fn connect(&self, application_name: &str) -> Result<PgConnection, TargetError> {
        self.connect_to(None, application_name).await
    }

    /// Connects to `database` on the target's server, or to the URL's own.
    pub async fn connect_to(
        &self,
        database: Option<&str>,
        application_name: &str,
    ) -> Result<PgConnection, TargetError> {
        // A URL that does not parse is the server's configuration, not an
        // outage: retrying will not help.
        let options = PgConnectOptions::from_str(&self.url).map_err(|err| TargetError::Failed {
            environment: self.environment.clone(),
            detail: self.scrub(&format!(
                "its URL ({} on the server) does not parse: {err}",
                self.variable
            )),
        })?;
        let options = match database {
            Some(database) => options.database(database),
            None => options,
        }
        .application_name(application_name)
        .log_statements(tracing::log::LevelFilter::Off);
        match tokio::time::timeout(Duration::from_secs(10), options.connect()).await {
            Ok(Ok(conn)) => Ok(conn),
            // The server answered and refused (no such database or role, a
            // wrong password): not an outage, and retrying will not help.
            Ok(Err(err @ sqlx::Error::Database(_))) => Err(self.failed(&err)),
            Ok(Err(err)) => Err(self.unreachable(&err)),
            Err(_) => Err(TargetError::Unreachable {
                environment: self.environment.clone(),
                detail: "no answer within 10 s".into(),
            }),
        }
    }

    fn unreachable(&self, err: &dyn std::fmt::Display) -> TargetError {
        TargetError::Unreachable {
            environment: self.environment.clone(),
            detail: self.scrub(&err.to_string()),
        }
    }

    /// A target failure as an error fit for a response.
    pub fn failed(&self, err: &sqlx::Error) -> TargetError {
        self.failed_while("", err)
    }

    /// A target failure, its detail after `context` (`cannot create a
    /// scratch database: `).
    pub fn failed_while(&self, context: &str, err: &sqlx::Error) -> TargetError {
        TargetError::Failed {
            environment: self.environment.clone(),
            detail: self.scrub(&format!("{context}{}", describe(err))),
        }
    }

    /// Removes the URL and its password from a message.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.replace(&self.url, "<target>");
        if let Some(password) = password_of(&self.url).filter(|p| !p.is_empty()) {
            text = text.replace(&password, "***");
        }
        text
    }
}

/// Whether `url` names a PostgreSQL server, the only kind Schemagate runs
/// revisions or parity checks on.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// What PostgreSQL said (with its SQLSTATE), or what the driver said.
pub(crate) fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_string(),
        },
        other => other.to_string(),
    }
}

/// The password in a URL's user info, percent-decoded.
pub(crate) fn password_of(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let userinfo = &rest[..rest.rfind('@')?];
    let (_, password) = userinfo.split_once(':')?;
    Some(percent_decode(password))
}

/// The URL without its password, for tools that take it from PGPASSWORD.
pub(crate) fn without_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    match rest.rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{}{}{}", &url[..scheme_end + 3], user, &rest[at..])
        }
        None => url.to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(&String::from_utf8_lossy(hex), 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A revision recorded in the target's version table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub id: String,
    pub checksum: String,
    pub sequence: i64,
}

/// The revision `env`'s target is at ([`current`]), read on a connection of
/// its own named `application_name`, closed afterwards.
pub async fn current_on(
    env: &Environment,
    project: &str,
    application_name: &str,
) -> Result<Option<Applied>, TargetError> {
    let target = Target::of(env)?;
    let mut conn = target.connect(application_name).await?;
    let current = current(&mut conn, project).await;
    close(conn).await;
    current.map_err(|e| target.failed(&e))
}

/// The target's current revision of `project`, read from its version table;
/// `None` when the table or any row is missing.
pub async fn current(
    conn: &mut PgConnection,
    project: &str,
) -> Result<Option<Applied>, sqlx::Error> {
    if !has_version_table(conn).await? {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT id, checksum, sequence FROM schemagate.applied_revisions \
         WHERE project = $1 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(project)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(Applied {
            id: row.try_get(0)?,
            checksum: row.try_get(1)?,
            sequence: row.try_get(2)?,
        })
    })
    .transpose()
}

/// Whether a transaction other than `$2` (a `xid8`, or NULL for none) may
/// have committed on the target since snapshot `$1` was taken: one that was
/// in progress then or started after it, has finished by now, and did not
/// abort. A transaction whose status PostgreSQL no longer keeps counts as
/// committed, and so do more than 100,000 transactions started since: the
/// answer is then "read again", never a false "nothing changed".
macro_rules! committed_since {
    () => {
        "WITH s (before, now) AS (SELECT $1::text::pg_catalog.pg_snapshot, pg_catalog.pg_current_snapshot()), \
         bounds (low, high) AS (SELECT pg_catalog.pg_snapshot_xmax(before)::text::bigint, \
                                       pg_catalog.pg_snapshot_xmax(now)::text::bigint FROM s) \
         SELECT (SELECT high - low > 100000 FROM bounds) OR EXISTS ( \
             SELECT 1 FROM s, ( \
                 SELECT pg_catalog.pg_snapshot_xip(before) AS xid FROM s \
                 UNION ALL \
                 SELECT n::text::pg_catalog.xid8 FROM bounds, generate_series(low, least(high, low + 100000) - 1) AS n \
             ) AS finished \
             WHERE pg_catalog.pg_visible_in_snapshot(finished.xid, s.now) \
               AND finished.xid IS DISTINCT FROM $2::text::pg_catalog.xid8 \
               AND pg_catalog.pg_xact_status(finished.xid) IS DISTINCT FROM 'aborted')"
    };
}

/// Whether a transaction may have committed on the target since `snapshot`
/// (as `pg_current_snapshot()` prints it) was taken, as the
/// `committed_since!` query tells.
pub async fn committed_since(conn: &mut PgConnection, snapshot: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(committed_since!())
        .bind(snapshot)
        .bind(None::<&str>)
        .fetch_one(conn)
        .await
}

/// The current revision of `project` on a target known to have the version
/// table, and whether a transaction other than `xid` (a `xid8`, when given)
/// may have committed since `snapshot`: in one round trip, what an
/// execution needs to know between two of its revisions.
pub async fn current_and_committed(
    conn: &mut PgConnection,
    project: &str,
    snapshot: &str,
    xid: Option<&str>,
) -> Result<(Option<Applied>, bool), sqlx::Error> {
    let row = sqlx::query(concat!(
        "SELECT c.committed, r.id, r.checksum, r.sequence FROM (",
        committed_since!(),
        ") AS c (committed) LEFT JOIN LATERAL (SELECT id, checksum, sequence FROM schemagate.applied_revisions \
         WHERE project = $3 ORDER BY sequence DESC LIMIT 1) AS r ON true"
    ))
    .bind(snapshot)
    .bind(xid)
    .bind(project)
    .fetch_one(conn)
    .await?;
    let current = match row.try_get::<Option<String>, _>(1)? {
        Some(id) => Some(Applied {
            id,
            checksum: row.try_get(2)?,
            sequence: row.try_get(3)?,
        }),
        None => None,
    };
    Ok((current, row.try_get::<bool, _>(0)?))
}

/// How a revision came to be on the target, for its version row.
pub struct VersionRow<'a> {
    pub executed_by: &'a str,
    pub execution_id: &'a str,
    pub transactional: bool,
    /// Recorded by a stamp after a parity check, not by running its SQL.
    pub stamped: bool,
}

/// Creates the version table if it does not exist, inside the caller's
/// transaction.
pub async fn create_version_table(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(VERSION_TABLE_DDL).execute(&mut *conn).await?;
    Ok(())
}

/// Adds `revision`'s row to the version table, inside the caller's
/// transaction.
pub async fn insert_version_row(
    conn: &mut PgConnection,
    revision: &crate::catalog::Revision,
    row: &VersionRow<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(version_row_insert(revision, row)))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The statement that adds `revision`'s version row, with its values
/// written in (so that it can travel in one message with the revision's
/// SQL).
pub fn version_row_insert(revision: &crate::catalog::Revision, row: &VersionRow<'_>) -> String {
    format!(
        "INSERT INTO schemagate.applied_revisions (project, id, checksum, sequence, executed_by, execution_id, transactional, stamped) \
         VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
        literal(&revision.project),
        literal(&revision.id),
        literal(&revision.checksum),
        revision.sequence,
        literal(row.executed_by),
        literal(row.execution_id),
        row.transactional,
        row.stamped,
    )
}

/// The statement that removes `revision`'s version row, with its values
/// written in.
pub fn version_row_delete(revision: &crate::catalog::Revision) -> String {
    format!(
        "DELETE FROM schemagate.applied_revisions WHERE project = {} AND id = {}",
        literal(&revision.project),
        literal(&revision.id)
    )
}

/// `text` as a string constant that reads the same whatever SQL ran before
/// it in the session: an escape string (`E'...'`) does not depend on
/// `standard_conforming_strings`, and a quote is doubled rather than
/// escaped, which `backslash_quote = off` would refuse.
pub fn literal(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 3);
    quoted.push_str("E'");
    for c in text.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '\'' => quoted.push_str("''"),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

/// Whether the target has the version table. A table of that name without
/// the version table's columns (left by another tool) is an error naming
/// what it lacks, rather than a query failing on a missing column later.
pub async fn has_version_table(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let (exists, missing): (bool, String) = sqlx::query_as(
        "SELECT t.oid IS NOT NULL, COALESCE((SELECT string_agg(want, ', ' ORDER BY n) \
           FROM unnest(ARRAY['project', 'id', 'checksum', 'sequence', 'executed_by', 'execution_id', 'transactional', 'stamped']) \
             WITH ORDINALITY AS w (want, n) \
           WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a \
             WHERE a.attrelid = t.oid AND a.attname = w.want AND NOT a.attisdropped)), '') \
         FROM (SELECT to_regclass('schemagate.applied_revisions')::oid AS oid) t",
    )
    .fetch_one(&mut *conn)
    .await?;
    if exists && !missing.is_empty() {
        return Err(sqlx::Error::InvalidArgument(format!(
            "schemagate.applied_revisions is not Schemagate's version table (it has no column {missing}): \
             rename or drop it; Schemagate creates its own with the first revision or stamp"
        )));
    }
    Ok(exists)
}

/// The execution that wrote the version row of revision `id`, if the row exists.
pub async fn applied_by(
    conn: &mut PgConnection,
    project: &str,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    if !has_version_table(conn).await? {
        return Ok(None);
    }
    sqlx::query_scalar(
        "SELECT execution_id FROM schemagate.applied_revisions WHERE project = $1 AND id = $2",
    )
    .bind(project)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
}

/// The key of the executor lock of `project` on a target.
fn lock_key(project: &str) -> i64 {
    let digest = Sha256::digest(format!("schemagate.executor.{project}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Takes the session-level executor lock on the target, held until the
/// connection closes. `Err(holder)` names the session holding it.
pub async fn try_lock(
    conn: &mut PgConnection,
    project: &str,
) -> Result<Result<(), String>, sqlx::Error> {
    let key = lock_key(project);
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    if taken {
        return Ok(Ok(()));
    }
    Ok(Err(holder(conn, project)
        .await?
        .unwrap_or_else(|| "another session".into())))
}

/// The application name of the session holding the executor lock, if any.
pub async fn holder(conn: &mut PgConnection, project: &str) -> Result<Option<String>, sqlx::Error> {
    let key = lock_key(project);
    // An advisory lock on a bigint key is stored as two 32-bit halves.
    let high = (key >> 32) as i32;
    let low = key as i32;
    sqlx::query_scalar(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = ($1::bigint & 4294967295) \
           AND l.objid::bigint = ($2::bigint & 4294967295) AND l.objsubid = 1 \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.pid <> pg_backend_pid() LIMIT 1",
    )
    .bind(i64::from(high))
    .bind(i64::from(low))
    .fetch_optional(&mut *conn)
    .await
}

/// Closes a target connection, waiting a bounded time for a clean goodbye.
pub async fn close(conn: PgConnection) {
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_and_removed() {
        let url = "postgres://deploy:s3cr%40t@db.internal:5432/pilot";
        assert_eq!(password_of(url).as_deref(), Some("s3cr@t"));
        assert_eq!(
            without_password(url),
            "postgres://deploy@db.internal:5432/pilot"
        );
        assert_eq!(password_of("postgres://deploy@h/db"), None);
        assert_eq!(without_password("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn messages_lose_the_url_and_password() {
        let target = Target {
            environment: "pilot".into(),
            url: "postgres://deploy:hunter2@db/pilot".into(),
            variable: "SCHEMAGATE_TARGET_PILOT_URL".into(),
        };
        let text = target.scrub("cannot reach postgres://deploy:hunter2@db/pilot (pw hunter2)");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<target>"), "{text}");
    }

    #[tokio::test]
    async fn a_url_that_does_not_parse_names_its_variable() {
        let target = Target {
            environment: "pilot".into(),
            url: "postgres://deploy:hunter2@db:99999999/pilot".into(),
            variable: "SCHEMAGATE_TARGET_PILOT_URL".into(),
        };
        let err = target.connect("test").await.expect_err("a bad port");
        let text = err.to_string();
        assert!(
            text.contains("its URL (SCHEMAGATE_TARGET_PILOT_URL on the server) does not parse"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}
