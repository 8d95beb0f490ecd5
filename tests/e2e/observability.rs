//! Operating the real server: `grpc.health.v1` follows the catalog database
//! (a PostgreSQL cluster of the test's own, stopped and started again),
//! spans reach an OTLP/gRPC receiver the test runs, and SIGTERM drains
//! running calls within the shutdown grace period.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use schemagate_e2e::postgres::Cluster;
use schemagate_e2e::{Run, Server, sgctl, token, wait_for};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `sgctl health` against `server` (no token needed).
fn sgctl_health(server: &Server) -> Run {
    sgctl(&["health"], &[("SCHEMAGATE_SERVER", &server.address)])
}

async fn health_client(server: &Server) -> HealthClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(server.address.clone())
        .expect("server address")
        .connect()
        .await
        .expect("connect to the health service");
    HealthClient::new(channel)
}

/// Asks the health service about `service` ("" is the server as a whole).
fn check(rt: &tokio::runtime::Runtime, server: &Server, service: &str) -> ServingStatus {
    rt.block_on(async {
        let mut client = health_client(server).await;
        let response = client
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .expect("health check")
            .into_inner();
        ServingStatus::try_from(response.status).expect("a known status")
    })
}

#[test]
fn health_is_not_serving_while_the_catalog_database_is_down() {
    let rt = runtime();
    let cluster = Cluster::start();
    let server = Server::start(&cluster.url("postgres"), &[]);

    let run = sgctl_health(&server);
    assert_eq!(run.ok().trim(), "SERVING");
    assert_eq!(
        check(&rt, &server, "schemagate.v1.Catalog"),
        ServingStatus::Serving
    );

    cluster.stop();
    wait_for(
        Duration::from_secs(20),
        "health reports NOT_SERVING",
        || {
            let run = sgctl_health(&server);
            run.code == 3 && run.stdout.trim() == "NOT_SERVING"
        },
    );
    for service in [
        "",
        "schemagate.v1.Catalog",
        "schemagate.v1.Audit",
        "schemagate.v1.Fleet",
    ] {
        assert_eq!(
            check(&rt, &server, service),
            ServingStatus::NotServing,
            "{service:?} while the catalog is down"
        );
    }
    // Calls that need the catalog fail, but the server keeps running.
    let reader = token("alice", &["developer"]);
    let refused_as_unavailable = |run: schemagate_e2e::Run| {
        assert!(
            run.code == 3 && run.stderr.contains("unavailable"),
            "{run:#?}\nserver log:\n{}",
            server.log()
        );
    };
    refused_as_unavailable(server.sgctl(&reader, &["history", "--project", "demo"]));
    // A write during the outage is refused as UNAVAILABLE and leaves nothing.
    let revisions = tempfile::tempdir().unwrap();
    schemagate_e2e::write_revisions(
        revisions.path(),
        &[(
            "0001_baseline",
            "CREATE TABLE venues (id bigint PRIMARY KEY);",
            "DROP TABLE venues;",
        )],
    );
    refused_as_unavailable(server.sgctl(
        &reader,
        &[
            "submit",
            "--project",
            "demo",
            revisions.path().to_str().unwrap(),
        ],
    ));

    cluster.start_again();
    wait_for(
        Duration::from_secs(30),
        "health reports SERVING again",
        || sgctl_health(&server).code == 0,
    );
    assert_eq!(
        check(&rt, &server, "schemagate.v1.Catalog"),
        ServingStatus::Serving
    );
    let after = server
        .sgctl(&reader, &["history", "--project", "demo"])
        .ok()
        .to_string();
    assert!(
        after.contains("no revisions yet"),
        "nothing half-written: {after}"
    );
    // And the service works again without a restart.
    server
        .sgctl(
            &reader,
            &[
                "submit",
                "--project",
                "demo",
                revisions.path().to_str().unwrap(),
            ],
        )
        .ok();

    let log = server.log();
    assert!(
        log.contains("catalog database unreachable"),
        "the server should log the outage: {log}"
    );
    assert!(
        log.contains("catalog database reachable again"),
        "the server should log the recovery: {log}"
    );
}

/// One exported span: its name, attributes (as text) and the resource's service name.
#[derive(Clone, Debug)]
struct ExportedSpan {
    name: String,
    service: String,
    attributes: BTreeMap<String, String>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

/// A minimal OTLP/gRPC trace receiver that keeps every span it is sent.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<ExportedSpan>>>);

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes(pairs: &[KeyValue]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().expect("receiver lock");
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .map(|r| attributes(&r.attributes))
                .and_then(|a| a.get("service.name").cloned())
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    spans.push(ExportedSpan {
                        name: span.name.clone(),
                        service: service.clone(),
                        attributes: attributes(&span.attributes),
                        span_id: span.span_id.clone(),
                        parent_span_id: span.parent_span_id.clone(),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Receiver {
    /// Starts the receiver on a free loopback port; returns its endpoint URL.
    fn start(&self, rt: &tokio::runtime::Runtime) -> String {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the OTLP receiver");
        let address = listener.local_addr().expect("receiver address");
        let service = TraceServiceServer::new(self.clone());
        rt.spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        format!("http://{address}")
    }

    fn spans(&self) -> Vec<ExportedSpan> {
        self.0.lock().expect("receiver lock").clone()
    }

    fn find(&self, name: &str) -> Option<ExportedSpan> {
        self.spans().into_iter().find(|span| span.name == name)
    }
}

#[test]
fn spans_are_exported_over_otlp_when_the_endpoint_is_set() {
    let rt = runtime();
    let receiver = Receiver::default();
    let endpoint = receiver.start(&rt);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
    let server = Server::start(
        &url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            // Export each batch quickly.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let reader = token("alice", &["developer"]);
    server
        .sgctl(&reader, &["history", "--project", "demo"])
        .ok();
    let missing = server.sgctl(&reader, &["show", "0042_missing", "--project", "demo"]);
    assert_ne!(missing.code, 0, "{missing:#?}");

    wait_for(Duration::from_secs(20), "the RPC spans arrive", || {
        receiver.find("schemagate.v1.Catalog/ListHistory").is_some()
            && receiver.find("schemagate.v1.Catalog/GetRevision").is_some()
    });
    let history = receiver
        .find("schemagate.v1.Catalog/ListHistory")
        .expect("ListHistory span");
    assert_eq!(history.service, "schemagate-server", "{history:?}");
    assert_eq!(
        history.attributes.get("caller").map(String::as_str),
        Some("alice"),
        "{history:?}"
    );
    assert_eq!(
        history
            .attributes
            .get("rpc.grpc.status_code")
            .map(String::as_str),
        Some("0"),
        "{history:?}"
    );
    let show = receiver
        .find("schemagate.v1.Catalog/GetRevision")
        .expect("GetRevision span");
    assert_eq!(
        show.attributes
            .get("rpc.grpc.status_code")
            .map(String::as_str),
        Some("5"),
        "a missing revision is NOT_FOUND: {show:?}"
    );
    assert!(server.log().contains("exporting traces over OTLP/gRPC"));
}

#[test]
fn buffered_spans_are_flushed_at_shutdown() {
    let rt = runtime();
    let receiver = Receiver::default();
    let endpoint = receiver.start(&rt);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
    let mut server = Server::start(
        &url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            // Nothing is exported on schedule during the test: only the flush at exit.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    );
    let reader = token("bob", &["developer"]);
    server
        .sgctl(&reader, &["history", "--project", "demo"])
        .ok();
    std::thread::sleep(Duration::from_millis(300));
    assert!(receiver.find("schemagate.v1.Catalog/ListHistory").is_none());

    let status = server
        .terminate(Duration::from_secs(15))
        .expect("the server exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", server.log());
    let span = receiver
        .find("schemagate.v1.Catalog/ListHistory")
        .unwrap_or_else(|| panic!("span flushed at exit; got {:?}", receiver.spans()));
    assert_eq!(
        span.attributes.get("caller").map(String::as_str),
        Some("bob")
    );
    assert!(server.log().contains("traces flushed"), "{}", server.log());
}

#[test]
fn without_an_endpoint_nothing_is_exported_and_sigterm_exits_promptly() {
    let mut server = Server::sqlite();
    let reader = token("carol", &["developer"]);
    server
        .sgctl(&reader, &["history", "--project", "demo"])
        .ok();
    let started = Instant::now();
    let status = server
        .terminate(Duration::from_secs(10))
        .expect("the server exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "idle shutdown took {:?}",
        started.elapsed()
    );
    let log = server.log();
    assert!(log.contains("shutdown requested"), "{log}");
    assert!(log.contains("every running call finished"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("exporting traces"), "{log}");
}

#[test]
fn a_log_file_gets_plain_lines_without_colour_codes() {
    // The harness sends the server's stderr to a file, as a service manager
    // or a log collector would.
    let server = Server::sqlite();
    server
        .sgctl(&token("carol", &["developer"]), &["history"])
        .ok();
    let log = server.log();
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file: {log:?}"
    );
    assert!(
        log.contains(" INFO schemagate_server: catalog ready "),
        "{log}"
    );
}

#[test]
fn sigterm_cuts_off_calls_still_running_after_the_grace_period() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
    let mut server = Server::start(&url, &[("SCHEMAGATE_SHUTDOWN_GRACE", "1s")]);

    // A health Watch is a server-streaming call that never ends by itself.
    let mut stream = rt.block_on(async {
        let mut client = health_client(&server).await;
        client
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("watch")
            .into_inner()
    });
    let first: Option<HealthCheckResponse> = rt.block_on(stream.message()).expect("first status");
    assert_eq!(first.map(|r| r.status), Some(ServingStatus::Serving as i32));

    let started = Instant::now();
    let status = server
        .terminate(Duration::from_secs(15))
        .expect("the server exits once the grace period has elapsed");
    let took = started.elapsed();
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(
        took >= Duration::from_millis(900),
        "the running call should get its grace period, exited after {took:?}"
    );
    assert!(took < Duration::from_secs(8), "shutdown took {took:?}");

    // The watcher heard that the server stopped serving before it was cut off.
    let next = rt.block_on(stream.message());
    assert!(
        matches!(&next, Ok(Some(r)) if r.status == ServingStatus::NotServing as i32),
        "{next:?}"
    );

    let log = server.log();
    assert!(log.contains("call cut off"), "{log}");
    assert!(log.contains("grpc.health.v1.Health/Watch"), "{log}");
}

#[test]
fn execution_steps_are_child_spans_of_the_execute_call() {
    let rt = runtime();
    let receiver = Receiver::default();
    let endpoint = receiver.start(&rt);
    let t = crate::release::tokens();
    let mut f = crate::release::Fixture::start(|p| p);
    f.restart(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    f.submit(
        &t,
        &[(
            "0001_baseline",
            "CREATE TABLE venues (id bigint PRIMARY KEY);",
            "DROP TABLE venues;",
        )],
    );
    f.approve(&t.carol, "0001_baseline", &["dev"]);
    f.run(&t.erin, &["deploy", "--env", "dev"]).ok();

    // The call's span ends after its steps' and may come in a later batch.
    wait_for(
        Duration::from_secs(20),
        "the execution spans arrive",
        || {
            [
                "schemagate.v1.Execution/Execute",
                "execution",
                "gate",
                "apply",
                "fingerprint",
            ]
            .iter()
            .all(|name| receiver.find(name).is_some())
        },
    );
    let rpc = receiver
        .find("schemagate.v1.Execution/Execute")
        .expect("Execute span");
    assert_eq!(
        rpc.attributes.get("caller").map(String::as_str),
        Some("erin")
    );
    assert_eq!(
        rpc.attributes.get("environment").map(String::as_str),
        Some("dev")
    );
    let execution = receiver.find("execution").expect("execution span");
    assert_eq!(execution.parent_span_id, rpc.span_id, "{execution:?}");
    for step in ["gate", "apply", "fingerprint"] {
        let span = receiver.find(step).expect("step span");
        assert_eq!(span.parent_span_id, execution.span_id, "{step}: {span:?}");
        assert_eq!(
            span.attributes.get("revision").map(String::as_str),
            Some("0001_baseline"),
            "{step}: {span:?}"
        );
    }
}
