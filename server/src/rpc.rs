//! Per-call plumbing around every gRPC service: a tower layer that opens one
//! tracing span per call, named after the gRPC method, and keeps the
//! registry of calls in flight that graceful shutdown waits for.
//!
//! The span is `rpc` with `otel.name` set to the method
//! (`schemagate.v1.Catalog/SubmitRevision`), so it is exported under that name,
//! and carries the empty fields `caller`, `revision` and `environment` that
//! handlers fill in with `tracing::Span::current().record(..)`. It lasts until
//! the response body is finished, so a server-streaming call is one span from
//! the request to its last message. A W3C `traceparent` header from the
//! client makes the span a child of the client's trace.
//!
//! A handler that panics (a bug: request paths return errors) answers
//! INTERNAL, with the panic in the server log, instead of resetting the
//! client's HTTP/2 stream with no status at all.

use http_body::{Body, Frame, SizeHint};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The calls currently being served, shared by the layer and shutdown.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<Mutex<Registry>>);

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    calls: BTreeMap<u64, (String, Instant)>,
    /// Shutdown was requested: long calls stop at their next safe point.
    shutting_down: bool,
}

/// One running call: the method and how long it has been running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningCall {
    pub method: String,
    pub running_for: Duration,
}

impl InFlight {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a call to `method` until the returned guard is dropped.
    pub fn enter(&self, method: &str) -> CallGuard {
        let mut registry = self.registry();
        let id = registry.next_id;
        registry.next_id += 1;
        registry
            .calls
            .insert(id, (method.to_string(), Instant::now()));
        CallGuard {
            in_flight: self.clone(),
            id,
        }
    }

    /// Tells the running calls that shutdown was requested.
    pub fn begin_shutdown(&self) {
        self.registry().shutting_down = true;
    }

    /// Number of calls running now.
    pub fn len(&self) -> usize {
        self.registry().calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The calls running now, oldest first.
    pub fn running(&self) -> Vec<RunningCall> {
        self.registry()
            .calls
            .values()
            .map(|(method, started)| RunningCall {
                method: method.clone(),
                running_for: started.elapsed(),
            })
            .collect()
    }
}

/// Keeps a call registered in [`InFlight`] while alive.
#[derive(Debug)]
pub struct CallGuard {
    in_flight: InFlight,
    id: u64,
}

impl CallGuard {
    /// Whether shutdown was requested: a long call (an execution) stops at
    /// its next safe point rather than run to the end of the grace period.
    pub fn shutting_down(&self) -> bool {
        self.in_flight.registry().shutting_down
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.in_flight.registry().calls.remove(&self.id);
    }
}

/// The tower layer: `Server::builder().layer(RpcLayer::new(in_flight))`.
#[derive(Clone, Debug)]
pub struct RpcLayer {
    in_flight: InFlight,
}

impl RpcLayer {
    pub fn new(in_flight: InFlight) -> RpcLayer {
        RpcLayer { in_flight }
    }
}

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService {
            inner,
            in_flight: self.in_flight.clone(),
        }
    }
}

/// The service [`RpcLayer`] wraps around the server's routes.
#[derive(Clone, Debug)]
pub struct RpcService<S> {
    inner: S,
    in_flight: InFlight,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RpcService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    ResBody: Default,
{
    type Response = http::Response<TrackedBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let method = method_name(request.uri().path()).to_string();
        let span = tracing::info_span!(
            "rpc",
            otel.name = %method,
            otel.kind = "server",
            rpc.system = "grpc",
            caller = Empty,
            revision = Empty,
            environment = Empty,
            rpc.grpc.status_code = Empty,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        });
        let _ = span.set_parent(parent);
        let guard = self.in_flight.enter(&method);
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let body_span = span.clone();
        Box::pin(
            async move {
                let response = match (CatchPanic {
                    inner: Box::pin(future),
                })
                .await
                {
                    Ok(response) => response?,
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .copied()
                            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                            .unwrap_or("a panic without a message");
                        tracing::error!(panic = what, "the call panicked; answered INTERNAL");
                        tonic::Status::internal("internal error (logged on the server)").into_http()
                    }
                };
                let span = body_span;
                // A call that fails before its first message ends with the
                // status in the headers ("trailers only").
                if let Some(code) = grpc_status(response.headers()) {
                    span.record("rpc.grpc.status_code", code);
                }
                Ok(response.map(|body| TrackedBody {
                    inner: body,
                    span,
                    _guard: guard,
                }))
            }
            .instrument(span),
        )
    }
}

/// Polls `inner`, turning a panic into `Err` with its payload.
struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.inner;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// `/pkg.Service/Method` → `pkg.Service/Method`.
fn method_name(path: &str) -> &str {
    path.strip_prefix('/').unwrap_or(path)
}

fn grpc_status(headers: &http::HeaderMap) -> Option<i64> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// A response body that keeps its call's span and registration alive until
/// the last frame is sent (or the client goes away).
pub struct TrackedBody<B> {
    inner: B,
    span: tracing::Span,
    _guard: CallGuard,
}

impl<B> Body for TrackedBody<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(code) = frame.trailers_ref().and_then(grpc_status)
        {
            this.span.record("rpc.grpc.status_code", code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads W3C trace context (`traceparent`, `tracestate`) from gRPC metadata.
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_registered_until_their_guard_drops() {
        let in_flight = InFlight::default();
        let first = in_flight.enter("schemagate.v1.Catalog/SubmitRevision");
        let second = in_flight.enter("schemagate.v1.Execution/Execute");
        assert_eq!(in_flight.len(), 2);
        drop(first);
        let running = in_flight.running();
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].method, "schemagate.v1.Execution/Execute");
        drop(second);
        assert!(in_flight.is_empty());
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_internal_and_leaves_the_call_registry_empty() {
        use tower::{Layer, Service, ServiceExt};
        let in_flight = InFlight::default();
        let mut service = RpcLayer::new(in_flight.clone()).layer(tower::service_fn(
            |_: http::Request<()>| async {
                if true {
                    panic!("a bug in a handler");
                }
                Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
            },
        ));
        let request = http::Request::builder()
            .uri("/schemagate.v1.Catalog/GetRevision")
            .body(())
            .unwrap();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(grpc_status(response.headers()), Some(13));
        assert_eq!(
            response.headers().get("grpc-message").unwrap(),
            "internal%20error%20(logged%20on%20the%20server)"
        );
        drop(response);
        assert!(in_flight.is_empty());
    }

    #[test]
    fn method_names_drop_the_leading_slash() {
        assert_eq!(
            method_name("/schemagate.v1.Catalog/GetRevision"),
            "schemagate.v1.Catalog/GetRevision"
        );
    }
}
