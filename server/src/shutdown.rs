//! Graceful shutdown: once shutdown is requested the server stops accepting
//! connections and lets the calls already running finish, for at most the
//! grace period (`SCHEMAGATE_SHUTDOWN_GRACE`). Calls still running then are
//! cut off and named in the log. Nothing here knows which calls are long:
//! anything registered in [`InFlight`] — unary or streaming — is waited for.

use crate::rpc::InFlight;
use std::future::Future;
use std::time::Duration;
use tokio::sync::oneshot;

/// The grace period when none is configured.
pub const DEFAULT_GRACE: &str = "30s";

/// Parses a grace period: plain seconds (`30`) or a duration with units
/// (`30s`, `500ms`, `2m`, `1m 30s`).
pub fn parse_grace(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let duration: jiff::SignedDuration = text
        .parse()
        .map_err(|_| format!("'{text}' is not a duration: use e.g. 30s, 500ms or 2m"))?;
    Duration::try_from(duration).map_err(|_| format!("'{text}' is negative"))
}

/// Runs `serve` (a server future that drains by itself once `stopping`
/// fires) and bounds the drain by `grace`. Returns when every running call
/// has finished, or when the grace period has elapsed after logging each
/// call that was cut off.
pub async fn serve_with_grace<E>(
    serve: impl Future<Output = Result<(), E>>,
    stopping: oneshot::Receiver<()>,
    grace: Duration,
    in_flight: &InFlight,
) -> Result<(), E> {
    let deadline = async {
        if stopping.await.is_err() {
            // The server ended on its own; `serve` reports how.
            std::future::pending::<()>().await;
        }
        in_flight.begin_shutdown();
        tracing::info!(
            running = in_flight.len(),
            grace = ?grace,
            "shutting down: no new connections, waiting for running calls"
        );
        tokio::time::sleep(grace).await;
    };
    let drained = async {
        serve.await?;
        // An execution goes on after its client went away; it is registered
        // in `in_flight` too and waited for like a call.
        while !in_flight.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok::<(), E>(())
    };
    tokio::select! {
        result = drained => {
            result?;
            tracing::info!("stopped accepting connections; every running call finished");
            Ok(())
        }
        () = deadline => {
            let cut_off = in_flight.running();
            for call in &cut_off {
                tracing::warn!(
                    method = %call.method,
                    running_for = ?call.running_for,
                    "call cut off: the shutdown grace period elapsed"
                );
            }
            tracing::warn!(
                cut_off = cut_off.len(),
                grace = ?grace,
                "shutdown grace period elapsed with calls still running"
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_periods_parse_with_or_without_units() {
        assert_eq!(parse_grace("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_grace("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_grace("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_grace("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_grace("0"), Ok(Duration::ZERO));
        assert!(parse_grace("soon").is_err());
        assert!(parse_grace("-5s").is_err());
    }

    #[tokio::test]
    async fn a_drain_longer_than_the_grace_is_cut_off() {
        let in_flight = InFlight::default();
        let _call = in_flight.enter("schemagate.v1.Execution/Execute");
        let (stop, stopping) = oneshot::channel();
        let _ = stop.send(());
        let started = std::time::Instant::now();
        let never_drains = std::future::pending::<Result<(), ()>>();
        let result = serve_with_grace(
            never_drains,
            stopping,
            Duration::from_millis(50),
            &in_flight,
        )
        .await;
        assert_eq!(result, Ok(()));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
