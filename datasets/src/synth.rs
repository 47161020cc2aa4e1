//! Synthetic real clips: the public-domain astronaut portrait shipped by scikit-image, varied per
//! identity (hue, scale, warp, background), moving, blinking and talking, written with a manifest.
//!
//! A real photographed face (rather than a drawn one) is used so that BlazeFace finds it the way
//! it finds faces in organizer data; scikit-image is the registry package that ships it.

use std::path::{Path, PathBuf};
use std::process::Command;

use arena_worker::RgbImage;
use arena_worker::media::resize::resize;

use crate::encode::{EncodeError, decode_image, encode_mp4};
use crate::manifest::{ClipEntry, Dataset, DatasetError, ManifestFile, RoundEntry, TaskEntry};

pub const WIDTH: u32 = 320;
pub const HEIGHT: u32 = 240;
pub const FPS: u32 = 10;
pub const FRAMES: usize = 30;
/// Head square of astronaut.png (x0, y0, side); the face spans about x 176..272, y 77..173.
const HEAD: (u32, u32, u32) = (135, 15, 180);
/// Eye band and mouth box as fractions of the head square.
const EYES: (f32, f32, f32, f32) = (0.28, 0.50, 0.72, 0.58);
const MOUTH: (f32, f32, f32, f32) = (0.38, 0.72, 0.62, 0.84);

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("cannot find astronaut.png (set ARENA_ASTRONAUT_PNG or install scikit-image): {0}")]
    NoPortrait(String),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("cannot write {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("need at least 2 identities and 1 clip each, got {identities} x {clips}")]
    TooSmall { identities: usize, clips: usize },
}

/// `ARENA_ASTRONAUT_PNG`, else scikit-image's copy found through `python3`.
pub fn astronaut_path() -> Result<PathBuf, SynthError> {
    if let Some(p) = std::env::var_os("ARENA_ASTRONAUT_PNG") {
        return Ok(PathBuf::from(p));
    }
    let out = Command::new("python3")
        .args(["-c", "import skimage, os; print(os.path.join(os.path.dirname(skimage.__file__), 'data', 'astronaut.png'))"])
        .output()
        .map_err(|e| SynthError::NoPortrait(e.to_string()))?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() || !path.is_file() {
        return Err(SynthError::NoPortrait(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    Ok(path)
}

/// SplitMix64: a tiny deterministic generator, so the clips depend on the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (self.next() >> 40) as f32 / (1u64 << 24) as f32 * (hi - lo)
    }
}

/// How one identity differs from the photo.
#[derive(Debug, Clone, Copy)]
struct Look {
    hue_deg: f32,
    patch: u32,
    warp_px: f32,
    warp_cycles: f32,
    stretch: f32,
    background: [u8; 3],
}

impl Look {
    fn new(rng: &mut Rng) -> Look {
        let bg = |rng: &mut Rng| rng.range(60.0, 170.0) as u8;
        Look {
            hue_deg: rng.range(-30.0, 30.0),
            patch: rng.range(110.0, 140.0) as u32,
            warp_px: rng.range(0.0, 6.0),
            warp_cycles: rng.range(0.5, 2.0),
            stretch: rng.range(0.9, 1.1),
            background: [bg(rng), bg(rng), bg(rng)],
        }
    }
}

/// Rotates colours about the grey axis by `deg` (a hue shift that keeps luminance roughly).
fn hue_shift(px: [u8; 3], deg: f32) -> [u8; 3] {
    let (s, c) = deg.to_radians().sin_cos();
    let k = (1.0 - c) / 3.0;
    let r3 = 3f32.sqrt();
    let m = [
        [c + k, k - s / r3, k + s / r3],
        [k + s / r3, c + k, k - s / r3],
        [k - s / r3, k + s / r3, c + k],
    ];
    let v = px.map(f32::from);
    m.map(|row| (row[0] * v[0] + row[1] * v[1] + row[2] * v[2]).clamp(0.0, 255.0) as u8)
}

/// The identity's head patch: the photo's head square warped, stretched, hue-shifted, resized.
fn identity_patch(photo: &RgbImage, look: &Look) -> RgbImage {
    let (x0, y0, side) = HEAD;
    let mut data = Vec::with_capacity(side as usize * side as usize * 3);
    let centre = side as f32 / 2.0;
    for y in 0..side {
        let phase = y as f32 / side as f32 * look.warp_cycles * std::f32::consts::TAU;
        for x in 0..side {
            let sx = centre + (x as f32 - centre) / look.stretch + look.warp_px * phase.sin();
            let sx = (sx.round().max(0.0) as u32).min(side - 1);
            let px = photo.pixel(x0 + sx, y0 + y).unwrap_or([0, 0, 0]);
            data.extend_from_slice(&hue_shift(px, look.hue_deg));
        }
    }
    let head = RgbImage {
        width: side,
        height: side,
        data,
    };
    resize(&head, look.patch, look.patch)
}

fn frac_rect(img: &RgbImage, r: (f32, f32, f32, f32)) -> (u32, u32, u32, u32) {
    let (w, h) = (img.width as f32, img.height as f32);
    (
        (r.0 * w) as u32,
        (r.1 * h) as u32,
        (r.2 * w) as u32,
        (r.3 * h) as u32,
    )
}

/// Closes the eyes: darkens the eyelid band.
fn blink(patch: &mut RgbImage) {
    let (x0, y0, x1, y1) = frac_rect(patch, EYES);
    for y in y0..y1 {
        for x in x0..x1 {
            let i = (y as usize * patch.width as usize + x as usize) * 3;
            for v in &mut patch.data[i..i + 3] {
                *v = (f32::from(*v) * 0.45) as u8;
            }
        }
    }
}

/// Opens the mouth by `open` (1 = rest): the mouth box shows its centre stretched vertically.
fn talk(patch: &mut RgbImage, open: f32) {
    let src = patch.clone();
    let (x0, y0, x1, y1) = frac_rect(patch, MOUTH);
    let cy = (y0 + y1) as f32 / 2.0;
    for y in y0..y1 {
        let sy = (cy + (y as f32 - cy) / open).round() as u32;
        for x in x0..x1 {
            let px = src.pixel(x, sy).unwrap_or([0, 0, 0]);
            let i = (y as usize * patch.width as usize + x as usize) * 3;
            patch.data[i..i + 3].copy_from_slice(&px);
        }
    }
}

/// Frame `i` of an identity's clip `clip`: the patch moving on a Lissajous path, blinking for 2 of
/// every 12 frames, mouth opening and closing.
fn frame(patch: &RgbImage, look: &Look, clip: usize, i: usize) -> RgbImage {
    let t = i as f32 / FPS as f32 + clip as f32 * 0.7;
    let mut p = patch.clone();
    // Never on frame 0, which is where a swap takes its donor face from.
    if i >= 4 && (i + clip * 5) % 12 < 2 {
        blink(&mut p);
    }
    talk(&mut p, 1.0 + 0.3 * (t * 7.0).sin().abs());
    let free_x = (WIDTH - p.width) as f32;
    let free_y = (HEIGHT - p.height) as f32;
    let px = (free_x * (0.5 + 0.4 * (t * 1.3).sin())) as u32;
    let py = (free_y * (0.5 + 0.4 * (t * 0.9).cos())) as u32;
    let mut out = RgbImage {
        width: WIDTH,
        height: HEIGHT,
        data: look.background.repeat((WIDTH * HEIGHT) as usize),
    };
    let row = p.width as usize * 3;
    for (y, line) in p.data.chunks_exact(row).enumerate() {
        let start = ((py as usize + y) * WIDTH as usize + px as usize) * 3;
        out.data[start..start + row].copy_from_slice(line);
    }
    out
}

/// Writes `identities` x `clips_per_identity` clips (`real/id{k}_{c:04}.mp4`, 3 s, 320x240, 10 fps)
/// and `manifest.toml` into `out_dir`, and loads it back. Round 1 has one task per non-hidden clip
/// (donor: the next identity); with 2+ clips per identity the last clip of each is hidden real.
#[tracing::instrument(skip_all, fields(out = %out_dir.display(), identities, clips_per_identity, seed), err)]
pub fn generate(
    out_dir: &Path,
    identities: usize,
    clips_per_identity: usize,
    seed: u64,
) -> Result<Dataset, SynthError> {
    if identities < 2 || clips_per_identity < 1 {
        return Err(SynthError::TooSmall {
            identities,
            clips: clips_per_identity,
        });
    }
    let photo = decode_image(&astronaut_path()?)?;
    let real = out_dir.join("real");
    std::fs::create_dir_all(&real).map_err(|e| SynthError::Io {
        path: real.clone(),
        reason: e.to_string(),
    })?;
    let mut rng = Rng(seed);
    let mut manifest = ManifestFile {
        hidden_real: Vec::new(),
        clips: Vec::new(),
        rounds: vec![RoundEntry {
            number: 1,
            tasks: Vec::new(),
        }],
    };
    for k in 0..identities {
        let look = Look::new(&mut rng);
        let patch = identity_patch(&photo, &look);
        let identity = format!("id{k}");
        for c in 0..clips_per_identity {
            let id = format!("{identity}_{c:04}");
            let frames: Vec<RgbImage> = (0..FRAMES).map(|i| frame(&patch, &look, c, i)).collect();
            encode_mp4(&frames, f64::from(FPS), &real.join(format!("{id}.mp4")))?;
            if clips_per_identity > 1 && c + 1 == clips_per_identity {
                manifest.hidden_real.push(id.clone());
            } else {
                manifest.rounds[0].tasks.push(TaskEntry {
                    task_id: format!("g01_{id}"),
                    target: id.clone(),
                    donor: format!("id{}", (k + 1) % identities),
                });
            }
            manifest.clips.push(ClipEntry {
                path: PathBuf::from("real").join(format!("{id}.mp4")),
                id,
                identity: identity.clone(),
                group: "g01".into(),
            });
        }
    }
    let path = out_dir.join("manifest.toml");
    let text = toml::to_string(&manifest).map_err(|e| SynthError::Io {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    std::fs::write(&path, text).map_err(|e| SynthError::Io {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(crate::manifest::load(&path)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;
    use arena_worker::detector::{OrtRuntime, SessionOptions};
    use arena_worker::faces::{FaceDetector, model_path};
    use arena_worker::media::{ProbeLimits, probe_video, sample_frames};

    pub(crate) fn face_detector() -> FaceDetector {
        let rt = OrtRuntime::init(&OrtRuntime::default_lib_path()).unwrap();
        FaceDetector::load(&rt, &model_path(None), &SessionOptions::default()).unwrap()
    }

    #[test]
    fn faces_blink_and_talk_but_not_on_frame_zero() {
        let photo = RgbImage {
            width: 512,
            height: 512,
            data: (0..512 * 512 * 3).map(|i| (i % 251) as u8).collect(),
        };
        let look = Look::new(&mut Rng(1));
        let patch = identity_patch(&photo, &look);
        let (ex0, ey0, ex1, ey1) = frac_rect(&patch, EYES);
        let eye_sum = |img: &RgbImage| -> u64 {
            let mut s = 0;
            for y in ey0..ey1 {
                for x in ex0..ex1 {
                    s += img
                        .pixel(x, y)
                        .unwrap()
                        .iter()
                        .map(|&v| u64::from(v))
                        .sum::<u64>();
                }
            }
            s
        };
        let open = eye_sum(&patch);
        let mut closed = patch.clone();
        blink(&mut closed);
        assert!(eye_sum(&closed) * 2 < open);
        // Frame 0 keeps its eyes open; some later frames of the clip do not.
        let blinks: Vec<usize> = (0..FRAMES).filter(|&i| i >= 4 && i % 12 < 2).collect();
        assert!(!blinks.is_empty() && !blinks.contains(&0));
        let mut talking = patch.clone();
        talk(&mut talking, 1.3);
        assert_ne!(talking, patch);
        let f = frame(&patch, &look, 0, 0);
        assert_eq!((f.width, f.height), (WIDTH, HEIGHT));
    }

    #[test]
    fn generates_valid_clips_with_a_findable_face_and_a_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let ds = generate(dir.path(), 2, 1, 7).unwrap();
        assert_eq!(ds.clips.len(), 2);
        assert_eq!(ds.round(1).unwrap().tasks.len(), 2);
        assert!(dir.path().join("manifest.toml").is_file());
        let mut det = face_detector();
        for clip in &ds.clips {
            let facts = probe_video(&clip.path, &ProbeLimits::default()).unwrap();
            assert_eq!((facts.width, facts.height), (WIDTH, HEIGHT));
            assert_eq!(facts.frames, FRAMES as u64);
            assert_eq!(facts.codec, "h264");
            let sampled = sample_frames(&clip.path, 10, 512).unwrap();
            let found = sampled
                .frames
                .iter()
                .filter(|f| det.largest_face(f).unwrap().is_some())
                .count();
            assert!(found >= 8, "{}: face in {found}/10 frames", clip.id);
        }
        // Deterministic: the same seed writes the same bytes.
        let again = tempfile::tempdir().unwrap();
        generate(again.path(), 2, 1, 7).unwrap();
        let a = std::fs::read(dir.path().join("real/id1_0000.mp4")).unwrap();
        let b = std::fs::read(again.path().join("real/id1_0000.mp4")).unwrap();
        assert_eq!(a, b);
    }
}
