//! `sgctl lint` works offline: no server, exit codes by severity.

use schemagate_e2e::sgctl;

#[test]
fn lint_needs_no_server_and_exits_by_severity() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let clean = write(
        "0002_add_kegs.up.sql",
        "CREATE TABLE kegs (id bigint PRIMARY KEY);\n",
    );
    write("0002_add_kegs.down.sql", "DROP TABLE kegs;\n");
    let destructive = write(
        "0003_drop.up.sql",
        "SET lock_timeout = '2s';\n\nALTER TABLE pour_events DROP COLUMN volume_ml;\n",
    );
    let broken = write("0004_broken.up.sql", "CREATE TABEL x (id int);\n");

    let out = sgctl(
        &["lint", &clean],
        &[("SCHEMAGATE_SERVER", "http://127.0.0.1:9")],
    );
    assert_eq!(out.code, 0, "{out:#?}");

    let out = sgctl(&["lint", &destructive], &[]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("drop-column"), "{out:#?}");
    assert!(out.stdout.contains(":3:"), "points at line 3: {out:#?}");
    assert!(
        out.stdout
            .contains("ALTER TABLE pour_events DROP COLUMN volume_ml"),
        "shows the line: {out:#?}"
    );

    let json = sgctl(&["--json", "lint", &destructive], &[]).json();
    let findings = json[0]["report"]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "drop-column" && f["line"] == 3),
        "{json:#}"
    );
    assert_eq!(json[0]["report"]["risk"], "destructive");
    assert!(json[0]["down_file"].is_null(), "{json:#}");
    // The down file beside an up file is linted with it, and named.
    let json = sgctl(&["--json", "lint", &clean], &[]).json();
    assert_eq!(
        json[0]["down_file"],
        clean.replace(".up.sql", ".down.sql").as_str(),
        "{json:#}"
    );

    let out = sgctl(&["lint", &broken], &[]);
    assert_eq!(out.code, 2, "{out:#?}");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("0002_drops.up.sql");
    let drops: String = (0..5000).map(|n| format!("DROP TABLE t{n};\n")).collect();
    std::fs::write(&up, drops).unwrap();
    std::fs::write(dir.path().join("0002_drops.down.sql"), "SELECT 1;\n").unwrap();
    let sgctl = schemagate_e2e::bin_dir().join("sgctl");
    // `head -1` exits after one line; sgctl's next writes meet a closed pipe.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' lint '{}' | head -1",
            sgctl.display(),
            up.display()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        !stderr.contains("panicked"),
        "no panic on a broken pipe: {stderr}"
    );
    // Killed by SIGPIPE, as `cat` would be: the shell reports 128 + 13.
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

/// Every rule an exemption may name is listed, with what it flags; a
/// directory, or a shell glob over one, lints each revision once, its down
/// file with it.
#[test]
fn rules_are_listed_and_a_directory_lints_each_revision_once() {
    let listed = sgctl(&["lint", "--list-rules"], &[]).ok().to_string();
    for rule in ["drop-column", "missing-lock-timeout", "invalid-exemption"] {
        assert!(
            listed.lines().any(|line| line.starts_with(rule)),
            "{rule} in {listed}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(sgctl(&["--json", "lint", "--list-rules"], &[]).ok()).unwrap();
    let drop_column = json
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["id"] == "drop-column")
        .expect("drop-column listed");
    assert_eq!(drop_column["severity"], "error");
    assert!(drop_column["help"].as_str().unwrap().len() > 20);

    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [
        ("0001_base.up.sql", "CREATE TABLE a (id int);\n"),
        ("0001_base.down.sql", "DROP TABLE a;\n"),
        ("0002_b.up.sql", "CREATE TABLE b (id int);\n"),
        ("0002_b.down.sql", "DROP TABLE b;\n"),
    ] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let as_dir = sgctl(&["lint", dir.path().to_str().unwrap()], &[])
        .ok()
        .to_string();
    let mut globbed: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path().to_str().unwrap().to_string())
        .collect();
    globbed.sort();
    let mut args = vec!["lint"];
    args.extend(globbed.iter().map(String::as_str));
    let as_glob = sgctl(&args, &[]).ok().to_string();
    for out in [&as_dir, &as_glob] {
        assert_eq!(
            out.lines().filter(|l| l.contains("risk additive")).count(),
            2,
            "{out}"
        );
        assert!(
            !out.contains("down.sql: risk"),
            "a down file linted as a revision: {out}"
        );
    }
    let empty = tempfile::tempdir().unwrap();
    sgctl(&["lint", empty.path().to_str().unwrap()], &[])
        .fails(2, "no NNNN_name.up.sql files found in");
    // Comments alone are no revision, offline as on the server.
    let hollow = tempfile::tempdir().unwrap();
    let only_comments = hollow.path().join("0001_nothing.up.sql");
    std::fs::write(&only_comments, "-- nothing yet\n\n/* still nothing */\n").unwrap();
    sgctl(&["lint", "--no-down", only_comments.to_str().unwrap()], &[]).fails(
        2,
        "0001_nothing.up.sql: empty up SQL (only comments or blanks)",
    );
    // A file that looks like a misnamed revision is not skipped in silence.
    std::fs::write(dir.path().join("0003_c.UP.sql"), "SELECT 3;").unwrap();
    sgctl(&["lint", dir.path().to_str().unwrap()], &[]).fails(
        2,
        "0003_c.UP.sql looks like a revision file but is not named NNNN_name.up.sql",
    );
}

/// The pattern `set-not-null` teaches, over separate revisions: a check
/// added NOT VALID, validated by the next revision, then SET NOT NULL. The
/// last revision is linted after the ones before it, offline (a directory,
/// or the file alone, which brings its directory's lineage) and by the
/// server at submit: the check proves the column, so it is additive. The
/// same file in a directory of its own is linted alone: its SET NOT NULL
/// scans, and the check it drops is not known to be redundant.
#[test]
fn an_up_file_is_linted_after_the_revisions_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let not_null = "SET lock_timeout = '2s';\nALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;\nALTER TABLE kegs DROP CONSTRAINT tap_nn;\n";
    schemagate_e2e::write_revisions(
        dir.path(),
        &[
            (
                "0001_base",
                "CREATE TABLE kegs (tap_id int);\n",
                "DROP TABLE kegs;\n",
            ),
            (
                "0002_tap_check",
                "SET lock_timeout = '2s';\nALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;\n",
                "ALTER TABLE kegs DROP CONSTRAINT tap_nn;\n",
            ),
            (
                "0003_validate",
                "ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;\n",
                "SELECT 1;\n",
            ),
            (
                "0004_not_null",
                not_null,
                "ALTER TABLE kegs ALTER COLUMN tap_id DROP NOT NULL;\n",
            ),
        ],
    );
    let path = dir.path().to_str().unwrap();
    let last = dir.path().join("0004_not_null.up.sql");
    let set_not_null = |report: &serde_json::Value| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == "set-not-null")
            .cloned()
            .unwrap_or_default()
    };

    let all = sgctl(&["--json", "lint", path], &[]).json();
    let report = &all[3]["report"];
    assert_eq!(report["risk"], "additive", "{all:#}");
    assert_eq!(set_not_null(report)["severity"], "info", "{all:#}");
    assert!(
        set_not_null(report)["message"]
            .as_str()
            .unwrap()
            .contains("CHECK `tap_nn`, valid since an earlier revision"),
        "{all:#}"
    );
    let alone = sgctl(&["--json", "lint", last.to_str().unwrap()], &[]).json();
    assert_eq!(alone[0]["report"], *report, "{alone:#}");
    let human = sgctl(&["lint", last.to_str().unwrap()], &[]);
    assert_eq!(human.code, 0, "{human:#?}");
    assert!(
        human.stdout.contains("valid since an earlier revision"),
        "{human:#?}"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("0004_not_null.up.sql");
    std::fs::write(&copy, not_null).unwrap();
    let unproven = sgctl(
        &["--json", "lint", "--no-down", copy.to_str().unwrap()],
        &[],
    )
    .json();
    // Nor is the check it drops known to be redundant.
    assert_eq!(unproven[0]["report"]["risk"], "destructive", "{unproven:#}");
    assert_eq!(
        set_not_null(&unproven[0]["report"])["severity"],
        "warning",
        "{unproven:#}"
    );

    let server = schemagate_e2e::Server::sqlite();
    let dev = schemagate_e2e::token("alice", &["developer"]);
    server.sgctl(&dev, &["submit", path]).ok();
    let history = server.sgctl(&dev, &["--json", "history"]).json();
    let risks: Vec<(&str, &str)> = history["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["risk"].as_str().unwrap()))
        .collect();
    assert_eq!(
        risks,
        [
            ("0001_base", "additive"),
            ("0002_tap_check", "additive"),
            ("0003_validate", "additive"),
            ("0004_not_null", "additive"),
        ],
        "{history:#}"
    );
}
