//! Fuzz-ish robustness: random text, random bytes, SQL-shaped token soup and
//! random mutations of corpus files must never make `lint` (or
//! `render_human`) panic, and the report must stay self-consistent.
//!
//! Each property runs `PROPTEST_CASES` cases (default 256, a few seconds);
//! see docs/reliability.md for a longer run.

use proptest::prelude::*;
use schemagate_policy::{LintConfig, LintReport, Source, lint, render_human};
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
    let _ = render_human(
        &report,
        Source {
            path: "fuzz.sql",
            text: sql,
        },
        None,
    );
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

/// One lexical piece of SQL-looking text: keywords, identifiers, literals,
/// quotes, dollar quotes, comments, semicolons and parentheses, well formed
/// or not.
fn sql_token() -> impl Strategy<Value = String> {
    let keyword = prop::sample::select(vec![
        "CREATE",
        "TABLE",
        "ALTER",
        "ADD",
        "COLUMN",
        "DROP",
        "INDEX",
        "CONCURRENTLY",
        "ON",
        "RENAME",
        "TO",
        "TYPE",
        "NOT",
        "NULL",
        "DEFAULT",
        "PRIMARY",
        "KEY",
        "REFERENCES",
        "CONSTRAINT",
        "CHECK",
        "VALID",
        "VALIDATE",
        "SELECT",
        "FROM",
        "WHERE",
        "INSERT",
        "INTO",
        "VALUES",
        "UPDATE",
        "SET",
        "DELETE",
        "TRUNCATE",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "LOCK",
        "VACUUM",
        "FULL",
        "CLUSTER",
        "REINDEX",
        "SCHEMA",
        "CASCADE",
        "IF",
        "EXISTS",
        "DO",
        "FUNCTION",
        "RETURNS",
        "LANGUAGE",
        "AS",
        "CASE",
        "WHEN",
        "THEN",
        "END",
        "AND",
        "OR",
    ])
    .prop_map(str::to_string);
    let identifier = "[a-z_][a-z0-9_$]{0,12}";
    let quoted_identifier = "\"([^\"]|\"\"){0,12}\"?".prop_map(|s| s.to_string());
    let literal = prop_oneof![
        "'([^']|''){0,16}'?",
        "E'([^'\\\\]|\\\\.){0,8}'?",
        "-?[0-9]{1,20}(\\.[0-9]{0,6})?(e[+-]?[0-9]{1,4})?",
    ];
    let dollar = ("[a-z_]{0,4}", "\\PC{0,16}", any::<bool>()).prop_map(|(tag, body, closed)| {
        if closed {
            format!("${tag}${body}${tag}$")
        } else {
            format!("${tag}${body}")
        }
    });
    let comment = prop_oneof![
        "--[^\n]{0,20}\n?",
        "/\\*([^*]|\\*[^/]){0,20}(\\*/)?",
        Just("/* outer /* nested */ still */".to_string()),
        Just("-- schemagate:allow drop-table reason=\"fuzz\"\n".to_string()),
        Just("-- schemagate:allow\n".to_string()),
    ];
    let parentheses = (0usize..300, 0usize..300)
        .prop_map(|(open, close)| format!("{}{}", "(".repeat(open), ")".repeat(close)));
    let punctuation = prop::sample::select(vec![
        ";", ",", ".", "::", "=", "<>", "+", "-", "*", "/", "||", "[", "]", "$1", "\0", "\u{feff}",
    ])
    .prop_map(str::to_string);
    let space =
        prop::sample::select(vec![" ", "\n", "\t", "\r\n", "\u{a0}", ""]).prop_map(str::to_string);
    prop_oneof![
        4 => keyword,
        3 => identifier.prop_map(|s| s.to_string()),
        1 => quoted_identifier,
        2 => literal,
        1 => dollar,
        1 => comment,
        1 => parentheses,
        2 => punctuation,
        3 => space,
    ]
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
    #[test]
    fn random_strings_never_panic(s in "\\PC{0,200}", down in proptest::option::of("\\PC{0,40}")) {
        check(&s, down.as_deref());
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        // What a reader decoding a non-UTF-8 file lossily would hand over.
        let text = String::from_utf8_lossy(&bytes);
        check(&text, Some(&text));
    }

    #[test]
    fn sql_shaped_token_sequences_never_panic_and_lint_the_same_twice(
        up in proptest::collection::vec(sql_token(), 0..60),
        down in proptest::option::of(proptest::collection::vec(sql_token(), 0..20)),
    ) {
        let up = up.join(" ");
        let down = down.map(|d| d.join(" "));
        check(&up, down.as_deref());
        let first = serde_json::to_string(&lint(&up, down.as_deref(), &LintConfig::default())).expect("serializes");
        let second = serde_json::to_string(&lint(&up, down.as_deref(), &LintConfig::default())).expect("serializes");
        prop_assert_eq!(first, second);
    }

    #[test]
    fn deep_nesting_of_any_shape_never_panics(
        shape in 0usize..8,
        depth in prop_oneof![0usize..100, 100usize..3000, 3000usize..30_000],
        balanced in any::<bool>(),
    ) {
        let (open, inner, close) = [
            ("(", "1", ")"),
            ("-(", "1", ")"),
            ("f(", "1", ")"),
            ("(SELECT ", "1", ")"),
            ("ARRAY[", "1", "]"),
            ("CASE WHEN true THEN ", "1", " END"),
            ("NOT ", "true", ""),
            ("1+", "1", ""),
        ][shape];
        let closing = if balanced { depth } else { depth / 2 };
        let sql = format!("SELECT {}{inner}{};", open.repeat(depth), close.repeat(closing));
        check(&sql, Some("SELECT 1;"));
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
