//! The three smoke scenarios on the example bar project (examples/bar):
//! a clean bootstrap, onboarding an existing database (parity check, stamp,
//! mismatch, forced stamp) and the developer drill, all through `sgctl`.

use crate::release::{Fixture, applied, execute, query_i64, table_exists, tokens};
use schemagate_e2e::{block_on, postgres};
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};

fn bar() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bar")
}

fn bar_file(name: &str) -> String {
    std::fs::read_to_string(bar().join(name)).unwrap()
}

/// Copies the example's revisions into the fixture's revision directory and
/// submits them as alice.
fn submit_bar(f: &Fixture, alice: &str) {
    for entry in std::fs::read_dir(bar().join("revisions")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, f.revisions.path().join(path.file_name().unwrap())).unwrap();
    }
    f.run(alice, &["submit", f.revisions.path().to_str().unwrap()])
        .ok();
}

fn introspect(url: &str) -> schemagate_server::schema::Schema {
    block_on(async {
        let mut conn = PgConnection::connect(url).await.unwrap();
        schemagate_server::schema::introspect(&mut conn)
            .await
            .unwrap()
    })
}

/// Row counts and an md5 over every row of every table, in key order.
fn data_digest(url: &str) -> Vec<(String, i64, String)> {
    let tables = [
        "venues",
        "beverages",
        "kegs",
        "taps",
        "controllers",
        "pour_records",
    ];
    tables
        .iter()
        .map(|table| {
            let count = query_i64(url, &format!("SELECT count(*) FROM {table}"));
            let digest = block_on(async {
                let mut conn = PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(format!(
                    "SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t"
                )))
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .unwrap_or_default()
            });
            (table.to_string(), count, digest)
        })
        .collect()
}

#[test]
fn clean_bootstrap_deploys_the_bar_to_head_and_the_tables_read_and_write() {
    let t = tokens();
    // On a quiet target, so that the middle revision is read incrementally.
    let f = Fixture::start_with_quiet_dev(|p| p);
    submit_bar(&f, &t.alice);
    for id in [
        "0001_baseline",
        "0002_add_pour_tags",
        "0003_add_controller_firmware",
    ] {
        f.approve(&t.carol, id, &["dev"]);
    }
    let out = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert_eq!(out.code, 0, "{out:#?}");
    for id in [
        "0001_baseline",
        "0002_add_pour_tags",
        "0003_add_controller_firmware",
    ] {
        assert!(out.stdout.contains(&format!("applied {id}")), "{out:#?}");
    }
    assert_eq!(applied(&f.dev), 3);

    // The schema equals the one the same SQL builds by hand, and so does the
    // fingerprint recorded after each revision (after 0002, the middle one,
    // the executor reads only what the revision changed).
    let by_hand = block_on(postgres().create_database());
    for id in [
        "0001_baseline",
        "0002_add_pour_tags",
        "0003_add_controller_firmware",
    ] {
        execute(&by_hand, &bar_file(&format!("revisions/{id}.up.sql")));
        let fingerprint = introspect(&by_hand).fingerprint();
        let done = format!("applied {id} on dev in ");
        let line = out
            .stdout
            .lines()
            .find(|line| line.contains(&done))
            .unwrap_or_else(|| panic!("no line for {id}: {out:#?}"));
        assert!(
            line.contains(&format!("schema fingerprint {}", &fingerprint[..12])),
            "{id}: {line}, a full read gives {fingerprint}"
        );
    }
    assert!(
        !f.server.log().contains("differs from the full read"),
        "{}",
        f.server.log()
    );
    let (deployed, expected) = (introspect(&f.dev), introspect(&by_hand));
    assert_eq!(
        schemagate_server::schema::diff(&expected, &deployed)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        Vec::<String>::new()
    );
    assert_eq!(deployed.fingerprint(), expected.fingerprint());
    assert!(
        f.run(&t.erin, &["drift", "--env", "dev"])
            .ok()
            .contains("no drift")
    );

    // Read and write on the new tables.
    execute(&f.dev, &bar_file("seed.sql"));
    execute(
        &f.dev,
        "INSERT INTO pour_tags (pour_record_id, tag) SELECT id, 'happy_hour' FROM pour_records ORDER BY id LIMIT 3; \
         INSERT INTO controller_firmware_updates (controller_id, to_version, image_sha256) \
         SELECT id, '2.1.0', repeat('ab', 32) FROM controllers ORDER BY id LIMIT 1",
    );
    assert_eq!(query_i64(&f.dev, "SELECT count(*) FROM pour_tags"), 3);
    assert_eq!(
        query_i64(&f.dev, "SELECT count(*) FROM controller_firmware_updates"),
        1
    );
    assert!(query_i64(&f.dev, "SELECT count(*) FROM daily_revenue") > 0);
}

#[test]
fn an_existing_database_is_stamped_after_the_parity_check_and_keeps_every_row() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    // dev was built without Schemagate and is in use.
    execute(&f.dev, &bar_file("revisions/0001_baseline.up.sql"));
    execute(&f.dev, &bar_file("seed.sql"));
    let before = data_digest(&f.dev);
    assert!(
        before
            .iter()
            .any(|(t, n, _)| t == "pour_records" && *n > 10)
    );
    submit_bar(&f, &t.alice);

    // Not under the catalog: the gate refuses to deploy on it.
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    let gate = f.run(&t.erin, &["gate", "0001_baseline", "--env", "dev"]);
    assert_eq!(gate.code, 1, "{gate:#?}");
    assert!(gate.stdout.contains("sgctl stamp"), "{gate:#?}");

    let stamped = f.run(
        &t.erin,
        &["stamp", "--env", "dev", "--revision", "0001_baseline"],
    );
    assert_eq!(stamped.code, 0, "{stamped:#?}");
    assert!(
        stamped.stdout.contains("live schema matches"),
        "{stamped:#?}"
    );
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM schemagate.applied_revisions WHERE id = '0001_baseline' AND stamped"
        ),
        1
    );
    assert_eq!(data_digest(&f.dev), before, "stamping touched no row");
    // Stamping twice is refused: the target is under the catalog now.
    f.run(
        &t.erin,
        &["stamp", "--env", "dev", "--revision", "0001_baseline"],
    )
    .fails(1, "already under the catalog");

    for id in ["0002_add_pour_tags", "0003_add_controller_firmware"] {
        f.approve(&t.carol, id, &["dev"]);
    }
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert!(table_exists(&f.dev, "pour_tags"));
    assert_eq!(
        data_digest(&f.dev)
            .iter()
            .map(|(t, n, _)| (t.clone(), *n))
            .collect::<Vec<_>>(),
        before
            .iter()
            .map(|(t, n, _)| (t.clone(), *n))
            .collect::<Vec<_>>(),
        "every pre-existing row is still there"
    );
    // Rows of tables 0002/0003 did not touch are byte for byte the same;
    // pour_records and controllers gained a NULL column, so compare their
    // original columns.
    let after = data_digest(&f.dev);
    for table in ["venues", "beverages", "kegs", "taps"] {
        let find = |d: &[(String, i64, String)]| d.iter().find(|(t, _, _)| t == table).cloned();
        assert_eq!(find(&after), find(&before), "{table}");
    }
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM pour_records WHERE staff_note IS NOT NULL"
        ),
        0
    );
}

#[test]
fn a_mismatching_database_is_refused_with_a_diff_naming_the_column_unless_an_admin_forces_it() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    // Built by hand with one column different from the baseline.
    execute(
        &f.dev,
        &bar_file("revisions/0001_baseline.up.sql")
            .replace("volume_ml       numeric(8,2)", "volume_ml       integer"),
    );
    execute(&f.dev, &bar_file("seed.sql"));
    let before = data_digest(&f.dev);
    submit_bar(&f, &t.alice);

    let refused = f.run(
        &t.erin,
        &["stamp", "--env", "dev", "--revision", "0001_baseline"],
    );
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(
        refused.stderr.contains("pour_records") && refused.stderr.contains("volume_ml"),
        "the diff names the table and column: {refused:#?}"
    );
    assert!(
        refused.stderr.contains("integer") && refused.stderr.contains("numeric(8,2)"),
        "{refused:#?}"
    );
    assert_eq!(applied(&f.dev), 0, "no version row");
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'schemagate'"
        ),
        0
    );
    assert_eq!(data_digest(&f.dev), before, "no row changed");
    // A script reading --json hears of the refusal, and of the diff, on stdout.
    let refused = f
        .run(
            &t.erin,
            &[
                "--json",
                "stamp",
                "--env",
                "dev",
                "--revision",
                "0001_baseline",
            ],
        )
        .json();
    assert_eq!(refused["error"]["exit_code"], 1, "{refused:#}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("volume_ml"),
        "{refused:#}"
    );

    // Forcing needs an admin and a reason.
    f.run(
        &t.erin,
        &[
            "stamp",
            "--env",
            "dev",
            "--revision",
            "0001_baseline",
            "--force",
            "--reason",
            "x",
        ],
    )
    .fails(4, "admin");
    let forced = f.run(
        &t.root,
        &[
            "stamp",
            "--env",
            "dev",
            "--revision",
            "0001_baseline",
            "--force",
            "--reason",
            "volume_ml migrated to numeric in ticket OPS-12",
        ],
    );
    assert_eq!(forced.code, 0, "{forced:#?}");
    assert!(forced.stdout.contains("FORCED"), "{forced:#?}");
    assert!(forced.stdout.contains("volume_ml"), "{forced:#?}");
    assert_eq!(applied(&f.dev), 1);
    let audit = f.run(&t.root, &["--json", "audit", "--env", "dev"]).json();
    let entries = audit.as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["action"] == "target.stamp_forced"
            && e["detail"].as_str().unwrap().contains("OPS-12")),
        "{audit:#}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "target.stamp" && e["outcome"] == "refused"),
        "{audit:#}"
    );
    // The forced stamp records the live schema: no drift from here on.
    assert!(
        f.run(&t.erin, &["drift", "--env", "dev"])
            .ok()
            .contains("no drift")
    );
}

#[test]
fn developer_drill_create_lint_submit_approve_deploy_roll_back_deploy_again() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    submit_bar(&f, &t.alice);
    for id in [
        "0001_baseline",
        "0002_add_pour_tags",
        "0003_add_controller_firmware",
    ] {
        f.approve(&t.carol, id, &["dev"]);
    }
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();

    // A developer writes an additive revision and lints it offline.
    let up = f.revisions.path().join("0004_add_venue_capacity.up.sql");
    std::fs::write(
        &up,
        "-- description: seating capacity per venue\nSET lock_timeout = '2s';\nALTER TABLE venues ADD COLUMN capacity integer;\n",
    )
    .unwrap();
    std::fs::write(
        f.revisions.path().join("0004_add_venue_capacity.down.sql"),
        "SET lock_timeout = '2s';\nALTER TABLE venues DROP COLUMN capacity;\n",
    )
    .unwrap();
    let lint = f.run(&t.alice, &["lint", up.to_str().unwrap()]);
    assert_eq!(lint.code, 0, "{lint:#?}");
    assert!(lint.stdout.contains("risk additive"), "{lint:#?}");

    f.run(&t.alice, &["submit", f.revisions.path().to_str().unwrap()])
        .ok();
    let shown = f
        .run(&t.alice, &["show", "0004_add_venue_capacity"])
        .ok()
        .to_string();
    assert!(
        shown.contains("0003_add_controller_firmware"),
        "parent: {shown}"
    );

    let gate = f.run(
        &t.erin,
        &["gate", "0004_add_venue_capacity", "--env", "dev"],
    );
    assert_eq!(gate.code, 1, "{gate:#?}");
    f.approve(&t.dave, "0004_add_venue_capacity", &["dev"]);
    let gate = f.run(
        &t.erin,
        &["gate", "0004_add_venue_capacity", "--env", "dev"],
    );
    assert!(gate.ok().contains("OPEN"), "{gate:#?}");

    let deploy = f.run(&t.erin, &["deploy", "--env", "dev"]);
    assert!(
        deploy
            .ok()
            .contains("applied 0004_add_venue_capacity on dev"),
        "{deploy:#?}"
    );
    let column = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'venues' AND column_name = 'capacity'";
    assert_eq!(query_i64(&f.dev, column), 1);

    f.run(
        &t.carol,
        &[
            "approve",
            "0004_add_venue_capacity",
            "--env",
            "dev",
            "--rollback",
        ],
    )
    .ok();
    let rollback = f.run(&t.erin, &["rollback", "--env", "dev"]);
    assert!(
        rollback
            .ok()
            .contains("rolled back 0004_add_venue_capacity on dev"),
        "{rollback:#?}"
    );
    assert_eq!(query_i64(&f.dev, column), 0);
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    assert_eq!(status["current_revision"], "0003_add_controller_firmware");
    let pending = status["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{status:#}");
    assert_eq!(pending[0]["revision_id"], "0004_add_venue_capacity");
    // The rollback used up its own approval and the approval to apply the
    // revision: it goes out again only on a fresh one.
    assert_eq!(pending[0]["gate"]["open"], false, "{status:#}");
    f.run(&t.erin, &["deploy", "--env", "dev"])
        .refused("used up by a rollback or restore on dev");
    assert_eq!(query_i64(&f.dev, column), 0);

    f.approve(&t.carol, "0004_add_venue_capacity", &["dev"]);
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();
    assert_eq!(query_i64(&f.dev, column), 1);
    assert_eq!(applied(&f.dev), 4);
    let history = f.run(&t.erin, &["status", "--env", "dev"]).ok().to_string();
    assert!(history.contains("rollback"), "{history}");
}

#[test]
fn a_mismatch_too_long_for_one_message_is_cut_readably_and_the_connection_keeps_working() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    // The baseline plus 400 tables nobody declared, with long names: the
    // diff runs to tens of KiB, past what a status header can carry.
    let mut ddl = bar_file("revisions/0001_baseline.up.sql");
    for n in 0..400 {
        ddl.push_str(&format!(
            "CREATE TABLE out_of_band_table_with_a_rather_long_name_{n:04} (id int PRIMARY KEY);\n"
        ));
    }
    execute(&f.dev, &ddl);
    submit_bar(&f, &t.alice);

    let refused = f.run(
        &t.erin,
        &["stamp", "--env", "dev", "--revision", "0001_baseline"],
    );
    assert_eq!(
        refused.code, 1,
        "FAILED_PRECONDITION, not a protocol error: {refused:#?}"
    );
    assert!(
        refused.stderr.contains("400 difference(s)")
            && refused
                .stderr
                .contains("out_of_band_table_with_a_rather_long_name_0000"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("the whole message is in the server log"),
        "{}",
        &refused.stderr[refused.stderr.len().saturating_sub(300)..]
    );
    assert_eq!(applied(&f.dev), 0, "no version row");
    // The server answers the next call normally.
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 1, "{drift:#?}");
    assert!(drift.stdout.contains("DRIFT on dev"), "{drift:#?}");
}

#[test]
fn stamp_restored_records_only_the_revision_the_version_table_names() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    submit_bar(&f, &t.alice);
    for id in ["0001_baseline", "0002_add_pour_tags"] {
        f.approve(&t.carol, id, &["dev"]);
    }
    f.run(
        &t.erin,
        &["deploy", "--env", "dev", "--to", "0002_add_pour_tags"],
    )
    .ok();
    let stamp = |args: &[&str]| {
        let mut all = vec!["stamp", "--env", "dev"];
        all.extend_from_slice(args);
        f.run(&t.erin, &all)
    };

    // A target with history is not stamped again; the refusal names the way
    // for a restored one.
    stamp(&["--revision", "0002_add_pour_tags"]).fails(
        1,
        "after restoring a backup, record it with --restored --revision 0002_add_pour_tags",
    );
    // --restored only for the revision the version table names...
    stamp(&["--revision", "0001_baseline", "--restored"])
        .fails(1, "restored at 0002_add_pour_tags, not 0001_baseline");
    // ...and only on a target that has one.
    f.run(
        &t.erin,
        &[
            "stamp",
            "--env",
            "ci",
            "--revision",
            "0001_baseline",
            "--restored",
        ],
    )
    .fails(1, "no version row");
    // A version row whose checksum is not the catalog's: another lineage.
    execute(
        &f.dev,
        "UPDATE schemagate.applied_revisions SET checksum = 'not-this-one' WHERE id = '0002_add_pour_tags'",
    );
    stamp(&["--revision", "0002_add_pour_tags", "--restored"])
        .fails(1, "does not come from this lineage");
    let rows_before = applied(&f.dev);

    // The matching case: checked on the shadow server and recorded, the
    // version table left as it was.
    let history = f
        .run(&t.erin, &["--json", "show", "0002_add_pour_tags"])
        .json();
    let checksum = history["checksum"].as_str().expect("checksum").to_string();
    execute(
        &f.dev,
        &format!(
            "UPDATE schemagate.applied_revisions SET checksum = '{checksum}' WHERE id = '0002_add_pour_tags'"
        ),
    );
    let recorded = stamp(&["--revision", "0002_add_pour_tags", "--restored"]);
    assert_eq!(recorded.code, 0, "{recorded:#?}");
    assert!(
        recorded
            .stdout
            .contains("recorded the restored 0002_add_pour_tags on dev: live schema matches"),
        "{recorded:#?}"
    );
    assert_eq!(applied(&f.dev), rows_before, "no version row written");
    assert_eq!(
        query_i64(
            &f.dev,
            "SELECT count(*) FROM schemagate.applied_revisions WHERE stamped"
        ),
        0
    );
    let audit = f.run(&t.root, &["--json", "audit"]).json();
    assert!(
        audit
            .as_array()
            .expect("audit entries")
            .iter()
            .any(|e| e["action"] == "target.stamp_restored" && e["subject"] == "0002_add_pour_tags"),
        "{audit:#}"
    );
    assert!(
        f.run(&t.erin, &["drift", "--env", "dev"])
            .ok()
            .contains("no drift")
    );
}

/// A shadow server that refuses is a set-up mistake named as the shadow
/// server's (not an environment's target), exit 1 rather than an outage,
/// without its password or PostgreSQL's source line; a URL of another
/// database is refused as such.
#[test]
fn a_misconfigured_shadow_server_is_named_and_refused() {
    let t = tokens();
    let mut f = Fixture::start(|p| p);
    execute(&f.dev, &bar_file("revisions/0001_baseline.up.sql"));
    submit_bar(&f, &t.alice);
    let admin = postgres().admin_url().to_string();
    let (scheme, rest) = admin.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let stranger = format!("{scheme}://nobody_role:pw-secret@{host}");
    f.restart(&[("SCHEMAGATE_SHADOW_URL", &stranger)]);
    let stamp = ["stamp", "--env", "dev", "--revision", "0001_baseline"];
    let refused = f.run(&t.erin, &stamp);
    refused.fails(
        1,
        "the shadow server ($SCHEMAGATE_SHADOW_URL) failed: role \"nobody_role\" does not exist (SQLSTATE 28000)",
    );
    assert!(!refused.stderr.contains("pw-secret"), "{refused:#?}");
    assert!(!refused.stderr.contains("at line"), "{refused:#?}");
    f.restart(&[("SCHEMAGATE_SHADOW_URL", "mysql://root@db/app")]);
    f.run(&t.erin, &stamp)
        .fails(1, "SCHEMAGATE_SHADOW_URL does not hold a postgres:// URL");
    assert_eq!(applied(&f.dev), 0, "nothing was stamped");
}

#[test]
fn a_version_table_another_lineage_or_tool_left_is_named_not_failed_on() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    execute(&f.dev, &bar_file("revisions/0001_baseline.up.sql"));
    submit_bar(&f, &t.alice);
    let stamp = || {
        f.run(
            &t.erin,
            &["stamp", "--env", "dev", "--revision", "0001_baseline"],
        )
    };

    // A table of that name without the version table's columns.
    execute(
        &f.dev,
        "CREATE SCHEMA schemagate; CREATE TABLE schemagate.applied_revisions (x int)",
    );
    stamp().fails(
        1,
        "schemagate.applied_revisions is not Schemagate's version table (it has no column project, id, checksum",
    );
    let drift = f.run(&t.erin, &["drift", "--env", "dev"]);
    assert!(
        drift.stderr.contains("is not Schemagate's version table"),
        "{drift:#?}"
    );

    // A version row of a revision this catalog never held.
    execute(
        &f.dev,
        &format!(
            "DROP TABLE schemagate.applied_revisions; {}; \
             INSERT INTO schemagate.applied_revisions (project, id, checksum, sequence, executed_by, execution_id, transactional) \
             VALUES ('default', '0007_elsewhere', 'x', 7, 'someone', 'e', true)",
            schemagate_server::target::VERSION_TABLE_DDL
        ),
    );
    stamp().fails(
        1,
        "0007_elsewhere, which is not in the lineage of project default",
    );
    assert_eq!(
        query_i64(&f.dev, "SELECT count(*) FROM schemagate.applied_revisions"),
        1,
        "the row is left for the operator"
    );
}
