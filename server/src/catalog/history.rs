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

/// The up SQL, after a sequence and before another, of the revisions that
/// mention a word of [`History::KEYWORDS`]: the others cannot change a
/// history, and are not read.
static MAY_CHANGE: LazyLock<String> = LazyLock::new(|| {
    let words: Vec<String> = History::KEYWORDS
        .iter()
        .map(|word| format!("lower(up_sql) LIKE '%{word}%'"))
        .collect();
    format!(
        "SELECT up_sql FROM revisions WHERE project = $1 AND sequence > $2 AND sequence < $3 \
         AND ({}) ORDER BY sequence",
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
        let keys = keys(conn, project, before).await?;
        let (history, known) = {
            let last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
            match last.get(project) {
                Some(last) if keys.starts_with(&last.keys) => {
                    (last.history.clone(), last.keys.len())
                }
                _ => (History::default(), 0),
            }
        };
        let history = if known == keys.len() {
            history
        } else {
            // After the last revision the history holds.
            let after = known.checked_sub(1).map_or(i64::MIN, |at| keys[at].0);
            let up_sql: Vec<String> = sqlx::query_scalar(AssertSqlSafe(MAY_CHANGE.as_str()))
                .bind(project)
                .bind(after)
                .bind(before.unwrap_or(i64::MAX))
                .fetch_all(&mut *conn)
                .await?;
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
        let now = keys(conn, project, before).await?;
        Ok(now == self.keys || (before.is_none() && now.starts_with(&self.keys)))
    }
}

/// The keys of the revisions of `project` before sequence `before`.
async fn keys(
    conn: &mut AnyConnection,
    project: &str,
    before: Option<i64>,
) -> Result<Vec<Key>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sequence, id, checksum FROM revisions WHERE project = $1 AND sequence < $2 ORDER BY sequence",
    )
    .bind(project)
    .bind(before.unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await
}
