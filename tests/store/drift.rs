//! The drift check's shortcuts against a real target: a reference this
//! execution recorded is trusted while no transaction committed on the
//! target (one that aborted does not count), and anything committed since
//! (DDL or not, open at the time of the reading or started after it) sends
//! the check to the catalog stamp and then to the live schema, compared
//! with the reading the execution holds (the catalog's copy of it may not
//! be written yet).

use super::sqlite;
use schemagate_e2e::postgres::Cluster;
use schemagate_server::db::Db;
use schemagate_server::drift::{self, Keep, Recorded};
use schemagate_server::schema;
use schemagate_server::target::Applied;
use sqlx::{Connection, PgConnection};

const REVISION: &str = "0001_taps";

async fn run(conn: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|err| panic!("{err}\n{sql}"));
}

/// The check the executor makes before its next revision, on a target at
/// [`REVISION`].
async fn check(db: &Db, target: &mut PgConnection, recorded: Recorded<'_>) -> drift::Report {
    let current = Applied {
        id: REVISION.into(),
        checksum: String::new(),
        sequence: 1,
    };
    drift::check(db, "default", "dev", target, Some(&current), Some(recorded))
        .await
        .expect("check")
}

/// The check of `sgctl drift`, which holds no reading, on a target at
/// [`REVISION`].
async fn probe(db: &Db, target: &mut PgConnection) -> drift::Report {
    let current = Applied {
        id: REVISION.into(),
        checksum: String::new(),
        sequence: 1,
    };
    drift::check(db, "default", "dev", target, Some(&current), None)
        .await
        .expect("check")
}

/// Records `reading` as the reference after [`REVISION`], as the executor
/// does after a revision, and returns its fingerprint.
async fn record(db: &Db, reading: &schema::Reading, keep: Keep) -> String {
    let mut catalog = db.pool.begin().await.expect("begin");
    let fingerprint = reading.schema.fingerprint();
    drift::record(
        &mut catalog,
        "default",
        "dev",
        REVISION,
        (reading, &fingerprint),
        keep,
    )
    .await
    .expect("record");
    catalog.commit().await.expect("commit");
    fingerprint
}

/// Reads the target's schema in full and records it.
async fn read_and_record(db: &Db, target: &mut PgConnection) -> (schema::Reading, String) {
    let reading = schema::introspect_stamped(target)
        .await
        .expect("introspect");
    let fingerprint = record(db, &reading, Keep::Schema).await;
    (reading, fingerprint)
}

fn trusted(report: &drift::Report) -> bool {
    report.summary.contains("no transaction committed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_reference_is_trusted_only_while_nothing_committed() {
    let (db, _dir) = sqlite().await;
    // The shortcut needs a cluster where nothing else commits: the shared
    // test cluster is busy with the other tests.
    let cluster = Cluster::start();
    let url = cluster.url("postgres");
    let mut target = PgConnection::connect(&url).await.expect("connect");
    let mut other = PgConnection::connect(&url).await.expect("connect");
    run(
        &mut target,
        "CREATE TABLE taps (id bigint PRIMARY KEY, name text NOT NULL)",
    )
    .await;
    let (reading, fingerprint) = read_and_record(&db, &mut target).await;
    let recorded = Recorded {
        revision_id: REVISION,
        fingerprint: &fingerprint,
        reading: &reading,
    };
    // Nothing committed since the reading: trusted without reading the catalog.
    let report = check(&db, &mut target, recorded).await;
    assert!(!report.drifted, "{}", report.summary);
    assert!(trusted(&report), "{}", report.summary);

    // DDL still uncommitted is not part of the live schema yet, and once
    // rolled back it never was.
    let mut open = other.begin().await.expect("begin");
    run(&mut open, "ALTER TABLE taps ADD COLUMN spilled_ml integer").await;
    let report = check(&db, &mut target, recorded).await;
    assert!(!report.drifted, "{}", report.summary);
    open.rollback().await.expect("rollback");
    let report = check(&db, &mut target, recorded).await;
    assert!(!report.drifted, "{}", report.summary);
    assert!(
        trusted(&report),
        "an aborted transaction committed nothing: {}",
        report.summary
    );

    // Once DDL commits, the same reference no longer holds.
    let mut open = other.begin().await.expect("begin");
    run(&mut open, "ALTER TABLE taps ADD COLUMN poured_ml integer").await;
    let report = check(&db, &mut target, recorded).await;
    assert!(!report.drifted, "{}", report.summary);
    open.commit().await.expect("commit");
    let report = check(&db, &mut target, recorded).await;
    assert!(report.drifted, "{}", report.summary);
    assert!(report.summary.contains("poured_ml"), "{}", report.summary);

    // A commit that changes no schema sends the check to the catalog
    // stamp, which shows the schema unchanged.
    run(&mut other, "ALTER TABLE taps DROP COLUMN poured_ml").await;
    let (reading, fingerprint) = read_and_record(&db, &mut target).await;
    let recorded = Recorded {
        revision_id: REVISION,
        fingerprint: &fingerprint,
        reading: &reading,
    };
    run(&mut other, "INSERT INTO taps VALUES (1, 'north')").await;
    let report = check(&db, &mut target, recorded).await;
    assert!(!report.drifted, "{}", report.summary);
    assert!(
        !trusted(&report),
        "a transaction did commit: {}",
        report.summary
    );

    // A reading the caller made for another revision is not trusted even
    // with nothing committed since: the check goes to the catalog stamp.
    let (reading, fingerprint) = read_and_record(&db, &mut target).await;
    let elsewhere = Recorded {
        revision_id: "0002_other",
        fingerprint: &fingerprint,
        reading: &reading,
    };
    let report = check(&db, &mut target, elsewhere).await;
    assert!(!report.drifted, "{}", report.summary);
    assert!(!trusted(&report), "{}", report.summary);

    // A reference without a stamp (read incrementally) is trusted while
    // nothing committed; after a commit the schema is read and compared.
    let unstamped = schema::Reading {
        stamp: String::new(),
        ..reading.clone()
    };
    let fingerprint = record(&db, &unstamped, Keep::Schema).await;
    let recorded = Recorded {
        revision_id: REVISION,
        fingerprint: &fingerprint,
        reading: &unstamped,
    };
    let report = check(&db, &mut target, recorded).await;
    assert!(trusted(&report), "{}", report.summary);
    run(&mut other, "INSERT INTO taps VALUES (2, 'south')").await;
    let report = check(&db, &mut target, recorded).await;
    assert!(!report.drifted, "{}", report.summary);
    assert!(!trusted(&report), "{}", report.summary);
    run(&mut other, "CREATE INDEX taps_name ON taps (name)").await;
    let report = check(&db, &mut target, recorded).await;
    assert!(report.drifted, "{}", report.summary);
    assert!(report.summary.contains("taps_name"), "{}", report.summary);

    // The caller's reading of the current revision is the reference even
    // when the catalog's copy is not written yet (the executor writes it
    // while the next gate is checked): here the catalog still holds the
    // reference of an earlier schema.
    read_and_record(&db, &mut target).await;
    run(&mut other, "ALTER TABLE taps ADD COLUMN rinsed boolean").await;
    let later = schema::introspect_stamped(&mut target)
        .await
        .expect("introspect");
    let later_fingerprint = later.schema.fingerprint();
    let ahead = Recorded {
        revision_id: REVISION,
        fingerprint: &later_fingerprint,
        reading: &later,
    };
    let report = check(&db, &mut target, ahead).await;
    assert!(!report.drifted, "{}", report.summary);
    assert!(trusted(&report), "{}", report.summary);
    assert_eq!(report.expected_fingerprint, later_fingerprint);
    run(&mut other, "ALTER TABLE taps DROP COLUMN rinsed").await;
    let report = check(&db, &mut target, ahead).await;
    assert!(report.drifted, "{}", report.summary);
    assert!(report.summary.contains("rinsed"), "{}", report.summary);
    let report = probe(&db, &mut target).await;
    assert!(
        !report.drifted,
        "the catalog's reference is the schema without the column: {}",
        report.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_without_its_schema_is_checked_by_fingerprint() {
    let (db, _dir) = sqlite().await;
    let url = schemagate_e2e::postgres().create_database().await;
    let mut target = PgConnection::connect(&url).await.expect("connect");
    run(
        &mut target,
        "CREATE TABLE taps (id bigint PRIMARY KEY, name text NOT NULL)",
    )
    .await;
    // As recorded between two revisions of an execution: no schema, no
    // stamp (an incremental reading).
    let full = schema::introspect_stamped(&mut target)
        .await
        .expect("introspect");
    let reading = schema::Reading {
        stamp: String::new(),
        ..full
    };
    let fingerprint = record(&db, &reading, Keep::Fingerprint).await;
    let unkept = drift::unkept_reference(&db, "default", "dev")
        .await
        .expect("reference");
    assert!(unkept.is_some(), "the reference kept no schema");
    // Something committed, the schema unchanged: the fingerprints agree.
    run(&mut target, "INSERT INTO taps VALUES (1, 'north')").await;
    let report = probe(&db, &mut target).await;
    assert!(!report.drifted, "{}", report.summary);

    // DDL: drift, said by fingerprint, as no schema can list the differences.
    run(&mut target, "CREATE INDEX taps_name ON taps (name)").await;
    let report = probe(&db, &mut target).await;
    assert!(report.drifted, "{}", report.summary);
    assert!(
        report.summary.contains("kept no schema"),
        "{}",
        report.summary
    );
    assert_eq!(report.differences.len(), 1, "{}", report.summary);

    // The executor holding the reading lists the differences from it.
    let held = Recorded {
        revision_id: REVISION,
        fingerprint: &fingerprint,
        reading: &reading,
    };
    let report = check(&db, &mut target, held).await;
    assert!(report.drifted, "{}", report.summary);
    assert!(report.summary.contains("taps_name"), "{}", report.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_storage_statistics_and_trigger_modes_changed_out_of_band_are_drift() {
    let (db, _dir) = sqlite().await;
    let url = schemagate_e2e::postgres().create_database().await;
    let mut target = PgConnection::connect(&url).await.expect("connect");
    run(
        &mut target,
        "CREATE FUNCTION guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
         CREATE FUNCTION ddl_audit() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
         CREATE EVENT TRIGGER ddl_audit ON ddl_command_end EXECUTE FUNCTION ddl_audit();
         CREATE TABLE taps (id serial PRIMARY KEY, name text, code int);
         CREATE TABLE pours (at int, tap_id int REFERENCES taps (id)) PARTITION BY RANGE (at);
         CREATE TABLE pours_1 PARTITION OF pours FOR VALUES FROM (1) TO (100);
         CREATE TRIGGER pours_guard BEFORE INSERT ON pours FOR EACH ROW EXECUTE FUNCTION guard();
         CREATE STATISTICS taps_stats ON name, code FROM taps;",
    )
    .await;
    read_and_record(&db, &mut target).await;
    assert!(!probe(&db, &mut target).await.drifted);

    // Each changes a catalog row the stamp digests; none changes anything
    // else the model read before.
    for (change, line) in [
        (
            "ALTER SEQUENCE taps_id_seq OWNED BY taps.code",
            "sequence public.taps_id_seq: owned by public.taps.code, \
             expected owned by no column but one whose default draws from it",
        ),
        (
            "ALTER TABLE taps ALTER COLUMN name SET STORAGE EXTERNAL",
            "table public.taps: column name: storage EXTERNAL, expected the type's default",
        ),
        (
            "ALTER TABLE taps ALTER COLUMN name SET COMPRESSION lz4",
            "table public.taps: column name: compression lz4, expected default",
        ),
        (
            "ALTER TABLE taps ALTER COLUMN code SET STATISTICS 1000",
            "table public.taps: column code: statistics target 1000, expected default",
        ),
        (
            "DROP STATISTICS taps_stats",
            "table public.taps: statistics public.taps_stats: missing (expected by the catalog)",
        ),
        (
            "ALTER TABLE pours_1 DISABLE TRIGGER pours_guard",
            "table public.pours_1: trigger pours_guard (cloned from the parent's) on this partition: \
             disabled, expected as on the parent",
        ),
        (
            "DO $$ DECLARE t text; BEGIN \
               FOR t IN SELECT tgname FROM pg_trigger WHERE tgrelid = 'taps'::regclass AND tgisinternal LOOP \
                 EXECUTE format('ALTER TABLE taps ENABLE ALWAYS TRIGGER %I', t); \
               END LOOP; END $$",
            "table public.pours: constraint pours_tap_id_fkey: some of its triggers are enabled always \
             (ENABLE ALWAYS), expected none of its triggers fires for replicas only or always",
        ),
        (
            "ALTER EVENT TRIGGER ddl_audit DISABLE",
            "event trigger ddl_audit: disabled, expected enabled",
        ),
    ] {
        let (reading, _) = read_and_record(&db, &mut target).await;
        run(&mut target, change).await;
        let report = probe(&db, &mut target).await;
        assert!(report.drifted, "{change}: {}", report.summary);
        let lines: Vec<String> = report.differences.iter().map(ToString::to_string).collect();
        assert_eq!(lines, [line], "{change}");
        assert_ne!(
            schema::catalog_stamp(&mut target).await.expect("stamp"),
            reading.stamp,
            "{change}"
        );
    }
}
