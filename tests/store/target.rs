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
