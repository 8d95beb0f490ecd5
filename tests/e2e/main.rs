//! End-to-end tests: the real `schemagate-server` binary driven by the real
//! `sgctl`, over real SQLite files and a real PostgreSQL.

mod auth;
mod bad_input;
mod catalog;
mod concurrency;
mod faults;
mod fleet;
mod fleet_agent;
mod hostile;
mod lint;
mod observability;
mod onboarding;
mod policy;
mod release;
mod runbook;
