//! Group commit for fleet reports: one task owns every write of
//! `ReportJournalState`. Callers check their report, queue it on a bounded
//! channel with a reply slot and wait; the task takes everything waiting (up
//! to [`MAX_BATCH`]), writes it in one catalog transaction with the same
//! per-report SQL as a single report, commits once and only then answers
//! each caller. Durability is unchanged (an acknowledged report is
//! committed), but the disk sync a commit waits for is paid once per batch,
//! so a sync stall delays one batch instead of queueing hundreds of serial
//! commits behind the SQLite catalog's single connection.

use super::{FleetError, Prepared, prepare, store, store_alone};
use crate::db::{Db, now_ms};
use schemagate_proto::v1::JournalReport;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Most reports one transaction holds: a sync stall of a second at 333
/// reports/s leaves a few hundred waiting, committed together; more per
/// batch would only hold the SQLite catalog's one connection longer.
pub const MAX_BATCH: usize = 256;

/// Reports queued for the writer; beyond this a caller waits for room
/// (backpressure) rather than failing.
const QUEUE: usize = 1024;

/// How long stopping waits for the writer to finish the reports queued.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

type Reply = oneshot::Sender<Result<i64, FleetError>>;

/// A queued report and where its answer goes.
struct Job {
    report: Prepared,
    reply: Reply,
}

/// What the writer did, logged when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Reports answered (stored or refused by the catalog).
    pub reports: u64,
    /// Transactions committed or attempted for them.
    pub batches: u64,
    /// The most reports one transaction held.
    pub largest_batch: usize,
    /// Batches written again one report per transaction because one of
    /// their reports failed.
    pub split_batches: u64,
}

/// The sending side, shared by every call: cheap to clone.
#[derive(Clone, Debug)]
pub struct ReportQueue {
    jobs: mpsc::Sender<Job>,
}

impl ReportQueue {
    /// Checks `report` from `token_controller` (the token's claim), queues
    /// it, and returns its received time once it is committed. Bad input is
    /// refused here, before anything is queued.
    pub async fn record(
        &self,
        token_controller: Option<&str>,
        report: &JournalReport,
    ) -> Result<i64, FleetError> {
        let report = prepare(token_controller, report)?;
        let (reply, answer) = oneshot::channel();
        // `send` waits while the queue is full; it fails only once the
        // writer has stopped taking reports.
        self.jobs
            .send(Job { report, reply })
            .await
            .map_err(|_| FleetError::Stopped)?;
        // The writer answers everything it accepted, even while stopping; a
        // dropped reply means it ended abnormally.
        answer.await.map_err(|_| FleetError::Stopped)?
    }
}

/// The running writer task; [`ReportWriter::stop`] ends it.
pub struct ReportWriter {
    queue: ReportQueue,
    stop: oneshot::Sender<()>,
    task: JoinHandle<WriterStats>,
}

impl ReportWriter {
    /// Starts the writer on `db`.
    pub fn start(db: Db) -> ReportWriter {
        let (jobs, received) = mpsc::channel(QUEUE);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(db, received, stopped));
        ReportWriter {
            queue: ReportQueue { jobs },
            stop,
            task,
        }
    }

    /// Where callers send their reports.
    pub fn queue(&self) -> ReportQueue {
        self.queue.clone()
    }

    /// Stops taking reports (callers then get [`FleetError::Stopped`]),
    /// writes and answers those already queued, and returns what the writer
    /// did; `None` if it did not finish within a few seconds or panicked.
    pub async fn stop(self) -> Option<WriterStats> {
        let ReportWriter {
            queue,
            stop,
            mut task,
        } = self;
        drop(queue);
        let _ = stop.send(());
        match tokio::time::timeout(STOP_TIMEOUT, &mut task).await {
            Ok(Ok(stats)) => Some(stats),
            Ok(Err(err)) => {
                tracing::error!(error = %err, "the fleet report writer failed");
                None
            }
            Err(_) => {
                tracing::warn!(
                    timeout = ?STOP_TIMEOUT,
                    "the fleet report writer did not finish its queue in time; stopped"
                );
                task.abort();
                None
            }
        }
    }
}

async fn run(
    db: Db,
    mut jobs: mpsc::Receiver<Job>,
    mut stop: oneshot::Receiver<()>,
) -> WriterStats {
    let mut stats = WriterStats::default();
    let mut stopping = false;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = if stopping {
            jobs.recv().await
        } else {
            tokio::select! {
                // A dropped `ReportWriter` stops the task too.
                _ = &mut stop => {
                    stopping = true;
                    // New sends fail from now on; what is queued is still
                    // received below, written and answered.
                    jobs.close();
                    continue;
                }
                job = jobs.recv() => job,
            }
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        write(&db, &mut batch, &mut stats).await;
    }
    stats
}

/// Why a batch could not be committed as a whole.
enum Failure {
    /// The transaction could not be begun or committed: nothing in it can
    /// be told apart, every report gets this error.
    Transaction(sqlx::Error),
    /// One report's statements failed; the others may be fine.
    Report(usize, sqlx::Error),
}

/// Writes and answers `batch`, leaving it empty.
async fn write(db: &Db, batch: &mut Vec<Job>, stats: &mut WriterStats) {
    // A stable sort keeps one controller's reports in arrival order (the
    // history's order, and what the agent-instance check follows), and a
    // fixed order of the per-controller locks keeps two servers sharing a
    // PostgreSQL catalog from deadlocking on each other's batches.
    batch.sort_by(|a, b| a.report.controller_id().cmp(b.report.controller_id()));
    let started = Instant::now();
    let size = batch.len();
    stats.batches += 1;
    stats.reports += size as u64;
    stats.largest_batch = stats.largest_batch.max(size);
    match write_together(db, batch).await {
        Ok(received) => {
            tracing::debug!(
                reports = size,
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "fleet report batch committed"
            );
            for job in batch.drain(..) {
                let _ = job.reply.send(Ok(received));
            }
        }
        Err(Failure::Transaction(err)) => {
            tracing::warn!(error = %err, reports = size, "fleet report batch failed");
            let err = Arc::new(err);
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(FleetError::Batch(Arc::clone(&err))));
            }
        }
        Err(Failure::Report(index, err)) => {
            // The batch was rolled back. Writing each report on its own, as
            // before group commit, gives every report its own outcome; it
            // costs one commit per report, only when a report fails.
            tracing::warn!(
                error = %err,
                controller = batch[index].report.controller_id(),
                reports = size,
                "a fleet report failed inside a batch; writing the batch one report at a time"
            );
            stats.split_batches += 1;
            let mut catalog_failed: Option<Arc<sqlx::Error>> = None;
            for job in batch.drain(..) {
                let result = match &catalog_failed {
                    Some(err) => Err(FleetError::Batch(Arc::clone(err))),
                    None => match store_alone(db, &job.report).await {
                        Ok(received) => Ok(received),
                        // The database refused this report's statements.
                        Err(err @ sqlx::Error::Database(_)) => Err(FleetError::Db(err)),
                        // Anything else (connection lost, pool timed out) is
                        // about the catalog, not the report: the rest would
                        // wait for the same timeout one by one, so they get
                        // this error at once.
                        Err(err) => {
                            let err = Arc::new(err);
                            catalog_failed = Some(Arc::clone(&err));
                            Err(FleetError::Batch(err))
                        }
                    },
                };
                let _ = job.reply.send(result);
            }
        }
    }
}

/// Writes every report of `batch` in one transaction and commits it.
/// Returns the received time they all share.
async fn write_together(db: &Db, batch: &[Job]) -> Result<i64, Failure> {
    let received = now_ms();
    let mut tx = db.pool.begin().await.map_err(Failure::Transaction)?;
    for (index, job) in batch.iter().enumerate() {
        if let Err(err) = store(db, &mut tx, &job.report, received).await {
            // Dropping the transaction would roll it back too, but only in
            // the background; roll back now so the one-by-one retry finds
            // the connection free.
            let _ = tx.rollback().await;
            return Err(Failure::Report(index, err));
        }
    }
    tx.commit().await.map_err(Failure::Transaction)?;
    Ok(received)
}
