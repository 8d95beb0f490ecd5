//! Bad input through sgctl: each case is one clear error line, a non-zero
//! exit code, and nothing stored.

use schemagate_e2e::{Server, token};

#[test]
fn bad_revisions_are_refused_and_nothing_is_stored() {
    let server = Server::sqlite();
    let dev = token("alice", &["developer"]);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    };

    let empty = write("0001_empty.up.sql", b"  \n\n");
    server
        .sgctl(&dev, &["submit", &empty])
        .fails(2, "empty up SQL");

    let latin1 = write("0001_latin1.up.sql", b"COMMENT ON TABLE t IS 'caf\xe9';");
    server
        .sgctl(&dev, &["submit", &latin1])
        .fails(2, "not valid UTF-8");

    let malformed = write("1_Bad-Name.up.sql", b"CREATE TABLE t (id int);");
    server
        .sgctl(&dev, &["submit", &malformed])
        .fails(2, "invalid revision id");

    let unparsable = write("0001_typo.up.sql", b"CREATE TABEL t (id int);");
    server
        .sgctl(&dev, &["submit", &unparsable])
        .fails(2, "does not parse");

    let not_a_revision = write("notes.sql", b"SELECT 1;");
    server
        .sgctl(&dev, &["submit", &not_a_revision])
        .fails(2, "not a revision file");

    let missing = dir.path().join("revisions").to_str().unwrap().to_string();
    server
        .sgctl(&dev, &["submit", &missing])
        .fails(2, "revisions does not exist");

    // In a directory, a revision with a misnamed file is refused whole
    // rather than submitted without it.
    let revisions = tempfile::tempdir().unwrap();
    std::fs::write(
        revisions.path().join("0001_base.up.sql"),
        "CREATE TABLE t (id int);",
    )
    .unwrap();
    std::fs::write(
        revisions.path().join("0002_more.sql"),
        "CREATE TABLE u (id int);",
    )
    .unwrap();
    server
        .sgctl(&dev, &["submit", revisions.path().to_str().unwrap()])
        .fails(2, "0002_more.sql looks like a revision file");

    // 20 MiB of SQL: refused by the server with the limit in the message.
    let mut huge = Vec::with_capacity(21 * 1024 * 1024);
    while huge.len() < 20 * 1024 * 1024 {
        huge.extend_from_slice(b"INSERT INTO t VALUES (1);\n");
    }
    let huge = write("0001_huge.up.sql", &huge);
    let run = server.sgctl(&dev, &["submit", &huge]);
    run.fails(2, "the limit is 8388608 bytes");
    assert_eq!(run.stderr.lines().count(), 1, "one clear line: {run:#?}");

    let history = server.sgctl(&dev, &["--json", "history"]).json();
    assert_eq!(
        history["revisions"].as_array().unwrap().len(),
        0,
        "{history}"
    );

    // A limit the server would read as its default is refused, not widened.
    server
        .sgctl(&dev, &["audit", "--limit", "0"])
        .fails(2, "0 is not in 1..=10000");
}
