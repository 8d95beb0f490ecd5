//! The edge agent behind `sg-agent`: observes a controller's SQLite journal
//! read-only and reports its state to the Fleet service, once or every
//! interval. Every report carries this process's [`instance`], so the server
//! can tell two agents reporting under one controller id from a restart.

pub mod ddl;
pub mod journal;
pub mod reporter;

#[cfg(test)]
mod tests;

pub use journal::{DEFAULT_INTEGRITY_EVERY, Observer, ObserverStats, observe};
pub use reporter::SendError;

use crate::v1::JournalReport;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// This agent process's instance id, sent in every report: picked at
/// random when the process first asks, kept until it exits.
pub fn instance() -> &'static str {
    static INSTANCE: OnceLock<String> = OnceLock::new();
    INSTANCE.get_or_init(new_instance)
}

/// 32 random hex digits (128 bits). The client depends on no random-number
/// crate; std's `RandomState` is keyed from the operating system's random
/// source in each process, and every `RandomState` has other keys, so two
/// of them give two independent 64-bit hashes. Two controllers booted from
/// one cloned card still differ here.
fn new_instance() -> String {
    use std::hash::{BuildHasher, RandomState};
    let half = || RandomState::new().hash_one(std::process::id());
    format!("{:016x}{:016x}", half(), half())
}

/// The instance id of a one-shot run (`sg-agent --once`, from cron): the
/// same for every run on this machine for this journal, so that the runs
/// of one controller read as one instance, and those of two controllers
/// under one id (a cloned SD card, a mis-set `--controller-id`) alternate
/// between two, which the server flags. Derived from a network hardware
/// address of the machine, which a cloned card does not carry over (else
/// from its machine id), and the journal's path; random, as a daemon's,
/// when neither can be read.
pub fn once_instance(journal: &Path) -> String {
    use sha2::{Digest, Sha256};
    let Some(machine) = machine_identity() else {
        return new_instance();
    };
    let path = std::fs::canonicalize(journal).unwrap_or_else(|_| journal.to_path_buf());
    let mut hasher = Sha256::new();
    hasher.update(b"sg-agent --once\0");
    hasher.update(machine.as_bytes());
    hasher.update(b"\0");
    hasher.update(path.as_os_str().as_encoded_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// What tells this machine from another booted from a copy of its card:
/// the hardware address of one of its network interfaces backed by a
/// device ([`machine_address`]), else the machine id systemd keeps.
fn machine_identity() -> Option<String> {
    let interfaces = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|interface| {
            let device = interface.path().join("device");
            let bus = std::fs::read_link(device.join("subsystem")).ok()?;
            let address = std::fs::read_to_string(interface.path().join("address")).ok()?;
            Some((bus.ends_with("usb"), address.trim().to_string()))
        });
    if let Some(address) = machine_address(interfaces) {
        return Some(address);
    }
    std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

/// One address of the interfaces given as (on USB, hardware address): the
/// lowest of those not on USB, else the lowest. One address, and a
/// built-in one first, so that an adapter plugged in and out does not
/// change it (the server would take the change back for a second agent).
fn machine_address(interfaces: impl Iterator<Item = (bool, String)>) -> Option<String> {
    interfaces
        .filter(|(_, address)| address.bytes().any(|b| !matches!(b, b'0' | b':')))
        .min()
        .map(|(_, address)| address)
}

/// Whether the report's journal figures (mode, tables, pages, check) were
/// read: any status but `ok` sends none of them, so a `0` there is no count.
pub fn journal_was_read(report: &JournalReport) -> bool {
    report.status == "ok"
}

/// The journal's schema as a `[fleet.expected_tables]` block for the
/// server's policy file: each table with the fingerprint reports carry for
/// it, under a comment holding the normalized statement that was hashed.
pub fn expected_schema_toml(journal: &Path) -> Result<String, String> {
    let tables = journal::table_ddl(journal)?;
    if tables.is_empty() {
        return Err(format!("{} has no tables", journal.display()));
    }
    let mut out = format!(
        "# Expected journal schema, read from {} by sg-agent {}.\n\
         # Paste into the server's policy file (SCHEMAGATE_CONFIG), after [fleet] if it has one:\n\
         # schema_drift then flags every journal whose tables or DDL differ from these.\n\
         [fleet.expected_tables]\n",
        comment_text(&journal.display().to_string()),
        env!("CARGO_PKG_VERSION"),
    );
    for (name, sql) in &tables {
        out.push_str(&format!(
            "# {}\n{} = \"{}\"\n",
            comment_text(&ddl::normalize(sql)),
            toml_key(name),
            ddl::fingerprint(sql)
        ));
    }
    Ok(out)
}

/// A TOML key: bare when it can be, else a basic string.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        return name.to_string();
    }
    let mut key = String::from("\"");
    for c in name.chars() {
        match c {
            '"' => key.push_str("\\\""),
            '\\' => key.push_str("\\\\"),
            c if c.is_control() => key.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => key.push(c),
        }
    }
    key.push('"');
    key
}

/// Text safe inside a one-line TOML comment.
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Observes `journal` in full (integrity check included) and labels the
/// report for `controller_id`.
pub fn report(journal: &Path, controller_id: &str, interval: Duration) -> JournalReport {
    labelled(observe(journal), controller_id, interval)
}

/// Labels an observation for `controller_id`, from this [`instance`].
fn labelled(observation: JournalReport, controller_id: &str, interval: Duration) -> JournalReport {
    JournalReport {
        controller_id: controller_id.to_string(),
        interval_seconds: u32::try_from(interval.as_secs()).unwrap_or(u32::MAX),
        agent_instance: instance().to_string(),
        ..observation
    }
}

/// Observes once and sends the report; returns it when delivered.
pub async fn run_once(
    journal: &Path,
    controller_id: &str,
    interval: Duration,
    server: &str,
    token: Option<&str>,
) -> Result<JournalReport, SendError> {
    let report = JournalReport {
        agent_instance: once_instance(journal),
        ..report(journal, controller_id, interval)
    };
    reporter::Grpc::new(server, token).send(&report).await?;
    Ok(report)
}

/// Observes and reports every `interval`, retrying through outages. Returns
/// only when the server refuses the token, which no retry can cure. The
/// integrity check runs on the first observation and then on every
/// `integrity_every`th (see [`Observer`]).
pub async fn run(
    journal: &Path,
    controller_id: &str,
    interval: Duration,
    integrity_every: u32,
    server: &str,
    token: Option<&str>,
) -> SendError {
    let mut transport = reporter::Grpc::new(server, token);
    let mut observer = Observer::new(integrity_every);
    reporter::run_forever(
        interval,
        || labelled(observer.observe(journal), controller_id, interval),
        &mut transport,
    )
    .await
}
