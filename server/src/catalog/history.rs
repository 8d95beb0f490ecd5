//! The lint history a revision is linted after: the catalog's revisions
//! before its place in the lineage, folded into a [`History`]. Each
//! project's last history is kept in memory with the lineage it was folded
//! from, so that a directory of revisions submitted in order reads and
//! parses each earlier revision once, not once per later submit.

use super::AnyConnection;
use schemagate_policy::History;
use sqlx::AssertSqlSafe;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

/// A revision as the history knows it: sequence, id, checksum. Two
/// lineages with the same keys hold the same SQL, in whichever catalog.
pub(super) type Key = (i64, String, String);

/// The revisions of a project before a place in its lineage, and the lint
/// history after them.
pub(super) struct Earlier {
    pub(super) keys: Vec<Key>,
    pub(super) history: History,
}

/// The keys of the revisions before a sequence (`$3`), each with its up
/// SQL when it comes after another (`$2`) and mentions a word of
/// [`History::KEYWORDS`]: the others cannot change a history, or are
/// folded already. One statement, so that the keys and the SQL are of one
/// moment.
static EARLIER: LazyLock<String> = LazyLock::new(|| {
    let words: Vec<String> = History::KEYWORDS
        .iter()
        .map(|word| format!("lower(up_sql) LIKE '%{word}%'"))
        .collect();
    format!(
        "SELECT sequence, id, checksum, CASE WHEN sequence > $2 AND ({}) THEN up_sql END \
         FROM revisions WHERE project = $1 AND sequence < $3 ORDER BY sequence",
        words.join(" OR ")
    )
});

/// Each project's last history, with the keys of the lineage it follows.
static LAST: LazyLock<Mutex<HashMap<String, Earlier>>> = LazyLock::new(Default::default);

impl Earlier {
    /// The revisions of `project` before sequence `before` (every one when
    /// `None`: a new revision comes after them all). Starts from the
    /// project's last history when its lineage is a beginning of this one,
    /// reading only the revisions after it.
    pub(super) async fn read(
        conn: &mut AnyConnection,
        project: &str,
        before: Option<i64>,
    ) -> Result<Earlier, sqlx::Error> {
        let last = LAST
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(project)
            .map(|last| (last.keys.clone(), last.history.clone()));
        let folded = last
            .as_ref()
            .and_then(|(keys, _)| keys.last())
            .map(|key| key.0);
        let (keys, up_sql) = read_after(conn, project, folded, before).await?;
        let (history, keys, up_sql) = match last {
            Some((last_keys, history)) if keys.starts_with(&last_keys) => (history, keys, up_sql),
            // Another lineage than the one folded last: read in full.
            Some(_) => {
                let (keys, up_sql) = read_after(conn, project, None, before).await?;
                (History::default(), keys, up_sql)
            }
            None => (History::default(), keys, up_sql),
        };
        let history = if up_sql.is_empty() {
            history
        } else {
            tokio::task::spawn_blocking(move || {
                let mut history = history;
                history.then_all(up_sql.iter().map(String::as_str));
                history
            })
            .await
            // A panic: no history rather than part of one, which could
            // hold a check a later revision dropped.
            .unwrap_or_default()
        };
        LAST.lock().unwrap_or_else(PoisonError::into_inner).insert(
            project.to_string(),
            Earlier {
                keys: keys.clone(),
                history: history.clone(),
            },
        );
        Ok(Earlier { keys, history })
    }

    /// Whether, under the lineage lock, the revisions before `before` are
    /// still these: for a revision not in the catalog yet, revisions added
    /// after them count as unchanged, since they refuse it (it is no
    /// longer on the head).
    pub(super) async fn unchanged(
        &self,
        conn: &mut AnyConnection,
        project: &str,
        before: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        // All of them folded: their keys alone.
        let (now, _) = read_after(conn, project, Some(i64::MAX), before).await?;
        Ok(now == self.keys || (before.is_none() && now.starts_with(&self.keys)))
    }
}

/// The keys of the revisions of `project` before sequence `before`, and
/// the up SQL of those after sequence `folded` that may change a history.
async fn read_after(
    conn: &mut AnyConnection,
    project: &str,
    folded: Option<i64>,
    before: Option<i64>,
) -> Result<(Vec<Key>, Vec<String>), sqlx::Error> {
    let rows: Vec<(i64, String, String, Option<String>)> =
        sqlx::query_as(AssertSqlSafe(EARLIER.as_str()))
            .bind(project)
            .bind(folded.unwrap_or(i64::MIN))
            .bind(before.unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?;
    let mut keys = Vec::with_capacity(rows.len());
    let mut up_sql = Vec::new();
    for (sequence, id, checksum, sql) in rows {
        keys.push((sequence, id, checksum));
        up_sql.extend(sql);
    }
    Ok((keys, up_sql))
}
