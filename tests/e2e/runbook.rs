//! docs/workflow.md and docs/runbook.md, run as written.
//!
//! Every `who$ command` line in the ```console blocks of the two documents
//! is run with bash, in document order, as that person (their token in
//! `SCHEMAGATE_TOKEN`), through the real server of the release fixture with
//! its three PostgreSQL targets and the bar example (examples/bar). The
//! lines under a command are the output the document shows: each one must
//! appear, in order, in what the command printed (stdout, then stderr),
//! after ids, times, hashes, sizes and durations are masked and runs of
//! blanks collapsed. A `…` line stands for output the document leaves out.
//! A command whose first line ends in `# exit N` must exit N; every other
//! command must exit 0. Shell variables set by one command (lowercase
//! names) are there for the next ones.
//!
//! `<!-- test: NAME -->` before a block runs the hook NAME first: what
//! happens in the document's story but is not a command a person types
//! (the venue app losing rows, the server's log file).
//!
//! `SCHEMAGATE_DOC_TRANSCRIPT=FILE` writes what each command printed to
//! FILE and compares nothing, to refresh the outputs in the documents.

use crate::release::{Fixture, Tokens, execute, query_i64, tokens};
use schemagate_e2e::{SECRET, bin_dir};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the backups appear in the documents.
const DOC_BACKUP_DIR: &str = "/var/lib/schemagate/backups";

/// One `who$ command` and the output the document shows under it.
#[derive(Debug)]
struct Step {
    /// Line of the command in the document, for failure messages.
    line: usize,
    who: String,
    command: String,
    expected: Vec<String>,
    exit: i32,
}

#[derive(Debug)]
struct Block {
    hook: Option<String>,
    steps: Vec<Step>,
}

/// `alice$ sgctl …` → ("alice", "sgctl …").
fn prompt(line: &str) -> Option<(&str, &str)> {
    let (who, command) = line.split_once("$ ")?;
    (!who.is_empty() && who.bytes().all(|b| b.is_ascii_lowercase())).then_some((who, command))
}

/// The word ending a here-document started on `line`, if any.
fn heredoc_end(line: &str) -> Option<String> {
    let rest = &line[line.find("<<")? + 2..];
    let rest = rest.strip_prefix('-').unwrap_or(rest).trim_start();
    let word: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// `… # exit 1` → 1.
fn expected_exit(line: &str) -> i32 {
    line.rsplit_once("# exit ")
        .and_then(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn parse(doc: &str) -> Vec<Block> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut blocks = Vec::new();
    let mut hook: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if let Some(name) = line
            .strip_prefix("<!-- test: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        {
            hook = Some(name.trim().to_string());
            i += 1;
            continue;
        }
        if line != "```console" {
            i += 1;
            continue;
        }
        i += 1;
        let mut steps: Vec<Step> = Vec::new();
        while i < lines.len() && lines[i].trim_end() != "```" {
            let line = lines[i];
            if let Some((who, first)) = prompt(line) {
                let mut command = first.to_string();
                let start = i + 1;
                if let Some(end) = heredoc_end(first) {
                    loop {
                        i += 1;
                        command.push('\n');
                        command.push_str(lines[i]);
                        if lines[i].trim_end() == end {
                            break;
                        }
                    }
                }
                while command.ends_with('\\') {
                    i += 1;
                    command.push('\n');
                    command.push_str(lines[i]);
                }
                steps.push(Step {
                    line: start,
                    who: who.to_string(),
                    command,
                    expected: Vec::new(),
                    exit: expected_exit(first),
                });
            } else if let Some(step) = steps.last_mut() {
                step.expected.push(line.to_string());
            }
            i += 1;
        }
        blocks.push(Block {
            hook: hook.take(),
            steps,
        });
        i += 1;
    }
    blocks
}

fn hex_run(chars: &[char], at: usize) -> usize {
    chars[at..]
        .iter()
        .take_while(|c| c.is_ascii_digit() || ('a'..='f').contains(*c))
        .count()
}

fn ends_word(chars: &[char], at: usize) -> bool {
    chars
        .get(at)
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
}

/// A UUID (execution ids) at `at`: its length.
fn uuid_at(chars: &[char], at: usize) -> Option<usize> {
    let mut n = 0;
    for (k, group) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if k > 0 {
            (chars.get(at + n) == Some(&'-')).then_some(())?;
            n += 1;
        }
        (hex_run(chars, at + n) >= group).then_some(())?;
        n += group;
    }
    ends_word(chars, at + n).then_some(n)
}

/// An RFC 3339 time (2026-11-26T02:55:19Z) at `at`: its length.
fn time_at(chars: &[char], at: usize) -> Option<usize> {
    let shape = "dddd-dd-ddTdd:dd:dd";
    let fits = shape
        .chars()
        .enumerate()
        .all(|(k, s)| match (s, chars.get(at + k)) {
            ('d', Some(c)) => c.is_ascii_digit(),
            (s, Some(c)) => s == *c,
            _ => false,
        });
    if !fits {
        return None;
    }
    let mut n = shape.len();
    if chars.get(at + n) == Some(&'.') {
        n += 1;
        while chars.get(at + n).is_some_and(char::is_ascii_digit) {
            n += 1;
        }
    }
    match chars.get(at + n) {
        Some('Z') => Some(n + 1),
        Some('+' | '-') => Some(n + 6),
        _ => Some(n),
    }
}

/// A number with a unit that varies from run to run: `12 ms`, `0.4s`,
/// `1m04s`, `43125 bytes`.
fn measure_at(chars: &[char], at: usize) -> Option<usize> {
    let digits = |from: usize| {
        chars[from.min(chars.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let n = digits(at);
    if n == 0 {
        return None;
    }
    let rest: String = chars[at + n..].iter().take(7).collect();
    for unit in [" ms", " bytes", " B"] {
        if rest.starts_with(unit) && ends_word(chars, at + n + unit.len()) {
            return Some(n + unit.len());
        }
    }
    if chars.get(at + n) == Some(&'.') {
        let m = digits(at + n + 1);
        if m > 0 && chars.get(at + n + 1 + m) == Some(&'s') && ends_word(chars, at + n + 2 + m) {
            return Some(n + 2 + m);
        }
    }
    if chars.get(at + n) == Some(&'m') {
        let m = digits(at + n + 1);
        if m == 2 && chars.get(at + n + 3) == Some(&'s') && ends_word(chars, at + n + 4) {
            return Some(n + 4);
        }
    }
    None
}

/// Masks what differs between runs and collapses blanks.
fn normalize(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_');
        if starts_word {
            if let Some(n) = uuid_at(&chars, i) {
                out.push_str("<id>");
                i += n;
                continue;
            }
            if let Some(n) = time_at(&chars, i) {
                out.push_str("<time>");
                i += n;
                continue;
            }
            if let Some(n) = measure_at(&chars, i) {
                out.push_str("<measure>");
                i += n;
                continue;
            }
            let n = hex_run(&chars, i);
            if n >= 8 && (chars.get(i + n) == Some(&'…') || ends_word(&chars, i + n)) {
                out.push_str("<hash>");
                i += n + usize::from(chars.get(i + n) == Some(&'…'));
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Everything a command printed, with the fixture's paths and names
/// replaced by the documents' ones.
struct Context<'a> {
    f: &'a Fixture,
    tokens: &'a Tokens,
    work: &'a Path,
    state: PathBuf,
    replacements: Vec<(String, String)>,
    transcript: Option<String>,
}

impl Context<'_> {
    fn token(&self, who: &str) -> &str {
        match who {
            "alice" => &self.tokens.alice,
            "carol" => &self.tokens.carol,
            "dave" => &self.tokens.dave,
            "erin" => &self.tokens.erin,
            "root" => &self.tokens.root,
            other => {
                panic!("the documents' prompts name alice, carol, dave, erin or root, not {other}")
            }
        }
    }

    /// Runs one command with bash in the work directory; (exit code, output).
    fn run(&self, step: &Step) -> (i32, String) {
        let script = format!(
            "set -o pipefail\n[ -f '{state}' ] && . '{state}'\n{command}\n__rc=$?\n\
             for __v in $(compgen -v | grep -E '^[a-z][a-z0-9_]*$'); do declare -p \"$__v\"; done > '{state}'\n\
             exit $__rc\n",
            state = self.state.display(),
            command = step.command,
        );
        let path = std::env::var("PATH").unwrap_or_default();
        let output = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(self.work)
            .env_clear()
            .env("PATH", format!("{}:{path}", bin_dir().display()))
            .env("HOME", self.work)
            .env("LC_ALL", "C.UTF-8")
            .env("SCHEMAGATE_SERVER", &self.f.server.address)
            .env("SCHEMAGATE_TOKEN", self.token(&step.who))
            .env("SCHEMAGATE_JWT_SECRET", SECRET)
            .env("SCHEMAGATE_TARGET_PILOT_URL", &self.f.pilot)
            .env("SCHEMAGATE_BACKUP_DIR", self.f.backups.path())
            .output()
            .expect("run bash");
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        for (from, to) in &self.replacements {
            text = text.replace(from, to);
        }
        (output.status.code().unwrap_or(-1), text)
    }

    fn check(&mut self, doc: &str, step: &Step) {
        let (code, output) = self.run(step);
        if let Some(transcript) = &mut self.transcript {
            let _ = writeln!(transcript, "{}$ {}", step.who, step.command);
            transcript.push_str(&output);
            let _ = writeln!(transcript, "(exit {code})\n");
            return;
        }
        let context = || {
            format!(
                "{doc}:{}: {}$ {}\n--- it printed (exit {code}):\n{output}",
                step.line, step.who, step.command
            )
        };
        assert_eq!(
            code,
            step.exit,
            "the command should exit {}: {}",
            step.exit,
            context()
        );
        let printed: Vec<String> = output.lines().map(normalize).collect();
        let mut from = 0;
        for expected in &step.expected {
            let want = normalize(expected);
            if want.is_empty() || want == "…" {
                continue;
            }
            match printed[from..].iter().position(|line| *line == want) {
                Some(at) => from += at + 1,
                None => panic!(
                    "the document shows {expected:?} (normalized {want:?}), which the command did not print (in this order): {}",
                    context()
                ),
            }
        }
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

fn database_name(url: &str) -> String {
    let path = url.split('?').next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or_default().to_string()
}

const BAR: [&str; 3] = [
    "0001_baseline",
    "0002_add_pour_tags",
    "0003_add_controller_firmware",
];

#[test]
fn the_workflow_and_the_runbook_run_as_documented() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    let work = tempfile::tempdir().unwrap();

    // The documents' starting point: the bar example's lineage deployed to
    // dev, ci and pilot, and the pilot venues pouring.
    copy_dir(
        &repo("examples/bar/revisions"),
        &work.path().join("revisions"),
    );
    f.run(
        &t.alice,
        &["submit", work.path().join("revisions").to_str().unwrap()],
    )
    .ok();
    for id in BAR {
        f.approve(&t.carol, id, &["dev", "ci", "pilot"]);
    }
    f.deploy(&t.erin, &["dev", "ci", "pilot"]);
    execute(
        &f.pilot,
        &std::fs::read_to_string(repo("examples/bar/seed.sql")).unwrap(),
    );
    let pours = query_i64(&f.pilot, "SELECT count(*) FROM pour_records");
    assert!(pours > 10);

    let transcript_file = std::env::var("SCHEMAGATE_DOC_TRANSCRIPT").ok();
    let mut context = Context {
        f: &f,
        tokens: &t,
        work: work.path(),
        state: work.path().join(".doc-shell-state"),
        replacements: vec![
            (
                f.backups.path().to_str().unwrap().to_string(),
                DOC_BACKUP_DIR.to_string(),
            ),
            (database_name(&f.pilot), "pilot".to_string()),
        ],
        transcript: transcript_file.as_ref().map(|_| String::new()),
    };

    for doc in ["docs/workflow.md", "docs/runbook.md"] {
        let text = std::fs::read_to_string(repo(doc)).unwrap();
        let blocks = parse(&text);
        assert!(
            blocks.iter().map(|b| b.steps.len()).sum::<usize>() > 10,
            "{doc} has its commands in ```console blocks"
        );
        if let Some(transcript) = &mut context.transcript {
            let _ = writeln!(transcript, "===== {doc}\n");
        }
        for block in &blocks {
            match block.hook.as_deref() {
                None => {}
                // The server's log, where a service manager would keep it.
                Some("server-log") => {
                    std::fs::write(work.path().join("server.log"), f.server.log()).unwrap();
                }
                // The story: the venue app deletes pour records on pilot.
                Some("pilot-loses-pour-records") => {
                    execute(&f.pilot, "DELETE FROM pour_records");
                }
                Some(other) => panic!("{doc}: unknown test hook {other}"),
            }
            for step in &block.steps {
                context.check(doc, step);
            }
        }
    }

    if let (Some(file), Some(transcript)) = (&transcript_file, &context.transcript) {
        std::fs::write(file, transcript).unwrap();
        return;
    }
    // The restore brought the pour records back, and pilot is under the
    // catalog again at the dump's revision: `stamp --restored` kept the
    // version rows the dump brought back and wrote none of its own.
    assert_eq!(
        query_i64(&f.pilot, "SELECT count(*) FROM pour_records"),
        pours
    );
    assert_eq!(
        crate::release::applied_ids(&f.pilot)
            .last()
            .map(String::as_str),
        Some("0003_add_controller_firmware")
    );
    assert_eq!(
        query_i64(
            &f.pilot,
            "SELECT count(*) FROM schemagate.applied_revisions WHERE stamped"
        ),
        0
    );

    // What runbook.md says without a command: restoring a dump whose
    // revision is the one Schemagate recorded last for the target leaves
    // no drift. Pilot is recorded at 0003 now; the dump taken before 0004
    // holds 0003 too.
    let status = f
        .run(&t.erin, &["--json", "status", "--env", "pilot"])
        .json();
    let dump = status["recent_executions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "apply" && e["revision_id"] == "0004_add_venue_capacity")
        .and_then(|e| e["backup_path"].as_str())
        .unwrap()
        .to_string();
    let restore = Command::new("pg_restore")
        .args([
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--no-owner",
            "--dbname",
            &f.pilot,
            &dump,
        ])
        .output()
        .unwrap();
    assert!(restore.status.success(), "{restore:?}");
    let drift = f.run(&t.erin, &["drift", "--env", "pilot"]);
    assert!(
        drift
            .ok()
            .contains("no drift: live schema matches 0003_add_controller_firmware"),
        "{drift:#?}"
    );
}

#[test]
fn the_output_mask_hides_what_varies_and_nothing_else() {
    assert_eq!(
        normalize(
            "0196f1c2-7a4b-7c3d-9e8f-0a1b2c3d4e5f  apply   0004_add_venue_capacity  succeeded  2026-11-26T02:55:19Z  0.1s  2"
        ),
        "<id> apply 0004_add_venue_capacity succeeded <time> <measure> 2"
    );
    assert_eq!(
        normalize("approved 0004_x for dev (checksum 3f2a9c1e…, policy 0b7e44d2…)"),
        "approved 0004_x for dev (checksum <hash>, policy <hash>)"
    );
    assert_eq!(
        normalize(
            "[done] 0004_x: applied 0004_x on dev in 37 ms; schema fingerprint 5e1f0a9b2c3d (SUCCEEDED)"
        ),
        "[done] 0004_x: applied 0004_x on dev in <measure>; schema fingerprint <hash> (SUCCEEDED)"
    );
    assert_eq!(
        normalize(
            "backup       /b/pilot-0196f1c2-7a4b-7c3d-9e8f-0a1b2c3d4e5f.dump (43125 bytes, sha256 ab12)"
        ),
        "backup /b/pilot-<id>.dump (<measure>, sha256 ab12)"
    );
    // Revision ids, counts and words stay.
    assert_eq!(
        normalize("0003_add_controller_firmware  12 statements, deadbeef_x"),
        "0003_add_controller_firmware 12 statements, deadbeef_x"
    );
    let blocks = parse(
        "<!-- test: hook -->\n```console\nalice$ sgctl gate x --env dev   # exit 1\nline one\n…\nerin$ cat > f <<'SQL'\nSELECT 1;\nSQL\n```\n",
    );
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].hook.as_deref(), Some("hook"));
    assert_eq!(blocks[0].steps[0].exit, 1);
    assert_eq!(blocks[0].steps[0].expected, ["line one", "…"]);
    assert_eq!(
        blocks[0].steps[1].command,
        "cat > f <<'SQL'\nSELECT 1;\nSQL"
    );
    assert_eq!(blocks[0].steps[1].exit, 0);
}
