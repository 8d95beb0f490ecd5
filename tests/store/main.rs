//! The catalog store suite, run unchanged against the embedded SQLite file and
//! a real PostgreSQL database: both backends must behave identically.

mod approvals;
mod drift;
mod fleet_writer;
mod schema;
mod target;

use schemagate_policy::RiskClass;
use schemagate_server::audit;
use schemagate_server::catalog::{self, CatalogError, NewRevision, Submitted};
use schemagate_server::config::Fleet;
use schemagate_server::db::{Backend, Db};
use schemagate_server::fleet::{self, FleetError, ReportWriter};
use schemagate_server::proto::v1::{JournalReport, JournalTable};

async fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
    let db = Db::connect(&url).await.expect("open sqlite catalog");
    assert_eq!(db.backend, Backend::Sqlite);
    (db, dir)
}

async fn postgres() -> Db {
    let url = schemagate_e2e::postgres().create_database().await;
    let db = Db::connect(&url).await.expect("open postgres catalog");
    assert_eq!(db.backend, Backend::Postgres);
    db
}

fn revision(id: &str, parent: &str, up: &str) -> NewRevision {
    NewRevision {
        project: "default".into(),
        id: id.into(),
        parent_id: parent.into(),
        up_sql: up.into(),
        down_sql: "SELECT 1;".into(),
        description: format!("revision {id}"),
        amend: false,
    }
}

/// Whether the audit log holds an amend of `subject` whose detail holds
/// `needle`.
async fn amend_audited(db: &Db, subject: &str, needle: &str) -> bool {
    let filter = audit::Filter {
        limit: 50,
        ..audit::Filter::default()
    };
    audit::list(db, filter)
        .await
        .expect("audit")
        .iter()
        .any(|row| {
            row.action == "revision.amend" && row.subject == subject && row.detail.contains(needle)
        })
}

/// A submitter without the admin role.
fn by(name: &str) -> catalog::Submitter<'_> {
    catalog::Submitter { name, admin: false }
}

/// Runs every check of the suite against `db`.
async fn suite(db: &Db) {
    lineage_grows_only_on_the_head(db).await;
    identical_resubmission_is_idempotent_and_clashes_are_refused(db).await;
    bad_input_leaves_nothing_behind(db).await;
    audit_chain_records_every_change_and_detects_tampering(db).await;
    concurrent_submits_on_one_parent_yield_one_child(db).await;
    fleet_reports_are_checked_stored_and_bounded(db).await;
    two_agents_on_one_controller_id_are_flagged(db).await;
    reads_beside_a_write_see_the_last_commit(db).await;
    approvals::a_rollback_uses_up_the_approvals_given_before_it_started(db).await;
    amending_replaces_the_head_until_it_lands(db).await;
    a_revision_is_linted_after_the_lineage_before_it(db).await;
    stored_lint_follows_the_servers_rules(db).await;
}

/// Linting the catalog again with the same rules changes nothing: what
/// every submit and amend of this suite stored is what the rules give
/// each revision after its lineage. A revision stored with another lint
/// (an older server's rules, which missed its DROP) gets today's, with its
/// risk class and an audit row; linting again then changes nothing.
async fn stored_lint_follows_the_servers_rules(db: &Db) {
    let unchanged = catalog::relint_stored(db).await.expect("relint");
    assert!(unchanged.revisions > 10, "{unchanged:?}");
    assert!(unchanged.changed.is_empty(), "{:?}", unchanged.changed);

    let in_project = |id: &str, parent: &str, up: &str| NewRevision {
        project: "relint".into(),
        ..revision(id, parent, up)
    };
    for (id, parent, up) in [
        ("0001_base", "", "CREATE TABLE kegs (tap_id int);"),
        ("0002_drop", "0001_base", "DROP TABLE kegs;"),
    ] {
        catalog::submit(db, by("alice"), in_project(id, parent, up))
            .await
            .expect("submit");
    }
    let stored = catalog::get(db, "relint", "0002_drop").await.expect("get");
    assert_eq!(stored.risk, RiskClass::Destructive);
    let tampered = sqlx::query(
        "UPDATE revisions SET risk = 'additive', lint_json = $1 WHERE project = 'relint' AND id = '0002_drop'",
    )
    .bind(r#"{"statements":1,"transactional":true,"findings":[]}"#)
    .execute(&db.pool)
    .await
    .expect("tamper");
    assert_eq!(tampered.rows_affected(), 1);

    let relinted = catalog::relint_stored(db).await.expect("relint");
    let changed: Vec<(&str, RiskClass, RiskClass)> = relinted
        .changed
        .iter()
        .map(|(r, was)| (r.id.as_str(), r.risk, *was))
        .collect();
    assert_eq!(
        changed,
        [("0002_drop", RiskClass::Destructive, RiskClass::Additive)]
    );
    let now = catalog::get(db, "relint", "0002_drop").await.expect("get");
    assert_eq!(now.risk, RiskClass::Destructive);
    assert_eq!(now.lint, stored.lint);
    let filter = audit::Filter {
        limit: 5,
        ..audit::Filter::default()
    };
    let audited = audit::list(db, filter).await.expect("audit");
    assert!(
        audited.iter().any(|row| row.action == "revision.relint"
            && row.subject == "0002_drop"
            && row
                .detail
                .starts_with("risk=destructive previous_risk=additive findings=drop-table@1")),
        "{audited:?}"
    );
    let again = catalog::relint_stored(db).await.expect("relint");
    assert!(again.changed.is_empty(), "{:?}", again.changed);
}

/// A revision is linted after the revisions before it: a SET NOT NULL that
/// a check validated by an earlier revision proves is additive, not risky.
/// Amending that earlier revision so that it no longer validates the check
/// makes the later one risky (and the audit row of the amend says so);
/// amending it back makes it additive again.
async fn a_revision_is_linted_after_the_lineage_before_it(db: &Db) {
    let in_project = |id: &str, parent: &str, up: &str, amend: bool| NewRevision {
        project: "lineage-lint".into(),
        amend,
        ..revision(id, parent, up)
    };
    let validate = "ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;";
    for (id, parent, up) in [
        ("0001_base", "", "CREATE TABLE kegs (tap_id int);"),
        (
            "0002_tap_check",
            "0001_base",
            "SET lock_timeout = '2s';\nALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;",
        ),
        ("0003_validate", "0002_tap_check", validate),
    ] {
        catalog::submit(db, by("alice"), in_project(id, parent, up, false))
            .await
            .expect("submit");
    }
    let set_not_null = "SET lock_timeout = '2s';\nALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;\nALTER TABLE kegs DROP CONSTRAINT tap_nn;";
    let (proven, _) = catalog::submit(
        db,
        by("alice"),
        in_project("0004_not_null", "0003_validate", set_not_null, false),
    )
    .await
    .expect("submit");
    assert_eq!(proven.risk, RiskClass::Additive, "{:?}", proven.lint);
    let finding = |revision: &catalog::Revision| {
        revision
            .lint
            .findings
            .iter()
            .find(|f| f.rule == "set-not-null")
            .map(|f| (f.severity.clone(), f.message.clone()))
    };
    assert!(
        finding(&proven).is_some_and(|(severity, message)| severity == "info"
            && message.contains("since an earlier revision")),
        "{:?}",
        proven.lint
    );

    // 0003 no longer validates the check: 0004 scans, and is risky.
    catalog::submit(
        db,
        by("alice"),
        in_project("0003_validate", "0002_tap_check", "SELECT 1;", true),
    )
    .await
    .expect("amend");
    let scanned = catalog::get(db, "lineage-lint", "0004_not_null")
        .await
        .expect("get");
    assert_eq!(scanned.risk, RiskClass::Risky, "{:?}", scanned.lint);
    assert_eq!(
        scanned.checksum, proven.checksum,
        "its own SQL is unchanged"
    );
    assert!(finding(&scanned).is_some_and(|(severity, _)| severity == "warning"));
    assert!(
        amend_audited(
            db,
            "0003_validate",
            "relinted: 0004_not_null=risky(was additive)"
        )
        .await
    );
    catalog::submit(
        db,
        by("alice"),
        in_project("0003_validate", "0002_tap_check", validate, true),
    )
    .await
    .expect("amend back");
    let again = catalog::get(db, "lineage-lint", "0004_not_null")
        .await
        .expect("get");
    assert_eq!(again.risk, RiskClass::Additive);
    assert_eq!(again.lint, proven.lint);

    // 0004 dropped the check: a later SET NOT NULL is not proven by it.
    let (later, _) = catalog::submit(
        db,
        by("alice"),
        in_project("0005_not_null_again", "0004_not_null", set_not_null, false),
    )
    .await
    .expect("submit");
    assert_eq!(later.risk, RiskClass::Destructive, "{:?}", later.lint);
    assert!(finding(&later).is_some_and(|(severity, _)| severity == "warning"));
}

/// `submit --amend` replaces a revision's content while neither it nor any
/// revision after it has landed anywhere, and only then; a lower number
/// than the parent's, or a known id under another parent, is refused with
/// what to do instead.
async fn amending_replaces_the_head_until_it_lands(db: &Db) {
    let in_project = |new: NewRevision| NewRevision {
        project: "amend".into(),
        ..new
    };
    let amended = |id: &str, parent: &str, up: &str| NewRevision {
        amend: true,
        ..in_project(revision(id, parent, up))
    };
    for (id, parent, up) in [
        ("0001_base", "", "CREATE TABLE a (id int);"),
        (
            "0002_broken",
            "0001_base",
            "ALTER TABLE nope ADD COLUMN b int;",
        ),
    ] {
        catalog::submit(db, by("alice"), in_project(revision(id, parent, up)))
            .await
            .expect("submit");
    }
    let fixed = "ALTER TABLE a ADD COLUMN b int;";

    let lower = catalog::submit(
        db,
        by("alice"),
        in_project(revision("0001_lower", "0002_broken", fixed)),
    )
    .await;
    assert!(
        matches!(&lower, Err(CatalogError::NotOnHead(m)) if m.contains("0001_lower must be numbered after 0002_broken, the head")),
        "{lower:?}"
    );
    let moved = catalog::submit(db, by("alice"), amended("0002_broken", "", fixed)).await;
    assert!(
        matches!(&moved, Err(CatalogError::ParentClash { existing, .. }) if existing == "0001_base"),
        "{moved:?}"
    );
    let unasked = catalog::submit(
        db,
        by("alice"),
        in_project(revision("0002_broken", "0001_base", fixed)),
    )
    .await;
    assert!(
        matches!(&unasked, Err(e @ CatalogError::IdClash { .. }) if e.to_string().contains("--amend")),
        "{unasked:?}"
    );
    // Not the head, but nothing after it landed either: amended in place.
    let not_head = catalog::submit(
        db,
        by("alice"),
        amended("0001_base", "", "CREATE TABLE a (id bigint);"),
    )
    .await;
    assert!(
        matches!(&not_head, Ok((_, Submitted::Amended { .. }))),
        "{not_head:?}"
    );
    let other = catalog::submit(db, by("bob"), amended("0002_broken", "0001_base", fixed)).await;
    assert!(
        matches!(&other, Err(CatalogError::NotTheAuthor { author, .. }) if author == "alice"),
        "{other:?}"
    );

    // A failed transactional run changed nothing: the revision can still be amended.
    let record = async |id: &str, action: &str, state: &str, at: i64| {
        let insert = format!(
            "INSERT INTO executions (id, project, environment, revision_id, action, state, started_at_ms, statements_run, error, executed_by, policy_sha256, backup_path, backup_sha256, backup_bytes, transactional, fingerprint) \
             VALUES ('{id}', 'amend', 'dev', '0002_broken', '{action}', '{state}', {at}, 0, '', 'erin', '', '', '', 0, 1, '')"
        );
        sqlx::query(sqlx::AssertSqlSafe(insert))
            .execute(&db.pool)
            .await
            .expect("an execution record");
    };
    record("e1", "apply", "failed", 1).await;
    let before = catalog::get(db, "amend", "0002_broken").await.expect("get");
    let admin = catalog::Submitter {
        name: "root",
        admin: true,
    };
    let (stored, submitted) =
        catalog::submit(db, admin, amended("0002_broken", "0001_base", fixed))
            .await
            .expect("amend");
    assert_eq!(
        submitted,
        Submitted::Amended {
            previous_checksum: before.checksum.clone()
        }
    );
    assert_eq!(
        stored.author, "root",
        "the amender answers for the new content"
    );
    let now = catalog::get(db, "amend", "0002_broken").await.expect("get");
    assert_eq!(now.up_sql, fixed);
    assert_ne!(now.checksum, before.checksum);
    assert_eq!(now.sequence, before.sequence);
    let history = catalog::history(db, "amend").await.expect("history");
    assert_eq!(history.len(), 2);
    assert!(
        amend_audited(
            db,
            "0002_broken",
            &format!("previous_checksum={}", before.checksum)
        )
        .await,
        "no amend row in the audit log"
    );

    // Once it succeeded on dev it has landed; a rollback there takes it off.
    record("e2", "apply", "succeeded", 2).await;
    let again = "ALTER TABLE a ADD COLUMN b bigint;";
    let landed = catalog::submit(db, admin, amended("0002_broken", "0001_base", again)).await;
    assert!(
        matches!(&landed, Err(CatalogError::CannotAmend(m)) if m.contains("has landed on dev")),
        "{landed:?}"
    );
    // Nor the revision before it, which it was built on.
    let under = catalog::submit(
        db,
        by("alice"),
        amended("0001_base", "", "CREATE TABLE a (id int);"),
    )
    .await;
    assert!(
        matches!(&under, Err(CatalogError::CannotAmend(m)) if m.contains("0001_base cannot be amended: 0002_broken, which comes after it, has landed on dev")),
        "{under:?}"
    );
    record("e3", "rollback", "succeeded", 3).await;
    catalog::submit(db, admin, amended("0002_broken", "0001_base", again))
        .await
        .expect("amend after the rollback");
}

/// The executor reads the next gate's catalog conditions while it writes
/// records: such reads must not queue behind a write in progress (on
/// SQLite, the one writing connection), and see the last commit.
async fn reads_beside_a_write_see_the_last_commit(db: &Db) {
    let reads = db.for_reads();
    let count = "SELECT count(*) FROM environment_controls WHERE environment = 'beside'";
    let mut write = db.pool.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO environment_controls (environment, frozen, freeze_reason, changed_by, changed_at_ms, window_reason, window_opened_by) \
         VALUES ('beside', 1, 'a reason', 'alice', 0, '', '')",
    )
    .execute(&mut *write)
    .await
    .expect("insert");
    let beside = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        sqlx::query_scalar::<_, i64>(count).fetch_one(&reads.pool),
    )
    .await
    .expect("a read beside a write in progress does not wait for it")
    .expect("read");
    assert_eq!(beside, 0, "the write has not committed");
    assert!(
        !catalog::history(&reads, "default")
            .await
            .expect("history")
            .is_empty()
    );
    write.commit().await.expect("commit");
    let after: i64 = sqlx::query_scalar(count)
        .fetch_one(&reads.pool)
        .await
        .expect("read");
    assert_eq!(after, 1, "the commit is seen");
    if db.backend == Backend::Sqlite {
        let refused = sqlx::query("DELETE FROM environment_controls")
            .execute(&reads.pool)
            .await
            .expect_err("the reading connection refuses writes");
        assert!(refused.to_string().contains("readonly"), "{refused}");
    }
}

fn journal_report(id: &str, extra_column: bool) -> JournalReport {
    let ddl = if extra_column { "b" } else { "a" };
    JournalReport {
        controller_id: id.into(),
        interval_seconds: 30,
        status: "ok".into(),
        journal_mode: "wal".into(),
        quick_check: "ok".into(),
        unsynced_pours: 0,
        tables: vec![JournalTable {
            name: "pours".into(),
            ddl_sha256: ddl.repeat(64),
            row_count: 5,
        }],
        ..JournalReport::default()
    }
}

async fn fleet_reports_are_checked_stored_and_bounded(db: &Db) {
    // A token for one controller cannot speak for another; garbage is refused.
    let spoofed = fleet::record(db, Some("bar1-tap1"), &journal_report("bar2-tap1", false)).await;
    assert!(
        matches!(spoofed, Err(FleetError::WrongController { .. })),
        "{spoofed:?}"
    );
    let mut garbage = journal_report("bar1-tap1", false);
    garbage.journal_mode = "\u{0}wal".into();
    assert!(matches!(
        fleet::record(db, Some("bar1-tap1"), &garbage).await,
        Err(FleetError::Invalid(_))
    ));
    assert!(
        fleet::list(db, None, &Fleet::default())
            .await
            .expect("list")
            .is_empty(),
        "nothing stored"
    );

    for _ in 0..(fleet::HISTORY_PER_CONTROLLER + 5) {
        fleet::record(db, Some("bar1-tap1"), &journal_report("bar1-tap1", false))
            .await
            .expect("report");
    }
    fleet::record(db, Some("bar1-tap2"), &journal_report("bar1-tap2", false))
        .await
        .expect("report");
    fleet::record(db, Some("bar2-tap1"), &journal_report("bar2-tap1", true))
        .await
        .expect("report");
    let history: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM journal_reports WHERE controller_id = 'bar1-tap1'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(history, fleet::HISTORY_PER_CONTROLLER);

    let fleet_view = fleet::list(db, None, &Fleet::default())
        .await
        .expect("list");
    let flags: Vec<(&str, Vec<&str>)> = fleet_view
        .iter()
        .map(|c| (c.controller_id.as_str(), c.flags.clone()))
        .collect();
    assert_eq!(
        flags,
        [
            ("bar1-tap1", vec![]),
            ("bar1-tap2", vec![]),
            ("bar2-tap1", vec!["schema_drift"]),
        ]
    );
    let drifted = fleet::list(db, Some("schema_drift"), &Fleet::default())
        .await
        .expect("list");
    assert_eq!(drifted.len(), 1);
    assert!(matches!(
        fleet::list(db, Some("banana"), &Fleet::default()).await,
        Err(FleetError::UnknownFlag(_))
    ));

    // The policy file's expected schema replaces the majority: here the
    // minority's schema ("b") is the expected one, and an expected
    // controller that never reported is listed.
    let configured = Fleet {
        expected_tables: Some([("pours".to_string(), "b".repeat(64))].into()),
        expected_controllers: vec!["bar0-tap9".into(), "bar1-tap1".into()],
        ..Fleet::default()
    };
    let fleet_view = fleet::list(db, None, &configured).await.expect("list");
    let flags: Vec<(&str, Vec<&str>)> = fleet_view
        .iter()
        .map(|c| (c.controller_id.as_str(), c.flags.clone()))
        .collect();
    assert_eq!(
        flags,
        [
            ("bar0-tap9", vec!["never_reported"]),
            ("bar1-tap1", vec!["schema_drift"]),
            ("bar1-tap2", vec!["schema_drift"]),
            ("bar2-tap1", vec![]),
        ]
    );
    assert!(fleet_view[0].report.is_none() && fleet_view[0].last_report_at_ms.is_none());
    let silent = fleet::list(db, Some("never_reported"), &configured)
        .await
        .expect("list");
    assert_eq!(silent.len(), 1);
    assert_eq!(silent[0].controller_id, "bar0-tap9");

    // A controller whose clock runs ten minutes ahead is stored and
    // flagged, not refused.
    let mut ahead = journal_report("bar3-tap1", false);
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    ahead.observed_at = Some(prost_types::Timestamp {
        seconds: now_s + 600,
        nanos: 0,
    });
    fleet::record(db, Some("bar3-tap1"), &ahead)
        .await
        .expect("a report from a clock ahead is stored");
    let skewed = fleet::list(db, Some("clock_skew"), &Fleet::default())
        .await
        .expect("list");
    assert_eq!(skewed.len(), 1, "{skewed:?}");
    assert_eq!(skewed[0].controller_id, "bar3-tap1");
}

/// The ids of the controllers flagged `duplicate_agent`.
async fn duplicates(db: &Db) -> Vec<String> {
    fleet::list(db, Some("duplicate_agent"), &Fleet::default())
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.controller_id)
        .collect()
}

/// Reports for one controller id alternating between two agent instances
/// raise `duplicate_agent` for a stale window; a restart (a new instance
/// once) and agents too old to send an instance do not.
async fn two_agents_on_one_controller_id_are_flagged(db: &Db) {
    let from = |id: &str, instance: &str| JournalReport {
        agent_instance: instance.into(),
        ..journal_report(id, false)
    };
    let refused = fleet::record(db, Some("dup-tap1"), &from("dup-tap1", "NOT HEX")).await;
    assert!(
        matches!(&refused, Err(FleetError::Invalid(m)) if m.contains("agent_instance")),
        "{refused:?}"
    );
    for (id, instance) in [
        ("dup-tap1", "a1"),
        ("dup-tap1", "a1"),
        ("dup-tap1", "b2"), // a restart
        ("dup-old1", ""),
        ("dup-old1", ""),
        ("dup-old1", ""),
    ] {
        fleet::record(db, Some(id), &from(id, instance))
            .await
            .expect("report");
    }
    assert!(duplicates(db).await.is_empty());
    fleet::record(db, Some("dup-tap1"), &from("dup-tap1", "a1"))
        .await
        .expect("report");
    assert_eq!(duplicates(db).await, ["dup-tap1"]);

    // Once the last interleaving is more than a stale window (3 x 30 s)
    // old, the flag clears.
    sqlx::query("UPDATE controllers SET duplicate_agent_at_ms = duplicate_agent_at_ms - 91000 WHERE controller_id = 'dup-tap1'")
        .execute(&db.pool)
        .await
        .expect("age the interleaving");
    assert!(duplicates(db).await.is_empty());

    // Several reports of one controller in one batch of the writer are
    // followed one by one. A first report waits (on SQLite for the one
    // connection held here, on PostgreSQL for its controller's lock) while
    // the three others queue behind it and then share the next batch.
    let writer = ReportWriter::start(db.clone());
    let mut hold = db.pool.begin().await.expect("begin");
    db.lock(&mut hold, "schemagate.controller.dup-tap0")
        .await
        .expect("lock");
    let mut calls = Vec::new();
    for (id, instance) in [
        ("dup-tap0", "c3"),
        ("dup-tap2", "c3"),
        ("dup-tap2", "d4"),
        ("dup-tap2", "c3"),
    ] {
        let queue = writer.queue();
        calls.push(tokio::spawn(async move {
            queue.record(Some(id), &from(id, instance)).await
        }));
        // Queued in this order.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    hold.rollback().await.expect("release");
    for call in calls {
        call.await.expect("task").expect("report");
    }
    let stats = writer.stop().await.expect("the writer stops");
    assert_eq!(stats.largest_batch, 3, "{stats:?}");
    assert_eq!(duplicates(db).await, ["dup-tap2"]);
}

async fn lineage_grows_only_on_the_head(db: &Db) {
    let (base, created) = catalog::submit(
        db,
        by("alice"),
        revision(
            "0001_baseline",
            "",
            "CREATE TABLE venues (id bigint PRIMARY KEY);",
        ),
    )
    .await
    .expect("baseline");
    assert_eq!(created, Submitted::Created);
    assert_eq!(base.sequence, 1);
    assert_eq!(base.checksum.len(), 64);
    catalog::submit(
        db,
        by("alice"),
        revision(
            "0002_taps",
            "0001_baseline",
            "CREATE TABLE taps (id bigint PRIMARY KEY);",
        ),
    )
    .await
    .expect("child");

    // A second child of the baseline is a fork.
    let fork = catalog::submit(
        db,
        by("bob"),
        revision(
            "0003_fork",
            "0001_baseline",
            "CREATE TABLE kegs (id bigint);",
        ),
    )
    .await;
    match fork {
        Err(CatalogError::NotOnHead(message)) => {
            assert!(message.contains("rebase onto 0002_taps"), "{message}")
        }
        other => panic!("fork accepted: {other:?}"),
    }
    // A second baseline is a fork too.
    let second_baseline = catalog::submit(
        db,
        by("bob"),
        revision("0009_other_base", "", "CREATE TABLE x (id int);"),
    )
    .await;
    assert!(matches!(second_baseline, Err(CatalogError::NotOnHead(_))));

    let history = catalog::history(db, "default").await.expect("history");
    let ids: Vec<&str> = history.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["0001_baseline", "0002_taps"]);
    assert_eq!(history[1].parent_id, "0001_baseline");
    assert_eq!(history[1].author, "alice");
}

async fn identical_resubmission_is_idempotent_and_clashes_are_refused(db: &Db) {
    let again = revision(
        "0002_taps",
        "0001_baseline",
        "CREATE TABLE taps (id bigint PRIMARY KEY);",
    );
    let (stored, submitted) = catalog::submit(db, by("carol"), again)
        .await
        .expect("resubmit");
    assert_eq!(submitted, Submitted::Unchanged);
    assert_eq!(stored.author, "alice", "the original stays untouched");

    let changed = revision(
        "0002_taps",
        "0001_baseline",
        "CREATE TABLE taps (id int PRIMARY KEY);",
    );
    let clash = catalog::submit(db, by("carol"), changed).await;
    assert!(
        matches!(clash, Err(CatalogError::IdClash { .. })),
        "{clash:?}"
    );
    let stored = catalog::get(db, "default", "0002_taps").await.expect("get");
    assert!(stored.up_sql.contains("bigint"));
}

async fn bad_input_leaves_nothing_behind(db: &Db) {
    let before = catalog::history(db, "default")
        .await
        .expect("history")
        .len();
    let cases = [
        revision("2_bad", "0002_taps", "CREATE TABLE a (id int);"),
        revision("0003_empty", "0002_taps", "   \n"),
        revision(
            "0003_comments",
            "0002_taps",
            "-- nothing here\n/* at all */",
        ),
        revision("0003_broken", "0002_taps", "CREATE TABLE (;"),
        revision("0003_huge", "0002_taps", &"SELECT 1;\n".repeat(1_000_000)),
        NewRevision {
            down_sql: "DROP TABEL a;".into(),
            ..revision("0003_bad_down", "0002_taps", "CREATE TABLE a (id int);")
        },
    ];
    for case in cases {
        let id = case.id.clone();
        let result = catalog::submit(db, by("alice"), case).await;
        assert!(
            matches!(
                result,
                Err(CatalogError::InvalidId(_)
                    | CatalogError::InvalidInput(_)
                    | CatalogError::Unparsable { .. }
                    | CatalogError::TooLarge { .. })
            ),
            "{id}: {result:?}"
        );
    }
    let after = catalog::history(db, "default")
        .await
        .expect("history")
        .len();
    assert_eq!(before, after);
    let missing = catalog::get(db, "default", "0003_empty").await;
    assert!(matches!(missing, Err(CatalogError::NotFound { .. })));
}

async fn audit_chain_records_every_change_and_detects_tampering(db: &Db) {
    let entries = audit::list(
        db,
        audit::Filter {
            limit: 1000,
            ..audit::Filter::default()
        },
    )
    .await
    .expect("audit");
    let submits: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "revision.submit")
        .collect();
    assert!(
        submits
            .iter()
            .any(|e| e.subject == "0001_baseline" && e.outcome == "ok")
    );
    assert!(
        submits
            .iter()
            .any(|e| e.subject == "0003_fork" && e.outcome == "refused")
    );
    assert!(
        submits
            .iter()
            .any(|e| e.subject == "0002_taps" && e.actor == "carol" && e.outcome == "refused")
    );

    let verification = audit::verify(db, None).await.expect("verify");
    assert_eq!(verification.first_broken, None);
    assert_eq!(verification.rows_checked as usize, entries.len());

    sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
        .execute(&db.pool)
        .await
        .expect("tamper");
    let verification = audit::verify(db, None).await.expect("verify");
    assert_eq!(
        verification.first_broken.as_ref().map(|(id, _)| *id),
        Some(2)
    );
    assert_eq!(verification.rows_checked, 1);
    sqlx::query("UPDATE audit_log SET actor = 'alice' WHERE id = 2")
        .execute(&db.pool)
        .await
        .expect("restore");
    assert_eq!(
        audit::verify(db, None).await.expect("verify").first_broken,
        None
    );
}

async fn concurrent_submits_on_one_parent_yield_one_child(db: &Db) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("0100_racer_{i}");
            catalog::submit(
                &db,
                by("racer"),
                revision(&id, "0002_taps", "CREATE TABLE r (id int);"),
            )
            .await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => accepted += 1,
            Err(CatalogError::NotOnHead(_)) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(accepted, 1, "exactly one child of 0002_taps");
    let history = catalog::history(db, "default").await.expect("history");
    assert_eq!(history.len(), 3);
    assert_eq!(
        audit::verify(db, None).await.expect("verify").first_broken,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_catalog_passes_the_store_suite() {
    let (db, _dir) = sqlite().await;
    suite(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_catalog_passes_the_store_suite() {
    let db = postgres().await;
    suite(&db).await;
}
