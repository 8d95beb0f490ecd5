//! Approvals a rollback uses up, on either catalog backend.

use super::by;
use schemagate_server::approvals::{self, Decision};
use schemagate_server::auth::{Caller, Role};
use schemagate_server::catalog::{self, NewRevision};
use schemagate_server::config::Policy;
use schemagate_server::db::{Db, now_ms};
use schemagate_server::release::Action;

const PROJECT: &str = "rollback-approvals";

fn caller(subject: &str) -> Caller {
    Caller {
        subject: subject.into(),
        roles: vec![Role::Approver],
        controller_id: None,
    }
}

async fn decide(db: &Db, policy: &Policy, who: &str, action: Action, approve: bool) {
    decide_on(db, policy, "0001_base", who, action, approve).await;
}

async fn decide_on(
    db: &Db,
    policy: &Policy,
    revision_id: &str,
    who: &str,
    action: Action,
    approve: bool,
) {
    approvals::decide(
        db,
        policy,
        &caller(who),
        &Decision {
            project: PROJECT,
            revision_id,
            environment: "dev",
            action,
            approve,
            reason: if approve { "" } else { "not again" },
            comment: "",
        },
    )
    .await
    .unwrap_or_else(|err| panic!("{who} decides on {}: {err}", action.as_str()));
}

/// The base's rollback, started at `started_at_ms`, was recorded.
async fn rolled_back(db: &Db, started_at_ms: i64) {
    let mut conn = db.pool.acquire().await.expect("connection");
    approvals::use_up_after_rollback(&mut conn, PROJECT, "0001_base", "dev", started_at_ms)
        .await
        .expect("use up");
}

/// A rollback that ran uses up the approvals to roll back and to apply that
/// were given before it started; a decision given after it started, and a
/// rejection, stand.
pub async fn a_rollback_uses_up_the_approvals_given_before_it_started(db: &Db) {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/schemagate.toml"
    ))
    .expect("example policy");
    let policy = Policy::parse("schemagate.toml", &source).expect("example policy parses");
    let (revision, _) = catalog::submit(
        db,
        by("alice"),
        NewRevision {
            project: PROJECT.into(),
            id: "0001_base".into(),
            parent_id: String::new(),
            up_sql: "CREATE TABLE base (id bigint PRIMARY KEY);".into(),
            down_sql: "DROP TABLE base;".into(),
            description: "a baseline".into(),
            amend: false,
        },
    )
    .await
    .expect("submit");
    let dev = policy.environment("dev").expect("dev");

    decide(db, &policy, "carol", Action::Apply, true).await;
    decide(db, &policy, "dave", Action::Rollback, true).await;
    let started = now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    decide(db, &policy, "dave", Action::Apply, true).await;

    rolled_back(db, started).await;

    let apply = approvals::evaluate(db, &policy, dev, &revision, Action::Apply)
        .await
        .expect("evaluate apply");
    assert!(apply.satisfied, "{apply:?}");
    assert!(apply.reason.contains("(dave)"), "{apply:?}");
    assert!(
        apply
            .reason
            .contains("1 earlier approval(s) used up by a rollback or restore on dev"),
        "{apply:?}"
    );
    let rollback = approvals::evaluate(db, &policy, dev, &revision, Action::Rollback)
        .await
        .expect("evaluate rollback");
    assert!(!rollback.satisfied, "{rollback:?}");
    assert!(
        rollback.reason.contains("used up by a rollback"),
        "{rollback:?}"
    );

    // A rejection is not used up: it still blocks after the next rollback.
    decide(db, &policy, "frank", Action::Apply, false).await;
    rolled_back(db, now_ms()).await;
    let apply = approvals::evaluate(db, &policy, dev, &revision, Action::Apply)
        .await
        .expect("evaluate apply");
    assert!(!apply.satisfied, "{apply:?}");
    assert!(apply.reason.contains("rejected by frank"), "{apply:?}");
    let listed = approvals::list(db, &policy, PROJECT, "0001_base", Some("dev"))
        .await
        .expect("list");
    let consumed: Vec<(&str, &str, &str)> = listed
        .iter()
        .filter(|a| a.consumed)
        .map(|a| (a.approver.as_str(), a.action.as_str(), a.kind.as_str()))
        .collect();
    assert_eq!(
        consumed,
        [
            ("carol", "apply", "approve"),
            ("dave", "rollback", "approve"),
            ("dave", "apply", "approve"),
        ],
        "{listed:#?}"
    );

    // A restore recorded at the base uses up the approvals to apply every
    // later revision on that environment, given before the stamp started,
    // and leaves the base's and other environments' alone.
    let (later, _) = catalog::submit(
        db,
        by("alice"),
        NewRevision {
            project: PROJECT.into(),
            id: "0002_more".into(),
            parent_id: "0001_base".into(),
            up_sql: "CREATE TABLE more (id bigint PRIMARY KEY);".into(),
            down_sql: "DROP TABLE more;".into(),
            description: "a second revision".into(),
            amend: false,
        },
    )
    .await
    .expect("submit");
    decide_on(db, &policy, "0002_more", "carol", Action::Apply, true).await;
    let ci = policy.environment("ci").expect("ci");
    let mut conn = db.pool.acquire().await.expect("connection");
    sqlx::query(
        "UPDATE approvals SET environment = 'ci' WHERE project = $1 AND revision_id = '0002_more'",
    )
    .bind(PROJECT)
    .execute(&mut *conn)
    .await
    .expect("move the approval to ci");
    drop(conn);
    decide_on(db, &policy, "0002_more", "carol", Action::Apply, true).await;
    decide(db, &policy, "grace", Action::Apply, true).await;
    let restored_at = now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    decide_on(db, &policy, "0002_more", "dave", Action::Apply, true).await;
    let base_before = approvals::list(db, &policy, PROJECT, "0001_base", None)
        .await
        .expect("list");
    let mut conn = db.pool.acquire().await.expect("connection");
    approvals::use_up_after_restore(&mut conn, PROJECT, "dev", revision.sequence, restored_at)
        .await
        .expect("use up");
    drop(conn);
    let on_dev = approvals::list(db, &policy, PROJECT, "0002_more", Some("dev"))
        .await
        .expect("list");
    let used: Vec<(&str, bool)> = on_dev
        .iter()
        .map(|a| (a.approver.as_str(), a.consumed))
        .collect();
    assert_eq!(used, [("carol", true), ("dave", false)], "{on_dev:#?}");
    let on_ci = approvals::evaluate(db, &policy, ci, &later, Action::Apply)
        .await
        .expect("evaluate on ci");
    assert!(on_ci.satisfied, "{on_ci:?}");
    let base = approvals::list(db, &policy, PROJECT, "0001_base", None)
        .await
        .expect("list");
    assert_eq!(
        base, base_before,
        "the restored revision's own decisions stand"
    );
}
