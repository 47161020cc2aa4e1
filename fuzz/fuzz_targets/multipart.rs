//! The multipart form reader of every upload route: any body, cut into chunks of any size, no
//! panic; a form it accepts holds only the expected fields, each file within its cap and fully on
//! disk.
#![no_main]

use arena_web::upload::{FormSpec, read_form_from_chunks};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}")))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let size = usize::from(cut % 64) + 1;
    let chunks = body.chunks(size).map(<[u8]>::to_vec).collect();
    let spec = FormSpec {
        files: &[("file", 256), ("model", 256), ("manifest", 64)],
        texts: &["task"],
    };
    let content_type = "multipart/form-data; boundary=arenafuzz";
    if let Ok(form) = read_form_from_chunks(content_type, chunks, &spec, dir()) {
        for (name, file) in &form.files {
            let cap = spec.files.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
            assert!(cap.is_some_and(|c| file.len <= c), "{name}");
            let on_disk = std::fs::metadata(file.path()).map(|m| m.len()).ok();
            assert_eq!(on_disk, Some(file.len));
        }
        assert!(form.texts.keys().all(|k| k == "task"));
        assert!(form.texts.values().all(|v| v.len() <= 4096));
    }
});
