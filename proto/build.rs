//! Compiles `schemagate/v1/*.proto` with `protox` (a pure-Rust protobuf compiler),
//! so building needs no system `protoc`.

use prost::Message;
use std::{env, fs, io, path::PathBuf};

fn main() -> io::Result<()> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = fs::read_dir(proto_dir.join("schemagate/v1"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let descriptors = protox::compile(&files, [&proto_dir]).map_err(io::Error::other)?;
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(io::Error::other)?);
    fs::write(
        out_dir.join("schemagate_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .generate_default_stubs(true)
        .compile_fds(descriptors)
}
