//! `grpc.health.v1` driven by the catalog database: a background task pings
//! the catalog about once a second and reports every service (and the
//! server as a whole, the service named "") NOT_SERVING while the catalog
//! does not answer, SERVING again once it does. At shutdown everything turns
//! NOT_SERVING so load balancers stop sending new calls.

use crate::db::Db;
use prost::Message;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// How often the catalog is pinged.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);

/// How long one ping may take before the catalog counts as unreachable.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The full names of every gRPC service the API defines (`schemagate.v1.Catalog`, …),
/// read from the encoded descriptor set so services added later are covered too.
pub fn api_service_names() -> Vec<String> {
    let Ok(set) = prost_types::FileDescriptorSet::decode(schemagate_proto::FILE_DESCRIPTOR_SET)
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = set
        .file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_string();
            file.service.iter().map(move |service| {
                if package.is_empty() {
                    service.name().to_string()
                } else {
                    format!("{package}.{}", service.name())
                }
            })
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The running health task; [`HealthMonitor::stop`] ends it.
pub struct HealthMonitor {
    reporter: HealthReporter,
    services: Vec<String>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HealthMonitor {
    /// Reports `services` and "" SERVING now, then follows the catalog's
    /// reachability every `interval` until stopped.
    pub async fn start(
        db: Db,
        reporter: HealthReporter,
        services: Vec<String>,
        interval: Duration,
    ) -> HealthMonitor {
        set_all(&reporter, &services, ServingStatus::Serving).await;
        let (stop, mut stopped) = watch::channel(false);
        let task = {
            let reporter = reporter.clone();
            let services = services.clone();
            tokio::spawn(async move {
                let mut serving = true;
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stopped.changed() => break,
                        _ = ticks.tick() => {}
                    }
                    let reachable = tokio::select! {
                        _ = stopped.changed() => break,
                        reachable = ping(&db) => reachable,
                    };
                    if reachable == serving {
                        continue;
                    }
                    serving = reachable;
                    if serving {
                        tracing::info!("catalog database reachable again: health SERVING");
                        set_all(&reporter, &services, ServingStatus::Serving).await;
                    } else {
                        tracing::warn!("catalog database unreachable: health NOT_SERVING");
                        set_all(&reporter, &services, ServingStatus::NotServing).await;
                    }
                }
            })
        };
        HealthMonitor {
            reporter,
            services,
            stop,
            task,
        }
    }

    /// Ends the task and reports everything NOT_SERVING.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        set_all(&self.reporter, &self.services, ServingStatus::NotServing).await;
    }
}

async fn ping(db: &Db) -> bool {
    tokio::time::timeout(PING_TIMEOUT, db.ping())
        .await
        .unwrap_or(false)
}

async fn set_all(reporter: &HealthReporter, services: &[String], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in services {
        reporter.set_service_status(service, status).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_service_is_named() {
        let names = api_service_names();
        for expected in [
            "schemagate.v1.Catalog",
            "schemagate.v1.Policy",
            "schemagate.v1.Audit",
        ] {
            assert!(names.iter().any(|n| n == expected), "{names:?}");
        }
    }
}
