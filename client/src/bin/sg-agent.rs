//! `sg-agent`: the edge agent. Reads a tap controller's SQLite journal
//! strictly read-only and reports its state to Schemagate's Fleet service,
//! once (`--once`, for cron and tests) or every interval as a daemon.

use clap::Parser;
use schemagate_client::connect::DEFAULT_SERVER;
use schemagate_client::table::or_dash;
use schemagate_client::{agent, exit, token};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const AFTER_HELP: &str = "\
The journal is opened read-only and never changed: no writes, no schema or
journal-mode change, no checkpoint. A missing, locked or corrupt journal is
reported with that status rather than stopping the agent.

Without --once the agent reports every interval. While the server is
unreachable it keeps only the newest report and retries with exponential
backoff and jitter, never waiting longer than the interval. A report the
server refuses as invalid is logged and the next one sent an interval later;
a refused token (invalid, expired, or for another controller) stops the agent
with exit code 4, since every later report would carry the same token.

The integrity check (PRAGMA quick_check) reads every page of the journal, so
the long-running agent runs it on the first report and then on every
--integrity-every-th (default 10: every 5 minutes at 30s); the reports in
between repeat the last result with the time it was obtained (quick_check_at).
A failed check, a replaced journal file or an unreadable journal makes the
next report check again; --once always checks. Between checks, unsynced pours
are counted from the lowest rowid that was unsynced at the previous count
rather than over the whole table.

Each start picks a random agent instance id, sent with every report (the
daemon prints it when it starts). When the reports for one controller id
alternate between two instances, two agents use that id (a cloned SD card,
a mis-set --controller-id) and `sgctl controllers` flags it duplicate_agent;
a restart changes the instance once and is not flagged. Every --once run is
a new instance, so agents run from cron are not told apart.

Environment:
  SCHEMAGATE_TOKEN   agent token for this controller (required by the server)
  SCHEMAGATE_SERVER  server address (default http://127.0.0.1:50051)

Example (a token lives an hour unless minted with --ttl; the daemon stops,
exit 4, when the server refuses an expired one):
  export SCHEMAGATE_TOKEN=$(sgctl token mint --sub tap2 --role agent --controller-id bar3-tap2 --ttl 30d)
  sg-agent --journal /var/lib/tapd/journal.db --controller-id bar3-tap2 --interval 30s

Expected schema for the server's policy file, from a journal known to be right
(one that fails its integrity check is refused; delete the file's existing
[fleet.expected_tables] block first, if it has one):
  sg-agent --journal /var/lib/tapd/journal.db --print-schema >> schemagate.toml

Exit codes (--once, --print-schema, and a daemon that stops):
  0  the report was delivered (whatever the journal's status), or the schema printed
  2  bad usage, the server refused the report as invalid, or (--print-schema)
     the journal cannot be read
  3  the server is unreachable or unavailable
  4  missing or invalid token, or a token for another controller
  1  any other refusal";

#[derive(Parser)]
#[command(
    name = "sg-agent",
    version,
    about = "Report a controller's SQLite journal state to Schemagate.",
    after_help = AFTER_HELP
)]
struct Cli {
    /// The controller's SQLite journal.
    #[arg(long, value_name = "PATH")]
    journal: PathBuf,
    /// This controller's id; the token must be minted for it.
    #[arg(
        long,
        value_name = "ID",
        required_unless_present = "print_schema",
        value_parser = parse_controller_id
    )]
    controller_id: Option<String>,
    /// Time between reports, e.g. 30s, 5m, 1m30s, 1h (1s to 1d).
    #[arg(long, default_value = "30s", value_parser = parse_interval)]
    interval: Duration,
    /// Send one report and exit.
    #[arg(long)]
    once: bool,
    /// Run the integrity check (PRAGMA quick_check, which reads every page)
    /// on the first report and then on every Nth, 1 to 10000; 1 checks every
    /// report. --once always checks.
    #[arg(
        long,
        value_name = "N",
        default_value_t = agent::DEFAULT_INTEGRITY_EVERY,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    integrity_every: u32,
    /// Print the journal's tables and DDL hashes as a [fleet.expected_tables]
    /// block for the server's policy file, and exit (nothing is sent).
    #[arg(long, conflicts_with_all = ["once", "interval", "integrity_every"])]
    print_schema: bool,
    /// Server address.
    #[arg(long, env = "SCHEMAGATE_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
}

fn parse_controller_id(text: &str) -> Result<String, String> {
    token::check_controller_id(text)
        .map(|()| text.to_string())
        .map_err(|err| err.to_string())
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let seconds = token::parse_duration(text).map_err(|err| err.to_string())?;
    if !(1..=86_400).contains(&seconds) {
        return Err("the interval must be between 1s and 1d".into());
    }
    Ok(Duration::from_secs(seconds.unsigned_abs()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_schema {
        return match agent::expected_schema_toml(&cli.journal) {
            Ok(toml) => {
                print!("{toml}");
                ExitCode::from(exit::OK)
            }
            Err(err) => {
                eprintln!("sg-agent: cannot read the journal's schema: {err}");
                ExitCode::from(exit::BAD_INPUT)
            }
        };
    }
    let Some(controller_id) = cli.controller_id.as_deref() else {
        eprintln!("sg-agent: --controller-id is required");
        return ExitCode::from(exit::BAD_INPUT);
    };
    // The token stays out of the command line, where `ps` would show it.
    let token = match std::env::var("SCHEMAGATE_TOKEN") {
        Ok(token) if !token.trim().is_empty() => token,
        _ => {
            eprintln!(
                "sg-agent: SCHEMAGATE_TOKEN is not set: export an agent token minted for this controller, e.g.\n  export SCHEMAGATE_TOKEN=$(sgctl token mint --sub {controller_id} --role agent --controller-id {controller_id})"
            );
            return ExitCode::from(exit::AUTH);
        }
    };
    // One thread is plenty for one call per interval, and keeps the agent small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("sg-agent: cannot start the runtime: {err}");
            return ExitCode::from(exit::UNAVAILABLE);
        }
    };
    if !cli.once {
        // Matches the agent_instance of the reports in `sgctl --json
        // controllers`: which device is which when two share an id.
        eprintln!(
            "sg-agent: reporting for {controller_id} every {}s as agent instance {}",
            cli.interval.as_secs(),
            agent::instance()
        );
        let refused = runtime.block_on(agent::run(
            &cli.journal,
            controller_id,
            cli.interval,
            cli.integrity_every,
            &cli.server,
            Some(&token),
        ));
        eprintln!(
            "sg-agent: stopping: the server refused the token ({refused}); no later report could be delivered with it. Mint an agent token for {controller_id}, set SCHEMAGATE_TOKEN and start the agent again"
        );
        return ExitCode::from(refused.exit_code());
    }
    match runtime.block_on(agent::run_once(
        &cli.journal,
        controller_id,
        cli.interval,
        &cli.server,
        Some(&token),
    )) {
        Ok(report) => {
            let detail = if report.status_detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", report.status_detail)
            };
            // An unread journal has no tables to count.
            let tables = if agent::journal_was_read(&report) {
                report.tables.len().to_string()
            } else {
                "-".to_string()
            };
            // The instance, as `sgctl controllers` names the one that
            // reported last for a duplicate_agent.
            println!(
                "reported {} as agent instance {}: status {}{detail}, journal_mode {}, {tables} tables, quick_check {}",
                report.controller_id,
                report.agent_instance,
                report.status,
                or_dash(&report.journal_mode),
                or_dash(&report.quick_check),
            );
            ExitCode::from(exit::OK)
        }
        Err(err) => {
            eprintln!("sg-agent: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
