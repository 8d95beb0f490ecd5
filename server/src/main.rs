//! `schemagate-server`: reads its settings from flags or the environment and
//! serves the Schemagate API until SIGTERM or Ctrl-C.

use clap::Parser;
use schemagate_server::telemetry::{self, LogFormat};
use schemagate_server::{Settings, run};

#[derive(Parser)]
#[command(
    version,
    about = "Schemagate: the migration history as the single source of truth, with a gate in front of every schema change.",
    after_help = "Quick start (embedded SQLite catalog in ./schemagate.db):\n  SCHEMAGATE_JWT_SECRET=dev-secret-change-me schemagate-server\n\nThen mint a token with `sgctl token mint --sub alice --role developer` (same secret).\n\nAlso read from the environment (never from the command line, where `ps` would show them):\n  the target URL of each environment, in the variable its target_url_env names\n    (SCHEMAGATE_TARGET_DEV_URL, ..._CI_URL, ..._PILOT_URL in examples/schemagate.toml)\n  the backup directory, in the variable backup_dir_env names (SCHEMAGATE_BACKUP_DIR there)\n  SCHEMAGATE_SHADOW_URL  a PostgreSQL server where `sgctl stamp` builds the expected\n                         schema in scratch databases (stamping needs it)\n  SCHEMAGATE_PG_BIN      directory of pg_dump and pg_restore (default: PATH)"
)]
struct Args {
    #[command(flatten)]
    settings: Settings,
    /// Log format: human or json. Traces are also exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
    #[arg(long, env = "SCHEMAGATE_LOG_FORMAT", default_value = "human", value_parser = ["human", "json"])]
    log_format: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let format = if args.log_format == "json" {
        LogFormat::Json
    } else {
        LogFormat::Human
    };
    let telemetry = match telemetry::init(format) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("schemagate-server: {}", said_once(&err));
            return std::process::ExitCode::FAILURE;
        }
    };

    let result = run(args.settings, shutdown_signal()).await;
    telemetry.shutdown().await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("schemagate-server: {}", said_once(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: most messages already end
/// with their cause's, which `{:#}` would print again.
fn said_once(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested");
}
