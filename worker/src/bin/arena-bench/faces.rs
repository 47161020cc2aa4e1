//! (d) The face benchmark: clips with faces at known places (scripts/bench/make_face_videos.py),
//! through the worker's face stage ([`arena_worker::face_search::FaceFinder`]) and, side by side,
//! the whole-frame rule it replaced (largest face in the letterboxed small frame). Per clip:
//! sampled frames with the subject found, IoU of the chosen box with the truth, and the face
//! stage's time against the decode's, measured in the same run.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use arena_worker::detector::{OrtRuntime, SessionOptions};
use arena_worker::face_search::FaceFinder;
use arena_worker::faces::{self, FaceBox, FaceDetector};
use arena_worker::media::{self, MediaError, RgbImage};
use arena_worker::pipeline::JobError;
use serde::{Deserialize, Serialize};

use super::Flags;

#[derive(Deserialize)]
struct Truth {
    width: u32,
    height: u32,
    frames: Vec<TruthFrame>,
}

#[derive(Deserialize)]
struct TruthFrame {
    /// The subject's head square `[x, y, side]` in display pixels; null while turned away.
    subject: Option<[f32; 3]>,
}

/// One clip's numbers.
#[derive(Debug, Serialize)]
pub struct FaceRow {
    pub clip: String,
    pub width: u32,
    pub height: u32,
    /// Height of the subject's face box (truth), median over the clip.
    pub face_px: f32,
    /// Sampled frames where the subject is visible.
    pub visible: usize,
    /// ... and where the face stage found the subject (IoU ≥ 0.3 with the truth).
    pub found: usize,
    pub found_before: usize,
    pub mean_iou: f32,
    pub min_iou: f32,
    pub mean_iou_before: f32,
    pub decode_ms: f64,
    pub faces_ms: f64,
    pub faces_ms_before: f64,
    pub runs_per_frame: f64,
    /// Model input pixels per sampled frame, in 128×128 runs (a run at a tile scale counts its
    /// size).
    pub input_per_frame: f64,
}

/// Where the face model puts its box inside the head square, as fractions of the square.
fn calibrate(det: &mut FaceDetector, dir: &Path) -> Result<FaceBox> {
    let data = std::fs::read(dir.join("head.rgb")).context("head.rgb; run make_face_videos.py")?;
    let head = RgbImage {
        width: 180,
        height: 180,
        data,
    };
    let b = det
        .largest_face(&head)?
        .ok_or_else(|| anyhow!("no face in head.rgb"))?;
    Ok(b.scaled(1.0 / 180.0, 1.0 / 180.0))
}

fn truth_box(square: [f32; 3], in_head: &FaceBox) -> FaceBox {
    let [x, y, side] = square;
    FaceBox {
        x0: x + in_head.x0 * side,
        y0: y + in_head.y0 * side,
        x1: x + in_head.x1 * side,
        y1: y + in_head.y1 * side,
        score: 1.0,
        eyes: None,
    }
}

fn decode_only(path: &Path, k: usize) -> Result<Duration> {
    let t = Instant::now();
    media::sample_frames_each(path, k, &[1920, 512], |_, _| Ok::<(), MediaError>(()))?;
    Ok(t.elapsed())
}

struct Chosen {
    indices: Vec<u64>,
    boxes: Vec<Option<FaceBox>>,
    before: Vec<Option<FaceBox>>,
    faces: Duration,
    faces_before: Duration,
    runs: u64,
    input_px: u64,
}

/// One decode; per kept frame the face stage and the whole-frame rule, each timed.
fn choose(det: &mut FaceDetector, path: &Path, k: usize) -> Result<Chosen> {
    let mut finder = FaceFinder::new();
    let mut out = Chosen {
        indices: Vec::new(),
        boxes: Vec::new(),
        before: Vec::new(),
        faces: Duration::ZERO,
        faces_before: Duration::ZERO,
        runs: 0,
        input_px: 0,
    };
    media::sample_frames_each(path, k, &[1920, 512], |index, mut images| {
        let (Some(small), Some(large)) = (images.pop(), images.pop()) else {
            return Err(JobError {
                code: "media_internal",
                message: "a size is missing".to_owned(),
                permanent: false,
            });
        };
        let (w, h) = (large.width as f32, large.height as f32);
        let t = Instant::now();
        let b = finder.find(det, &small, &large)?;
        out.faces += t.elapsed();
        let t = Instant::now();
        let before = faces::find_face(det, &small)?;
        out.faces_before += t.elapsed();
        out.indices.push(index);
        out.boxes.push(b.map(|b| b.scaled(w, h)));
        out.before.push(before.map(|b| b.scaled(w, h)));
        Ok(())
    })?;
    out.runs = finder.runs;
    out.input_px = finder.input_px;
    Ok(out)
}

/// (found, mean IoU, min IoU) of `boxes` against the truth of the sampled frames.
fn score(boxes: &[Option<FaceBox>], truth: &[Option<FaceBox>]) -> (usize, f32, f32) {
    let ious: Vec<f32> = boxes
        .iter()
        .zip(truth)
        .filter_map(|(b, t)| t.map(|t| b.map_or(0.0, |b| b.iou(&t))))
        .collect();
    let found = ious.iter().filter(|&&v| v >= 0.3).count();
    let mean = ious.iter().sum::<f32>() / ious.len().max(1) as f32;
    let min = if ious.is_empty() {
        0.0
    } else {
        ious.iter().copied().fold(f32::INFINITY, f32::min)
    };
    (found, mean, min)
}

pub fn run(flags: &Flags) -> Result<Vec<FaceRow>> {
    let rt = OrtRuntime::init(&OrtRuntime::default_lib_path())?;
    let dir = flags.path("videos", ".cache/bench/faces");
    let k = flags.number("frames", 32)?;
    let text = std::fs::read_to_string(dir.join("truth.json"))
        .with_context(|| format!("{}/truth.json; run make_face_videos.py", dir.display()))?;
    let truths: std::collections::BTreeMap<String, Truth> = serde_json::from_str(&text)?;
    let mut det = FaceDetector::load(&rt, &faces::model_path(None), &SessionOptions::default())?;
    let in_head = calibrate(&mut det, &dir)?;
    let mut rows = Vec::new();
    for (clip, truth) in &truths {
        let path = dir.join(format!("{clip}.mp4"));
        let decode = decode_only(&path, k)?;
        let chosen = choose(&mut det, &path, k)?;
        let sampled: Vec<Option<FaceBox>> = chosen
            .indices
            .iter()
            .map(|&i| {
                truth
                    .frames
                    .get(i as usize)
                    .and_then(|f| f.subject)
                    .map(|s| truth_box(s, &in_head))
            })
            .collect();
        let (found, mean_iou, min_iou) = score(&chosen.boxes, &sampled);
        let (found_before, mean_iou_before, _) = score(&chosen.before, &sampled);
        let mut heights: Vec<f32> = sampled.iter().flatten().map(FaceBox::height).collect();
        heights.sort_by(f32::total_cmp);
        let n = chosen.indices.len().max(1) as f64;
        rows.push(FaceRow {
            clip: clip.clone(),
            width: truth.width,
            height: truth.height,
            face_px: heights.get(heights.len() / 2).copied().unwrap_or(0.0),
            visible: sampled.iter().flatten().count(),
            found,
            found_before,
            mean_iou,
            min_iou,
            mean_iou_before,
            decode_ms: decode.as_secs_f64() * 1000.0,
            faces_ms: chosen.faces.as_secs_f64() * 1000.0,
            faces_ms_before: chosen.faces_before.as_secs_f64() * 1000.0,
            runs_per_frame: chosen.runs as f64 / n,
            input_per_frame: chosen.input_px as f64 / (128.0 * 128.0) / n,
        });
    }
    print_table(&rows, k);
    Ok(rows)
}

fn print_table(rows: &[FaceRow], k: usize) {
    println!("## (d) Faces: the subject found in K = {k} sampled frames\n");
    println!(
        "| clip | size | face px | found (search + track) | IoU mean / min | found (whole frame only) | IoU mean (whole frame) | model runs / frame | input / frame (128² runs) | faces ms / frame | decode ms / frame | faces / decode |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let per = |ms: f64| ms / k.max(1) as f64;
        println!(
            "| {} | {}×{} | {:.0} | {}/{} | {:.2} / {:.2} | {}/{} | {:.2} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} % |",
            r.clip,
            r.width,
            r.height,
            r.face_px,
            r.found,
            r.visible,
            r.mean_iou,
            r.min_iou,
            r.found_before,
            r.visible,
            r.mean_iou_before,
            r.runs_per_frame,
            r.input_per_frame,
            per(r.faces_ms),
            per(r.decode_ms),
            100.0 * r.faces_ms / r.decode_ms.max(f64::EPSILON)
        );
    }
    println!();
}
