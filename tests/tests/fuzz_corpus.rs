//! The fuzz targets' entry points on stable (fuzz/, issue #7): each seed of `fuzz/corpus/<target>`
//! plus a few thousand deterministic mutations of them go through the same functions the
//! cargo-fuzz targets call — the manifest parser, the creation-zip reader, the ONNX validator,
//! the ingest probe's front (zip sniff, FFmpeg format detection, facts) and the multipart reader
//! — and none may panic; what the zip reader accepts stays within its caps. A failure names the
//! target, seed and iteration, so it reproduces exactly.

use arena_web::upload::{ArchiveLimits, extract_zip_from};
use arena_worker::Manifest;
use arena_worker::onnx_model::{check_manifest_against_model, inspect_model};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

const ITERATIONS: u64 = 3000;

/// SplitMix64: a tiny deterministic generator (no dependency, same stream everywhere).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: [u32; 8] = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0xffff_ffff];

/// One to four libFuzzer-style edits: bit flips, interesting values, cuts, copies, splices.
fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = INTERESTING[rng.below(INTERESTING.len())] as u8;
            }
            2 if len >= 4 => {
                let i = rng.below(len - 3);
                let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                data[i..i + 4].copy_from_slice(&v);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                data.drain(start..end);
            }
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let chunk = data[start..end].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            5 => data.truncate(rng.below(len + 1)),
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 3,
        "{target}: too few seeds in {}",
        dir.display()
    );
    out
}

/// Runs `check` on every seed, then on `ITERATIONS` mutations of them.
fn exercise(target: &str, salt: u64, check: impl Fn(&[u8])) {
    exercise_n(target, salt, ITERATIONS, check);
}

#[test]
fn manifest_parser_survives_the_corpus_and_mutations() {
    exercise("manifest", 0x6d61_6e69, |bytes| {
        if let Ok(text) = std::str::from_utf8(bytes) {
            let _ = Manifest::parse(text);
        }
    });
}

#[test]
fn onnx_validator_survives_the_corpus_and_mutations() {
    let manifest =
        Manifest::parse(include_str!("../hostile/manifest.toml")).unwrap_or_else(|e| panic!("{e}"));
    exercise("onnx", 0x6f6e_6e78, |bytes| {
        if let Ok(info) = inspect_model(bytes, 1 << 20) {
            let _ = check_manifest_against_model(&manifest, &info);
        }
    });
}

#[test]
fn zip_reader_survives_the_corpus_and_mutations() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let limits = ArchiveLimits {
        max_entries: 16,
        max_total_bytes: 1 << 20,
        max_ratio: 100,
    };
    exercise("zip", 0x7a69_7030, |bytes| {
        let cursor = std::io::Cursor::new(bytes);
        let Ok(files) = extract_zip_from(cursor, bytes.len() as u64, dir.path(), limits) else {
            return;
        };
        assert!(files.len() <= limits.max_entries);
        let total: u64 = files.iter().map(|(_, f)| f.len).sum();
        assert!(
            total
                <= limits
                    .max_total_bytes
                    .min(limits.max_ratio * bytes.len() as u64)
        );
        for (task, file) in &files {
            let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
            assert!(!task.is_empty() && task.chars().all(ok), "{task:?}");
            assert_eq!(file.path().parent(), Some(dir.path()));
        }
    });
    let left = std::fs::read_dir(dir.path()).map_or(0, |d| d.count());
    assert_eq!(left, 0, "extracted files outlive their handles");
}

/// Runs `check` on every seed of `target` and `iterations` mutations (the probe opens FFmpeg per
/// input, so it gets fewer than the in-memory parsers).
fn exercise_n(target: &str, salt: u64, iterations: u64, check: impl Fn(&[u8])) {
    let seeds = seeds(target);
    let raw: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
    for (path, bytes) in &seeds {
        if catch_unwind(AssertUnwindSafe(|| check(bytes))).is_err() {
            panic!("{target}: seed {} panics", path.display());
        }
    }
    let mut rng = Rng(salt);
    for i in 0..iterations {
        let k = rng.below(seeds.len());
        let input = mutate(&mut rng, &raw[k], &raw);
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            panic!(
                "{target}: mutation {i} of seed {} panics (salt {salt:#x}): {input:02x?}",
                seeds[k].0.display()
            );
        }
    }
}

#[test]
fn probe_front_survives_the_corpus_and_mutations() {
    use arena_web::upload::looks_like_zip;
    use arena_worker::media::{ProbeLimits, probe_video};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("upload");
    let limits = ProbeLimits {
        max_width: 640,
        max_height: 480,
        max_frames: 500,
        max_duration_s: 60.0,
        ..ProbeLimits::default()
    };
    let accepted = std::cell::Cell::new(0);
    exercise_n("probe", 0x7072_6f62, 600, |bytes| {
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(looks_like_zip(&path), bytes.starts_with(b"PK\x03\x04"));
        if let Ok(facts) = probe_video(&path, &limits) {
            assert!(facts.width <= limits.max_width && facts.height <= limits.max_height);
            assert!(facts.frames <= limits.max_frames);
            accepted.set(accepted.get() + 1);
        }
    });
    // The seeds' real videos are accepted: the check above is not vacuous.
    assert!(accepted.get() >= 3, "{}", accepted.get());
}

#[test]
fn multipart_reader_survives_the_corpus_and_mutations() {
    use arena_web::upload::{FormSpec, read_form_from_chunks};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let spec = FormSpec {
        files: &[("file", 256), ("model", 256), ("manifest", 64)],
        texts: &["task"],
    };
    let accepted = std::cell::Cell::new(0);
    exercise_n("multipart", 0x6d75_6c74, ITERATIONS, |bytes| {
        let size = bytes.len() % 64 + 1;
        let chunks = bytes.chunks(size).map(<[u8]>::to_vec).collect();
        let content_type = "multipart/form-data; boundary=arenafuzz";
        if let Ok(form) = read_form_from_chunks(content_type, chunks, &spec, dir.path()) {
            for (name, file) in &form.files {
                let cap = spec.files.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
                assert!(cap.is_some_and(|c| file.len <= c), "{name}");
                let on_disk = std::fs::metadata(file.path()).map(|m| m.len()).ok();
                assert_eq!(on_disk, Some(file.len));
            }
            assert!(form.texts.keys().all(|k| k == "task"));
            accepted.set(accepted.get() + 1);
        }
    });
    assert!(accepted.get() >= 3, "{}", accepted.get());
    let left = std::fs::read_dir(dir.path()).map_or(0, |d| d.count());
    assert_eq!(left, 0, "uploaded files outlive their handles");
}
