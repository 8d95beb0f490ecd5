//! Logs and traces. [`init`] installs the global `tracing` subscriber: human
//! or JSON log lines on stderr (filtered by `RUST_LOG`, `info` by default)
//! and, only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, an OpenTelemetry layer that
//! exports spans over OTLP/gRPC in batches. Without the variable there is no
//! exporter and no background work. [`Telemetry::shutdown`] flushes the
//! spans still buffered before the process exits.
//!
//! The exporter reads the other standard variables itself
//! (`OTEL_EXPORTER_OTLP_HEADERS`, `_TIMEOUT`, `_COMPRESSION`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`); `OTEL_SDK_DISABLED=true`
//! turns it off.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::io::IsTerminal as _;
use std::time::Duration;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The standard variable that turns the OTLP exporter on.
pub const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Its traces-only form, which takes precedence.
pub const OTLP_TRACES_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// Name the spans are reported under unless `OTEL_SERVICE_NAME` or
/// `OTEL_RESOURCE_ATTRIBUTES` says otherwise.
pub const SERVICE_NAME: &str = "schemagate-server";

/// How long shutdown waits for the last spans to be exported.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event, with the current span and its parents.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format '{other}': use human or json")),
        }
    }
}

/// The installed telemetry; keep it until exit and call [`Telemetry::shutdown`].
#[must_use = "call shutdown before exiting so buffered spans are exported"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Where spans go, when they are exported at all.
pub fn otlp_endpoint() -> Option<String> {
    if std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    [OTLP_TRACES_ENDPOINT_VAR, OTLP_ENDPOINT_VAR]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .map(|value| value.trim().to_string())
        .find(|value| !value.is_empty())
}

/// Installs the global subscriber. Must run inside the Tokio runtime (the
/// OTLP/gRPC client lives on it). Fails when the exporter's configuration
/// is invalid (for example a malformed endpoint).
pub fn init(format: LogFormat) -> anyhow::Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal: a log file or a collector
    // reading stderr gets plain text, and NO_COLOR is honoured.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let logs = match format {
        LogFormat::Human => logs.boxed(),
        LogFormat::Json => logs.json().boxed(),
    };
    let endpoint = otlp_endpoint();
    let provider = endpoint.as_deref().map(tracer_provider).transpose()?;
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(SERVICE_NAME))
            .boxed()
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .with(filter)
        .try_init()?;
    if let Some(endpoint) = endpoint {
        for var in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Ok(protocol) = std::env::var(var)
                && !protocol.trim().is_empty()
                && protocol.trim() != "grpc"
            {
                tracing::warn!(
                    %var,
                    %protocol,
                    "only the grpc OTLP protocol is supported: exporting over gRPC"
                );
                break;
            }
        }
        tracing::info!(%endpoint, "exporting traces over OTLP/gRPC");
    }
    Ok(Telemetry { provider })
}

fn tracer_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|err| anyhow::anyhow!("cannot export traces to {endpoint}: {err}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder().with_attribute(
        opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
    );
    let named_by_env = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    if !named_by_env {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}

impl Telemetry {
    /// True when spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans still buffered and stops the exporter (at most
    /// [`FLUSH_TIMEOUT`]). Does nothing when no exporter runs.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The SDK blocks while it flushes; the gRPC client it flushes
        // through runs on this runtime, so block another thread.
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        match flushed {
            Ok(Ok(())) => tracing::info!("traces flushed"),
            Ok(Err(err)) => tracing::warn!(error = %err, "cannot flush traces"),
            Err(err) => tracing::warn!(error = %err, "cannot flush traces"),
        }
    }
}
