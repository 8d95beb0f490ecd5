//! Compiler-style human output for a lint report:
//!
//! ```text
//! up.sql:3:1: error[drop-table]: DROP TABLE kegs deletes the table and its data
//!   |
//! 3 | DROP TABLE kegs;
//!   | ^
//!   = help: ...
//! ```

use crate::source::LineIndex;
use crate::{Finding, LintReport, ParseError, Severity};
use std::fmt::Write;

/// The text a lint report was made from, and the name it is shown under.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

/// Renders `report` for the up SQL `up` and, when it was linted with one,
/// its down SQL `down`, quoting the line of each finding. Without `down`,
/// a problem of the down SQL is located as `UP-PATH (down):LINE:COLUMN`.
pub fn render_human(report: &LintReport, up: Source<'_>, down: Option<Source<'_>>) -> String {
    let path = up.path;
    let index = LineIndex::new(up.text);
    let down_path = down.map_or_else(|| format!("{path} (down)"), |d| d.path.to_string());
    let down_index = down.map(|d| LineIndex::new(d.text));
    let mut out = String::new();
    if let Some(e) = &report.parse_error {
        render_parse_error(&mut out, path, Some(&index), e);
    }
    if let Some(e) = &report.down_parse_error {
        render_parse_error(&mut out, &down_path, down_index.as_ref(), e);
    }
    if let Some(f) = &report.down_transaction_control {
        render_finding(&mut out, &down_path, down_index.as_ref(), f);
    }
    for f in &report.findings {
        render_finding(&mut out, path, Some(&index), f);
    }
    let count = |s: Severity| {
        report
            .findings
            .iter()
            .filter(|f| f.severity == s && !f.exempted)
            .count()
    };
    let exempted = report.findings.iter().filter(|f| f.exempted).count();
    let _ = writeln!(
        out,
        "{path}: risk {}: {} statement{}, {} error{}, {} warning{}, {} info, {} exempted{}{}",
        report.risk,
        report.statements,
        plural(report.statements),
        count(Severity::Error),
        plural(count(Severity::Error)),
        count(Severity::Warning),
        plural(count(Severity::Warning)),
        count(Severity::Info),
        exempted,
        if report.transactional {
            ""
        } else {
            ", non-transactional"
        },
        if report.parse_error.is_some() || report.down_parse_error.is_some() {
            ", parse error"
        } else {
            ""
        },
    );
    out
}

/// A syntax error at its position in `path`, with the line quoted when
/// the text is at hand (`index`).
fn render_parse_error(out: &mut String, path: &str, index: Option<&LineIndex<'_>>, e: &ParseError) {
    let _ = writeln!(
        out,
        "{path}:{}:{}: error[parse-error]: {}",
        e.line, e.column, e.message
    );
    if let Some(index) = index {
        snippet(out, index, e.line, e.column);
    }
    out.push('\n');
}

/// A finding at its position in `path`, with the line quoted when the text
/// is at hand (`index`), its help and its exemption.
fn render_finding(out: &mut String, path: &str, index: Option<&LineIndex<'_>>, f: &Finding) {
    let tag = if f.exempted { " (exempted)" } else { "" };
    let _ = writeln!(
        out,
        "{path}:{}:{}: {}[{}]{tag}: {}",
        f.line, f.column, f.severity, f.rule, f.message
    );
    if let Some(index) = index {
        snippet(out, index, f.line, f.column);
    }
    let _ = writeln!(out, "{}= help: {}", gutter_pad(f.line), f.help);
    if let Some(reason) = &f.exemption_reason {
        let _ = writeln!(out, "{}= exempted: {}", gutter_pad(f.line), reason);
    }
    out.push('\n');
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn gutter_pad(line: u32) -> String {
    " ".repeat(line.to_string().len() + 1)
}

fn snippet(out: &mut String, index: &LineIndex<'_>, line: u32, column: u32) {
    let text = index.line_text(line);
    let pad = gutter_pad(line);
    let _ = writeln!(out, "{pad}|");
    let _ = writeln!(out, "{line} | {}", text.replace('\t', " "));
    let caret_at = (column as usize).saturating_sub(1);
    let _ = writeln!(out, "{pad}| {}^", " ".repeat(caret_at));
}

#[cfg(test)]
mod tests {
    use super::Source;
    use crate::{LintConfig, lint, render_human};

    fn up<'a>(path: &'a str, text: &'a str) -> Source<'a> {
        Source { path, text }
    }

    #[test]
    fn renders_like_a_compiler() {
        let src = "CREATE TABLE a (id int);\n  DROP TABLE kegs;\n";
        let report = lint(src, Some("SELECT 1;"), &LintConfig::default());
        let out = render_human(&report, up("up.sql", src), None);
        assert!(
            out.contains("up.sql:2:3: error[drop-table]: DROP TABLE kegs deletes"),
            "{out}"
        );
        assert!(out.contains("2 |   DROP TABLE kegs;\n  |   ^\n"), "{out}");
        assert!(out.contains("  = help: "), "{out}");
        assert!(out.trim_end().ends_with("0 info, 0 exempted"), "{out}");
        assert!(out.contains("risk destructive"), "{out}");
    }

    #[test]
    fn renders_parse_errors_and_exemptions() {
        let src = "SELECT 1;\nSELEC 2;";
        let out = render_human(
            &lint(src, None, &LintConfig::default()),
            up("x.sql", src),
            None,
        );
        assert!(
            out.starts_with("x.sql:2:1: error[parse-error]: syntax error"),
            "{out}"
        );
        let src = "-- schemagate:allow drop-table reason=\"archived\"\nDROP TABLE kegs;";
        let out = render_human(
            &lint(src, Some("SELECT 1;"), &LintConfig::default()),
            up("x.sql", src),
            None,
        );
        assert!(out.contains("error[drop-table] (exempted)"), "{out}");
        assert!(out.contains("= exempted: archived"), "{out}");
    }

    #[test]
    fn a_problem_of_the_down_sql_is_quoted_from_the_down_file() {
        let src = "CREATE TABLE a (id int);\n";
        let down = "DROP TABLE a;\n  ROLLBACK;\n";
        let report = lint(src, Some(down), &LintConfig::default());
        let out = render_human(&report, up("x.up.sql", src), Some(up("x.down.sql", down)));
        assert!(
            out.contains("x.down.sql:2:3: error[transaction-control]: ROLLBACK in a revision"),
            "{out}"
        );
        assert!(out.contains("2 |   ROLLBACK;\n  |   ^\n"), "{out}");
        // Without the down text, the position alone.
        let out = render_human(&report, up("x.up.sql", src), None);
        assert!(
            out.contains("x.up.sql (down):2:3: error[transaction-control]"),
            "{out}"
        );
        assert!(!out.contains("ROLLBACK;\n"), "{out}");

        let report = lint(src, Some("DROP TABLE a;\nDRP 1;\n"), &LintConfig::default());
        let out = render_human(
            &report,
            up("x.up.sql", src),
            Some(up("x.down.sql", "DROP TABLE a;\nDRP 1;\n")),
        );
        assert!(
            out.contains("x.down.sql:2:1: error[parse-error]: syntax error"),
            "{out}"
        );
        assert!(out.contains("2 | DRP 1;\n  | ^\n"), "{out}");
    }
}
