//! Schemagate client library: connecting with a bearer token, reading
//! revision files, minting development tokens and rendering tables. The
//! `sgctl` and `sg-agent` binaries are thin layers over it.

pub mod agent;
pub mod connect;
pub mod exit;
pub mod revision_files;
pub mod table;
pub mod token;

pub use schemagate_proto::v1;
