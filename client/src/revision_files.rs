//! Reads revisions from disk: `NNNN_name.up.sql` with an optional
//! `NNNN_name.down.sql` beside it, given as files or as a directory; and
//! the lineage an up file follows in its directory, for its lint.

use schemagate_policy::History;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One revision read from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionFiles {
    pub id: String,
    pub up_path: PathBuf,
    pub up_sql: String,
    pub down_path: Option<PathBuf>,
    pub down_sql: String,
    /// From a `-- description: ...` line in the up file, if any.
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid UTF-8 (first bad byte at offset {offset}); save it as UTF-8")]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("{0} is not a revision file: expected NNNN_name.up.sql or NNNN_name.down.sql")]
    NotARevisionFile(PathBuf),
    #[error("{0} has no matching .up.sql file")]
    DownWithoutUp(PathBuf),
    #[error("no NNNN_name.up.sql files found in {0}")]
    Empty(PathBuf),
    #[error(
        "{0} looks like a revision file but is not named NNNN_name.up.sql or NNNN_name.down.sql (lowercase); rename it, or move it out of the directory"
    )]
    Misnamed(PathBuf),
}

enum Direction {
    Up,
    Down,
}

fn classify(path: &Path) -> Option<(String, Direction)> {
    let name = path.file_name()?.to_str()?;
    if let Some(id) = name.strip_suffix(".up.sql") {
        Some((id.to_string(), Direction::Up))
    } else {
        name.strip_suffix(".down.sql")
            .map(|id| (id.to_string(), Direction::Down))
    }
}

/// A file in a revision directory that a person probably meant as a
/// revision (`0002_x.sql`, `0002_x.UP.sql`) but that [`classify`] does not
/// take: skipping it silently would submit a lineage without it.
fn looks_like_a_revision(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    let numbered = name.starts_with(|c: char| c.is_ascii_digit());
    lower.ends_with(".up.sql")
        || lower.ends_with(".down.sql")
        || (numbered && lower.ends_with(".sql"))
}

/// Reads a file that must be UTF-8.
pub fn read_utf8(path: &Path) -> Result<String, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|err| ReadError::NotUtf8 {
        path: path.to_path_buf(),
        offset: err.utf8_error().valid_up_to(),
    })
}

/// The revision files directly inside `dir`, refusing one that looks like a
/// misnamed revision and a directory without any up file.
fn revision_files_in(dir: &Path) -> Result<Vec<(String, Direction, PathBuf)>, ReadError> {
    let io = |source| ReadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        match classify(&path) {
            Some((id, direction)) => found.push((id, direction, path)),
            None if looks_like_a_revision(&path) => return Err(ReadError::Misnamed(path)),
            None => {}
        }
    }
    if !found
        .iter()
        .any(|(_, direction, _)| matches!(direction, Direction::Up))
    {
        return Err(ReadError::Empty(dir.to_path_buf()));
    }
    Ok(found)
}

/// The `NNNN_name.up.sql` files directly inside `dir`, in id order.
pub fn up_files_in(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let mut ups: Vec<(String, PathBuf)> = revision_files_in(dir)?
        .into_iter()
        .filter_map(|(id, direction, path)| {
            matches!(direction, Direction::Up).then_some((id, path))
        })
        .collect();
    ups.sort_by(|a, b| order_key(&a.0).cmp(&order_key(&b.0)));
    Ok(ups.into_iter().map(|(_, path)| path).collect())
}

/// The lint's [`History`] before each up file: the up files before it in
/// its directory, in id order, folded once for a directory linted in
/// order.
#[derive(Default)]
pub struct Lineages {
    directories: HashMap<PathBuf, Lineage>,
}

/// One directory's up files and how many of them are folded.
struct Lineage {
    ups: Vec<PathBuf>,
    folded: usize,
    history: History,
}

impl Lineages {
    /// The history an up file follows in its directory: empty for a file
    /// that is not an up file. An error when its directory does not read as
    /// a revisions directory, or an earlier file there cannot be read.
    pub fn before(&mut self, up_path: &Path) -> Result<History, ReadError> {
        let Some((_, Direction::Up)) = classify(up_path) else {
            return Ok(History::default());
        };
        let dir = match up_path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let lineage = match self.directories.entry(dir) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => {
                let ups = up_files_in(new.key())?;
                new.insert(Lineage {
                    ups,
                    folded: 0,
                    history: History::default(),
                })
            }
        };
        let Some(at) = lineage
            .ups
            .iter()
            .position(|up| up.file_name() == up_path.file_name())
        else {
            return Ok(History::default());
        };
        if at < lineage.folded {
            lineage.folded = 0;
            lineage.history = History::default();
        }
        while lineage.folded < at {
            lineage
                .history
                .then(&read_utf8(&lineage.ups[lineage.folded])?);
            lineage.folded += 1;
        }
        Ok(lineage.history.clone())
    }
}

/// Collects the revisions named by `inputs` (files and directories), ordered
/// by id. A directory contributes every revision file directly inside it.
pub fn read(inputs: &[PathBuf]) -> Result<Vec<RevisionFiles>, ReadError> {
    let mut ups: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut downs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for input in inputs {
        if input.is_dir() {
            for (id, direction, path) in revision_files_in(input)? {
                match direction {
                    Direction::Up => ups.insert(id, path),
                    Direction::Down => downs.insert(id, path),
                };
            }
        } else if !input.exists() {
            return Err(ReadError::Missing(input.clone()));
        } else {
            match classify(input) {
                Some((id, Direction::Up)) => {
                    // An explicitly named up file brings its down file along.
                    let sibling = input.with_file_name(format!("{id}.down.sql"));
                    if sibling.is_file() {
                        downs.entry(id.clone()).or_insert(sibling);
                    }
                    ups.insert(id, input.clone());
                }
                Some((id, Direction::Down)) => {
                    downs.insert(id, input.clone());
                }
                None => return Err(ReadError::NotARevisionFile(input.clone())),
            }
        }
    }
    if let Some((id, path)) = downs.iter().find(|(id, _)| !ups.contains_key(*id)) {
        let _ = id;
        return Err(ReadError::DownWithoutUp(path.clone()));
    }
    let mut revisions = Vec::with_capacity(ups.len());
    for (id, up_path) in ups {
        let up_sql = read_utf8(&up_path)?;
        let down_path = downs.remove(&id);
        let down_sql = match &down_path {
            Some(path) => read_utf8(path)?,
            None => String::new(),
        };
        revisions.push(RevisionFiles {
            description: description_of(&up_sql),
            id,
            up_path,
            up_sql,
            down_path,
            down_sql,
        });
    }
    revisions.sort_by(|a, b| order_key(&a.id).cmp(&order_key(&b.id)));
    Ok(revisions)
}

/// Orders by the numeric prefix first, so 10000_x follows 9999_y.
fn order_key(id: &str) -> (u128, &str) {
    let digits: String = id.chars().take_while(char::is_ascii_digit).collect();
    (digits.parse().unwrap_or(u128::MAX), id)
}

fn description_of(sql: &str) -> String {
    sql.lines()
        .map(str::trim)
        .take_while(|line| line.is_empty() || line.starts_with("--"))
        .find_map(|line| {
            line.strip_prefix("--")
                .map(str::trim)?
                .strip_prefix("description:")
        })
        .map(|text| text.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_directory_yields_its_revisions_in_order_with_their_downs() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "0002_b.up.sql",
            b"-- description: second\nSELECT 2;",
        );
        write(dir.path(), "10000_c.up.sql", b"SELECT 3;");
        write(dir.path(), "0001_a.up.sql", b"SELECT 1;");
        write(dir.path(), "0001_a.down.sql", b"SELECT -1;");
        write(dir.path(), "README.md", b"not a revision");
        let revisions = read(&[dir.path().to_path_buf()]).unwrap();
        let ids: Vec<&str> = revisions.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["0001_a", "0002_b", "10000_c"]);
        assert_eq!(revisions[0].down_sql, "SELECT -1;");
        assert_eq!(revisions[1].down_sql, "");
        assert_eq!(revisions[1].description, "second");
    }

    #[test]
    fn bad_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = write(dir.path(), "0001_a.up.sql", b"SELECT '\xff';");
        let err = read(&[bad]).unwrap_err().to_string();
        assert!(err.contains("0001_a.up.sql is not valid UTF-8"), "{err}");
        let other = write(dir.path(), "notes.sql", b"SELECT 1;");
        assert!(matches!(
            read(&[other]),
            Err(ReadError::NotARevisionFile(_))
        ));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            read(&[empty.path().to_path_buf()]),
            Err(ReadError::Empty(_))
        ));
        let missing = read(&[dir.path().join("no_such_dir")]).unwrap_err();
        assert_eq!(
            missing.to_string(),
            format!(
                "{} does not exist",
                dir.path().join("no_such_dir").display()
            )
        );
    }

    #[test]
    fn a_directory_refuses_files_that_look_like_misnamed_revisions() {
        for name in ["0002_b.sql", "0002_b.UP.sql", "0002_b.Down.SQL"] {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "0001_a.up.sql", b"SELECT 1;");
            write(dir.path(), "seed.sql", b"SELECT 0;");
            let misnamed = write(dir.path(), name, b"SELECT 2;");
            let err = read(&[dir.path().to_path_buf()]).unwrap_err();
            assert!(
                matches!(&err, ReadError::Misnamed(path) if *path == misnamed),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn an_up_file_follows_the_up_files_before_it_in_any_order_asked() {
        let dir = tempfile::tempdir().unwrap();
        let base = "CREATE DOMAIN stamp AS timestamptz DEFAULT clock_timestamp();";
        let dropped = "ALTER DOMAIN stamp DROP DEFAULT;";
        write(dir.path(), "0001_a.up.sql", base.as_bytes());
        write(dir.path(), "0001_a.down.sql", b"DROP DOMAIN stamp;");
        let second = write(dir.path(), "0002_b.up.sql", dropped.as_bytes());
        let third = write(dir.path(), "0010_c.up.sql", b"SELECT 1;");
        let mut lineages = Lineages::default();
        // Asked last first: the directory is folded again from its start.
        assert_eq!(
            lineages.before(&third).unwrap(),
            History::of([base, dropped])
        );
        assert_eq!(lineages.before(&second).unwrap(), History::of([base]));
        assert_ne!(History::of([base]), History::default());
        let down = dir.path().join("0001_a.down.sql");
        assert_eq!(lineages.before(&down).unwrap(), History::default());
        // A file before that cannot be read: an error, each time, and
        // nothing folded twice.
        let unreadable = dir.path().join("0011_d.up.sql");
        write(dir.path(), "0011_d.up.sql", b"\xff");
        let after = write(dir.path(), "0012_e.up.sql", b"SELECT 1;");
        let mut lineages = Lineages::default();
        for _ in 0..2 {
            assert!(matches!(
                lineages.before(&after),
                Err(ReadError::NotUtf8 { .. })
            ));
        }
        assert_eq!(
            lineages.before(&unreadable).unwrap(),
            History::of([base, dropped])
        );
        write(dir.path(), "0003_d.sql", b"SELECT 3;");
        assert!(matches!(
            Lineages::default().before(&third),
            Err(ReadError::Misnamed(_))
        ));
    }
}
