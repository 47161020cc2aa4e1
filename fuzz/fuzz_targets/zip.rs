//! The creation-zip reader with the server's caps (scaled down): any bytes, no panic, and
//! nothing but plain `<task>.<ext>` files is ever extracted.
#![no_main]

use arena_web::upload::{ArchiveLimits, extract_zip_from};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}")))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let limits = ArchiveLimits {
        max_entries: 16,
        max_total_bytes: 1 << 20,
        max_ratio: 100,
    };
    let cursor = std::io::Cursor::new(data);
    if let Ok(files) = extract_zip_from(cursor, data.len() as u64, dir(), limits) {
        let total: u64 = files.iter().map(|(_, f)| f.len).sum();
        assert!(files.len() <= limits.max_entries && total <= limits.max_total_bytes);
    }
});
