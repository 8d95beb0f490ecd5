//! Property tests of the revision file reader: random file names and random
//! bytes (invalid UTF-8 included) in a temporary directory never make
//! `revision_files::read` panic; what it returns is exactly what is on disk,
//! and what it refuses it refuses with the file and the offset.
//!
//! Each property runs `PROPTEST_CASES` cases (default 256, a few seconds);
//! see docs/reliability.md for a longer run.

use proptest::prelude::*;
use schemagate_client::revision_files::{ReadError, read};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// File contents: random bytes, or text that is mostly SQL with a few bytes
/// that may not be UTF-8 at all.
fn contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (
            "\\PC{0,200}",
            proptest::collection::vec(any::<u8>(), 0..3),
            any::<usize>()
        )
            .prop_map(|(text, bad, at)| {
                let mut bytes = text.into_bytes();
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, bad);
                bytes
            }),
        "(-- description: [^\\n]{0,30}\\n)?\\PC{0,100}".prop_map(String::into_bytes),
    ]
}

/// A file name: a revision's, almost one, or anything Linux allows (no `/`,
/// no NUL), in or out of UTF-8.
fn file_name() -> impl Strategy<Value = OsString> {
    let suffix = prop::sample::select(vec![".up.sql", ".down.sql", ".sql", ".up.sql.bak", ""]);
    prop_oneof![
        3 => ("[0-9]{1,6}_[a-z0-9_]{0,10}", suffix.clone())
            .prop_map(|(id, suffix)| OsString::from(format!("{id}{suffix}"))),
        2 => ("[^/\\x00]{0,40}", suffix)
            .prop_map(|(stem, suffix)| OsString::from(format!("{stem}{suffix}"))),
        1 => proptest::collection::vec(
            any::<u8>().prop_filter("no / or NUL", |b| *b != b'/' && *b != 0),
            1..40
        )
        .prop_map(|mut bytes| {
            bytes.extend_from_slice(b".up.sql");
            OsString::from_vec(bytes)
        }),
        1 => (1usize..240).prop_map(|n| OsString::from(format!("0001_{}.up.sql", "a".repeat(n)))),
    ]
    .prop_filter("a usable name", |name| {
        let bytes = name.as_encoded_bytes();
        !bytes.is_empty() && bytes != b"." && bytes != b".." && bytes.len() < 250
    })
}

fn first_bad_byte(bytes: &[u8]) -> Option<usize> {
    std::str::from_utf8(bytes).err().map(|e| e.valid_up_to())
}

proptest! {
    #[test]
    fn any_contents_are_read_back_exactly_or_refused_at_the_first_bad_byte(
        up in contents(),
        down in proptest::option::of(contents()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let up_path = dir.path().join("0001_fuzz.up.sql");
        std::fs::write(&up_path, &up).unwrap();
        if let Some(down) = &down {
            std::fs::write(dir.path().join("0001_fuzz.down.sql"), down).unwrap();
        }
        for input in [dir.path().to_path_buf(), up_path.clone()] {
            let result = read(std::slice::from_ref(&input));
            match (first_bad_byte(&up), down.as_deref().and_then(first_bad_byte)) {
                (Some(offset), _) => match result {
                    Err(ReadError::NotUtf8 { path, offset: at }) => {
                        prop_assert_eq!(&path, &up_path);
                        prop_assert_eq!(at, offset);
                    }
                    other => prop_assert!(false, "expected NotUtf8 for the up file, got {:?}", other),
                },
                (None, Some(offset)) => match result {
                    Err(ReadError::NotUtf8 { path, offset: at }) => {
                        prop_assert!(path.ends_with("0001_fuzz.down.sql"), "{:?}", path);
                        prop_assert_eq!(at, offset);
                    }
                    other => prop_assert!(false, "expected NotUtf8 for the down file, got {:?}", other),
                },
                (None, None) => {
                    let revisions = result.expect("valid UTF-8 is read");
                    prop_assert_eq!(revisions.len(), 1);
                    let revision = &revisions[0];
                    prop_assert_eq!(&revision.id, "0001_fuzz");
                    prop_assert_eq!(revision.up_sql.as_bytes(), &up[..]);
                    prop_assert_eq!(revision.down_sql.as_bytes(), down.as_deref().unwrap_or_default());
                    prop_assert!(!revision.description.contains('\n'));
                }
            }
        }
    }

    #[test]
    fn random_file_names_never_panic_and_every_up_file_is_found(
        files in proptest::collection::vec((file_name(), contents()), 0..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut paths: Vec<PathBuf> = Vec::new();
        for (name, bytes) in &files {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            paths.push(path);
        }
        // As a directory, and as the list of files.
        for input in [vec![dir.path().to_path_buf()], paths] {
            let Ok(revisions) = read(&input) else { continue };
            // Ordered by the number in front, then by id.
            let key = |id: &str| {
                let digits: String = id.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse::<u128>().unwrap_or(u128::MAX), id.to_string())
            };
            let keys: Vec<_> = revisions.iter().map(|r| key(&r.id)).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            prop_assert_eq!(&keys, &sorted);
            for revision in &revisions {
                let name = revision.up_path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                prop_assert_eq!(name, format!("{}.up.sql", revision.id));
                prop_assert_eq!(revision.up_sql.as_bytes(), &std::fs::read(&revision.up_path).unwrap()[..]);
            }
            // Every up file with a UTF-8 name is among them.
            for path in std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()) {
                let id = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".up.sql"));
                if let Some(id) = id {
                    prop_assert!(revisions.iter().any(|r| r.id == id), "{} missing", id);
                }
            }
        }
    }
}

#[test]
fn a_directory_named_like_a_revision_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("0001_dir.up.sql")).unwrap();
    assert!(matches!(
        read(&[dir.path().to_path_buf()]),
        Err(ReadError::Io { .. })
    ));
    let missing = dir.path().join("0002_gone.up.sql");
    assert!(matches!(read(&[missing]), Err(ReadError::Missing(_))));
}
