//! The front of the ingest probe, as the probe child runs it: the zip sniff that routes an upload,
//! then FFmpeg's format detection under the demuxer whitelist, the stream facts and limits and a
//! first-frame decode (`probe_video`). Any bytes, no panic; what it accepts is within the limits.
#![no_main]

use arena_web::upload::looks_like_zip;
use arena_worker::media::{ProbeLimits, probe_video};
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("temp file: {e}"));
    file.write_all(data)
        .unwrap_or_else(|e| panic!("write: {e}"));
    assert_eq!(looks_like_zip(file.path()), data.starts_with(b"PK\x03\x04"));
    let limits = ProbeLimits {
        max_width: 640,
        max_height: 480,
        max_frames: 500,
        max_duration_s: 60.0,
        ..ProbeLimits::default()
    };
    if let Ok(facts) = probe_video(file.path(), &limits) {
        assert!(facts.width <= limits.max_width && facts.height <= limits.max_height);
        assert!(facts.frames <= limits.max_frames);
    }
});
