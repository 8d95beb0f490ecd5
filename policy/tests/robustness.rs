//! Fuzz-ish robustness: random text and random mutations of corpus files
//! must never make `lint` (or `render_human`) panic, and the report must stay
//! self-consistent.

use proptest::prelude::*;
use schemagate_policy::{LintConfig, LintReport, lint, render_human};
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

fn corpus() -> &'static Vec<String> {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/lint-corpus");
        let mut files: Vec<_> = fs::read_dir(dir)
            .expect("corpus dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| fs::read_to_string(p).expect("read"))
            .collect()
    })
}

fn check(sql: &str, down: Option<&str>) {
    let report: LintReport = lint(sql, down, &LintConfig::default());
    let _ = render_human(&report, "fuzz.sql", sql);
    let _ = serde_json::to_string(&report).expect("serializes");
    for f in &report.findings {
        assert!(f.line >= 1 && f.column >= 1);
        assert!(f.statement_index < report.statements.max(1));
    }
    if let Some(e) = &report.parse_error {
        assert!(e.line >= 1 && e.column >= 1);
        assert!(report.findings.is_empty());
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn apply(src: &str, m: &Mutation) -> String {
    let chars: Vec<char> = src.chars().collect();
    let n = chars.len().max(1);
    let mut out = chars.clone();
    match m {
        Mutation::Delete(at, len) => {
            let at = at % n;
            let end = (at + len).min(chars.len());
            if at < end {
                out.drain(at..end);
            }
        }
        Mutation::Insert(at, s) => {
            let at = (at % n).min(out.len());
            for (i, c) in s.chars().enumerate() {
                out.insert(at + i, c);
            }
        }
        Mutation::Duplicate(at, len) => {
            let at = at % n;
            let end = (at + len).min(chars.len());
            let piece: Vec<char> = chars.get(at..end).unwrap_or(&[]).to_vec();
            for (i, c) in piece.into_iter().enumerate() {
                out.insert((end + i).min(out.len()), c);
            }
        }
        Mutation::Truncate(at) => out.truncate(at % n),
    }
    out.into_iter().collect()
}

fn sql_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("'".to_string()),
        Just("$$".to_string()),
        Just("$tag$".to_string()),
        Just(";".to_string()),
        Just("--".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("\"".to_string()),
        Just("\0".to_string()),
        Just("é€😀".to_string()),
        Just(" -- schemagate:allow drop-table reason=\"x\"\n".to_string()),
        Just(" DROP TABLE pours; ".to_string()),
        Just(" CREATE INDEX CONCURRENTLY i ON t (a); ".to_string()),
        Just("(((((".to_string()),
        "[ -~\n\t]{0,12}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, l)| Mutation::Delete(a, l)),
        (any::<usize>(), sql_fragment()).prop_map(|(a, s)| Mutation::Insert(a, s)),
        (any::<usize>(), 0usize..80).prop_map(|(a, l)| Mutation::Duplicate(a, l)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(s in "\\PC{0,200}", down in proptest::option::of("\\PC{0,40}")) {
        check(&s, down.as_deref());
    }

    #[test]
    fn random_sqlish_tokens_never_panic(parts in proptest::collection::vec(sql_fragment(), 0..20)) {
        check(&parts.concat(), Some("SELECT 1;"));
    }

    #[test]
    fn mutated_corpus_files_never_panic(
        pick in any::<usize>(),
        muts in proptest::collection::vec(mutation(), 1..6),
    ) {
        let files = corpus();
        let mut sql = files[pick % files.len()].clone();
        for m in &muts {
            sql = apply(&sql, m);
        }
        check(&sql, Some(&sql));
    }
}

#[test]
fn pathological_inputs() {
    let deep = format!("SELECT {}1{};", "(".repeat(5000), ")".repeat(5000));
    check(&deep, None);
    check(&"SELECT 1;".repeat(10_000), None);
    check("", None);
    check(";;;;", None);
    check("\u{feff}SELECT 1;", None);
    check("-- schemagate:allow", None);
    check("/* unterminated", None);
    check("SELECT $$", None);
}

#[test]
fn deep_but_valid_nesting_is_handled() {
    // prost's decode recursion limit may reject very deep trees; that must
    // surface as a parse error, never a panic.
    let sql = format!("SELECT {}1{};", "(".repeat(300), ")".repeat(300));
    let r = lint(&sql, Some("SELECT 1;"), &LintConfig::default());
    eprintln!("deep nesting: {:?}", r.parse_error);
}
