//! The Schemagate gRPC API (`schemagate.v1`), generated at build time from
//! `proto/schemagate/v1/*.proto` by `protox`, so no system `protoc` is needed.

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("schemagate.v1");
}

/// The encoded file descriptor set, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("schemagate_descriptor");

pub use prost_types::Timestamp;
