//! The edge agent behind `sg-agent`: observes a controller's SQLite journal
//! read-only and reports its state to the Fleet service, once or every
//! interval.

pub mod ddl;
pub mod journal;
pub mod reporter;

#[cfg(test)]
mod tests;

pub use journal::observe;
pub use reporter::SendError;

use crate::v1::JournalReport;
use std::path::Path;
use std::time::Duration;

/// Observes `journal` and labels the report for `controller_id`.
pub fn report(journal: &Path, controller_id: &str, interval: Duration) -> JournalReport {
    JournalReport {
        controller_id: controller_id.to_string(),
        interval_seconds: u32::try_from(interval.as_secs()).unwrap_or(u32::MAX),
        ..observe(journal)
    }
}

/// Observes once and sends the report; returns it when delivered.
pub async fn run_once(
    journal: &Path,
    controller_id: &str,
    interval: Duration,
    server: &str,
    token: Option<&str>,
) -> Result<JournalReport, SendError> {
    let report = report(journal, controller_id, interval);
    reporter::Grpc::new(server, token).send(&report).await?;
    Ok(report)
}

/// Observes and reports every `interval`, retrying through outages; never returns.
pub async fn run(
    journal: &Path,
    controller_id: &str,
    interval: Duration,
    server: &str,
    token: Option<&str>,
) {
    let mut transport = reporter::Grpc::new(server, token);
    reporter::run_forever(
        interval,
        || report(journal, controller_id, interval),
        &mut transport,
    )
    .await;
}
