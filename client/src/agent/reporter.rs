//! Sends journal reports to the server: once, or every interval for as long
//! as the agent runs.
//!
//! Controllers are often offline. While the server cannot be reached the
//! agent keeps exactly one report, the newest (each new observation replaces
//! the unsent one), and retries with exponential backoff and jitter capped at
//! the interval, so memory stays flat however long the outage lasts and a
//! fleet coming back online does not call in all at once.

use crate::connect::{ConnectError, Connection};
use crate::exit;
use crate::v1::JournalReport;
use std::time::Duration;
use tokio::time::Instant;

/// How long one report call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// First retry delay; doubled each failed attempt up to the interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Why a report was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{}", exit::describe(.0))]
    Status(#[from] tonic::Status),
}

impl SendError {
    /// The exit code `--once` ends with.
    pub fn exit_code(&self) -> u8 {
        match self {
            SendError::Connect(ConnectError::BadAddress(_)) => exit::BAD_INPUT,
            SendError::Connect(ConnectError::BadToken) => exit::AUTH,
            SendError::Connect(ConnectError::Unreachable { .. }) => exit::UNAVAILABLE,
            SendError::Status(status) => exit::for_status(status),
        }
    }

    /// Whether sending the same report again later can succeed. A refused
    /// report (bad token, wrong controller, invalid figures) is not retried:
    /// the next observation gets its own chance.
    pub fn is_transient(&self) -> bool {
        self.exit_code() == exit::UNAVAILABLE
            || matches!(self, SendError::Status(s) if s.code() == tonic::Code::Internal)
    }
}

/// Where reports go; the gRPC server in production, a fake in tests.
pub(crate) trait Transport {
    async fn send(&mut self, report: &JournalReport) -> Result<(), SendError>;
}

/// The Fleet service over one lazily (re)opened connection.
pub struct Grpc {
    server: String,
    token: Option<String>,
    connection: Option<Connection>,
}

impl Grpc {
    pub fn new(server: &str, token: Option<&str>) -> Grpc {
        Grpc {
            server: server.to_string(),
            token: token.map(str::to_string),
            connection: None,
        }
    }

    /// Sends one report.
    pub async fn send(&mut self, report: &JournalReport) -> Result<(), SendError> {
        let connection = match &self.connection {
            Some(connection) => connection.clone(),
            None => {
                let opened = Connection::open(&self.server, self.token.as_deref()).await?;
                self.connection = Some(opened.clone());
                opened
            }
        };
        let mut request = tonic::Request::new(report.clone());
        request.set_timeout(CALL_TIMEOUT);
        match connection.fleet().report_journal_state(request).await {
            Ok(_) => Ok(()),
            Err(status) => {
                // A fresh connection next time rather than trusting one that failed.
                if exit::for_status(&status) == exit::UNAVAILABLE {
                    self.connection = None;
                }
                Err(status.into())
            }
        }
    }
}

impl Transport for Grpc {
    async fn send(&mut self, report: &JournalReport) -> Result<(), SendError> {
        Grpc::send(self, report).await
    }
}

/// Exponential backoff with "equal jitter": each delay is between half and
/// all of the capped exponential step.
pub(crate) struct Backoff {
    cap: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    pub(crate) fn new(cap: Duration) -> Backoff {
        // Not cryptographic: it only spreads retries, so time and pid suffice.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Backoff {
            cap: cap.max(Duration::from_millis(1)),
            attempt: 0,
            seed: ((u64::from(nanos) << 16) ^ u64::from(std::process::id())) | 1,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = FIRST_RETRY
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        let spread = u64::try_from((step - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(self.random() % spread.saturating_add(1))
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    pub(crate) fn failures(&self) -> u32 {
        self.attempt
    }

    fn random(&mut self) -> u64 {
        // xorshift64
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }
}

/// Observes every `interval` and delivers the newest report. Returns only
/// when the server refuses the token (missing, invalid, expired, or for
/// another controller): the agent's token is fixed for its life, so no
/// later report could be delivered.
pub(crate) async fn run_forever<T, F>(
    interval: Duration,
    mut observe: F,
    transport: &mut T,
) -> SendError
where
    T: Transport,
    F: FnMut() -> JournalReport,
{
    let mut pending: Option<JournalReport> = None;
    let mut backoff = Backoff::new(interval);
    let mut next_observation = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_observation {
            // Replaces an unsent report: only the newest state matters.
            pending = Some(observe());
            while next_observation <= now {
                next_observation += interval;
            }
        }
        let wake = match pending.take() {
            None => next_observation,
            Some(report) => match transport.send(&report).await {
                Ok(()) => {
                    if backoff.failures() > 0 {
                        eprintln!(
                            "sg-agent: reported again after {} failed attempts",
                            backoff.failures()
                        );
                    }
                    backoff.reset();
                    next_observation
                }
                Err(err) if err.is_transient() => {
                    let now = Instant::now();
                    let wake = (now + backoff.next_delay()).min(next_observation);
                    eprintln!(
                        "sg-agent: report not delivered ({err}); retrying in {:.1}s",
                        (wake - now).as_secs_f64()
                    );
                    pending = Some(report);
                    wake
                }
                Err(err) if err.exit_code() == exit::AUTH => return err,
                Err(err) => {
                    eprintln!("sg-agent: report refused ({err}); next report in one interval");
                    backoff.reset();
                    next_observation
                }
            },
        };
        tokio::time::sleep_until(wake).await;
    }
}
