//! Schemagate server: the catalog of revisions, the additive-first policy,
//! approvals, the release gate, gated execution, onboarding, the fleet view,
//! the audit log and the gRPC API over them. `run` serves until shutdown.

pub mod approvals;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod config;
pub mod db;
pub mod drift;
pub mod executor;
pub mod fleet;
pub mod gate;
pub mod grpc;
pub mod health;
pub mod onboarding;
pub mod release;
pub mod rpc;
pub mod schema;
pub mod shutdown;
pub mod target;
pub mod telemetry;

/// The generated API, for callers of the library.
pub use schemagate_proto as proto;

use anyhow::Context;
use schemagate_proto::v1;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// Largest request the transport accepts. Revisions are limited further, with
/// a clearer message, by the catalog.
pub const MAX_MESSAGE_BYTES: usize = 24 * 1024 * 1024;

/// Everything the server needs to start, usually read from the environment.
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, env = "SCHEMAGATE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// Catalog database: sqlite://FILE (created if missing) or postgres://USER@HOST/DB.
    #[arg(long, env = "SCHEMAGATE_DATABASE_URL", default_value = db::DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Shared secret for HS256 tokens (development).
    #[arg(long, env = "SCHEMAGATE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM file with an Ed25519 or RSA public key for EdDSA / RS256 tokens (production).
    #[arg(long, env = "SCHEMAGATE_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<String>,
    /// Expected `iss` claim.
    #[arg(long, env = "SCHEMAGATE_JWT_ISSUER", default_value = auth::DEFAULT_ISSUER)]
    pub jwt_issuer: String,
    /// Expected `aud` claim.
    #[arg(long, env = "SCHEMAGATE_JWT_AUDIENCE", default_value = auth::DEFAULT_AUDIENCE)]
    pub jwt_audience: String,
    /// Refuse tokens valid for longer than this in all (12h, 30d): from `iat` to `exp`, or from now without `iat`. Unset: any lifetime.
    #[arg(long, env = "SCHEMAGATE_JWT_MAX_LIFETIME", value_parser = auth::parse_lifetime)]
    pub jwt_max_lifetime: Option<i64>,
    /// Policy file: environments, windows, backups and the approval matrix (see examples/schemagate.toml).
    #[arg(long, env = "SCHEMAGATE_CONFIG")]
    pub config: Option<String>,
    /// After SIGTERM, how long running calls may go on before the server exits anyway (30s, 500ms, 2m).
    #[arg(long, env = "SCHEMAGATE_SHUTDOWN_GRACE", default_value = shutdown::DEFAULT_GRACE, value_parser = shutdown::parse_grace)]
    pub shutdown_grace: std::time::Duration,
}

/// Opens the catalog, binds the listener and serves until `shutdown` resolves.
/// Prints `schemagate-server listening on ADDR` on stdout once ready.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let auth = auth::Authenticator::from_config(
        settings.jwt_secret.as_deref(),
        settings.jwt_public_key.as_deref(),
        &settings.jwt_issuer,
        &settings.jwt_audience,
    )?
    .with_max_lifetime(settings.jwt_max_lifetime);
    let policy = settings
        .config
        .as_deref()
        .map(config::Policy::load)
        .transpose()?;
    let db = db::Db::connect(&settings.database_url).await?;
    if let (Some(policy), Some(path)) = (&policy, &settings.config) {
        audit::record(
            &db,
            &audit::Event {
                actor: "schemagate-server",
                action: "policy.load",
                project: "",
                environment: "",
                subject: path,
                outcome: audit::Outcome::Ok,
                detail: format!("sha256={}", policy.sha256),
            },
        )
        .await?;
        tracing::info!(path, sha256 = %policy.sha256, "policy loaded");
    }
    // Before serving: the gate judges a revision by its stored lint, which
    // must be this server's rules'.
    let relinted = catalog::relint_stored(&db)
        .await
        .context("cannot lint the catalog's revisions again with this server's rules")?;
    for (revision, was) in &relinted.changed {
        if revision.risk == *was {
            tracing::info!(project = %revision.project, revision = %revision.id, "the revision's findings changed with this server's rules; its risk class did not");
        } else {
            tracing::warn!(project = %revision.project, revision = %revision.id, risk = revision.risk.as_str(), previous_risk = was.as_str(), "the revision's risk class changed with this server's rules; the gate judges it by the new class");
        }
    }
    tracing::info!(
        revisions = relinted.revisions,
        changed = relinted.changed.len(),
        "stored revisions linted again with this server's rules"
    );
    let policy = policy.map(Arc::new);
    if let Some(policy) = policy.clone() {
        // In the background: an unreachable target must not delay the start.
        let db = db.clone();
        tokio::spawn(async move { executor::reconcile_at_start(&db, &policy).await });
    }
    tracing::info!(
        catalog = %db::redact_url(&settings.database_url),
        backend = ?db.backend,
        "catalog ready"
    );

    let listener = TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(schemagate_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let in_flight = rpc::InFlight::default();
    let report_writer = fleet::ReportWriter::start(db.clone());
    let services = grpc::Services(Arc::new(grpc::State {
        db: db.clone(),
        auth,
        policy,
        in_flight: in_flight.clone(),
        reports: report_writer.queue(),
        role_refusals: audit::RefusalBudget::default(),
    }));
    macro_rules! limited {
        ($server:expr) => {
            $server
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES)
        };
    }
    let health = health::HealthMonitor::start(
        db.clone(),
        health_reporter,
        health::api_service_names(),
        health::PING_INTERVAL,
    )
    .await;

    println!("schemagate-server listening on {address}");
    tracing::info!(%address, "serving");
    let (stop, stopping) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        shutdown.await;
        health.stop().await;
        let _ = stop.send(());
    };
    let serve = tonic::transport::Server::builder()
        .layer(rpc::RpcLayer::new(in_flight.clone()))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(limited!(v1::catalog_server::CatalogServer::new(
            services.clone()
        )))
        .add_service(limited!(v1::policy_server::PolicyServer::new(
            services.clone()
        )))
        .add_service(limited!(v1::audit_server::AuditServer::new(
            services.clone()
        )))
        .add_service(limited!(v1::fleet_server::FleetServer::new(
            services.clone()
        )))
        .add_service(limited!(v1::approvals_server::ApprovalsServer::new(
            services.clone()
        )))
        .add_service(limited!(v1::gate_server::GateServer::new(services.clone())))
        .add_service(limited!(v1::execution_server::ExecutionServer::new(
            services.clone()
        )))
        .add_service(limited!(v1::onboarding_server::OnboardingServer::new(
            services
        )))
        // Without TCP_NODELAY, a reply written in more than one piece
        // (headers, message, trailers) waits on the client's delayed ACK:
        // 40 ms a call on Linux.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        );
    let served =
        shutdown::serve_with_grace(serve, stopping, settings.shutdown_grace, &in_flight).await;
    // After the running calls: a report call still waiting on the writer is
    // answered; one cut off by the grace period gets UNAVAILABLE.
    if let Some(stats) = report_writer.stop().await {
        tracing::info!(
            reports = stats.reports,
            batches = stats.batches,
            largest_batch = stats.largest_batch,
            split_batches = stats.split_batches,
            "fleet report writer stopped"
        );
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}
