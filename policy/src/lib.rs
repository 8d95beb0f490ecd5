//! Additive-first migration policy: lints PostgreSQL migrations with the real
//! PostgreSQL grammar (`pg_query`) and classifies each revision by risk.
//!
//! This file owns the public report types and the `lint` entry point; the
//! parsing/context work lives in `analysis`, the rules in `rules/`, the
//! `schemagate:allow` comments in `exemptions` and the compiler-style output in
//! `render`.

mod analysis;
mod exemptions;
mod history;
mod parse_error;
pub mod parser_stack;
mod render;
pub mod rules;
mod source;

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

pub use history::History;
pub use render::{Source, render_human};
pub use rules::{RULES, Rule, rule_by_id};

/// How bad a single finding is.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The approval class of a whole revision. Ordered so that `max` picks the
/// class that needs the most approval.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum RiskClass {
    Additive,
    Risky,
    Destructive,
}

impl RiskClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::Additive => "additive",
            RiskClass::Risky => "risky",
            RiskClass::Destructive => "destructive",
        }
    }
}

impl fmt::Display for RiskClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when a risk class name is not one of `additive`, `risky`,
/// `destructive`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown risk class `{0}` (expected additive, risky or destructive)")]
pub struct UnknownRiskClass(pub String);

impl FromStr for RiskClass {
    type Err = UnknownRiskClass;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "additive" => Ok(RiskClass::Additive),
            "risky" => Ok(RiskClass::Risky),
            "destructive" => Ok(RiskClass::Destructive),
            _ => Err(UnknownRiskClass(s.to_string())),
        }
    }
}

/// What kind of harm a rule guards against; the risk class is derived from it.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Loses data or breaks running clients.
    Destructive,
    /// Takes strong locks for long or rewrites a table.
    Locking,
    /// Process and hygiene: does not by itself change what the migration does.
    Hygiene,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Destructive => "destructive",
            Category::Locking => "locking",
            Category::Hygiene => "hygiene",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Linter configuration.
#[derive(Clone, Debug)]
pub struct LintConfig {
    /// Table names (unqualified) that migrations must not touch, read as
    /// PostgreSQL reads an identifier: `pours` or `Pours` means the table
    /// `pours`, and `"Pours"` (with the quotes) the table `Pours`. A
    /// statement's table names are compared with them as PostgreSQL
    /// compares names, so a quoted `"Pours"` in SQL is not `pours`.
    pub deny_tables: Vec<String>,
    /// Whether a revision without a down migration is a finding.
    pub require_down: bool,
}

impl Default for LintConfig {
    fn default() -> Self {
        LintConfig {
            // `pours` is the edge controllers' SQLite journal table; it has no
            // business in the backend schema.
            deny_tables: vec!["pours".to_string()],
            require_down: true,
        }
    }
}

/// One rule violation, located at the start of the offending statement.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub category: Category,
    /// 0-based index of the statement in the up migration.
    pub statement_index: usize,
    /// 1-based line of the statement's first token, or of the subcommand's
    /// for a finding about one command of an ALTER TABLE.
    pub line: u32,
    /// 1-based column (in characters) of that token.
    pub column: u32,
    pub statement: String,
    pub message: String,
    pub help: String,
    pub exempted: bool,
    pub exemption_reason: Option<String>,
}

/// A valid `-- schemagate:allow <rule> reason="..."` comment.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Exemption {
    pub rule: String,
    pub reason: String,
    /// The statement the comment applies to.
    pub statement_index: usize,
    /// 1-based line of the comment itself.
    pub line: u32,
}

/// A SQL syntax error, located in the file it came from.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub line: u32,
    pub column: u32,
}

/// The result of linting one revision.
#[derive(Clone, Debug, Serialize)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    pub exemptions: Vec<Exemption>,
    pub risk: RiskClass,
    /// Number of statements in the up migration.
    pub statements: usize,
    /// False when the up migration contains statements that cannot run inside
    /// a transaction block, so the executor must run it statement by statement.
    pub transactional: bool,
    /// Syntax error in the up migration; no rules ran when this is set.
    pub parse_error: Option<ParseError>,
    /// Syntax error in the down migration.
    pub down_parse_error: Option<ParseError>,
    /// The down migration's first BEGIN, COMMIT or ROLLBACK
    /// (`transaction-control`, line and column in the down SQL): the one
    /// rule that applies to the down, since the executor runs it in one
    /// transaction too.
    pub down_transaction_control: Option<Finding>,
}

impl LintReport {
    /// The report when the parser thread failed: the up migration could not
    /// be read, so it is refused.
    pub fn parser_failed(failure: &parser_stack::ParserFailure) -> LintReport {
        analysis::unreadable(analysis::parser_failure(failure), None)
    }

    /// Highest severity among all findings, exempted ones included.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether the revision must be rejected: any non-exempted error finding,
    /// or a syntax error in either direction.
    pub fn has_errors(&self) -> bool {
        self.parse_error.is_some()
            || self.down_parse_error.is_some()
            || self.down_transaction_control.is_some()
            || self
                .findings
                .iter()
                .any(|f| !f.exempted && f.severity == Severity::Error)
    }
}

/// Derives the risk class from findings. Exempted findings count: an
/// exemption documents a risk, it does not remove it. Hygiene findings never
/// raise the class (they are about process, not about what the DDL does),
/// and info findings never do either.
pub fn risk_of(findings: &[Finding]) -> RiskClass {
    findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| match f.category {
            Category::Destructive => RiskClass::Destructive,
            Category::Locking => RiskClass::Risky,
            Category::Hygiene => RiskClass::Additive,
        })
        .max()
        .unwrap_or(RiskClass::Additive)
}

/// Lints one revision. Rules apply to `up_sql`; `down_sql` is parsed so
/// that a broken down migration is caught before it is needed, and checked
/// for transaction control (`transaction-control`) alone. Never panics:
/// it runs on a [parser thread](parser_stack), and a panic there is reported
/// as a parse error of the up migration.
pub fn lint(up_sql: &str, down_sql: Option<&str>, config: &LintConfig) -> LintReport {
    lint_after(&History::default(), up_sql, down_sql, config)
}

/// [`lint`] of a revision that follows `history`, the earlier revisions of
/// its lineage: a check one of them validated proves a column not null,
/// and their domains' constraints and defaults are known.
pub fn lint_after(
    history: &History,
    up_sql: &str,
    down_sql: Option<&str>,
    config: &LintConfig,
) -> LintReport {
    parser_stack::on_parser_stack(|| analysis::lint_revision(history, up_sql, down_sql, config))
        .unwrap_or_else(|failure| LintReport::parser_failed(&failure))
}

/// [`lint_after`] of each revision of a lineage, oldest first, each after
/// the ones before it, as `(up SQL, down SQL)`: all on one parser thread,
/// which a lineage of thousands of revisions would otherwise start twice
/// a revision. Should that thread fail, every report says so.
pub fn lint_lineage<'s>(
    revisions: &[(&'s str, Option<&'s str>)],
    config: &LintConfig,
) -> Vec<LintReport> {
    parser_stack::on_parser_stack(|| {
        let mut history = History::default();
        revisions
            .iter()
            .map(|(up_sql, down_sql)| {
                let report = analysis::lint_revision(&history, up_sql, *down_sql, config);
                history.fold(up_sql);
                report
            })
            .collect()
    })
    .unwrap_or_else(|failure| {
        revisions
            .iter()
            .map(|_| LintReport::parser_failed(&failure))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_class_round_trips() {
        for r in [
            RiskClass::Additive,
            RiskClass::Risky,
            RiskClass::Destructive,
        ] {
            assert_eq!(r.as_str().parse::<RiskClass>(), Ok(r));
        }
        assert!("bogus".parse::<RiskClass>().is_err());
        assert_eq!(
            serde_json::to_string(&RiskClass::Destructive).unwrap(),
            "\"destructive\""
        );
    }

    #[test]
    fn default_config_denies_pours() {
        let c = LintConfig::default();
        assert_eq!(c.deny_tables, vec!["pours".to_string()]);
        assert!(c.require_down);
    }

    #[test]
    fn a_lineage_is_linted_as_its_revisions_are_one_after_another() {
        let lineage = [
            ("CREATE TABLE kegs (tap_id int);", Some("DROP TABLE kegs;")),
            (
                "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;",
                None,
            ),
            ("ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;", None),
            ("ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;", None),
            ("ALTER TABLE (", None),
        ];
        let config = LintConfig::default();
        let reports = lint_lineage(&lineage, &config);
        let mut history = History::default();
        for ((up, down), report) in lineage.iter().zip(&reports) {
            let alone = lint_after(&history, up, *down, &config);
            assert_eq!(
                serde_json::to_value(report).unwrap(),
                serde_json::to_value(&alone).unwrap(),
                "{up}"
            );
            history.then(up);
        }
        // The SET NOT NULL is proven by the check validated before it.
        assert!(
            reports[3]
                .findings
                .iter()
                .any(|f| f.rule == "set-not-null" && f.severity == Severity::Info),
            "{:?}",
            reports[3].findings
        );
        assert!(reports[4].parse_error.is_some());
    }

    #[test]
    fn simple_additive_revision() {
        let r = lint(
            "CREATE TABLE venues (id bigint PRIMARY KEY);",
            Some("DROP TABLE venues;"),
            &LintConfig::default(),
        );
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.risk, RiskClass::Additive);
        assert!(!r.has_errors());
        assert!(r.transactional);
        assert_eq!(r.statements, 1);
    }
}
