//! The policy file (`SCHEMAGATE_CONFIG`): environments in promotion order,
//! their targets, deployment windows, backup duty and approval matrix. It is
//! parsed and checked once at start; any mistake stops the server with a
//! message naming the line.
//!
//! An optional `[fleet]` section describes the edge-controller fleet: the
//! journal schema every controller should have, the controllers expected to
//! report, and the thresholds of the fleet view's flags.

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

/// Roles an approval matrix may name.
const APPROVING_ROLES: [&str; 2] = ["approver", "admin"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(rename = "environment", default)]
    environments: Vec<RawEnvironment>,
    emergency: Option<Emergency>,
    fleet: Option<RawFleet>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    expected_controllers: Option<Spanned<Vec<Spanned<String>>>>,
    stale_after_intervals: Option<Spanned<i64>>,
    backlog_threshold: Option<Spanned<i64>>,
    expected_tables: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: Spanned<String>,
    target_url_env: Spanned<String>,
    #[serde(default)]
    backup: bool,
    backup_dir_env: Option<Spanned<String>>,
    time_zone: Option<Spanned<String>>,
    windows: Spanned<Vec<String>>,
    lock_timeout: Option<Spanned<String>>,
    statement_timeout: Option<Spanned<String>>,
    approvals: Spanned<RawMatrix>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    additive: Spanned<RawRequirement>,
    risky: Spanned<RawRequirement>,
    destructive: Spanned<RawRequirement>,
    rollback: Spanned<RawRequirement>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRequirement {
    Word(String),
    Count { approvals: u32, roles: Vec<String> },
}

/// The emergency path for destructive revisions.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Emergency {
    pub admins: u32,
    pub approvers: u32,
    #[serde(default = "yes")]
    pub reason_required: bool,
}

fn yes() -> bool {
    true
}

/// What one risk class needs in one environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    Forbidden,
    Approvals { count: u32, roles: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    pub additive: Requirement,
    pub risky: Requirement,
    pub destructive: Requirement,
    pub rollback: Requirement,
}

/// A weekly time range in the environment's time zone, `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub days: BTreeSet<i8>,
    pub start: Time,
    pub end: Time,
}

#[derive(Clone, Debug)]
pub struct Environment {
    pub name: String,
    pub target_url_env: String,
    pub backup: bool,
    pub backup_dir_env: Option<String>,
    pub time_zone: TimeZone,
    /// Empty means always open.
    pub windows: Vec<Window>,
    pub always_open: bool,
    pub lock_timeout: String,
    pub statement_timeout: String,
    pub matrix: Matrix,
}

/// The loaded policy: environments in promotion order, its source and hash.
#[derive(Clone, Debug)]
pub struct Policy {
    pub environments: Vec<Environment>,
    pub emergency: Option<Emergency>,
    /// The `[fleet]` section, or its defaults when absent.
    pub fleet: Fleet,
    pub source: String,
    pub sha256: String,
}

/// What the fleet view compares controllers against (`[fleet]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fleet {
    /// The expected journal schema: table name to the sha256 of its
    /// normalized DDL (as `sg-agent --print-schema` prints it). `None`
    /// compares every journal with the fleet majority instead.
    pub expected_tables: Option<BTreeMap<String, String>>,
    /// Controllers that should report; one that never did is listed with
    /// the flag `never_reported`.
    pub expected_controllers: Vec<String>,
    /// `stale` after this many report intervals without a report.
    pub stale_after_intervals: u32,
    /// `backlog` above this many unsynced pours.
    pub backlog_threshold: i64,
}

impl Fleet {
    pub const DEFAULT_STALE_AFTER_INTERVALS: u32 = 3;
    pub const DEFAULT_BACKLOG_THRESHOLD: i64 = 1000;
    /// Largest `stale_after_intervals` accepted.
    pub const MAX_STALE_AFTER_INTERVALS: i64 = 1000;
    /// Most controllers `expected_controllers` may list.
    pub const MAX_EXPECTED_CONTROLLERS: usize = 100_000;
}

impl Default for Fleet {
    fn default() -> Fleet {
        Fleet {
            expected_tables: None,
            expected_controllers: Vec::new(),
            stale_after_intervals: Fleet::DEFAULT_STALE_AFTER_INTERVALS,
            backlog_threshold: Fleet::DEFAULT_BACKLOG_THRESHOLD,
        }
    }
}

impl Policy {
    pub fn load(path: &str) -> Result<Policy, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_string(),
            source,
        })?;
        Policy::parse(path, &source)
    }

    /// Parses `source`; `path` only names the file in messages.
    pub fn parse(path: &str, source: &str) -> Result<Policy, ConfigError> {
        let raw: RawPolicy = toml::from_str(source).map_err(|err| ConfigError::Syntax {
            path: path.to_string(),
            message: err.to_string().trim_end().to_string(),
        })?;
        let invalid = |span: std::ops::Range<usize>, message: String| ConfigError::Invalid {
            path: path.to_string(),
            line: source[..span.start.min(source.len())].matches('\n').count() + 1,
            message,
        };
        if raw.environments.is_empty() {
            return Err(invalid(
                0..0,
                "no [[environment]] declared: list the environments in promotion order".into(),
            ));
        }
        let mut names = BTreeSet::new();
        let mut environments = Vec::with_capacity(raw.environments.len());
        for env in raw.environments {
            let name = env.name.get_ref().clone();
            let name_ok = !name.is_empty()
                && name.len() <= 32
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !name_ok {
                return Err(invalid(
                    env.name.span(),
                    format!(
                        "environment name '{name}' must be 1-32 lowercase letters, digits, '-' or '_'"
                    ),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(invalid(
                    env.name.span(),
                    format!("environment '{name}' is declared twice"),
                ));
            }
            check_env_var_name(env.target_url_env.get_ref())
                .map_err(|message| invalid(env.target_url_env.span(), message))?;
            let backup_dir_env = match (&env.backup_dir_env, env.backup) {
                (Some(var), _) => {
                    check_env_var_name(var.get_ref())
                        .map_err(|message| invalid(var.span(), message))?;
                    Some(var.get_ref().clone())
                }
                (None, true) => {
                    return Err(invalid(
                        env.name.span(),
                        format!(
                            "environment '{name}' requires a backup but names no backup_dir_env"
                        ),
                    ));
                }
                (None, false) => None,
            };
            let time_zone = match &env.time_zone {
                Some(zone) => TimeZone::get(zone.get_ref()).map_err(|_| {
                    invalid(
                        zone.span(),
                        format!(
                            "unknown time zone '{}': use an IANA name such as Europe/Berlin",
                            zone.get_ref()
                        ),
                    )
                })?,
                None => TimeZone::UTC,
            };
            let always_open = env.windows.get_ref().iter().any(|w| w == "always");
            let mut windows = Vec::new();
            if !always_open {
                if env.windows.get_ref().is_empty() {
                    return Err(invalid(
                        env.windows.span(),
                        format!(
                            "environment '{name}' has no deployment window: use [\"always\"] or ranges like \"mon-fri 13:00-17:00\""
                        ),
                    ));
                }
                for text in env.windows.get_ref() {
                    windows.push(
                        parse_window(text)
                            .map_err(|message| invalid(env.windows.span(), message))?,
                    );
                }
            }
            let lock_timeout = duration_setting(env.lock_timeout.as_ref(), "5s")
                .map_err(|(span, m)| invalid(span, m))?;
            let statement_timeout = duration_setting(env.statement_timeout.as_ref(), "5min")
                .map_err(|(span, m)| invalid(span, m))?;
            let approvals = env.approvals.into_inner();
            let requirement = |raw: Spanned<RawRequirement>| -> Result<Requirement, ConfigError> {
                let span = raw.span();
                match raw.into_inner() {
                    RawRequirement::Word(word) if word == "forbidden" => Ok(Requirement::Forbidden),
                    RawRequirement::Word(word) => Err(invalid(
                        span,
                        format!(
                            "'{word}' is not a requirement: use \"forbidden\" or {{ approvals = N, roles = [\"approver\"] }}"
                        ),
                    )),
                    RawRequirement::Count { approvals, roles } => {
                        if approvals == 0 || approvals > 10 {
                            return Err(invalid(span, "approvals must be between 1 and 10".into()));
                        }
                        if roles.is_empty() {
                            return Err(invalid(
                                span,
                                "roles is empty: name who may approve".into(),
                            ));
                        }
                        if let Some(role) = roles
                            .iter()
                            .find(|r| !APPROVING_ROLES.contains(&r.as_str()))
                        {
                            return Err(invalid(
                                span,
                                format!("role '{role}' cannot approve: use approver or admin"),
                            ));
                        }
                        Ok(Requirement::Approvals {
                            count: approvals,
                            roles,
                        })
                    }
                }
            };
            let matrix = Matrix {
                additive: requirement(approvals.additive)?,
                risky: requirement(approvals.risky)?,
                destructive: requirement(approvals.destructive)?,
                rollback: requirement(approvals.rollback)?,
            };
            environments.push(Environment {
                name,
                target_url_env: env.target_url_env.into_inner(),
                backup: env.backup,
                backup_dir_env,
                time_zone,
                windows,
                always_open,
                lock_timeout,
                statement_timeout,
                matrix,
            });
        }
        let fleet = match raw.fleet {
            Some(fleet) => parse_fleet(fleet).map_err(|(span, m)| invalid(span, m))?,
            None => Fleet::default(),
        };
        Ok(Policy {
            environments,
            emergency: raw.emergency,
            fleet,
            sha256: hex::encode(Sha256::digest(source.as_bytes())),
            source: source.to_string(),
        })
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|env| env.name == name)
    }

    /// The environment before `name` in promotion order.
    pub fn previous(&self, name: &str) -> Option<&Environment> {
        let index = self.environments.iter().position(|env| env.name == name)?;
        index.checked_sub(1).map(|i| &self.environments[i])
    }
}

/// A controller id as the fleet service accepts it in reports.
fn is_controller_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

type Span = std::ops::Range<usize>;

fn parse_fleet(raw: RawFleet) -> Result<Fleet, (Span, String)> {
    let mut fleet = Fleet::default();
    if let Some(tables) = raw.expected_tables {
        let span = tables.span();
        let tables = tables.into_inner();
        if tables.is_empty() {
            return Err((
                span,
                "[fleet.expected_tables] is empty: paste the block `sg-agent --journal FILE --print-schema` prints, or remove the section to compare with the fleet majority".into(),
            ));
        }
        let mut expected = BTreeMap::new();
        for (name, hash) in tables {
            if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
                return Err((
                    hash.span(),
                    format!(
                        "table name '{}' is empty, too long or holds control characters",
                        name.escape_default()
                    ),
                ));
            }
            let text = hash.get_ref().trim();
            if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err((
                    hash.span(),
                    format!(
                        "table '{name}': '{}' is not a sha256 in hex; take the hashes from `sg-agent --journal FILE --print-schema`",
                        hash.get_ref().escape_default()
                    ),
                ));
            }
            expected.insert(name, text.to_ascii_lowercase());
        }
        fleet.expected_tables = Some(expected);
    }
    if let Some(ids) = raw.expected_controllers {
        let span = ids.span();
        let ids = ids.into_inner();
        if ids.len() > Fleet::MAX_EXPECTED_CONTROLLERS {
            return Err((
                span,
                format!(
                    "expected_controllers lists {} controllers; at most {} are accepted",
                    ids.len(),
                    Fleet::MAX_EXPECTED_CONTROLLERS
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for id in ids {
            let span = id.span();
            let id = id.into_inner();
            if !is_controller_id(&id) {
                return Err((
                    span,
                    format!(
                        "controller id '{}' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                        id.escape_default()
                    ),
                ));
            }
            if !seen.insert(id.clone()) {
                return Err((span, format!("controller '{id}' is listed twice")));
            }
            fleet.expected_controllers.push(id);
        }
    }
    if let Some(value) = raw.stale_after_intervals {
        let n = *value.get_ref();
        if !(1..=Fleet::MAX_STALE_AFTER_INTERVALS).contains(&n) {
            return Err((
                value.span(),
                format!(
                    "stale_after_intervals must be between 1 and {} (missed report intervals before a controller is stale)",
                    Fleet::MAX_STALE_AFTER_INTERVALS
                ),
            ));
        }
        fleet.stale_after_intervals =
            u32::try_from(n).unwrap_or(Fleet::DEFAULT_STALE_AFTER_INTERVALS);
    }
    if let Some(value) = raw.backlog_threshold {
        let n = *value.get_ref();
        if n < 0 {
            return Err((
                value.span(),
                "backlog_threshold must be 0 or more (unsynced pours above which a controller is flagged backlog)".into(),
            ));
        }
        fleet.backlog_threshold = n;
    }
    Ok(fleet)
}

fn check_env_var_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        // Not echoed: the likeliest mistake is a URL or a password put
        // where its variable's name belongs.
        Err(
            "this is not an environment variable name (uppercase letters, digits and '_'; not shown, in case it is a credential): name the variable holding the value (e.g. SCHEMAGATE_TARGET_DEV_URL), never the value itself"
                .to_string(),
        )
    }
}

/// A PostgreSQL duration setting such as `5s` or `2min`, kept as text.
fn duration_setting(
    value: Option<&Spanned<String>>,
    default: &str,
) -> Result<String, (std::ops::Range<usize>, String)> {
    let Some(value) = value else {
        return Ok(default.to_string());
    };
    let text = value.get_ref().trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() || !["ms", "s", "min", "h"].contains(&unit) {
        return Err((
            value.span(),
            format!("'{text}' is not a duration: use e.g. 500ms, 5s, 2min, 1h"),
        ));
    }
    if number.bytes().all(|digit| digit == b'0') {
        return Err((
            value.span(),
            format!(
                "'{text}': PostgreSQL takes a zero timeout as no timeout at all; give a duration, e.g. 5s"
            ),
        ));
    }
    Ok(text.to_string())
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

fn day(name: &str) -> Option<i8> {
    DAYS.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| d.to_monday_one_offset())
}

/// Parses `mon-fri 13:00-17:00`, `sat 09:00-12:00`, `mon,wed-fri
/// 08:00-10:00` or `daily 02:00-04:00`.
pub fn parse_window(text: &str) -> Result<Window, String> {
    let bad = || {
        format!(
            "window '{text}' is not of the form \"mon-fri 13:00-17:00\" (days: mon..sun or daily)"
        )
    };
    let (days_text, hours) = text.trim().split_once(' ').ok_or_else(bad)?;
    let mut days = BTreeSet::new();
    if days_text == "daily" {
        days.extend(1..=7);
    } else {
        for part in days_text.split(',') {
            match part.split_once('-') {
                Some((from, to)) => {
                    let (from, to) = (day(from).ok_or_else(bad)?, day(to).ok_or_else(bad)?);
                    if from <= to {
                        days.extend(from..=to);
                    } else {
                        days.extend((from..=7).chain(1..=to));
                    }
                }
                None => {
                    days.insert(day(part).ok_or_else(bad)?);
                }
            }
        }
    }
    let (start, end) = hours.trim().split_once('-').ok_or_else(bad)?;
    let parse_time = |t: &str| Time::strptime("%H:%M", t).map_err(|_| bad());
    let start = parse_time(start)?;
    // 24:00 closes a window at midnight; it is kept as the day's last
    // instant, which the window includes.
    let end = match end.trim() {
        "24:00" => Time::MAX,
        end => parse_time(end)?,
    };
    if start >= end {
        return Err(format!(
            "window '{text}' ends before it starts: a window ends on the day it starts, so split one that runs past midnight in two, e.g. \"fri 22:00-24:00\" and \"sat 00:00-02:00\""
        ));
    }
    Ok(Window { days, start, end })
}

impl Requirement {
    /// As people read it: `forbidden`, `1 approval from approver`, `2
    /// approvals from approver or admin`.
    pub fn describe(&self) -> String {
        match self {
            Requirement::Forbidden => "forbidden".to_string(),
            Requirement::Approvals { count, roles } => format!(
                "{count} approval{} from {}",
                if *count == 1 { "" } else { "s" },
                roles.join(" or ")
            ),
        }
    }
}

impl Emergency {
    /// As people read it: `1 admin and 2 approvers, each with a written
    /// reason`.
    pub fn describe(&self) -> String {
        let plural = |n: u32, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        format!(
            "{} and {}{}",
            plural(self.admins, "admin"),
            plural(self.approvers, "approver"),
            if self.reason_required {
                ", each with a written reason"
            } else {
                ""
            }
        )
    }
}

impl Window {
    /// As the policy file writes it, `mon-fri 13:00-17:00`; it parses back
    /// ([`parse_window`]) to the same window.
    pub fn describe(&self) -> String {
        format!(
            "{} {}-{}",
            describe_days(&self.days),
            self.start.strftime("%H:%M"),
            if self.end == Time::MAX {
                "24:00".to_string()
            } else {
                self.end.strftime("%H:%M").to_string()
            }
        )
    }

    /// Whether `time` of one of its days falls in it: from its start up to,
    /// but not including, its end (a window to 24:00 includes the day's
    /// last instant).
    fn contains(&self, time: Time) -> bool {
        self.start <= time && (time < self.end || self.end == Time::MAX)
    }
}

impl Environment {
    /// The deployment windows as people read them: `always`, or the weekly
    /// ranges with the time zone, `mon-fri 13:00-17:00 (Europe/Berlin)`.
    pub fn describe_windows(&self) -> String {
        if self.always_open {
            return "always".to_string();
        }
        let ranges: Vec<String> = self.windows.iter().map(Window::describe).collect();
        format!(
            "{} ({})",
            ranges.join(", "),
            self.time_zone.iana_name().unwrap_or("UTC")
        )
    }

    /// Whether a deployment window is open at `now`.
    pub fn window_open(&self, now: jiff::Timestamp) -> bool {
        if self.always_open {
            return true;
        }
        let local = now.to_zoned(self.time_zone.clone());
        let weekday = local.weekday().to_monday_one_offset();
        let time = local.time();
        self.windows
            .iter()
            .any(|w| w.days.contains(&weekday) && w.contains(time))
    }
}

/// Days 1 (Monday) to 7 as the policy file writes them: three or more
/// days in a row as a range (`mon-fri`), others one by one (`sat,sun`).
fn describe_days(days: &BTreeSet<i8>) -> String {
    let name = |d: i8| {
        DAYS.iter()
            .find(|(_, weekday)| weekday.to_monday_one_offset() == d)
            .map_or("?", |(name, _)| *name)
    };
    if days.len() == 7 {
        return "daily".to_string();
    }
    let mut runs: Vec<(i8, i8)> = Vec::new();
    for &day in days {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == day => *last = day,
            _ => runs.push((day, day)),
        }
    }
    let mut parts = Vec::new();
    for (first, last) in runs {
        if last - first >= 2 {
            parts.push(format!("{}-{}", name(first), name(last)));
        } else {
            parts.extend((first..=last).map(|d| name(d).to_string()));
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../examples/schemagate.toml");

    #[test]
    fn the_shipped_example_loads() {
        let policy = Policy::parse("examples/schemagate.toml", EXAMPLE).unwrap();
        let names: Vec<&str> = policy
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["dev", "ci", "pilot"]);
        assert_eq!(
            policy.previous("pilot").map(|e| e.name.as_str()),
            Some("ci")
        );
        assert!(policy.previous("dev").is_none());
        let pilot = policy.environment("pilot").unwrap();
        assert!(pilot.backup);
        assert_eq!(pilot.matrix.destructive, Requirement::Forbidden);
        assert_eq!(
            pilot.matrix.risky,
            Requirement::Approvals {
                count: 2,
                roles: vec!["approver".into()]
            }
        );
        assert_eq!(policy.sha256.len(), 64);
        assert_eq!(
            policy.fleet.expected_controllers,
            ["bar1-tap1", "bar1-tap2", "bar3-tap2"]
        );
        let tables = policy.fleet.expected_tables.as_ref().unwrap();
        assert_eq!(tables.keys().collect::<Vec<_>>(), ["pours", "settings"]);
    }

    #[test]
    fn pilot_window_is_weekday_afternoons_in_berlin() {
        let policy = Policy::parse("p", EXAMPLE).unwrap();
        let pilot = policy.environment("pilot").unwrap();
        // Wednesday 2026-11-25 13:30 UTC is 14:30 in Berlin (CET).
        assert!(pilot.window_open("2026-11-25T13:30:00Z".parse().unwrap()));
        // 16:30 UTC is 17:30 in Berlin: closed.
        assert!(!pilot.window_open("2026-11-25T16:30:00Z".parse().unwrap()));
        // Saturday afternoon: closed.
        assert!(!pilot.window_open("2026-11-28T13:30:00Z".parse().unwrap()));
        assert!(
            policy
                .environment("dev")
                .unwrap()
                .window_open("2026-11-28T03:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        let broken = EXAMPLE.replace(
            "roles = [\"approver\"] }\nrisky = { approvals = 2",
            "roles = [\"developer\"] }\nrisky = { approvals = 2",
        );
        let err = Policy::parse("p.toml", &broken).unwrap_err().to_string();
        let line = EXAMPLE
            .lines()
            .position(|l| l.starts_with("additive"))
            .unwrap()
            + 1;
        assert!(err.starts_with(&format!("p.toml:{line}:")), "{err}");
        assert!(err.contains("role 'developer' cannot approve"), "{err}");

        let err = Policy::parse("p.toml", &EXAMPLE.replace("Europe/Berlin", "Mars/Olympus"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown time zone 'Mars/Olympus'"), "{err}");
        let err = Policy::parse(
            "p.toml",
            &EXAMPLE.replace("SCHEMAGATE_TARGET_CI_URL", "postgres://u:pw@h/db"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not an environment variable name"), "{err}");
        assert!(!err.contains("pw@"), "a credential in the error: {err}");
        for zero in ["0s", "00ms"] {
            let err = Policy::parse("p.toml", &EXAMPLE.replace("\"3s\"", &format!("\"{zero}\"")))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("a zero timeout as no timeout"),
                "{zero}: {err}"
            );
        }
        let err = Policy::parse("p.toml", "[[environment]]\nname = \"dev\"\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") || err.contains("bogus"), "{err}");
        let err = Policy::parse(
            "p.toml",
            &EXAMPLE.replace("mon-fri 13:00-17:00", "weekdays"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("window 'weekdays'"), "{err}");
    }

    const MINIMAL: &str = "[[environment]]\nname = \"dev\"\ntarget_url_env = \"T\"\nwindows = [\"always\"]\n[environment.approvals]\nadditive = { approvals = 1, roles = [\"approver\"] }\nrisky = \"forbidden\"\ndestructive = \"forbidden\"\nrollback = \"forbidden\"\n";

    #[test]
    fn the_fleet_section_is_optional_and_checked() {
        let policy = Policy::parse("p.toml", MINIMAL).unwrap();
        assert_eq!(policy.fleet, Fleet::default());

        let hash = "AB".repeat(32);
        let source = format!(
            "{MINIMAL}[fleet]\nexpected_controllers = [\"bar1-tap1\", \"bar2-tap1\"]\nstale_after_intervals = 5\nbacklog_threshold = 50\n\n[fleet.expected_tables]\npours = \"{hash}\"\n\"odd name\" = \"{}\"\n",
            "0".repeat(64)
        );
        let fleet = Policy::parse("p.toml", &source).unwrap().fleet;
        assert_eq!(fleet.expected_controllers, ["bar1-tap1", "bar2-tap1"]);
        assert_eq!(fleet.stale_after_intervals, 5);
        assert_eq!(fleet.backlog_threshold, 50);
        let tables = fleet.expected_tables.unwrap();
        assert_eq!(tables["pours"], "ab".repeat(32), "hashes are lowercased");
        assert_eq!(tables["odd name"], "0".repeat(64));

        let line_of = |source: &str, needle: &str| {
            source.lines().position(|l| l.contains(needle)).unwrap() + 1
        };
        let broken = source.replace(&hash, "xyz");
        let err = Policy::parse("p.toml", &broken).unwrap_err().to_string();
        let line = line_of(&broken, "pours = ");
        assert!(err.starts_with(&format!("p.toml:{line}:")), "{err}");
        assert!(err.contains("not a sha256"), "{err}");

        let broken = source.replace("\"bar2-tap1\"]", "\"bar1-tap1\"]");
        let err = Policy::parse("p.toml", &broken).unwrap_err().to_string();
        let line = line_of(&broken, "expected_controllers");
        assert!(err.starts_with(&format!("p.toml:{line}:")), "{err}");
        assert!(err.contains("listed twice"), "{err}");

        let broken = source.replace("\"bar2-tap1\"", "\"bar 2\"");
        let err = Policy::parse("p.toml", &broken).unwrap_err().to_string();
        assert!(err.contains("controller id 'bar 2'"), "{err}");

        for (from, to, needle) in [
            ("intervals = 5", "intervals = 0", "stale_after_intervals"),
            ("threshold = 50", "threshold = -1", "backlog_threshold"),
        ] {
            let broken = source.replace(from, to);
            let err = Policy::parse("p.toml", &broken).unwrap_err().to_string();
            let line = line_of(&broken, needle);
            assert!(err.starts_with(&format!("p.toml:{line}:")), "{err}");
        }

        let empty = format!("{MINIMAL}[fleet.expected_tables]\n");
        let err = Policy::parse("p.toml", &empty).unwrap_err().to_string();
        assert!(err.contains("--print-schema"), "{err}");

        let unknown = format!("{MINIMAL}[fleet]\nexpected_schema = 1\n");
        let err = Policy::parse("p.toml", &unknown).unwrap_err().to_string();
        assert!(err.contains("expected_schema"), "{err}");
    }

    #[test]
    fn windows_parse() {
        let w = parse_window("fri-mon 22:00-23:30").unwrap();
        assert_eq!(w.days.iter().copied().collect::<Vec<_>>(), [1, 5, 6, 7]);
        assert!(parse_window("mon 17:00-13:00").is_err());
        assert_eq!(parse_window("daily 02:00-04:00").unwrap().days.len(), 7);
        // Up to midnight, its last instant included.
        let evening = parse_window("fri 22:00-24:00").unwrap();
        assert!(evening.contains(Time::constant(23, 59, 59, 999_999_999)));
        assert!(evening.contains(Time::constant(22, 0, 0, 0)));
        assert!(!evening.contains(Time::constant(21, 59, 59, 0)));
        assert!(parse_window("fri 24:00-24:00").is_err());
        assert!(parse_window("fri 00:00-24:01").is_err());
    }

    #[test]
    fn windows_matrix_and_emergency_are_described_as_the_file_writes_them() {
        for (text, described) in [
            ("mon-fri 13:00-17:00", "mon-fri 13:00-17:00"),
            ("sat,sun 09:00-12:00", "sat,sun 09:00-12:00"),
            ("fri-mon 22:00-23:30", "mon,fri-sun 22:00-23:30"),
            ("mon,wed,fri 08:00-09:00", "mon,wed,fri 08:00-09:00"),
            ("daily 02:00-04:00", "daily 02:00-04:00"),
            ("sat 18:00-24:00", "sat 18:00-24:00"),
        ] {
            let window = parse_window(text).unwrap();
            let again = window.describe();
            assert_eq!(again, described);
            assert_eq!(parse_window(&again).unwrap(), window, "{again}");
        }

        let policy = Policy::parse("examples/schemagate.toml", EXAMPLE).unwrap();
        let described: Vec<String> = policy
            .environments
            .iter()
            .map(Environment::describe_windows)
            .collect();
        assert_eq!(
            described,
            ["always", "always", "mon-fri 13:00-17:00 (Europe/Berlin)"]
        );
        let pilot = &policy.environments[2].matrix;
        assert_eq!(pilot.additive.describe(), "1 approval from approver");
        assert_eq!(pilot.risky.describe(), "2 approvals from approver");
        assert_eq!(pilot.destructive.describe(), "forbidden");
        let both = Requirement::Approvals {
            count: 1,
            roles: vec!["approver".into(), "admin".into()],
        };
        assert_eq!(both.describe(), "1 approval from approver or admin");
        assert_eq!(
            policy
                .emergency
                .as_ref()
                .map(Emergency::describe)
                .as_deref(),
            Some("1 admin and 2 approvers, each with a written reason")
        );
    }
}
