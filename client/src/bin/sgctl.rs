//! `sgctl`: the Schemagate command line for developers, approvers and deploy
//! pipelines. Human tables by default, `--json` for scripts, and exit codes
//! that tell a refusal (1) from bad input (2), an outage (3) and an auth
//! failure (4).

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use schemagate_client::connect::{Connection, DEFAULT_SERVER};
use schemagate_client::revision_files::{self, RevisionFiles};
use schemagate_client::table::{self, or_dash};
use schemagate_client::{agent, exit, token, v1};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[path = "sgctl/release.rs"]
mod release;

const EXIT_CODES: &str = "Exit codes:\n  0  success\n  1  refused: a precondition, a clash (e.g. another execution holds the target), error-level lint findings, a revision or project the catalog does not hold\n  2  bad usage or input: unreadable files, malformed ids, SQL that does not parse, an environment the policy does not declare\n  3  the server, or the target database behind it, is unreachable or unavailable\n  4  missing or invalid token, a role the call does not allow, or approving one's own revision\n  130/143  deploy or rollback interrupted (SIGINT/SIGTERM): the server stops after the revision it is running\nWith --json, a failure also prints {\"error\": {\"exit_code\", \"message\"}} on one line of stdout.";

#[derive(Parser)]
#[command(
    name = "sgctl",
    version,
    about = "Schemagate command line: submit and lint schema revisions, approve them per environment, check the release gate, deploy and roll back through the server, onboard existing databases, and watch the edge-controller fleet.",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Server address.
    #[arg(long, global = true, env = "SCHEMAGATE_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
    /// Bearer token (mint one for development with `sgctl token mint`).
    #[arg(long, global = true, env = "SCHEMAGATE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Project whose lineage to use.
    #[arg(
        long,
        global = true,
        env = "SCHEMAGATE_PROJECT",
        default_value = "default"
    )]
    project: String,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Whether --project (or SCHEMAGATE_PROJECT) was given rather than
    /// defaulted: `sgctl audit` lists every project's entries unless it was.
    #[arg(skip)]
    project_given: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ask the server whether it is serving (needs no token).
    #[command(
        after_help = "Prints SERVING and exits 0, or NOT_SERVING and exits 3 (the server is shutting down, or cannot reach its catalog); an unreachable server also exits 3. For a load balancer or a deploy script's first step.\n\nExamples:\n  sgctl health\n  sgctl --server http://schemagate.internal:50051 health"
    )]
    Health,
    /// Submit revisions: NNNN_name.up.sql files (with optional .down.sql beside them) or directories of them.
    #[command(
        after_help = "Each revision's parent is the previous file in id order. The first one's parent is --parent when given; otherwise the catalog's current head (or none, for a baseline on an empty catalog). A revision's number must be greater than its parent's. Revisions already in the catalog with identical content are reported as unchanged.\n\nA revision that failed before it landed anywhere (its deploy failed and was rolled back) blocks every environment behind it: fix its files and submit them again with --amend. A revision can be amended by its author or an admin, and only while neither it nor any revision after it has landed on an environment (roll back first where one ran); its approvals no longer count, so it is approved again, while the revisions after it keep theirs.\n\nExample:\n  sgctl submit migrations/\n  sgctl submit migrations/0004_add_tap_label.up.sql --parent 0003_add_pour_index\n  sgctl submit --amend migrations/0005_add_keg_size.up.sql"
    )]
    Submit {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Parent of the first revision submitted.
        #[arg(long)]
        parent: Option<String>,
        /// Description, when submitting a single revision (overrides a `-- description:` line).
        #[arg(long)]
        description: Option<String>,
        /// Replace the stored content of a revision, when neither it nor any after it has landed on an environment.
        #[arg(long)]
        amend: bool,
    },
    /// List the lineage in order, baseline first.
    #[command(
        after_help = "One row per revision: its sequence, id, parent, risk class, author, when it was submitted, the start of its checksum and its description. With --json: {\"head\", \"revisions\"}, each revision with its full checksum and lint findings. A project the catalog holds no revision of is refused (exit 1) with the projects it does hold, unless the catalog is empty.\n\nExamples:\n  sgctl history\n  sgctl --project bar history\n  sgctl --json history | jq -r '.revisions[] | select(.risk != \"additive\") | .id'"
    )]
    History,
    /// Show one revision: metadata, lint findings and SQL.
    #[command(
        after_help = "Prints the revision's parent, author, checksum, risk class, every lint finding (line, severity, rule, message; the fix hint is in --json), then the up and down SQL as stored, which is what a deploy runs.\n\nExamples:\n  sgctl show 0002_add_pour_tags\n  sgctl --json show 0002_add_pour_tags | jq -r .up_sql"
    )]
    Show {
        /// The revision's id, e.g. 0002_add_pour_tags.
        id: String,
    },
    /// Lint SQL files offline against the additive-first policy (no server needed).
    #[command(
        after_help = "A NNNN_name.down.sql beside an up file is linted with it: it must parse and must not begin or end a transaction, and its problems are reported at its own lines (so `sgctl lint revisions/*.sql` lints each down file once, with its up file). A directory stands for its *.up.sql files.\nAn up file is linted after the up files before it in its directory, as the server lints a revision after the lineage before it: a CHECK (col IS NOT NULL) validated by an earlier revision proves col for a later SET NOT NULL, and a domain an earlier revision made is known with its constraints and default.\nExit 0 when clean, 1 when any finding is at error level (or the down SQL has a problem), 2 when a file cannot be read or its up SQL does not parse.\nWith --json: one object per file, {\"file\", \"down_file\" (null when none), \"report\"}.\nExempt a statement with a comment on the line before it:\n  -- schemagate:allow drop-column reason=\"column unused since v41\"\n\nExample:\n  sgctl lint revisions/\n  sgctl lint --list-rules"
    )]
    Lint {
        /// SQL files, or directories of NNNN_name.up.sql files.
        #[arg(required_unless_present = "list_rules")]
        files: Vec<PathBuf>,
        /// Do not ask for a down migration.
        #[arg(long)]
        no_down: bool,
        /// List every rule: its id (for exemptions), severity, category and what it flags.
        #[arg(long, conflicts_with = "files")]
        list_rules: bool,
    },
    /// Approvals, the release gate, deployment, onboarding and drift.
    #[command(flatten)]
    Release(release::Command),
    /// The edge-controller fleet: each controller's last journal report and its flags.
    #[command(
        after_help = "Flags: stale (no report for 3x its interval), clock_skew (the controller's clock is more than 5 minutes off the server's: its times are not to be trusted), not_wal, schema_drift (journal tables or DDL differ from the expected schema in the server's policy file, or from the fleet majority when none is configured), integrity_failed, backlog (over 1000 unsynced pours), unreadable (journal missing, locked or corrupt), never_reported (listed as expected in the policy file, never reported), duplicate_agent (reports for the id alternate between two agents, as from a cloned SD card or a mis-set --controller-id; clears when that was last seen 3x its interval ago). The policy file's [fleet] section can change both thresholds.\n\nExample:\n  sgctl controllers --flag stale"
    )]
    Controllers {
        /// Only controllers carrying this flag.
        #[arg(long)]
        flag: Option<String>,
    },
    /// Show the server's policy file: environments in promotion order, what each demands, and its sha256.
    #[command(
        after_help = "For each environment: its target (the variable holding the URL, and whether the server has it set; the URL itself never leaves the server), deployment windows, backup duty, timeouts, and the approvals each risk class and a rollback need. The sha256 is recorded with every approval and execution: an approval given under another policy file (any edit, even to a comment) no longer counts.\n\nExamples:\n  sgctl policy\n  sgctl policy --source > schemagate.toml\n  sgctl --json policy | jq '.details[] | {name, target}'"
    )]
    Policy {
        /// Print the whole policy file.
        #[arg(long)]
        source: bool,
    },
    /// Development tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Read and verify the audit log: every project's entries, or with --project only that project's.
    #[command(
        after_help = "Every change of state is a row: who, what, on which project, environment and subject, and whether it was done, refused or failed. The rows form a hash chain; `sgctl audit verify` recomputes it.\n\nExamples:\n  sgctl audit --env pilot --since 2026-11-25T00:00:00Z\n  sgctl audit --project bar --limit 20\n  sgctl audit verify"
    )]
    Audit {
        #[command(subcommand)]
        command: Option<AuditCommand>,
        /// Only entries of this environment.
        #[arg(long)]
        env: Option<String>,
        /// Only entries at or after this RFC 3339 time, e.g. 2026-11-25T00:00:00Z.
        #[arg(long)]
        since: Option<String>,
        /// At most this many entries, newest first (1 to 10000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a development token (HS256) signed with SCHEMAGATE_JWT_SECRET.
    #[command(
        after_help = "Example:\n  export SCHEMAGATE_TOKEN=$(sgctl token mint --sub alice --role developer)"
    )]
    Mint {
        /// Subject: who the token speaks for.
        #[arg(long)]
        sub: String,
        /// Role (repeatable): developer, approver, deployer, admin, agent.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Controller an agent token reports for.
        #[arg(long)]
        controller_id: Option<String>,
        /// Lifetime, e.g. 30m, 1h, 7d, 1d12h (plain numbers are seconds).
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The signing secret; the server must use the same.
        #[arg(long, env = "SCHEMAGATE_JWT_SECRET", hide_env_values = true)]
        secret: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain, name the first broken row, and print the head to record.
    #[command(
        after_help = "Each row's sha256 covers the row before it, so an edited or deleted row breaks the chain from there on. Deleting the newest rows does not: the chain is then intact, only shorter. So keep the head it prints (row and sha256) somewhere the catalog's operators cannot rewrite (a ticket, a CI log), and pass it as --anchor next time: a head that is no longer in the chain is reported as broken.\n\nExit 0 when the chain is intact (and holds the anchor), 1 when it is not.\n\nExamples:\n  sgctl audit verify\n  sgctl audit verify --anchor 3f5a…(64 hex digits)\n  sgctl --json audit verify | jq -r .head_sha256"
    )]
    Verify {
        /// A head's sha256 printed by an earlier verify, which must still be in the chain.
        #[arg(long)]
        anchor: Option<String>,
    },
}

/// Why a command failed: a message for stderr and the exit code.
struct Failure {
    code: u8,
    message: String,
    /// With `--json`, what the command did before it failed (an object),
    /// printed in the one line that carries the error.
    done: Option<Value>,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            done: None,
        }
    }
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Failure {
        Failure::new(exit::for_status(&status), exit::describe(&status))
    }
}

impl From<revision_files::ReadError> for Failure {
    fn from(err: revision_files::ReadError) -> Failure {
        Failure::new(exit::BAD_INPUT, err.to_string())
    }
}

type Outcome = Result<u8, Failure>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    restore_default_sigpipe();
    let matches = match Cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (matches, cli)))
    {
        Ok(parsed) => parsed,
        Err(err) if err.use_stderr() && std::env::args_os().any(|a| a == "--json") => {
            // A usage error is a failure like any other for a script.
            let _ = err.print();
            // The error's paragraph, without the usage and the hint after it.
            let rendered = err.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty())
                .collect();
            let message = message.join(" ");
            print_failure_json(exit::BAD_INPUT, message.trim_start_matches("error: "), None);
            return ExitCode::from(exit::BAD_INPUT);
        }
        Err(err) => err.exit(),
    };
    let (matches, mut cli) = matches;
    cli.project_given = given(&matches, "project");
    let json = cli.json;
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("sgctl: {}", failure.message);
            if json {
                print_failure_json(failure.code, &failure.message, failure.done);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// A failure on one line of stdout, so that a script reading `--json` output
/// learns of it there too, as a deploy's events are.
fn print_failure_json(code: u8, message: &str, done: Option<Value>) {
    let mut line = match done {
        Some(Value::Object(done)) => done,
        _ => serde_json::Map::new(),
    };
    line.insert(
        "error".into(),
        json!({ "exit_code": code, "message": message }),
    );
    println!("{}", Value::Object(line));
}

/// Whether the global option `id` was given on the command line or in its
/// environment variable, at whichever subcommand level clap stored it.
fn given(matches: &clap::ArgMatches, id: &str) -> bool {
    let here = matches
        .value_source(id)
        .is_some_and(|source| source != clap::parser::ValueSource::DefaultValue);
    here || matches.subcommand().is_some_and(|(_, sub)| given(sub, id))
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`sgctl history |
/// head`) would panic on the failed write. A command-line tool should end
/// quietly instead, as `cat` does: restore the default action.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn run(cli: Cli) -> Outcome {
    match &cli.command {
        Command::Lint {
            list_rules: true, ..
        } => {
            list_rules(cli.json);
            Ok(exit::OK)
        }
        Command::Lint { files, no_down, .. } => lint(files, *no_down, cli.json),
        Command::Token { command } => match command {
            TokenCommand::Mint {
                sub,
                roles,
                controller_id,
                ttl,
                secret,
            } => mint(sub, roles, controller_id.as_deref(), ttl, secret),
        },
        Command::Health => health(&cli).await,
        Command::Submit {
            paths,
            parent,
            description,
            amend,
        } => {
            submit(
                &cli,
                paths,
                parent.as_deref(),
                description.as_deref(),
                *amend,
            )
            .await
        }
        Command::History => history(&cli).await,
        Command::Policy { source } => policy(&cli, *source).await,
        Command::Controllers { flag } => controllers(&cli, flag.as_deref()).await,
        Command::Show { id } => show(&cli, id).await,
        Command::Release(command) => release::run(&cli, command).await,
        Command::Audit {
            command: Some(AuditCommand::Verify { anchor }),
            ..
        } => audit_verify(&cli, anchor.as_deref()).await,
        Command::Audit {
            command: None,
            env,
            since,
            limit,
        } => {
            let project = cli.project_given.then_some(cli.project.as_str());
            audit_list(&cli, project, env.as_deref(), since.as_deref(), *limit).await
        }
    }
}

async fn connect(cli: &Cli) -> Result<Connection, Failure> {
    Connection::open(&cli.server, cli.token.as_deref())
        .await
        .map_err(|err| {
            let code = match err {
                schemagate_client::connect::ConnectError::Unreachable { .. } => exit::UNAVAILABLE,
                _ => exit::BAD_INPUT,
            };
            Failure::new(code, err.to_string())
        })
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn time_text(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|ts| time::OffsetDateTime::from_unix_timestamp(ts.seconds).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// In `--json` output an absent text is `null`, never `""`.
fn text_json(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::from(text)
    }
}

/// In `--json` output an absent time is `null`, never `""`.
fn time_json(ts: Option<&prost_types::Timestamp>) -> Value {
    ts.map_or(Value::Null, |ts| Value::from(time_text(Some(ts))))
}

fn risk_text(risk: i32) -> &'static str {
    match v1::RiskClass::try_from(risk) {
        Ok(v1::RiskClass::Additive) => "additive",
        Ok(v1::RiskClass::Risky) => "risky",
        Ok(v1::RiskClass::Destructive) => "destructive",
        _ => "unknown",
    }
}

fn severity_text(severity: i32) -> &'static str {
    match v1::Severity::try_from(severity) {
        Ok(v1::Severity::Info) => "info",
        Ok(v1::Severity::Warning) => "warning",
        Ok(v1::Severity::Error) => "error",
        _ => "unknown",
    }
}

async fn health(cli: &Cli) -> Outcome {
    let connection = connect(cli).await?;
    let response = connection
        .health()
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner();
    let status = tonic_health::pb::health_check_response::ServingStatus::try_from(response.status)
        .map(|s| s.as_str_name())
        .unwrap_or("UNKNOWN");
    if cli.json {
        print_json(&json!({ "server": cli.server, "status": status }));
    } else {
        println!("{status}");
    }
    Ok(if status == "SERVING" {
        exit::OK
    } else {
        exit::UNAVAILABLE
    })
}

async fn submit(
    cli: &Cli,
    paths: &[PathBuf],
    parent: Option<&str>,
    description: Option<&str>,
    amend: bool,
) -> Outcome {
    let revisions = revision_files::read(paths)?;
    if description.is_some() && revisions.len() != 1 {
        return Err(Failure::new(
            exit::BAD_INPUT,
            "--description applies to a single revision; put a `-- description:` line in each file instead",
        ));
    }
    let connection = connect(cli).await?;
    let mut catalog = connection.catalog();

    let first_parent = match parent {
        Some(parent) => parent.to_string(),
        None => implicit_parent(cli, &mut catalog, &revisions[0]).await?,
    };
    let mut results = Vec::new();
    let mut previous = first_parent;
    for files in &revisions {
        let request = v1::SubmitRevisionRequest {
            project: cli.project.clone(),
            id: files.id.clone(),
            parent_id: previous.clone(),
            up_sql: files.up_sql.clone(),
            down_sql: files.down_sql.clone(),
            description: description
                .map(str::to_string)
                .unwrap_or_else(|| files.description.clone()),
            amend,
        };
        let response = catalog.submit_revision(request).await.map_err(|status| {
            let mut failure = Failure::from(status);
            failure.message = format!("{}: {}", files.up_path.display(), failure.message);
            failure
        });
        let response = match response {
            Ok(response) => response.into_inner(),
            Err(mut failure) => {
                if cli.json {
                    failure.done = Some(json!({ "submitted": submitted_json(&results) }));
                } else {
                    report_submitted(cli, &results);
                }
                return Err(failure);
            }
        };
        let revision = response.revision.unwrap_or_default();
        previous = revision.id.clone();
        let result = if response.created {
            Submitted::Created
        } else if response.amended_checksum.is_empty() {
            Submitted::Unchanged
        } else {
            Submitted::Amended {
                previous_checksum: response.amended_checksum,
            }
        };
        results.push((revision, result));
    }
    report_submitted(cli, &results);
    Ok(exit::OK)
}

/// What the server did with one submitted revision.
enum Submitted {
    Created,
    Unchanged,
    Amended { previous_checksum: String },
}

impl Submitted {
    fn as_str(&self) -> &'static str {
        match self {
            Submitted::Created => "created",
            Submitted::Unchanged => "unchanged",
            Submitted::Amended { .. } => "amended",
        }
    }
}

/// The parent of the first file when none is given: its stored parent if the
/// catalog already has it (a resubmission), else the head.
async fn implicit_parent(
    cli: &Cli,
    catalog: &mut v1::catalog_client::CatalogClient<schemagate_client::connect::Authed>,
    first: &RevisionFiles,
) -> Result<String, Failure> {
    let history = catalog
        .list_history(v1::ListHistoryRequest {
            project: cli.project.clone(),
        })
        .await?
        .into_inner();
    Ok(history
        .revisions
        .iter()
        .find(|r| r.id == first.id)
        .map(|r| r.parent_id.clone())
        .unwrap_or(history.head))
}

fn submitted_json(results: &[(v1::Revision, Submitted)]) -> Vec<Value> {
    results
        .iter()
        .map(|(r, result)| {
            json!({
                "id": r.id,
                "parent_id": text_json(&r.parent_id),
                "created": matches!(result, Submitted::Created),
                "result": result.as_str(),
                "previous_checksum": match result {
                    Submitted::Amended { previous_checksum } => Value::from(previous_checksum.as_str()),
                    _ => Value::Null,
                },
                "checksum": r.checksum,
                "risk": risk_text(r.risk),
                "findings": r.lint.as_ref().map_or(0, |l| l.findings.len()),
            })
        })
        .collect()
}

fn report_submitted(cli: &Cli, results: &[(v1::Revision, Submitted)]) {
    if cli.json {
        print_json(&json!({ "submitted": submitted_json(results) }));
        return;
    }
    if results.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|(r, result)| {
            vec![
                r.id.clone(),
                or_dash(&r.parent_id),
                result.as_str().into(),
                risk_text(r.risk).into(),
                r.lint.as_ref().map_or(0, |l| l.findings.len()).to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(&["REVISION", "PARENT", "RESULT", "RISK", "FINDINGS"], &rows)
    );
}

async fn history(cli: &Cli) -> Outcome {
    let connection = connect(cli).await?;
    let history = connection
        .catalog()
        .list_history(v1::ListHistoryRequest {
            project: cli.project.clone(),
        })
        .await?
        .into_inner();
    if history.revisions.is_empty() && !history.other_projects.is_empty() {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "project {} has no revisions in the catalog (it holds {}): check --project, or submit its baseline first",
                cli.project,
                history.other_projects.join(", ")
            ),
        ));
    }
    if cli.json {
        let items: Vec<Value> = history.revisions.iter().map(revision_json).collect();
        print_json(&json!({ "head": text_json(&history.head), "revisions": items }));
        return Ok(exit::OK);
    }
    if history.revisions.is_empty() {
        println!("project {} has no revisions yet", cli.project);
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = history
        .revisions
        .iter()
        .map(|r| {
            vec![
                r.sequence.to_string(),
                r.id.clone(),
                or_dash(&r.parent_id),
                risk_text(r.risk).into(),
                r.author.clone(),
                time_text(r.created_at.as_ref()),
                r.checksum.chars().take(12).collect(),
                r.description.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "#",
                "REVISION",
                "PARENT",
                "RISK",
                "AUTHOR",
                "CREATED",
                "CHECKSUM",
                "DESCRIPTION"
            ],
            &rows
        )
    );
    Ok(exit::OK)
}

fn revision_json(r: &v1::Revision) -> Value {
    let findings: Vec<Value> = r
        .lint
        .as_ref()
        .map(|l| l.findings.iter().map(finding_json).collect())
        .unwrap_or_default();
    json!({
        "sequence": r.sequence,
        "id": r.id,
        "parent_id": text_json(&r.parent_id),
        "risk": risk_text(r.risk),
        "author": r.author,
        "created_at": time_json(r.created_at.as_ref()),
        "checksum": r.checksum,
        "description": text_json(&r.description),
        "transactional": r.lint.as_ref().is_some_and(|l| l.transactional),
        "findings": findings,
    })
}

fn finding_json(f: &v1::Finding) -> Value {
    json!({
        "rule": f.rule,
        "severity": severity_text(f.severity),
        "category": f.category,
        "statement_index": f.statement_index,
        "line": f.line,
        "column": f.column,
        "message": f.message,
        "help": f.help,
        "exempted": f.exempted,
        "exemption_reason": text_json(&f.exemption_reason),
    })
}

async fn show(cli: &Cli, id: &str) -> Outcome {
    let connection = connect(cli).await?;
    let r = connection
        .catalog()
        .get_revision(v1::GetRevisionRequest {
            project: cli.project.clone(),
            id: id.to_string(),
        })
        .await?
        .into_inner();
    if cli.json {
        let mut value = revision_json(&r);
        value["up_sql"] = json!(r.up_sql);
        value["down_sql"] = json!(r.down_sql);
        print_json(&value);
        return Ok(exit::OK);
    }
    let parent = if r.parent_id.is_empty() {
        "(none: baseline)".to_string()
    } else {
        r.parent_id.clone()
    };
    println!("revision     {}", r.id);
    println!("parent       {parent}");
    println!("risk         {}", risk_text(r.risk));
    println!("author       {}", r.author);
    println!("created      {}", time_text(r.created_at.as_ref()));
    println!("checksum     {}", r.checksum);
    if !r.description.is_empty() {
        println!("description  {}", r.description);
    }
    let findings = r.lint.map(|l| l.findings).unwrap_or_default();
    println!();
    if findings.is_empty() {
        println!("findings     none");
    } else {
        let rows: Vec<Vec<String>> = findings
            .iter()
            .map(|f| {
                vec![
                    format!("{}:{}", f.line, f.column),
                    severity_text(f.severity).into(),
                    f.rule.clone(),
                    if f.exempted {
                        format!("{} (exempted: {})", f.message, f.exemption_reason)
                    } else {
                        f.message.clone()
                    },
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(&["LINE", "SEVERITY", "RULE", "MESSAGE"], &rows)
        );
    }
    println!("\n-- up\n{}", r.up_sql.trim_end());
    if r.down_sql.is_empty() {
        println!("\n-- down: none");
    } else {
        println!("\n-- down\n{}", r.down_sql.trim_end());
    }
    Ok(exit::OK)
}

/// Every rule the linter runs, in its reporting order.
fn list_rules(as_json: bool) {
    let rules = schemagate_policy::RULES.iter().map(|rule| rule.info());
    if as_json {
        let rules: Vec<Value> = rules
            .map(|info| {
                json!({
                    "id": info.id,
                    "severity": info.severity.as_str(),
                    "category": info.category.as_str(),
                    "message": info.message,
                    "help": info.help,
                })
            })
            .collect();
        print_json(&Value::Array(rules));
        return;
    }
    let rows: Vec<Vec<String>> = rules
        .map(|info| {
            vec![
                info.id.to_string(),
                info.severity.as_str().to_string(),
                info.category.as_str().to_string(),
                info.message.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(&["RULE", "SEVERITY", "CATEGORY", "FLAGS"], &rows)
    );
}

/// The files `sgctl lint` reads, in order: a directory's *.up.sql files,
/// and every file given but a down file whose up file is linted too (it is
/// linted with it).
fn lint_targets(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(revision_files::up_files_in(path)?);
        } else {
            files.push(path.clone());
        }
    }
    let linted_with_its_up = |path: &PathBuf| {
        let name = path.to_string_lossy();
        name.strip_suffix(".down.sql").is_some_and(|stem| {
            let up = PathBuf::from(format!("{stem}.up.sql"));
            up.is_file() && files.iter().any(|f| f == &up)
        })
    };
    let keep: Vec<bool> = files.iter().map(|f| !linted_with_its_up(f)).collect();
    Ok(files
        .into_iter()
        .zip(keep)
        .filter_map(|(file, keep)| keep.then_some(file))
        .collect())
}

fn lint(paths: &[PathBuf], no_down: bool, as_json: bool) -> Outcome {
    let config = schemagate_policy::LintConfig {
        require_down: !no_down,
        ..schemagate_policy::LintConfig::default()
    };
    let mut worst = exit::OK;
    let mut reports = Vec::new();
    let mut lineages = revision_files::Lineages::default();
    for path in &lint_targets(paths)? {
        let sql = revision_files::read_utf8(path)?;
        // An up file is linted after the revisions before it in its
        // directory, as the server lints it after those before it.
        let history = lineages.before(path).unwrap_or_else(|err| {
            eprintln!(
                "sgctl: {}: linted without the revisions before it: {err}",
                path.display()
            );
            schemagate_policy::History::default()
        });
        // A revision's down file, when it sits beside the up file, counts as its down migration.
        let down = match path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".up.sql"))
            .map(|id| path.with_file_name(format!("{id}.down.sql")))
            .filter(|p| p.is_file())
        {
            Some(down_path) => Some((
                down_path.display().to_string(),
                revision_files::read_utf8(&down_path)?,
            )),
            None => None,
        };
        let is_down_file = path.to_string_lossy().ends_with(".down.sql");
        let config = if is_down_file {
            schemagate_policy::LintConfig {
                require_down: false,
                ..config.clone()
            }
        } else {
            config.clone()
        };
        let report = schemagate_policy::lint_after(
            &history,
            &sql,
            down.as_ref().map(|(_, text)| text.as_str()),
            &config,
        );
        // The server refuses a revision without a statement; say so offline
        // too rather than call it clean.
        let empty = !is_down_file && report.parse_error.is_none() && report.statements == 0;
        if empty {
            eprintln!(
                "sgctl: {}: empty up SQL (only comments or blanks): the server refuses a revision without a statement",
                path.display()
            );
        }
        let code = if report.parse_error.is_some() || empty {
            exit::BAD_INPUT
        } else if report.has_errors() {
            exit::REFUSED
        } else {
            exit::OK
        };
        worst = worst.max(code);
        if as_json {
            reports.push(json!({
                "file": path.display().to_string(),
                "down_file": down.as_ref().map(|(down_path, _)| down_path),
                "report": report
            }));
        } else {
            let up_path = path.display().to_string();
            let up = schemagate_policy::Source {
                path: &up_path,
                text: &sql,
            };
            let down = down
                .as_ref()
                .map(|(path, text)| schemagate_policy::Source { path, text });
            print!("{}", schemagate_policy::render_human(&report, up, down));
        }
    }
    if as_json {
        print_json(&Value::Array(reports));
    }
    Ok(worst)
}

fn mint(
    sub: &str,
    roles: &[String],
    controller_id: Option<&str>,
    ttl: &str,
    secret: &str,
) -> Outcome {
    let ttl =
        token::parse_duration(ttl).map_err(|e| Failure::new(exit::BAD_INPUT, e.to_string()))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let jwt = token::mint(secret, sub, roles, controller_id, ttl, now)
        .map_err(|e| Failure::new(exit::BAD_INPUT, e.to_string()))?;
    println!("{jwt}");
    Ok(exit::OK)
}

async fn audit_list(
    cli: &Cli,
    project: Option<&str>,
    env: Option<&str>,
    since: Option<&str>,
    limit: u32,
) -> Outcome {
    let since = since
        .map(|text| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(|t| prost_types::Timestamp {
                    seconds: t.unix_timestamp(),
                    nanos: 0,
                })
                .map_err(|_| {
                    Failure::new(
                        exit::BAD_INPUT,
                        format!(
                            "--since '{text}' is not an RFC 3339 time, e.g. 2026-11-25T09:00:00Z"
                        ),
                    )
                })
        })
        .transpose()?;
    let connection = connect(cli).await?;
    let entries = connection
        .audit()
        .list_audit(v1::ListAuditRequest {
            environment: env.unwrap_or_default().to_string(),
            since,
            limit,
            project: project.unwrap_or_default().to_string(),
        })
        .await?
        .into_inner()
        .entries;
    if cli.json {
        let items: Vec<Value> = entries
            .iter()
            .map(|e| {
                json!({
                    "id": e.id, "at": time_json(e.at.as_ref()), "actor": e.actor,
                    "action": e.action, "project": text_json(&e.project),
                    "environment": text_json(&e.environment), "subject": text_json(&e.subject),
                    "outcome": e.outcome, "detail": text_json(&e.detail),
                    "sha256": e.sha256,
                })
            })
            .collect();
        print_json(&Value::Array(items));
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                time_text(e.at.as_ref()),
                e.actor.clone(),
                e.action.clone(),
                or_dash(&e.project),
                or_dash(&e.subject),
                or_dash(&e.environment),
                e.outcome.clone(),
                e.detail.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "#", "AT", "ACTOR", "ACTION", "PROJECT", "SUBJECT", "ENV", "OUTCOME", "DETAIL"
            ],
            &rows
        )
    );
    Ok(exit::OK)
}

/// `{"forbidden", "approvals", "roles"}`; `null` from a server too old to say.
fn requirement_json(requirement: Option<&v1::ApprovalRequirement>) -> Value {
    requirement.map_or(
        Value::Null,
        |r| json!({ "forbidden": r.forbidden, "approvals": r.approvals, "roles": r.roles }),
    )
}

async fn policy(cli: &Cli, source: bool) -> Outcome {
    let connection = connect(cli).await?;
    let policy = connection
        .policy()
        .get_policy(v1::GetPolicyRequest {})
        .await?
        .into_inner();
    if cli.json {
        let details: Vec<Value> = policy
            .details
            .iter()
            .map(|env| {
                json!({
                    "name": env.name,
                    "target_url_env": env.target_url_env,
                    "target": env.target,
                    "windows": env.windows,
                    "backup": env.backup,
                    "lock_timeout": env.lock_timeout,
                    "statement_timeout": env.statement_timeout,
                    "additive": env.additive,
                    "risky": env.risky,
                    "destructive": env.destructive,
                    "rollback": env.rollback,
                    "matrix": {
                        "additive": requirement_json(env.additive_requirement.as_ref()),
                        "risky": requirement_json(env.risky_requirement.as_ref()),
                        "destructive": requirement_json(env.destructive_requirement.as_ref()),
                        "rollback": requirement_json(env.rollback_requirement.as_ref()),
                    },
                })
            })
            .collect();
        print_json(&json!({
            "sha256": policy.sha256,
            "environments": policy.environments,
            "details": details,
            "emergency": policy.emergency,
            "source": policy.source,
        }));
    } else if source {
        print!("{}", policy.source);
    } else {
        println!("sha256        {}", policy.sha256);
        println!("environments  {}", policy.environments.join(" -> "));
        println!(
            "emergency     {}",
            if policy.emergency.is_empty() {
                "none: what the matrix forbids never passes"
            } else {
                &policy.emergency
            }
        );
        let where_rows: Vec<Vec<String>> = policy
            .details
            .iter()
            .map(|env| {
                vec![
                    env.name.clone(),
                    format!("${} ({})", env.target_url_env, env.target),
                    env.windows.clone(),
                    env.backup.clone(),
                    format!(
                        "lock {}, statement {}",
                        env.lock_timeout, env.statement_timeout
                    ),
                ]
            })
            .collect();
        println!();
        print!(
            "{}",
            table::render(
                &["ENVIRONMENT", "TARGET", "WINDOWS", "BACKUP", "TIMEOUTS"],
                &where_rows
            )
        );
        let matrix_rows: Vec<Vec<String>> = policy
            .details
            .iter()
            .map(|env| {
                vec![
                    env.name.clone(),
                    env.additive.clone(),
                    env.risky.clone(),
                    env.destructive.clone(),
                    env.rollback.clone(),
                ]
            })
            .collect();
        println!();
        print!(
            "{}",
            table::render(
                &[
                    "ENVIRONMENT",
                    "ADDITIVE",
                    "RISKY",
                    "DESTRUCTIVE",
                    "ROLLBACK"
                ],
                &matrix_rows
            )
        );
    }
    Ok(exit::OK)
}

/// A controller's last report, whole. Journal figures are `null` when the
/// journal could not be read (any status but `ok`), as the agent sends none.
fn report_json(r: &v1::JournalReport) -> Value {
    let read = agent::journal_was_read(r);
    let figure = |value: Value| if read { value } else { Value::Null };
    json!({
        "observed_at": time_json(r.observed_at.as_ref()),
        "interval_seconds": r.interval_seconds,
        "status": r.status,
        "status_detail": text_json(&r.status_detail),
        "sqlite_version": text_json(&r.sqlite_version),
        "journal_mode": text_json(&r.journal_mode),
        "user_version": figure(json!(r.user_version)),
        "page_size": figure(json!(r.page_size)),
        "page_count": figure(json!(r.page_count)),
        "freelist_count": figure(json!(r.freelist_count)),
        "wal_size_bytes": r.wal_size_bytes,
        "tables": figure(json!(r.tables.iter().map(|t| json!({
            "name": t.name, "ddl_sha256": t.ddl_sha256, "row_count": t.row_count,
        })).collect::<Vec<_>>())),
        "newest_pour_at": time_json(r.newest_pour_at.as_ref()),
        "unsynced_pours": (r.unsynced_pours >= 0).then_some(r.unsynced_pours),
        "quick_check": text_json(&r.quick_check),
        "quick_check_at": time_json(r.quick_check_at.as_ref()),
        "agent_instance": text_json(&r.agent_instance),
    })
}

async fn controllers(cli: &Cli, flag: Option<&str>) -> Outcome {
    let connection = connect(cli).await?;
    let response = connection
        .fleet()
        .list_controllers(v1::ListControllersRequest {
            flag: flag.unwrap_or_default().to_string(),
        })
        .await?
        .into_inner();
    let controllers = response.controllers;
    if cli.json {
        let items: Vec<Value> = controllers
            .iter()
            .map(|c| {
                json!({
                    "controller_id": c.controller_id,
                    "last_report_at": time_json(c.last_report_at.as_ref()),
                    "flags": c.flags,
                    "last_report": c.last_report.as_ref().map(report_json),
                })
            })
            .collect();
        print_json(&json!({
            "schema_reference": text_json(&response.schema_reference),
            "controllers": items,
        }));
        return Ok(exit::OK);
    }
    if controllers.is_empty() {
        println!(
            "no controllers{}",
            flag.map(|f| format!(" flagged {f}")).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = controllers
        .iter()
        .map(|c| {
            let Some(r) = c.last_report.clone() else {
                let mut row = vec!["-".to_string(); 9];
                row[0] = c.controller_id.clone();
                row[1] = "never".into();
                row[8] = c.flags.join(",");
                return row;
            };
            vec![
                c.controller_id.clone(),
                time_text(c.last_report_at.as_ref()),
                r.status.clone(),
                or_dash(&r.journal_mode),
                // An unread journal has no tables to count.
                if agent::journal_was_read(&r) {
                    r.tables.len().to_string()
                } else {
                    "-".into()
                },
                if r.unsynced_pours < 0 {
                    "-".into()
                } else {
                    r.unsynced_pours.to_string()
                },
                // The findings of a failed check run long; they are
                // printed in full below the table.
                match r.quick_check.as_str() {
                    "" => "-".into(),
                    "ok" => "ok".into(),
                    _ => "failed".into(),
                },
                match &r.quick_check_at {
                    Some(at) => time_text(Some(at)),
                    None => "-".into(),
                },
                if c.flags.is_empty() {
                    "-".into()
                } else {
                    c.flags.join(",")
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "CONTROLLER",
                "LAST REPORT",
                "STATUS",
                "MODE",
                "TABLES",
                "UNSYNCED",
                "CHECK",
                "CHECKED",
                "FLAGS"
            ],
            &rows
        )
    );
    // Why a journal could not be read, or what its check found: too long
    // for a column, and what the operator acts on.
    for c in &controllers {
        let Some(r) = &c.last_report else { continue };
        if !r.status_detail.is_empty() {
            println!("{}: {}: {}", c.controller_id, r.status, r.status_detail);
        }
        if !matches!(r.quick_check.as_str(), "" | "ok") {
            println!("{}: quick_check: {}", c.controller_id, r.quick_check);
        }
        // The row shows whichever agent reported last: say what to look for.
        if c.flags.iter().any(|f| f == "duplicate_agent") {
            println!(
                "{}: duplicate_agent: two sg-agent processes report for this id (the last from instance {}); look for a cloned SD card or a mis-set --controller-id",
                c.controller_id,
                or_dash(&r.agent_instance)
            );
        }
    }
    if controllers
        .iter()
        .any(|c| c.flags.iter().any(|f| f == "schema_drift"))
    {
        println!(
            "schema_drift compares with {}",
            match response.schema_reference.as_str() {
                "configured" => "the expected schema in the server's policy file",
                _ => "the fleet majority (no expected schema in the server's policy file)",
            }
        );
    }
    Ok(exit::OK)
}

async fn audit_verify(cli: &Cli, anchor: Option<&str>) -> Outcome {
    let connection = connect(cli).await?;
    let result = connection
        .audit()
        .verify_audit(v1::VerifyAuditRequest {
            anchor_sha256: anchor.unwrap_or_default().to_string(),
        })
        .await?
        .into_inner();
    if cli.json {
        print_json(&json!({
            "intact": result.intact,
            "rows_checked": result.rows_checked,
            "first_broken_id": (result.first_broken_id != 0).then_some(result.first_broken_id),
            "detail": text_json(&result.detail),
            "head_id": (result.head_id != 0).then_some(result.head_id),
            "head_sha256": text_json(&result.head_sha256),
        }));
    } else if result.intact {
        println!("audit chain intact: {} rows checked", result.rows_checked);
    } else if result.first_broken_id == 0 {
        println!(
            "audit chain BROKEN: {} ({} rows are intact)",
            result.detail, result.rows_checked
        );
    } else {
        println!(
            "audit chain BROKEN at row {}: {} ({} rows before it are intact)",
            result.first_broken_id, result.detail, result.rows_checked
        );
    }
    if !cli.json && result.head_id != 0 {
        println!(
            "head: row {}, sha256 {} (record it outside the catalog; `sgctl audit verify --anchor` checks it is still there)",
            result.head_id, result.head_sha256
        );
    }
    Ok(if result.intact {
        exit::OK
    } else {
        exit::REFUSED
    })
}
