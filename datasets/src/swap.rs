//! The baseline creator: pastes a donor face into the target's detected face box, frame by frame,
//! crudely (hard edges, no colour transfer) or carefully (colour transfer + feathered blending).

use std::fs::File;
use std::path::{Path, PathBuf};

use arena_worker::RgbImage;
use arena_worker::faces::{FaceBox, FaceDetector, FaceError};
use arena_worker::media::resize::{crop, resize};
use arena_worker::media::{MediaError, ProbeLimits, probe_video, sample_frames};

use crate::encode::{EncodeError, encode_mp4};
use crate::manifest::Dataset;

/// How much care the swap takes; detectors and quality scores should tell the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// Hard-edged paste, donor colours kept.
    Crude,
    /// Mean/std colour transfer inside the box and a feathered alpha edge.
    Careful,
}

#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Face(#[from] FaceError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("no face found in {0}")]
    NoFace(PathBuf),
    #[error("{0}")]
    Dataset(String),
    #[error("cannot write {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// What one swap did.
#[derive(Debug, Clone, PartialEq)]
pub struct SwapReport {
    pub frames: usize,
    /// Frames where a face box (found, or carried over from an earlier frame) was replaced.
    pub swapped_frames: usize,
}

/// The donor's face: the largest face in the first frame of `clip` where one is found.
pub fn donor_face(det: &mut FaceDetector, clip: &Path) -> Result<RgbImage, SwapError> {
    for frame in sample_frames(clip, 5, 4096)?.frames {
        if let Some(b) = det.largest_face(&frame)? {
            let r = box_rect(&b, frame.width, frame.height);
            if let Some(face) = crop(&frame, r.0, r.1, r.2, r.3) {
                return Ok(face);
            }
        }
    }
    Err(SwapError::NoFace(clip.to_owned()))
}

/// Integer (x, y, w, h) of `b` (frame pixels) clamped to the frame; at least 1x1.
fn box_rect(b: &FaceBox, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let x0 = (b.x0.max(0.0) as u32).min(width.saturating_sub(1));
    let y0 = (b.y0.max(0.0) as u32).min(height.saturating_sub(1));
    let x1 = (b.x1.max(0.0).ceil() as u32).clamp(x0 + 1, width);
    let y1 = (b.y1.max(0.0).ceil() as u32).clamp(y0 + 1, height);
    (x0, y0, x1 - x0, y1 - y0)
}

/// Per-channel mean and standard deviation.
fn stats(img: &RgbImage) -> [(f32, f32); 3] {
    let n = (img.data.len() / 3).max(1) as f32;
    let mut out = [(0.0, 0.0); 3];
    for (c, slot) in out.iter_mut().enumerate() {
        let mean = img
            .data
            .iter()
            .skip(c)
            .step_by(3)
            .map(|&v| f32::from(v))
            .sum::<f32>()
            / n;
        let var = img
            .data
            .iter()
            .skip(c)
            .step_by(3)
            .map(|&v| (f32::from(v) - mean).powi(2))
            .sum::<f32>()
            / n;
        *slot = (mean, var.sqrt().max(1.0));
    }
    out
}

/// Maps `donor`'s colour statistics onto `target`'s (Reinhard-style, per RGB channel).
fn colour_transfer(donor: &RgbImage, target: &RgbImage) -> RgbImage {
    let (sd, st) = (stats(donor), stats(target));
    let mut out = donor.clone();
    for (i, v) in out.data.iter_mut().enumerate() {
        let ((md, dd), (mt, dt)) = (sd[i % 3], st[i % 3]);
        *v = ((f32::from(*v) - md) / dd * dt + mt)
            .clamp(0.0, 255.0)
            .round() as u8;
    }
    out
}

/// Alpha at (x, y) of a w x h box: 1 inside, ramping to 0 over the outer `feather` pixels.
fn feather_alpha(x: u32, y: u32, w: u32, h: u32, feather: f32) -> f32 {
    let edge = x.min(y).min(w - 1 - x).min(h - 1 - y) as f32 + 0.5;
    let t = (edge / feather).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Pastes `donor` into `frame` at the box `b`.
fn paste(frame: &mut RgbImage, donor: &RgbImage, b: &FaceBox, strength: Strength) {
    let (x, y, w, h) = box_rect(b, frame.width, frame.height);
    let mut face = resize(donor, w, h);
    let feather = match strength {
        Strength::Crude => 0.0,
        Strength::Careful => {
            if let Some(target) = crop(frame, x, y, w, h) {
                face = colour_transfer(&face, &target);
            }
            0.2 * w.min(h) as f32
        }
    };
    for dy in 0..h {
        for dx in 0..w {
            let a = if feather > 0.0 {
                feather_alpha(dx, dy, w, h, feather)
            } else {
                1.0
            };
            let src = ((dy * w + dx) * 3) as usize;
            let dst = (((y + dy) * frame.width + x + dx) * 3) as usize;
            for c in 0..3 {
                let (s, d) = (
                    f32::from(face.data[src + c]),
                    f32::from(frame.data[dst + c]),
                );
                frame.data[dst + c] = (a * s + (1.0 - a) * d).round() as u8;
            }
        }
    }
}

/// Puts `donor` onto every frame of `target` along its detected face (a frame without a detection
/// reuses the last box) and writes `out` at the target's resolution, frame count and frame rate.
#[tracing::instrument(skip_all, fields(target = %target.display(), ?strength), err)]
pub fn swap_clip(
    det: &mut FaceDetector,
    target: &Path,
    donor: &RgbImage,
    strength: Strength,
    out: &Path,
) -> Result<SwapReport, SwapError> {
    let facts = probe_video(target, &ProbeLimits::default())?;
    let max_side = facts.width.max(facts.height);
    let mut frames = sample_frames(target, usize::MAX, max_side)?.frames;
    let mut last: Option<FaceBox> = None;
    let mut swapped = 0;
    for frame in &mut frames {
        if let Some(b) = det.largest_face(frame)? {
            last = Some(b);
        }
        if let Some(b) = &last {
            paste(frame, donor, b, strength);
            swapped += 1;
        }
    }
    if swapped == 0 {
        return Err(SwapError::NoFace(target.to_owned()));
    }
    let fps = if facts.fps > 0.0 { facts.fps } else { 25.0 };
    encode_mp4(&frames, fps, out)?;
    Ok(SwapReport {
        frames: frames.len(),
        swapped_frames: swapped,
    })
}

/// Writes round `round`'s creation zip: one `<task_id>.mp4` per task, the donor face taken from the
/// donor identity's first clip. Returns the number of videos written.
#[tracing::instrument(skip_all, fields(round, ?strength, out = %out_zip.display()), err)]
pub fn swap_round(
    det: &mut FaceDetector,
    dataset: &Dataset,
    round: u32,
    strength: Strength,
    out_zip: &Path,
) -> Result<usize, SwapError> {
    let tasks = &dataset
        .round(round)
        .ok_or_else(|| SwapError::Dataset(format!("no round {round} in the manifest")))?
        .tasks;
    let io = |path: &Path, e: &dyn std::fmt::Display| SwapError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let tmp = tempfile_dir(out_zip)?;
    let file = File::create(out_zip).map_err(|e| io(out_zip, &e))?;
    let mut zip = zip::ZipWriter::new(file);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for task in tasks {
        let missing = |what: &str| SwapError::Dataset(format!("task {}: {what}", task.task_id));
        let target = dataset
            .clip(&task.target)
            .ok_or_else(|| missing("no target clip"))?;
        let donor_clip = dataset
            .clips_of(&task.donor)
            .next()
            .ok_or_else(|| missing("no clip of the donor"))?;
        let face = donor_face(det, &donor_clip.path)?;
        let video = tmp.join(format!("{}.mp4", task.task_id));
        swap_clip(det, &target.path, &face, strength, &video)?;
        zip.start_file(format!("{}.mp4", task.task_id), opts)
            .map_err(|e| io(out_zip, &e))?;
        let mut src = File::open(&video).map_err(|e| io(&video, &e))?;
        std::io::copy(&mut src, &mut zip).map_err(|e| io(out_zip, &e))?;
        std::fs::remove_file(&video).map_err(|e| io(&video, &e))?;
    }
    zip.finish().map_err(|e| io(out_zip, &e))?;
    std::fs::remove_dir(&tmp).map_err(|e| io(&tmp, &e))?;
    Ok(tasks.len())
}

/// A scratch folder beside `out_zip` for the videos on their way into it.
fn tempfile_dir(out_zip: &Path) -> Result<PathBuf, SwapError> {
    let parent = out_zip.parent().unwrap_or(Path::new("."));
    let name = out_zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = parent.join(format!(".{name}.parts"));
    std::fs::create_dir_all(&dir).map_err(|e| SwapError::Io {
        path: dir.clone(),
        reason: e.to_string(),
    })?;
    Ok(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::synth::{generate, tests::face_detector};

    /// Mean absolute difference of two same-size frames inside and outside `r` grown by `margin`.
    fn diff_in_out(a: &RgbImage, b: &RgbImage, r: (u32, u32, u32, u32), margin: u32) -> (f64, f64) {
        let (mut sin, mut nin, mut sout, mut nout) = (0f64, 0f64, 0f64, 0f64);
        for y in 0..a.height {
            for x in 0..a.width {
                let (pa, pb) = (a.pixel(x, y).unwrap(), b.pixel(x, y).unwrap());
                let d: f64 = (0..3)
                    .map(|c| f64::from(pa[c].abs_diff(pb[c])))
                    .sum::<f64>()
                    / 3.0;
                let inside = x >= r.0 && x < r.0 + r.2 && y >= r.1 && y < r.1 + r.3;
                let near = x + margin >= r.0
                    && x < r.0 + r.2 + margin
                    && y + margin >= r.1
                    && y < r.1 + r.3 + margin;
                if inside {
                    sin += d;
                    nin += 1.0;
                } else if !near {
                    sout += d;
                    nout += 1.0;
                }
            }
        }
        (sin / nin.max(1.0), sout / nout.max(1.0))
    }

    #[test]
    fn swaps_change_the_face_box_only_and_keep_the_geometry() {
        let dir = tempfile::tempdir().unwrap();
        let ds = generate(&dir.path().join("data"), 2, 1, 3).unwrap();
        let mut det = face_detector();
        let target = &ds.clip("id0_0000").unwrap().path;
        let donor = donor_face(&mut det, &ds.clip("id1_0000").unwrap().path).unwrap();
        let before = probe_video(target, &ProbeLimits::default()).unwrap();
        let orig = sample_frames(target, 6, 1024).unwrap().frames;
        for strength in [Strength::Crude, Strength::Careful] {
            let out = dir.path().join(format!("{strength:?}.mp4"));
            let report = swap_clip(&mut det, target, &donor, strength, &out).unwrap();
            assert_eq!(report.frames as u64, before.frames);
            let after = probe_video(&out, &ProbeLimits::default()).unwrap();
            assert_eq!((after.width, after.height), (before.width, before.height));
            assert_eq!(after.frames, before.frames);
            let swapped = sample_frames(&out, 6, 1024).unwrap().frames;
            for (a, b) in orig.iter().zip(&swapped) {
                let face = det.largest_face(a).unwrap().unwrap();
                let r = box_rect(&face, a.width, a.height);
                let (inside, outside) = diff_in_out(a, b, r, 8);
                assert!(
                    inside > 8.0,
                    "{strength:?}: face box barely changed ({inside})"
                );
                assert!(
                    outside < 2.0,
                    "{strength:?}: background changed ({outside})"
                );
            }
        }
    }

    fn box_mean(img: &RgbImage, r: (u32, u32, u32, u32)) -> f64 {
        let c = crop(img, r.0, r.1, r.2, r.3).unwrap();
        c.data.iter().map(|&v| f64::from(v)).sum::<f64>() / c.data.len() as f64
    }

    #[test]
    fn careful_matches_colours_and_softens_edges_while_crude_does_not() {
        // Box 10..30 holds a grey ramp 50..145 (mean ~100); outside is black.
        let mut frame = RgbImage {
            width: 40,
            height: 40,
            data: vec![0; 40 * 40 * 3],
        };
        for y in 10..30u32 {
            for x in 10..30u32 {
                let i = ((y * 40 + x) * 3) as usize;
                frame.data[i..i + 3].fill(50 + 5 * (x - 10) as u8);
            }
        }
        // A 20x20 black/white checker donor: mean 127.5.
        let donor = RgbImage {
            width: 20,
            height: 20,
            data: (0..400u32)
                .flat_map(|i| {
                    [if (i % 20 / 2 + i / 40) % 2 == 0 {
                        0
                    } else {
                        255
                    }; 3]
                })
                .collect(),
        };
        let b = FaceBox {
            x0: 10.0,
            y0: 10.0,
            x1: 30.0,
            y1: 30.0,
            score: 1.0,
            eyes: None,
        };
        let r = (10, 10, 20, 20);
        let (mut crude, mut careful) = (frame.clone(), frame.clone());
        paste(&mut crude, &donor, &b, Strength::Crude);
        paste(&mut careful, &donor, &b, Strength::Careful);
        assert_eq!(crude.pixel(10, 20), donor.pixel(0, 10));
        assert!((box_mean(&crude, r) - 127.5).abs() < 3.0);
        // Careful: the box's own mean colour, and an edge pixel close to the original.
        assert!(
            (box_mean(&careful, r) - 97.5).abs() < 6.0,
            "{}",
            box_mean(&careful, r)
        );
        let (edge, orig) = (
            careful.pixel(10, 20).unwrap()[0],
            frame.pixel(10, 20).unwrap()[0],
        );
        assert!(edge.abs_diff(orig) < 10, "edge {edge}, original {orig}");
        assert_ne!(careful.pixel(20, 20), frame.pixel(20, 20));
        assert_eq!(careful.pixel(9, 20), Some([0; 3]));
    }

    #[test]
    fn a_round_becomes_a_zip_of_task_videos() {
        let dir = tempfile::tempdir().unwrap();
        let ds = generate(&dir.path().join("data"), 2, 1, 5).unwrap();
        let mut det = face_detector();
        let zip_path = dir.path().join("round1.zip");
        let n = swap_round(&mut det, &ds, 1, Strength::Crude, &zip_path).unwrap();
        assert_eq!(n, 2);
        let mut archive = zip::ZipArchive::new(File::open(&zip_path).unwrap()).unwrap();
        let mut names: Vec<String> = archive.file_names().map(str::to_owned).collect();
        names.sort();
        assert_eq!(names, ["g01_id0_0000.mp4", "g01_id1_0000.mp4"]);
        assert!(archive.by_index(0).unwrap().size() > 1000);
        assert!(!dir.path().join(".round1.zip.parts").exists());
        assert!(matches!(
            swap_round(&mut det, &ds, 9, Strength::Crude, &zip_path),
            Err(SwapError::Dataset(_))
        ));
    }
}
