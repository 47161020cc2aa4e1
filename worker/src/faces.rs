//! Face detection with BlazeFace (MediaPipe's short-range front model, 128×128 ONNX) and the
//! square face crops every `crop = "face"` detector reads.
//!
//! One model run: letterbox a frame or a square region of it into 128×128 (scaled to [-1, 1],
//! NHWC), decode the 896 anchors, keep scores ≥ [`SCORE_THRESHOLD`], merge overlaps by weighted
//! NMS ([`NMS_IOU`]) and map back to frame pixels. Which face of which frame is the video's subject
//! (whole frame, tiles, the track) is [`crate::face_search`]'s job. A detector's crop is a square
//! of its manifest's `margin` (default [`CROP_MARGIN`]) × the box's longer side around the box
//! centre, shifted inside the frame (and shrunk to the frame's shorter side when larger); the
//! cache keeps the 2.5× context it is cut from ([`crate::face_crop`]). A frame without a
//! detection reuses the previous frame's box, else the next detected box, else (no face anywhere
//! in the video) a centre square of the frame's shorter side.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use crate::detector::{ExecutionProvider, OrtRuntime, SessionOptions, build_session};
use crate::face_box::{BOX_VALUES, SIDE, anchors_for, decode_detections_sized};
pub use crate::face_box::{
    CropRect, FaceBox, Letterbox, anchors, centre_crop, decode_detections, square_crop,
    weighted_nms,
};
use crate::face_crop::FaceContext;
use crate::media::resize::{crop, downscale_to, resize_region};
use crate::media::{AsRgb, RgbImage, RgbView};

/// Version of the face stage (model, decoding, crop rule, what the cache keeps); part of the crop
/// cache key. 3: the cache keeps each face's 2.5× context and its geometry
/// ([`crate::face_crop`]) instead of the 1.3× crop. 4: large regions and tiles are read from the
/// small frame, the tracked region is searched after a miss too, and the tiles run on one frame in
/// [`crate::face_search::SEARCH_EVERY`] while no subject is followed (boxes of small faces move).
/// 5: the search for small faces runs the size-free model ([`crate::face_model`]) once per tile
/// scale over the whole resized frame instead of on overlapping tiles (their boxes move).
/// 6: losing a subject only ever seen with unsure boxes does not start a search at once, and
/// searches that find no sure face come further apart ([`crate::face_search::search_gap`]; which
/// frames are searched moves).
pub const FACE_DETECTOR_VERSION: i32 = 6;
/// Minimum face probability. MediaPipe's own default for this model (`min_score_thresh` 0.5):
/// the astronaut portrait scores 0.92, faceless frames stay far below.
pub const SCORE_THRESHOLD: f32 = 0.5;
/// IoU above which overlapping detections are merged (MediaPipe's `min_suppression_threshold`).
pub const NMS_IOU: f32 = 0.3;
/// Crop side over the face box's longer side of a manifest without `margin` (the DFGC
/// baseline's margin).
pub const CROP_MARGIN: f32 = crate::manifest::DEFAULT_MARGIN;
/// Boxes within this fraction of a region's side from one of its inner edges are cut faces.
const EDGE_SLACK: f32 = 0.02;
/// Where scripts/bootstrap installs the model, relative to the workspace root.
pub const MODEL_REL_PATH: &str = ".cache/models/blazeface-128.onnx";

const INPUT: &str = "input:0";
/// (scores, boxes) output names for the stride-8 anchors, then the stride-16 ones.
const OUTPUTS: [(&str, &str); 2] = [
    ("Identity:0", "Identity_2:0"),
    ("Identity_1:0", "Identity_3:0"),
];

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error(
        "the face model is unavailable ({path}): {reason}; run scripts/bootstrap or set ARENA_FACE_MODEL"
    )]
    ModelUnavailable { path: PathBuf, reason: String },
    #[error("the face model failed to load: {0}")]
    Load(String),
    #[error("the face model failed to run: {0}")]
    Run(String),
    #[error("unexpected face model output: {0}")]
    Output(String),
}

impl FaceError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::ModelUnavailable { .. } => "face_model_unavailable",
            Self::Load(_) => "face_model_load_failed",
            Self::Run(_) => "face_model_run_failed",
            Self::Output(_) => "face_model_output",
        }
    }

    /// Always false: the face model is ours, never the uploader's.
    pub fn is_client_error(&self) -> bool {
        false
    }
}

/// `ARENA_FACE_MODEL`, else `face_model` from the settings, else the bootstrap's file
/// ([`MODEL_REL_PATH`]) in the current directory or an ancestor, else beside this workspace.
pub fn model_path(face_model: Option<&Path>) -> PathBuf {
    if let Some(p) = std::env::var_os("ARENA_FACE_MODEL") {
        return PathBuf::from(p);
    }
    if let Some(p) = face_model {
        return p.to_owned();
    }
    let rel = Path::new(MODEL_REL_PATH);
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let starts = std::env::current_dir()
        .ok()
        .into_iter()
        .chain(manifest_dir.parent().map(Path::to_path_buf));
    for start in starts {
        if let Some(found) = start.ancestors().map(|d| d.join(rel)).find(|p| p.is_file()) {
            return found;
        }
    }
    rel.to_owned()
}

/// The BlazeFace session of one worker slot.
pub struct FaceDetector {
    /// The bootstrap's model as it is: every 128-px run (whole frame, tracked region).
    session: Session,
    /// The same model made size-free ([`crate::face_model`]): [`Self::detect_resized`]. (At
    /// 128 px it differs from `session` in the last bits of a few outputs, so the 128-px runs
    /// stay on the original and their boxes are those of `FACE_DETECTOR_VERSION` 4.)
    any_size: Session,
    provider: ExecutionProvider,
    anchors: Vec<[f32; 2]>,
    input: Vec<f32>,
    /// The input of [`Self::detect_resized`], kept between runs.
    canvas: Vec<f32>,
}

impl FaceDetector {
    /// Loads the model file at `path` (see [`model_path`]).
    pub fn load(
        rt: &OrtRuntime,
        path: &Path,
        opts: &SessionOptions,
    ) -> Result<FaceDetector, FaceError> {
        let bytes = std::fs::read(path).map_err(|e| FaceError::ModelUnavailable {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_bytes(rt, &bytes, opts)
    }

    pub fn from_bytes(
        rt: &OrtRuntime,
        model_bytes: &[u8],
        opts: &SessionOptions,
    ) -> Result<FaceDetector, FaceError> {
        // Always on the CPU: cached crops are keyed by the face detector's version, not by the
        // provider of the worker that made them, so every worker must find the same boxes (a
        // GPU's float rounding could move a crop by a pixel); a 128×128 net gains nothing there.
        let opts = SessionOptions {
            execution_provider: ExecutionProvider::Cpu,
            ..opts.clone()
        };
        let (session, provider) =
            build_session(rt, model_bytes, &opts).map_err(|e| FaceError::Load(e.to_string()))?;
        // The same model with its input size free, so the search can run it on a whole frame at
        // a tile's scale.
        let model = crate::face_model::any_size(model_bytes)
            .map_err(|e| FaceError::Load(format!("not BlazeFace's layout: {e}")))?;
        let (any_size, _) =
            build_session(rt, &model, &opts).map_err(|e| FaceError::Load(e.to_string()))?;
        Ok(FaceDetector {
            session,
            any_size,
            provider,
            anchors: anchors(),
            input: vec![0.0; SIDE * SIDE * 3],
            canvas: Vec::new(),
        })
    }

    pub fn execution_provider(&self) -> ExecutionProvider {
        self.provider
    }

    /// Every face found in `frame` (in its pixels), best score first.
    pub fn detect(&mut self, frame: &RgbImage) -> Result<Vec<FaceBox>, FaceError> {
        let letterbox = self.fill_input(frame);
        Ok(self.run()?.iter().map(|b| letterbox.to_frame(b)).collect())
    }

    /// Faces inside the square `region` of `frame` (resized to the model's input), in the
    /// frame's pixels, best score first. Boxes touching a side of the region that is not also a
    /// side of the frame are dropped: they are faces cut in two, which a neighbouring or
    /// coarser region sees whole.
    pub fn detect_region(
        &mut self,
        frame: &RgbImage,
        region: CropRect,
    ) -> Result<Vec<FaceBox>, FaceError> {
        let square = (region.x, region.y, region.side, region.side);
        let Some(letterbox) = self.fill_input_from(frame.rgb(), square) else {
            return Ok(Vec::new());
        };
        let (x0, y0) = (region.x as f32, region.y as f32);
        let (x1, y1) = (x0 + region.side as f32, y0 + region.side as f32);
        let slack = region.side as f32 * EDGE_SLACK;
        let cut = |b: &FaceBox| {
            (b.x0 < x0 + slack && region.x > 0)
                || (b.y0 < y0 + slack && region.y > 0)
                || (b.x1 > x1 - slack && region.x + region.side < frame.width)
                || (b.y1 > y1 - slack && region.y + region.side < frame.height)
        };
        Ok(self
            .run()?
            .iter()
            .map(|b| letterbox.to_frame(b).shifted(x0, y0))
            .filter(|b| !cut(b))
            .collect())
    }

    /// Every face in `frame` resized to `width`×`height` (its aspect ratio as given, no
    /// letterbox) and run at that size, padded right and below to multiples of 16 with black: in
    /// the frame's pixels, best first. Costs about (padded pixels / 128²) runs of [`Self::detect`];
    /// the face search runs it instead of overlapping 128-px tiles ([`crate::face_search`]).
    pub fn detect_resized(
        &mut self,
        frame: &RgbImage,
        width: u32,
        height: u32,
    ) -> Result<Vec<FaceBox>, FaceError> {
        let whole = (0, 0, frame.width, frame.height);
        let Some(small) = resize_region(frame.rgb(), whole, width, height) else {
            return Ok(Vec::new());
        };
        let (cw, ch) = Self::padded(width, height);
        let mut input = std::mem::take(&mut self.canvas);
        input.clear();
        input.resize(cw as usize * ch as usize * 3, -1.0);
        let row = width as usize * 3;
        for (y, line) in small.data.chunks_exact(row).enumerate() {
            let start = y * cw as usize * 3;
            for (dst, &v) in input[start..start + row].iter_mut().zip(line) {
                *dst = f32::from(v) / 127.5 - 1.0;
            }
        }
        let anchors = anchors_for(cw, ch);
        let found = run_model(&mut self.any_size, &input, (cw, ch), &anchors);
        self.canvas = input;
        let (sx, sy) = (
            width as f32 / frame.width.max(1) as f32,
            height as f32 / frame.height.max(1) as f32,
        );
        Ok(found?
            .iter()
            .map(|b| b.scaled(1.0 / sx, 1.0 / sy))
            .collect())
    }

    /// The input size [`Self::detect_resized`] runs for a `width`×`height` image: each side
    /// rounded up to a multiple of 16.
    pub fn padded(width: u32, height: u32) -> (u32, u32) {
        (
            width.max(1).div_ceil(16) * 16,
            height.max(1).div_ceil(16) * 16,
        )
    }

    /// Runs the model on the filled 128-px input: merged boxes in input pixels, best first.
    fn run(&mut self) -> Result<Vec<FaceBox>, FaceError> {
        let side = SIDE as u32;
        run_model(&mut self.session, &self.input, (side, side), &self.anchors)
    }

    /// The largest face in `frame` (in its pixels), if any.
    pub fn largest_face(&mut self, frame: &RgbImage) -> Result<Option<FaceBox>, FaceError> {
        Ok(self
            .detect(frame)?
            .into_iter()
            .max_by(|a, b| a.area().total_cmp(&b.area())))
    }

    /// Letterboxes `frame` into the NHWC input, pixels scaled to [-1, 1], padding black.
    fn fill_input(&mut self, frame: &RgbImage) -> Letterbox {
        let whole = (0, 0, frame.width, frame.height);
        self.fill_input_from(frame.rgb(), whole)
            .unwrap_or_else(|| Letterbox::new(frame.width, frame.height, SIDE as u32))
    }

    /// [`Self::fill_input`] of the `(x, y, w, h)` region of `frame`, resampled straight from the
    /// frame (the same bytes as cropping it first); `None` when the region is empty or outside.
    fn fill_input_from(
        &mut self,
        frame: RgbView<'_>,
        (x, y, w, h): (u32, u32, u32, u32),
    ) -> Option<Letterbox> {
        let lb = Letterbox::new(w, h, SIDE as u32);
        let small = resize_region(frame, (x, y, w, h), lb.width, lb.height);
        self.input.fill(-1.0);
        let small = small?;
        let row = lb.width as usize * 3;
        for (y, line) in small.data.chunks_exact(row).enumerate() {
            let start = ((lb.offset_y as usize + y) * SIDE + lb.offset_x as usize) * 3;
            for (dst, &v) in self.input[start..start + row].iter_mut().zip(line) {
                *dst = f32::from(v) / 127.5 - 1.0;
            }
        }
        Some(lb)
    }
}

/// One model run on a `width`×`height` NHWC input scaled to [-1, 1]: the merged boxes in input
/// pixels, best first.
fn run_model(
    session: &mut Session,
    input: &[f32],
    (width, height): (u32, u32),
    anchors: &[[f32; 2]],
) -> Result<Vec<FaceBox>, FaceError> {
    let shape = [1usize, height as usize, width as usize, 3];
    let tensor =
        TensorRef::from_array_view((shape, input)).map_err(|e| FaceError::Run(e.to_string()))?;
    let outputs = session
        .run(ort::inputs![INPUT => tensor])
        .map_err(|e| FaceError::Run(e.to_string()))?;
    let mut scores = Vec::with_capacity(anchors.len());
    let mut boxes = Vec::with_capacity(anchors.len() * BOX_VALUES);
    for (score_name, box_name) in OUTPUTS {
        let read = |name: &str| {
            let value = outputs
                .get(name)
                .ok_or_else(|| FaceError::Output(format!("no output {name:?}")))?;
            value
                .try_extract_tensor::<f32>()
                .map(|(_, data)| data)
                .map_err(|e| FaceError::Output(format!("{name}: {e}")))
        };
        let s = read(score_name)?;
        let b = read(box_name)?;
        if b.len() != s.len() * BOX_VALUES {
            return Err(FaceError::Output(format!(
                "{} scores but {} box values",
                s.len(),
                b.len()
            )));
        }
        scores.extend_from_slice(s);
        boxes.extend_from_slice(b);
    }
    if scores.len() != anchors.len() {
        return Err(FaceError::Output(format!(
            "{} anchors scored, expected {}",
            scores.len(),
            anchors.len()
        )));
    }
    let found = decode_detections_sized(&scores, &boxes, anchors, SCORE_THRESHOLD, (width, height));
    Ok(weighted_nms(found, NMS_IOU))
}

/// Boxes for frames without a detection: the previous frame's box, else the next detected box;
/// `None` everywhere when no frame has one.
pub fn fill_gaps(found: &[Option<FaceBox>]) -> Vec<Option<FaceBox>> {
    let first = found.iter().flatten().next().copied();
    let mut last = first;
    found
        .iter()
        .map(|f| {
            if f.is_some() {
                last = *f;
            }
            last
        })
        .collect()
}

/// One video's face contexts (what the crop cache keeps; detectors' crops are cut from them,
/// [`crate::face_crop`]).
#[derive(Debug, Clone)]
pub struct FaceCrops {
    /// uint8 RGB squares, longer side at most the cap given to [`cut_crops`]: the face's
    /// context, or the centre square of a video without a face.
    pub images: Vec<RgbImage>,
    /// Whether the frame had a real detection (else its box is a fallback).
    pub detected: Vec<bool>,
    /// Where each context lies in its frame, with the face box; `None` for centre squares.
    pub contexts: Vec<Option<FaceContext>>,
    /// The square of a default manifest's crop ([`CROP_MARGIN`], or the centre square), in its
    /// source frame's pixels.
    pub rects: Vec<CropRect>,
}

impl FaceCrops {
    /// None.
    pub fn empty() -> FaceCrops {
        FaceCrops {
            images: Vec::new(),
            detected: Vec::new(),
            contexts: Vec::new(),
            rects: Vec::new(),
        }
    }

    /// `more` after these.
    pub fn append(&mut self, mut more: FaceCrops) {
        self.images.append(&mut more.images);
        self.detected.append(&mut more.detected);
        self.contexts.append(&mut more.contexts);
        self.rects.append(&mut more.rects);
    }

    /// Frames with a real detection.
    pub fn face_frames(&self) -> usize {
        self.detected.iter().filter(|&&d| d).count()
    }
}

/// The largest face in `frame` as fractions of its width and height (so the box applies to the
/// same frame at any size).
pub fn find_face(det: &mut FaceDetector, frame: &RgbImage) -> Result<Option<FaceBox>, FaceError> {
    let (w, h) = (frame.width.max(1) as f32, frame.height.max(1) as f32);
    Ok(det.largest_face(frame)?.map(|b| b.scaled(1.0 / w, 1.0 / h)))
}

/// [`find_face`] for each frame.
pub fn find_faces(
    det: &mut FaceDetector,
    frames: &[RgbImage],
) -> Result<Vec<Option<FaceBox>>, FaceError> {
    frames.iter().map(|f| find_face(det, f)).collect()
}

/// Cuts face crops frame by frame as a video is decoded, applying the fallback rule, so only the
/// leading frames without any box yet are held at full size.
pub struct FaceCropper {
    max_side: u32,
    /// The last real detection (fractions of the frame).
    last: Option<FaceBox>,
    /// Frames before the first detection, waiting for its box.
    waiting: Vec<RgbImage>,
    out: FaceCrops,
}

impl FaceCropper {
    /// Crops will be shrunk to at most `max_side`.
    pub fn new(max_side: u32) -> FaceCropper {
        FaceCropper {
            max_side,
            last: None,
            waiting: Vec::new(),
            out: FaceCrops::empty(),
        }
    }

    /// The next frame (at the size crops are cut from) and its face, as fractions of the frame.
    pub fn push(&mut self, frame: RgbImage, face: Option<FaceBox>) {
        if let Some(found) = face {
            self.last = Some(found);
            // Frames before the first detection take this, the next detected box.
            for early in std::mem::take(&mut self.waiting) {
                self.cut(&early, Some(found), false);
            }
        }
        match self.last {
            Some(b) => self.cut(&frame, Some(b), face.is_some()),
            None => self.waiting.push(frame),
        }
    }

    /// The crops cut since the last call, in frame order: every frame pushed so far but those
    /// still waiting for the first detection. What [`FaceCropper::finish`] returns then is the
    /// rest.
    pub fn take_cut(&mut self) -> FaceCrops {
        std::mem::replace(&mut self.out, FaceCrops::empty())
    }

    /// All crops (not taken yet), in frame order; frames of a video without any face get
    /// centre crops.
    pub fn finish(mut self) -> FaceCrops {
        for early in std::mem::take(&mut self.waiting) {
            self.cut(&early, None, false);
        }
        self.out
    }

    fn cut(&mut self, frame: &RgbImage, face: Option<FaceBox>, detected: bool) {
        let (w, h) = (frame.width, frame.height);
        let context = face.map(|b| FaceContext::around(b.scaled(w as f32, h as f32), w, h));
        let (area, rect) = match &context {
            Some(c) => (c.rect, c.crop_rect(CROP_MARGIN)),
            None => (centre_crop(w, h), centre_crop(w, h)),
        };
        let image = crop(frame, area.x, area.y, area.side, area.side)
            .map(|c| downscale_to(&c, self.max_side))
            .unwrap_or_else(|| downscale_to(frame, self.max_side));
        self.out.images.push(image);
        self.out.detected.push(detected);
        self.out.contexts.push(context);
        self.out.rects.push(rect);
    }
}

/// Cuts each frame's face crop given `faces` (fractions of the frame, from [`find_faces`]),
/// applying the fallback rule, and shrinks crops to at most `max_side`.
pub fn cut_crops(frames: &[RgbImage], faces: &[Option<FaceBox>], max_side: u32) -> FaceCrops {
    let mut cropper = FaceCropper::new(max_side);
    for (i, frame) in frames.iter().enumerate() {
        cropper.push(frame.clone(), faces.get(i).copied().flatten());
    }
    cropper.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::test_support::{face_detector, runtime, sample};

    fn b(x0: f32, y0: f32, x1: f32, y1: f32, score: f32) -> FaceBox {
        FaceBox {
            x0,
            y0,
            x1,
            y1,
            score,
            eyes: None,
        }
    }

    #[test]
    fn anchors_follow_the_blazeface_layout() {
        let a = anchors();
        assert_eq!(a.len(), 896);
        // Stride 8: cell (0, 0) twice, then cell (1, 0).
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], [1.5 / 16.0, 0.5 / 16.0]);
        // Last stride-8 anchor: cell (15, 15); first stride-16 one: cell (0, 0) of the 8x8 grid.
        assert_eq!(a[511], [15.5 / 16.0, 15.5 / 16.0]);
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[517], a[512]);
        assert_eq!(a[518], [1.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[895], [7.5 / 8.0, 7.5 / 8.0]);
    }

    #[test]
    fn decoding_offsets_boxes_from_their_anchor() {
        let anchors = [[0.25, 0.5], [0.75, 0.75]];
        let mut boxes = vec![0.0; 32];
        // Anchor 0: centre moved by (+12.8, -6.4) px = (+0.1, -0.05), size 32x16 px.
        boxes[..4].copy_from_slice(&[12.8, -6.4, 32.0, 16.0]);
        // Eyes: (+6.4, 0) and (-6.4, +12.8) px from the anchor centre (32, 64).
        boxes[4..8].copy_from_slice(&[6.4, 0.0, -6.4, 12.8]);
        // logit 0 -> 0.5 passes the threshold; -1 -> 0.27 does not.
        let found = decode_detections(&[0.0, -1.0], &boxes, &anchors, 0.5);
        assert_eq!(found.len(), 1);
        let f = found[0];
        // centre (0.35, 0.45) * 128 = (44.8, 57.6)
        assert!(
            (f.x0 - 28.8).abs() < 1e-4 && (f.x1 - 60.8).abs() < 1e-4,
            "{f:?}"
        );
        assert!(
            (f.y0 - 49.6).abs() < 1e-4 && (f.y1 - 65.6).abs() < 1e-4,
            "{f:?}"
        );
        assert_eq!(f.score, 0.5);
        let eyes = f.eyes.unwrap();
        for (got, want) in eyes.iter().zip([38.4, 64.0, 25.6, 76.8]) {
            assert!((got - want).abs() < 1e-4, "{eyes:?}");
        }
        // Huge logits are clipped, never NaN.
        assert_eq!(crate::face_box::sigmoid(1e30), 1.0);
        assert!(crate::face_box::sigmoid(-1e30) >= 0.0);
    }

    #[test]
    fn weighted_nms_merges_overlaps_by_score() {
        let merged = weighted_nms(
            vec![
                b(0.0, 0.0, 10.0, 10.0, 0.6),
                b(2.0, 0.0, 12.0, 10.0, 0.9),
                b(50.0, 50.0, 60.0, 60.0, 0.7),
            ],
            0.3,
        );
        assert_eq!(merged.len(), 2);
        // IoU of the first two = 80 / 120 = 0.67 > 0.3: x0 = (2 * 0.9 + 0 * 0.6) / 1.5 = 1.2.
        assert!((merged[0].x0 - 1.2).abs() < 1e-5, "{merged:?}");
        assert!((merged[0].x1 - 11.2).abs() < 1e-5);
        assert_eq!(merged[0].score, 0.9);
        // No eyes among them: none merged.
        assert_eq!(merged[0].eyes, None);
        assert!((merged[1].x0 - 50.0).abs() < 1e-4 && (merged[1].y1 - 60.0).abs() < 1e-4);
        assert_eq!(merged[1].score, 0.7);
        // Eyes average by score over the boxes that have them.
        let with = |x: f32, s: f32, eyes| FaceBox {
            eyes,
            ..b(x, 0.0, x + 10.0, 10.0, s)
        };
        let merged = weighted_nms(
            vec![
                with(0.0, 0.6, Some([2.0, 3.0, 6.0, 3.0])),
                with(2.0, 0.9, Some([4.0, 4.0, 8.0, 5.0])),
                with(1.0, 0.5, None),
            ],
            0.3,
        );
        let eyes = merged[0].eyes.unwrap();
        // x of the right eye: (4 * 0.9 + 2 * 0.6) / 1.5 = 3.2.
        for (got, want) in eyes.iter().zip([3.2, 3.6, 7.2, 4.2]) {
            assert!((got - want).abs() < 1e-5, "{eyes:?}");
        }
    }

    #[test]
    fn letterbox_round_trips_boxes() {
        let lb = Letterbox::new(320, 240, 128);
        assert_eq!(
            (lb.width, lb.height, lb.offset_x, lb.offset_y),
            (128, 96, 0, 16)
        );
        // Frame box (80, 40)-(160, 120) -> input (32, 32)-(64, 64) -> back.
        let back = lb.to_frame(&b(32.0, 32.0, 64.0, 64.0, 1.0));
        let want = [80.0, 40.0, 160.0, 120.0];
        for (got, want) in [back.x0, back.y0, back.x1, back.y1].iter().zip(want) {
            assert!((got - want).abs() < 1e-3, "{back:?}");
        }
    }

    #[test]
    fn square_crops_are_clamped_inside_the_frame() {
        // 40x60 box centred at (100, 100): side 1.3 * 60 = 78, at (61, 61).
        let face = b(80.0, 70.0, 120.0, 130.0, 1.0);
        assert_eq!(
            square_crop(&face, 320, 240, 1.3),
            CropRect {
                x: 61,
                y: 61,
                side: 78
            }
        );
        // Near the right edge: shifted left so it ends at the border.
        let edge = b(300.0, 100.0, 320.0, 120.0, 1.0);
        assert_eq!(
            square_crop(&edge, 320, 240, 1.3),
            CropRect {
                x: 294,
                y: 97,
                side: 26
            }
        );
        // Larger than the frame's shorter side: shrunk to it.
        let big = b(0.0, 0.0, 300.0, 300.0, 1.0);
        assert_eq!(
            square_crop(&big, 320, 240, 1.3),
            CropRect {
                x: 30,
                y: 0,
                side: 240
            }
        );
        assert_eq!(
            centre_crop(320, 240),
            CropRect {
                x: 40,
                y: 0,
                side: 240
            }
        );
    }

    #[test]
    fn gaps_take_the_previous_box_else_the_next() {
        let f1 = b(1.0, 1.0, 2.0, 2.0, 1.0);
        let f2 = b(5.0, 5.0, 6.0, 6.0, 1.0);
        let filled = fill_gaps(&[None, None, Some(f1), None, Some(f2), None]);
        assert_eq!(
            filled,
            vec![Some(f1), Some(f1), Some(f1), Some(f1), Some(f2), Some(f2)]
        );
        assert_eq!(fill_gaps(&[None, None]), vec![None, None]);
    }

    #[test]
    fn the_cropper_applies_the_fallbacks_in_frame_order() {
        // 10x10 frames whose pixels all hold the frame number; a box at the left or right edge.
        let frame = |n: u8| RgbImage {
            width: 10,
            height: 10,
            data: vec![n; 300],
        };
        let left = b(0.0, 0.4, 0.2, 0.6, 0.9);
        let right = b(0.8, 0.4, 1.0, 0.6, 0.9);
        let crops = cut_crops(
            &[frame(0), frame(1), frame(2), frame(3), frame(4)],
            &[None, None, Some(left), None, Some(right)],
            512,
        );
        assert_eq!(crops.detected, vec![false, false, true, false, true]);
        assert_eq!(crops.face_frames(), 2);
        // Frames 0-1 take the next detected box (left), frame 3 the previous one (left).
        let xs: Vec<u32> = crops.rects.iter().map(|r| r.x).collect();
        assert_eq!(xs, vec![0, 0, 0, 0, 7]);
        let firsts: Vec<u8> = crops.images.iter().map(|i| i.data[0]).collect();
        assert_eq!(firsts, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn videos_without_faces_get_centre_crops() {
        let frame = RgbImage {
            width: 8,
            height: 4,
            data: (0..96).map(|v| v as u8).collect(),
        };
        let crops = cut_crops(&[frame.clone(), frame], &[None, None], 512);
        assert_eq!(crops.face_frames(), 0);
        assert_eq!(
            crops.rects[0],
            CropRect {
                x: 2,
                y: 0,
                side: 4
            }
        );
        assert_eq!((crops.images[1].width, crops.images[1].height), (4, 4));
        // Pixel (0, 0) of the crop is pixel (2, 0) of the frame.
        assert_eq!(crops.images[0].pixel(0, 0), Some([6, 7, 8]));
    }

    // --- the real model on a real face ---------------------------------------------------------

    /// Where datasets/fixtures/make_face_clip.py pastes the astronaut's head in frame `i`.
    fn known_face_centre(i: u64) -> (f32, f32) {
        const PATCH: f32 = 120.0;
        let patch_x = (10.0 + i as f32 * (320.0 - PATCH - 20.0) / 11.0).round();
        (patch_x + 60.0, 60.0 + 74.0)
    }

    #[test]
    fn finds_the_astronaut_in_every_frame_and_the_crop_follows_her() {
        let sampled = sample("face_moving.mp4", 12, 512).unwrap();
        assert_eq!(sampled.indices, (0..12).collect::<Vec<_>>());
        let mut det = face_detector();
        let faces = find_faces(&mut det, &sampled.frames).unwrap();
        let crops = cut_crops(&sampled.frames, &faces, 512);
        assert_eq!(crops.face_frames(), 12, "{faces:?}");
        let mut offsets = Vec::new();
        for ((rect, &i), face) in crops.rects.iter().zip(&sampled.indices).zip(&faces) {
            let (cx, cy) = rect.centre();
            let (kx, ky) = known_face_centre(i);
            assert!(
                (cx - kx).abs() < 8.0 && (cy - ky).abs() < 8.0,
                "frame {i}: crop centre ({cx}, {cy}) vs face at ({kx}, {ky}); {face:?}"
            );
            // The head patch is 120 px; a face box of 60-110 px, times the margin.
            assert!(
                (75..=150).contains(&rect.side),
                "frame {i}: side {}",
                rect.side
            );
            offsets.push(cx - kx);
        }
        // The crop moves with the face: its offset from the face varies by a few pixels at most.
        let spread = offsets.iter().copied().fold(f32::NEG_INFINITY, f32::max)
            - offsets.iter().copied().fold(f32::INFINITY, f32::min);
        assert!(spread < 6.0, "{offsets:?}");
    }

    #[test]
    fn a_faceless_frame_has_no_detection() {
        let frames = sample("real_1.mp4", 4, 512).unwrap().frames;
        let mut det = face_detector();
        assert_eq!(det.execution_provider(), ExecutionProvider::Cpu);
        for f in &frames {
            assert!(det.detect(f).unwrap().is_empty());
        }
    }

    #[test]
    fn a_missing_model_is_reported_as_ours() {
        let e = FaceDetector::load(
            &runtime(),
            Path::new("/nonexistent/blazeface.onnx"),
            &SessionOptions::default(),
        )
        .err()
        .unwrap();
        assert_eq!(e.code(), "face_model_unavailable");
        assert!(!e.is_client_error());
    }
}
