//! Walks `tests/lint-corpus/*.sql` and checks each file against the
//! expectations in its header comments:
//!
//! ```text
//! -- expect: drop-table@3 add-column-volatile-default@7:5   (rule@line[:col]) | none
//! -- expect-risk: destructive
//! -- expect-exempted: drop-table@3          (optional; default: nothing exempted)
//! -- expect-parse-error: 4:12               (optional; line:col)
//! -- expect-down-parse-error: 1:5           (optional)
//! -- expect-transactional: false            (optional; default: true)
//! -- down: none                             (optional: lint without a down migration)
//! ```
//!
//! The down migration is `<name>.down.sql` when present, else `SELECT 1;`.
//!
//! `tests/lint-corpus/lineages/<case>/` holds lineages: `NNNN_name.up.sql`
//! files (each with its optional `.down.sql`) linted in order, each after
//! the ones before it, as the server lints a catalog's revisions; each up
//! file carries its own expectations.

use schemagate_policy::{LintConfig, LintReport, RiskClass, lint, lint_lineage};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Default, Debug)]
struct Expect {
    findings: Option<Vec<String>>,
    risk: Option<RiskClass>,
    exempted: Vec<String>,
    parse_error: Option<String>,
    down_parse_error: Option<String>,
    transactional: bool,
    no_down: bool,
}

fn header(sql: &str) -> Result<Expect, String> {
    let mut e = Expect {
        transactional: true,
        ..Expect::default()
    };
    for line in sql.lines() {
        let Some(rest) = line.trim().strip_prefix("--") else {
            continue;
        };
        let rest = rest.trim();
        let Some((key, value)) = rest.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let list = |v: &str| -> Vec<String> {
            if v == "none" {
                Vec::new()
            } else {
                v.split_whitespace().map(str::to_string).collect()
            }
        };
        match key.trim() {
            "expect" => {
                let mut all = e.findings.take().unwrap_or_default();
                all.extend(list(value));
                e.findings = Some(all);
            }
            "expect-risk" => e.risk = Some(value.parse().map_err(|x| format!("{x}"))?),
            "expect-exempted" => e.exempted.extend(list(value)),
            "expect-parse-error" => e.parse_error = Some(value.to_string()),
            "expect-down-parse-error" => e.down_parse_error = Some(value.to_string()),
            "expect-transactional" => e.transactional = value == "true",
            "down" => e.no_down = value == "none",
            _ => {}
        }
    }
    if e.findings.is_none() {
        return Err("missing `-- expect:` header".into());
    }
    if e.risk.is_none() {
        return Err("missing `-- expect-risk:` header".into());
    }
    Ok(e)
}

/// Formats findings the way expectations are written; the column is only
/// included where the expectation names one.
fn actual(report: &LintReport, expected: &[String], exempted_only: bool) -> Vec<String> {
    let with_col: Vec<&str> = expected
        .iter()
        .filter(|e| e.matches(':').count() == 1)
        .map(String::as_str)
        .collect();
    let mut out: Vec<String> = report
        .findings
        .iter()
        .filter(|f| !exempted_only || f.exempted)
        .map(|f| {
            let full = format!("{}@{}:{}", f.rule, f.line, f.column);
            if with_col.contains(&full.as_str()) {
                full
            } else {
                format!("{}@{}", f.rule, f.line)
            }
        })
        .collect();
    out.sort();
    out
}

fn diff(expected: &[String], actual: &[String]) -> String {
    let mut counts: BTreeMap<&str, i32> = BTreeMap::new();
    for e in expected {
        *counts.entry(e).or_default() += 1;
    }
    for a in actual {
        *counts.entry(a).or_default() -= 1;
    }
    let mut out = String::new();
    for (k, n) in counts {
        if n > 0 {
            out.push_str(&format!("    missing:    {k} (x{n})\n"));
        } else if n < 0 {
            out.push_str(&format!("    unexpected: {k} (x{})\n", -n));
        }
    }
    out
}

/// A corpus file's up SQL, its expectations and the down SQL it is linted
/// with.
fn case(path: &Path) -> Result<(String, Expect, Option<String>), String> {
    let sql = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let e = header(&sql)?;
    let name = path.to_string_lossy();
    let down_path = PathBuf::from(match name.strip_suffix(".up.sql") {
        Some(stem) => format!("{stem}.down.sql"),
        None => path
            .with_extension("down.sql")
            .to_string_lossy()
            .into_owned(),
    });
    let down = (!e.no_down)
        .then(|| fs::read_to_string(&down_path).unwrap_or_else(|_| "SELECT 1;".to_string()));
    Ok((sql, e, down))
}

fn check_file(path: &Path) -> Result<(), String> {
    let (sql, e, down) = case(path)?;
    let report = lint(&sql, down.as_deref(), &LintConfig::default());
    check_report(&report, &e)
}

/// Whether `report` meets expectations `e`; what differs when not.
fn check_report(report: &LintReport, e: &Expect) -> Result<(), String> {
    let mut problems = String::new();

    let mut expected = e.findings.clone().unwrap_or_default();
    expected.sort();
    let got = actual(report, &expected, false);
    if got != expected {
        problems.push_str(&format!(
            "  findings differ:\n{}    (got: {})\n",
            diff(&expected, &got),
            if got.is_empty() {
                "none".to_string()
            } else {
                got.join(" ")
            }
        ));
    }
    let mut exp_exempt = e.exempted.clone();
    exp_exempt.sort();
    let got_exempt = actual(report, &exp_exempt, true);
    if got_exempt != exp_exempt {
        problems.push_str(&format!(
            "  exempted findings differ:\n{}",
            diff(&exp_exempt, &got_exempt)
        ));
    }
    if Some(report.risk) != e.risk {
        problems.push_str(&format!(
            "  risk: expected {:?}, got {}\n",
            e.risk, report.risk
        ));
    }
    let pe = report
        .parse_error
        .as_ref()
        .map(|p| format!("{}:{}", p.line, p.column));
    if pe != e.parse_error {
        problems.push_str(&format!(
            "  parse error: expected {:?}, got {:?} ({:?})\n",
            e.parse_error,
            pe,
            report.parse_error.as_ref().map(|p| &p.message)
        ));
    }
    let dpe = report
        .down_parse_error
        .as_ref()
        .map(|p| format!("{}:{}", p.line, p.column));
    if dpe != e.down_parse_error {
        problems.push_str(&format!(
            "  down parse error: expected {:?}, got {:?}\n",
            e.down_parse_error, dpe
        ));
    }
    if report.transactional != e.transactional {
        problems.push_str(&format!(
            "  transactional: expected {}, got {}\n",
            e.transactional, report.transactional
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/lint-corpus");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".sql") && !name.ends_with(".down.sql")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_matches_expectations() {
    let files = corpus_files();
    assert!(
        files.len() >= 60,
        "corpus has only {} cases, want >= 60",
        files.len()
    );
    let mut failures = String::new();
    let mut failed = 0;
    for path in &files {
        if let Err(problems) = check_file(path) {
            failed += 1;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            failures.push_str(&format!("{name}:\n{problems}"));
        }
    }
    assert!(
        failed == 0,
        "{failed} of {} corpus files do not match their expectations:\n{failures}",
        files.len()
    );
}

#[test]
fn lineages_match_expectations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/lint-corpus/lineages");
    let mut lineages: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    lineages.sort();
    assert!(lineages.len() >= 3, "{lineages:?}");
    let mut failures = String::new();
    for lineage in &lineages {
        let mut files: Vec<PathBuf> = fs::read_dir(lineage)
            .expect("lineage dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".up.sql"))
            .collect();
        files.sort();
        assert!(files.len() >= 2, "{} holds one revision", lineage.display());
        let cases: Vec<_> = files
            .iter()
            .map(|path| case(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .collect();
        let sql: Vec<(&str, Option<&str>)> = cases
            .iter()
            .map(|(up, _, down)| (up.as_str(), down.as_deref()))
            .collect();
        let reports = lint_lineage(&sql, &LintConfig::default());
        for ((path, (_, e, _)), report) in files.iter().zip(&cases).zip(&reports) {
            if let Err(problems) = check_report(report, e) {
                let name = path.strip_prefix(&root).unwrap_or(path).display();
                failures.push_str(&format!("{name}:\n{problems}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "lineage files do not match their expectations:\n{failures}"
    );
}

#[test]
fn baseline_schema_is_additive() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/lint-corpus");
    let sql = fs::read_to_string(dir.join("baseline_self_pour_schema.sql")).expect("baseline");
    let down = fs::read_to_string(dir.join("baseline_self_pour_schema.down.sql")).expect("down");
    let report = lint(&sql, Some(&down), &LintConfig::default());
    assert_eq!(report.risk, RiskClass::Additive, "{:#?}", report.findings);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.statements > 15, "{}", report.statements);
}
