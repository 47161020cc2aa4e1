//! The ONNX validator (protobuf parse, external data, op domains, tensor sizes) and the manifest
//! check against the parsed interface: any bytes, no panic.
#![no_main]

use arena_worker::Manifest;
use arena_worker::onnx_model::{check_manifest_against_model, inspect_model};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const MANIFEST: &str = include_str!("../../tests/hostile/manifest.toml");

fn manifest() -> &'static Manifest {
    static M: OnceLock<Manifest> = OnceLock::new();
    M.get_or_init(|| Manifest::parse(MANIFEST).unwrap_or_else(|e| panic!("{e}")))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = inspect_model(data, 1 << 20) {
        let _ = check_manifest_against_model(manifest(), &info);
    }
});
