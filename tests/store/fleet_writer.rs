//! The fleet report writer (group commit) on both catalogs: many reports at
//! once are committed in batches and stored exactly as one by one would
//! store them, bad input is refused before it is queued, a report the
//! catalog refuses fails alone inside its batch, and a stopped writer
//! answers UNAVAILABLE.

use crate::{journal_report, postgres, sqlite};
use schemagate_server::db::{Backend, Db};
use schemagate_server::fleet::{self, FleetError, ReportWriter};
use schemagate_server::proto::v1::JournalReport;
use sqlx::Row;
use std::time::Duration;

const CONTROLLERS: usize = 20;

fn id(i: usize) -> String {
    format!("bar{i:02}-tap1")
}

fn marked(id: &str, n: i64) -> JournalReport {
    JournalReport {
        unsynced_pours: n,
        ..journal_report(id, false)
    }
}

/// (report_count, history rows, lowest seq, highest seq) of `controller`.
async fn stored(db: &Db, controller: &str) -> (i64, i64, i64, i64) {
    let count: i64 =
        sqlx::query_scalar("SELECT report_count FROM controllers WHERE controller_id = $1")
            .bind(controller)
            .fetch_one(&db.pool)
            .await
            .expect("controller row");
    let row = sqlx::query(
        "SELECT COUNT(*), MIN(seq), MAX(seq) FROM journal_reports WHERE controller_id = $1",
    )
    .bind(controller)
    .fetch_one(&db.pool)
    .await
    .expect("history");
    (count, row.get(0), row.get(1), row.get(2))
}

/// The `unsynced_pours` of each history report of `controller`, by seq.
async fn history_marks(db: &Db, controller: &str) -> Vec<(i64, i64)> {
    use prost::Message;
    let rows = sqlx::query(
        "SELECT seq, report_hex FROM journal_reports WHERE controller_id = $1 ORDER BY seq",
    )
    .bind(controller)
    .fetch_all(&db.pool)
    .await
    .expect("history");
    rows.iter()
        .map(|row| {
            let hex: String = row.get(1);
            let bytes = hex::decode(hex).expect("hex");
            let report = JournalReport::decode(bytes.as_slice()).expect("report");
            (row.get(0), report.unsynced_pours)
        })
        .collect()
}

async fn concurrent_reports_are_batched_and_stored_in_order(db: &Db) {
    let writer = ReportWriter::start(db.clone());

    // 200 at once, 10 per controller, with bad ones among them.
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..10 {
        for i in 0..CONTROLLERS {
            let queue = writer.queue();
            calls.spawn(async move {
                let mut report = marked(&id(i), n);
                let token = id(i);
                let outcome = match (n, i) {
                    (5, 7) => {
                        report.journal_mode = "banana".into();
                        "invalid"
                    }
                    (5, 8) => {
                        report.controller_id = "bar99-tap1".into();
                        "wrong controller"
                    }
                    _ => "ok",
                };
                (outcome, queue.record(Some(&token), &report).await)
            });
        }
    }
    while let Some(done) = calls.join_next().await {
        match done.expect("task") {
            ("ok", Ok(_)) => {}
            ("invalid", Err(FleetError::Invalid(_))) => {}
            ("wrong controller", Err(FleetError::WrongController { .. })) => {}
            (expected, answer) => panic!("expected {expected}, got {answer:?}"),
        }
    }
    for i in 0..CONTROLLERS {
        let sent = if i == 7 || i == 8 { 9 } else { 10 };
        assert_eq!(stored(db, &id(i)).await, (sent, sent, 1, sent), "{}", id(i));
    }

    // Then 100 more per controller, each controller's in order, all 20
    // controllers at once: the history keeps the last 100, in order.
    let mut chains = tokio::task::JoinSet::new();
    for i in 0..CONTROLLERS {
        let queue = writer.queue();
        chains.spawn(async move {
            for n in 1..=fleet::HISTORY_PER_CONTROLLER {
                queue
                    .record(Some(&id(i)), &marked(&id(i), 1000 + n))
                    .await
                    .expect("report");
            }
        });
    }
    while let Some(done) = chains.join_next().await {
        done.expect("chain");
    }
    let stats = writer.stop().await.expect("the writer stops");
    assert_eq!(
        stats.reports,
        200 - 2 + 100 * CONTROLLERS as u64,
        "{stats:?}"
    );
    assert!(
        stats.batches < stats.reports && stats.largest_batch > 1,
        "no batching: {stats:?}"
    );
    assert_eq!(stats.split_batches, 0, "{stats:?}");

    let latest = fleet::list(db, None, &Default::default())
        .await
        .expect("list");
    assert_eq!(latest.len(), CONTROLLERS);
    for (i, state) in latest.iter().enumerate() {
        assert_eq!(state.controller_id, id(i));
        let report = state.report.as_ref().expect("latest report");
        assert_eq!(report.unsynced_pours, 1000 + fleet::HISTORY_PER_CONTROLLER);
        let sent = if i == 7 || i == 8 { 109 } else { 110 };
        assert_eq!(
            stored(db, &id(i)).await,
            (sent, fleet::HISTORY_PER_CONTROLLER, sent - 99, sent),
            "{}",
            id(i)
        );
        let marks = history_marks(db, &id(i)).await;
        let expected: Vec<(i64, i64)> = (0..fleet::HISTORY_PER_CONTROLLER)
            .map(|k| (sent - 99 + k, 1001 + k))
            .collect();
        assert_eq!(marks, expected, "{}: history out of order", id(i));
    }
}

/// Makes the catalog refuse every history row of `controller`, as a
/// failure of that one report inside the database.
async fn poison(db: &Db, controller: &str) {
    let statements = match db.backend {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON journal_reports WHEN NEW.controller_id = '{controller}' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        )],
        Backend::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.controller_id = '{controller}' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$"
            ),
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON journal_reports FOR EACH ROW EXECUTE FUNCTION refuse_poison()".to_string(),
        ],
    };
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&db.pool)
            .await
            .expect("install the poison trigger");
    }
}

async fn a_report_refused_by_the_catalog_fails_alone(db: &Db) {
    const POISONED: &str = "bar10-poisoned";
    poison(db, POISONED).await;
    let writer = ReportWriter::start(db.clone());

    // Hold the writer on its first report so the next ones queue and are
    // taken as one batch: on SQLite by holding its only connection, on
    // PostgreSQL by holding the first controller's report lock.
    let blocker = "bar00-first";
    let mut held_connection = None;
    let mut held_lock = None;
    match db.backend {
        Backend::Sqlite => {
            held_connection = Some(db.pool.acquire().await.expect("the connection"));
        }
        Backend::Postgres => {
            let mut tx = db.pool.begin().await.expect("begin");
            db.lock(&mut tx, &format!("schemagate.controller.{blocker}"))
                .await
                .expect("lock");
            held_lock = Some(tx);
        }
    }
    let first = {
        let queue = writer.queue();
        tokio::spawn(async move { queue.record(Some(blocker), &marked(blocker, 0)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..CONTROLLERS {
        let controller = if i == 10 { POISONED.to_string() } else { id(i) };
        let queue = writer.queue();
        calls.spawn(async move {
            let answer = queue
                .record(Some(&controller), &marked(&controller, 1))
                .await;
            (controller, answer)
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(held_connection);
    if let Some(tx) = held_lock {
        tx.rollback().await.expect("release the lock");
    }
    first.await.expect("task").expect("the first report");
    while let Some(done) = calls.join_next().await {
        let (controller, answer) = done.expect("task");
        if controller == POISONED {
            assert!(matches!(answer, Err(FleetError::Db(_))), "{answer:?}");
        } else {
            answer.unwrap_or_else(|err| panic!("{controller}: {err}"));
        }
    }
    let stats = writer.stop().await.expect("the writer stops");
    assert_eq!(stats.reports, 1 + CONTROLLERS as u64, "{stats:?}");
    assert_eq!(stats.split_batches, 1, "{stats:?}");
    assert!(stats.largest_batch > 1, "{stats:?}");

    let ids: Vec<String> = fleet::list(db, None, &Default::default())
        .await
        .expect("list")
        .into_iter()
        .map(|state| state.controller_id)
        .collect();
    assert_eq!(ids.len(), CONTROLLERS, "{ids:?}");
    assert!(!ids.iter().any(|c| c == POISONED), "{ids:?}");
    let history: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM journal_reports WHERE controller_id = $1")
            .bind(POISONED)
            .fetch_one(&db.pool)
            .await
            .expect("count");
    assert_eq!(history, 0);
}

async fn a_stopped_writer_refuses_reports(db: &Db) {
    let writer = ReportWriter::start(db.clone());
    let queue = writer.queue();
    writer.stop().await.expect("the writer stops");
    let answer = queue
        .record(Some("bar01-tap1"), &marked("bar01-tap1", 1))
        .await;
    assert!(matches!(answer, Err(FleetError::Stopped)), "{answer:?}");
    // Bad input is still refused as bad input, not as unavailable.
    let answer = queue
        .record(Some("bar01-tap1"), &marked("bar02-tap1", 1))
        .await;
    assert!(
        matches!(answer, Err(FleetError::WrongController { .. })),
        "{answer:?}"
    );
}

async fn writer_suite(db: &Db) {
    concurrent_reports_are_batched_and_stored_in_order(db).await;
    sqlx::query("DELETE FROM journal_reports")
        .execute(&db.pool)
        .await
        .expect("clear");
    sqlx::query("DELETE FROM controllers")
        .execute(&db.pool)
        .await
        .expect("clear");
    a_report_refused_by_the_catalog_fails_alone(db).await;
    a_stopped_writer_refuses_reports(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_catalog_batches_fleet_reports() {
    let (db, _dir) = sqlite().await;
    writer_suite(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_catalog_batches_fleet_reports() {
    let db = postgres().await;
    writer_suite(&db).await;
}
