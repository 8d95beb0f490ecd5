//! Backups before migrate: `pg_dump -Fc` of the target into the directory
//! the policy names, verified with `pg_restore --list`, and described by its
//! path, size and sha256. The password reaches `pg_dump` through
//! `PGPASSWORD`, never through its command line.

use crate::config::Environment;
use crate::target::{self, Target};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "environment '{environment}' requires a backup but {variable}, the backup directory, is not set on the server; nothing ran"
    )]
    NoDirectory {
        environment: String,
        variable: String,
    },
    #[error(
        "the backup directory of environment '{environment}' is not writable ({detail}); nothing ran"
    )]
    Unwritable { environment: String, detail: String },
    #[error("the backup of environment '{environment}' failed: {detail}; nothing ran")]
    Failed { environment: String, detail: String },
}

/// A verified backup file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backup {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Where PostgreSQL's client programs are: `SCHEMAGATE_PG_BIN` when set,
/// otherwise the `PATH`.
fn program(name: &str) -> PathBuf {
    match std::env::var_os("SCHEMAGATE_PG_BIN") {
        Some(dir) => Path::new(&dir).join(name),
        None => PathBuf::from(name),
    }
}

/// The backup directory of `env`, from the variable its policy names; `None`
/// when the variable is unset or blank.
pub fn directory(env: &Environment) -> Option<String> {
    let variable = env.backup_dir_env.as_deref()?;
    std::env::var(variable)
        .ok()
        .filter(|d| !d.trim().is_empty())
}

/// Dumps the target of `env` into its backup directory; `label` names the
/// file (execution id). Nothing is left behind when the backup fails.
pub async fn take(env: &Environment, target: &Target, label: &str) -> Result<Backup, BackupError> {
    let variable = env.backup_dir_env.clone().unwrap_or_default();
    let dir = directory(env).ok_or_else(|| BackupError::NoDirectory {
        environment: env.name.clone(),
        variable: variable.clone(),
    })?;
    let unwritable = |detail: String| BackupError::Unwritable {
        environment: env.name.clone(),
        detail,
    };
    // A dump holds every row of the target: readable by the server's user
    // alone, in a directory it creates for itself alone (one that exists
    // keeps the mode its operator gave it).
    tokio::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .await
        .map_err(|err| unwritable(format!("{dir}: {err}")))?;
    let path = Path::new(&dir).join(format!("{}-{}.dump", env.name, label));
    // pg_dump writes into the file made here, which keeps its mode.
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .await
        .map_err(|err| unwritable(format!("{}: {err}", path.display())))?;
    let failed = |detail: String| BackupError::Failed {
        environment: env.name.clone(),
        detail: target.scrub(&detail),
    };

    let url = target.url();
    let mut dump = Command::new(program("pg_dump"));
    dump.arg("--format=custom")
        .arg("--no-password")
        .arg("--file")
        .arg(&path)
        .arg("--dbname")
        .arg(target::without_password(url))
        .kill_on_drop(true);
    if let Some(password) = target::password_of(url) {
        dump.env("PGPASSWORD", password);
    }
    let output = dump
        .output()
        .await
        .map_err(|err| failed(format!("cannot run pg_dump: {err}")))?;
    if !output.status.success() {
        let _ = tokio::fs::remove_file(&path).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        // A full disk or a read-only directory is the operator's to fix.
        if stderr.contains("could not open output file") || stderr.contains("No space left") {
            return Err(unwritable(stderr.trim().to_string()));
        }
        return Err(failed(format!("pg_dump: {}", stderr.trim())));
    }

    let list = Command::new(program("pg_restore"))
        .arg("--list")
        .arg(&path)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|err| failed(format!("cannot run pg_restore: {err}")))?;
    if !list.status.success() {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(failed(format!(
            "pg_restore --list cannot read the dump: {}",
            String::from_utf8_lossy(&list.stderr).trim()
        )));
    }

    let (bytes, sha256) = digest(&path)
        .await
        .map_err(|err| failed(format!("cannot read the dump back: {err}")))?;
    Ok(Backup {
        path: path.to_string_lossy().into_owned(),
        bytes,
        sha256,
    })
}

async fn digest(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}
