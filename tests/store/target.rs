//! Values the executor writes into SQL text, read back on a real target:
//! a revision sent in one message with its version row may have changed the
//! session's string settings before the row is written.

use schemagate_server::target::literal;
use sqlx::{Connection, PgConnection, Row};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_reads_back_as_it_was_whatever_the_string_settings() {
    let url = schemagate_e2e::postgres().create_database().await;
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let values = [
        "plain",
        "o'hara",
        r"back\slash",
        r"\'",
        "''",
        r"ends with \",
        "E'x'",
        "$$ dollar $$",
        "ünïcödé ✓",
        "",
    ];
    for settings in [
        "SET standard_conforming_strings TO on; SET backslash_quote TO safe_encoding",
        "SET standard_conforming_strings TO off; SET backslash_quote TO off",
        "SET standard_conforming_strings TO off; SET backslash_quote TO on",
        "SET standard_conforming_strings TO on; SET backslash_quote TO off",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(settings))
            .execute(&mut conn)
            .await
            .expect("settings");
        for value in values {
            let row = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SELECT {}", literal(value))))
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|err| panic!("{value:?} under {settings}: {err}"));
            let read: String = row.get(0);
            assert_eq!(read, value, "under {settings}");
        }
    }
}

/// Between two revisions an execution asks, in one round trip, for the
/// target's current revision unless a transaction other than its own
/// revision's committed since its last reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_revision_is_told_unless_another_transaction_committed() {
    use schemagate_server::target::{Applied, VERSION_TABLE_DDL, current_and_committed};
    // The current revision, unless something else committed (then `None`).
    async fn current_unless_committed(
        conn: &mut PgConnection,
        project: &str,
        snapshot: &str,
        xid: Option<&str>,
    ) -> Result<Option<Option<Applied>>, sqlx::Error> {
        let (current, committed) = current_and_committed(conn, project, snapshot, xid).await?;
        Ok((!committed).then_some(current))
    }
    // A cluster of its own: the question covers every database of the
    // cluster, and other tests commit in theirs.
    let cluster = tokio::task::spawn_blocking(schemagate_e2e::postgres::Cluster::start)
        .await
        .expect("start a cluster");
    let url = cluster.url("postgres");
    let mut executor = PgConnection::connect(&url).await.expect("connect");
    let mut other = PgConnection::connect(&url).await.expect("connect");
    let insert = |id: &str, sequence: i64| {
        format!(
            "INSERT INTO schemagate.applied_revisions (project, id, checksum, sequence, executed_by, execution_id, transactional) \
             VALUES ('default', '{id}', 'sum-{id}', {sequence}, 'ci', 'x', true)"
        )
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{VERSION_TABLE_DDL}; {}",
        insert("0001_a", 1)
    )))
    .execute(&mut executor)
    .await
    .expect("version table");
    // The revision runs while the reading before it is taken elsewhere (its
    // commit waits for that reading), then commits.
    sqlx::raw_sql("BEGIN")
        .execute(&mut executor)
        .await
        .expect("begin");
    let xid: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text")
        .fetch_one(&mut executor)
        .await
        .expect("xid");
    sqlx::raw_sql(sqlx::AssertSqlSafe(insert("0002_b", 2)))
        .execute(&mut executor)
        .await
        .expect("version row");
    let reading: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
        .fetch_one(&mut other)
        .await
        .expect("snapshot");
    sqlx::raw_sql("COMMIT")
        .execute(&mut executor)
        .await
        .expect("commit");
    let current = current_unless_committed(&mut executor, "default", &reading, Some(&xid))
        .await
        .expect("ask")
        .expect("only the revision committed");
    assert_eq!(
        current.map(|c| (c.id, c.checksum, c.sequence)),
        Some(("0002_b".to_string(), "sum-0002_b".to_string(), 2))
    );
    // Another project's revisions are not this one's.
    assert_eq!(
        current_unless_committed(&mut executor, "other", &reading, Some(&xid))
            .await
            .expect("ask")
            .map(|current| current.is_none()),
        Some(true)
    );
    // Named as the revision, another transaction's commit is not excused.
    assert!(
        current_unless_committed(&mut executor, "default", &reading, Some("1"))
            .await
            .expect("ask")
            .is_none()
    );
    // With no revision behind (its schema was read after its commit), the
    // revision's own commit counts against a reading taken before it...
    assert!(
        current_unless_committed(&mut executor, "default", &reading, None)
            .await
            .expect("ask")
            .is_none()
    );
    // ...and not against one taken after it.
    let reading_after: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
        .fetch_one(&mut other)
        .await
        .expect("snapshot");
    assert_eq!(
        current_unless_committed(&mut executor, "default", &reading_after, None)
            .await
            .expect("ask")
            .map(|current| current.map(|c| c.id)),
        Some(Some("0002_b".to_string()))
    );

    // A transaction that rolled back changed nothing...
    sqlx::raw_sql("BEGIN; CREATE TABLE elsewhere (id int); ROLLBACK")
        .execute(&mut other)
        .await
        .expect("rolled back");
    assert!(
        current_unless_committed(&mut executor, "default", &reading, Some(&xid))
            .await
            .expect("ask")
            .is_some()
    );
    // ...one that committed may have.
    sqlx::raw_sql("CREATE TABLE elsewhere (id int)")
        .execute(&mut other)
        .await
        .expect("committed");
    assert!(
        current_unless_committed(&mut executor, "default", &reading, Some(&xid))
            .await
            .expect("ask")
            .is_none()
    );
}
