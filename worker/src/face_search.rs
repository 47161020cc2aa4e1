//! Finding one subject's face in every sampled frame, small faces included.
//!
//! BlazeFace's short-range model sees its input at 128×128, so a face under ~15 % of the
//! frame's longer side is a few pixels to it when the whole frame is letterboxed. Per frame:
//!
//! 1. **Tracked small face**: when the subject's face is small, one model run on a square of
//!    [`ROI_FACTOR`] × its size around the last box (also after a miss: a face turned away comes
//!    back where it was); done if it finds the subject again.
//! 2. **Whole frame** (the small frame, letterboxed; what the worker did before step 3): done if a
//!    face is at least [`TRUST_INPUT_PX`] tall in the model's input and scores at least
//!    [`CONFIDENT_SCORE`], so close-ups cost one run and their crops are unchanged.
//! 3. **The search at tile scales**, only when step 2 found nothing that large, and only on the
//!    frame where a *sure* subject (seen at least once scoring [`CONFIDENT_SCORE`]) was just lost
//!    or, else, when [`search_gap`] sampled frames have passed since the last search (the first
//!    frame included; [`SEARCH_EVERY`], doubling after each search that found no sure face, up
//!    to [`MAX_SEARCH_GAP`]): the whole frame resized to 128 / S of its size, for
//!    S = the frame's shorter side, S/2, S/4, … down to [`FINE_TILE`], coarse to fine, each in one
//!    model run ([`FaceDetector::detect_resized`]: the model made size-free,
//!    [`crate::face_model`]), so a face is as many input pixels as in an S-px tile of the frame;
//!    the first S that finds a face scoring ≥ [`CONFIDENT_SCORE`] ends the search (a coarser S
//!    sees the larger faces). The boxes of every S searched merge by the same weighted NMS, and
//!    when some are confident only those are kept.
//!
//! Cost: until `FACE_DETECTOR_VERSION` 4 step 3 ran the model on overlapping square tiles (half a
//! side apart, ~120 runs at 1080p); one run over the resized frame sees every place once instead
//! of about four times, and needs no rule for faces cut by a tile's edge. A tracked region
//! spanning at least [`SMALL_SOURCE_PX`] of the small frame is read from it ([`small_region`]),
//! and every region is resampled straight from its source frame, without a copy.
//!
//! Faceless videos: a textured background gives unsure boxes (0.5–0.6) at the coarse scales.
//! Until `FACE_DETECTOR_VERSION` 6 such a box became the subject, and losing it searched again at
//! once, so a faceless 1080p clip cost 3–4 runs (16–25 × 128² of input) per sampled frame; now
//! only a sure subject's loss searches at once, and fruitless searches come 8, 16, 32 frames
//! apart (a face appearing later is found by the next search, or at once by the whole-frame pass
//! when it is large).
//!
//! One subject per video: the largest face of the first frame with one, then in each frame the
//! face continuing the track ([`continues`]: IoU ≥ [`TRACK_IOU`], or a centre within
//! [`TRACK_REACH`] × the box size at a similar size). A frame where the subject is not found is
//! a miss (the crop reuses the track's box); after [`REACQUIRE_AFTER`] misses in a row the largest
//! face in view becomes the subject.
//!
//! Why not a full-range model: no registry package ships one as ONNX (npm
//! `@mediapipe/face_detection` ships TFLite only; the PyPI YuNet wrappers `alchemyface` and
//! `detekface` download their ONNX at run time), so the bootstrap's BlazeFace is tiled instead.

use crate::face_box::SIDE;
use crate::faces::{CropRect, FaceBox, FaceDetector, FaceError, NMS_IOU, weighted_nms};
use crate::media::RgbImage;

/// A face at least this many pixels tall in the whole-frame pass (128-px input) is found
/// reliably there; smaller ones send the frame to the search. (The demo's and the baselines'
/// 320×240 close-ups have faces of 23–30 input pixels: they stay on the whole-frame pass, so
/// their crops are the ones the baselines were trained on.)
pub const TRUST_INPUT_PX: f32 = 20.0;
/// Smallest tile side (search scale), in large-frame pixels: frames whose shorter side is below
/// it get no search.
pub const MIN_TILE: u32 = 160;
/// The finest search scale (tile side): a 40-px face is 19 input pixels at 128 / 270 of the frame,
/// which BlazeFace finds (the benchmark's 43-px faces at 1080p, 720p and 480p); halving stops here.
pub const FINE_TILE: u32 = 270;
/// Side of the square searched around a tracked small face, over the face's longer side: wide
/// enough for a face that moved a face height between sampled frames (21 input px at 6x).
pub const ROI_FACTOR: f32 = 6.0;
/// IoU with the track's box above which a face continues the track.
pub const TRACK_IOU: f32 = 0.1;
/// Else: centre distance within this × the track box's longer side, at 0.5–2× its size.
pub const TRACK_REACH: f32 = 3.0;
/// A tile detection at least this sure ends the search at its tile side, and when there is one,
/// the less sure ones (textured backgrounds at coarse sides score 0.5–0.6) are dropped.
pub const CONFIDENT_SCORE: f32 = 0.75;
/// Frames in a row without the subject after which the largest face in view takes over.
pub const REACQUIRE_AFTER: u32 = 2;
/// A region (tracked square or tile) is read from the small frame when it still spans at least
/// this many of its pixels (the model's input side: never upsampled), else from the large one:
/// resampling a 972-px square of a 1080p frame into the 128-px input cost more than the model.
pub const SMALL_SOURCE_PX: u32 = 128;
/// While no subject is followed (none found yet, or lost for more than one frame), the search
/// run on one sampled frame in this many; the frames between get the whole-frame pass and, when
/// a subject was followed before, the region around its last box.
pub const SEARCH_EVERY: u32 = 8;
/// The longest gap between two searches that find no sure face: [`SEARCH_EVERY`] doubles after
/// each such search, up to this.
pub const MAX_SEARCH_GAP: u32 = 32;

/// Sampled frames between searches after `fruitless` searches in a row found no sure face (see
/// the module docs): 8, 8, 16, 32, 32, …
pub fn search_gap(fruitless: u32) -> u32 {
    let doublings = fruitless.saturating_sub(1).min(8);
    (SEARCH_EVERY << doublings).min(MAX_SEARCH_GAP)
}

/// Tile sides (search scales) for a `width`×`height` frame, coarse to fine: the shorter side S,
/// then halves, the last one raised to [`FINE_TILE`] (720p: 720, 360, 270 rather than 180).
pub fn tile_sides(width: u32, height: u32) -> Vec<u32> {
    let mut side = width.min(height);
    let mut out = Vec::new();
    while side >= MIN_TILE {
        out.push(side);
        if side <= FINE_TILE {
            break;
        }
        side = (side / 2).max(FINE_TILE);
    }
    out
}

/// The size a `width`×`height` frame is resized to for the search at tile side `side`: 128 /
/// `side` of each side, rounded (at least 1 px).
pub fn search_size(width: u32, height: u32, side: u32) -> (u32, u32) {
    let f = SIDE as f64 / f64::from(side.max(1));
    let at = |v: u32| ((f64::from(v) * f).round() as u32).max(1);
    (at(width), at(height))
}

/// Faces found by the search at tile side `side` (large-frame pixels): the frame resized by
/// [`search_size`], read from the small frame when that is still at least as large.
fn detect_at_scale(
    det: &mut FaceDetector,
    small: &RgbImage,
    large: &RgbImage,
    side: u32,
) -> Result<Vec<FaceBox>, FaceError> {
    let (w, h) = search_size(large.width, large.height, side);
    if small.width >= w && small.height >= h && small.width < large.width {
        let (sx, sy) = (
            large.width as f32 / small.width as f32,
            large.height as f32 / small.height as f32,
        );
        return Ok(det
            .detect_resized(small, w, h)?
            .iter()
            .map(|b| b.scaled(sx, sy))
            .collect());
    }
    det.detect_resized(large, w, h)
}

/// The square of `factor` × the box's longer side around its centre, inside the frame.
fn region_around(b: &FaceBox, width: u32, height: u32, factor: f32) -> CropRect {
    crate::faces::square_crop(b, width, height, factor)
}

/// `region` of the large frame (`large` = its width, height) in the small frame's pixels
/// (`small`), when it spans at least [`SMALL_SOURCE_PX`] there: a square of the scaled side, at
/// the scaled position, flush with each frame edge the region is flush with (so the tile's edge
/// rule sees the same frame edges).
pub fn small_region(region: CropRect, large: (u32, u32), small: (u32, u32)) -> Option<CropRect> {
    let ((lw, lh), (sw, sh)) = (large, small);
    if sw >= lw || sh >= lh || lw == 0 || lh == 0 {
        return None;
    }
    let (fx, fy) = (f64::from(sw) / f64::from(lw), f64::from(sh) / f64::from(lh));
    let side = ((f64::from(region.side) * fx).round() as u32).min(sw.min(sh));
    if side < SMALL_SOURCE_PX {
        return None;
    }
    let place = |start: u32, extent: u32, f: f64, small_extent: u32| {
        let max = small_extent - side;
        if start + region.side >= extent {
            max
        } else {
            ((f64::from(start) * f).round() as u32).min(max)
        }
    };
    Some(CropRect {
        x: place(region.x, lw, fx, sw),
        y: place(region.y, lh, fy, sh),
        side,
    })
}

/// Faces in the square `region` of the large frame (its pixels), read from the small frame
/// where [`small_region`] allows, else from the large one.
fn detect_square(
    det: &mut FaceDetector,
    small: &RgbImage,
    large: &RgbImage,
    region: CropRect,
) -> Result<Vec<FaceBox>, FaceError> {
    let sizes = ((large.width, large.height), (small.width, small.height));
    let Some(rect) = small_region(region, sizes.0, sizes.1) else {
        return det.detect_region(large, region);
    };
    let (sx, sy) = (
        large.width as f32 / small.width as f32,
        large.height as f32 / small.height as f32,
    );
    Ok(det
        .detect_region(small, rect)?
        .iter()
        .map(|b| b.scaled(sx, sy))
        .collect())
}

/// Whether `candidate` continues the track whose last box is `track` (same units).
pub fn continues(track: &FaceBox, candidate: &FaceBox) -> bool {
    if track.iou(candidate) >= TRACK_IOU {
        return true;
    }
    let size = |b: &FaceBox| b.width().max(b.height());
    let ratio = size(candidate) / size(track).max(f32::EPSILON);
    let ((tx, ty), (cx, cy)) = (track.centre(), candidate.centre());
    let distance = ((tx - cx).powi(2) + (ty - cy).powi(2)).sqrt();
    (0.5..=2.0).contains(&ratio) && distance <= TRACK_REACH * size(track)
}

/// The candidate continuing the track best, confident ones ([`CONFIDENT_SCORE`]) first.
fn best_match(track: &FaceBox, candidates: &[FaceBox]) -> Option<FaceBox> {
    let sure: Vec<FaceBox> = candidates
        .iter()
        .filter(|b| b.score >= CONFIDENT_SCORE)
        .copied()
        .collect();
    best_continuing(track, &sure).or_else(|| best_continuing(track, candidates))
}

/// The candidate continuing the track best: highest IoU, else nearest centre.
fn best_continuing(track: &FaceBox, candidates: &[FaceBox]) -> Option<FaceBox> {
    let dist = |b: &FaceBox| {
        let ((tx, ty), (cx, cy)) = (track.centre(), b.centre());
        (tx - cx).powi(2) + (ty - cy).powi(2)
    };
    candidates
        .iter()
        .filter(|c| continues(track, c))
        .max_by(|a, b| {
            track
                .iou(a)
                .total_cmp(&track.iou(b))
                .then(dist(b).total_cmp(&dist(a)))
        })
        .copied()
}

fn largest(candidates: &[FaceBox]) -> Option<FaceBox> {
    candidates
        .iter()
        .max_by(|a, b| a.area().total_cmp(&b.area()))
        .copied()
}

/// Follows one subject through a video's sampled frames (see the module docs).
#[derive(Debug, Default)]
pub struct FaceFinder {
    /// The subject's last box, in fractions of the frame.
    track: Option<FaceBox>,
    /// Whether the subject followed was seen at least once scoring [`CONFIDENT_SCORE`].
    sure: bool,
    misses: u32,
    /// Searches in a row that found no sure face.
    fruitless: u32,
    /// Sampled frames since the search at tile scales last ran (`None`: not yet).
    since_tiles: Option<u32>,
    /// Face-model runs so far (the cost of the search).
    pub runs: u64,
    /// Model input pixels over those runs (a 128-px run counts 128²): the runs at tile scales
    /// cost in proportion to their size.
    pub input_px: u64,
}

impl FaceFinder {
    pub fn new() -> FaceFinder {
        FaceFinder::default()
    }

    /// The subject's face in this frame as fractions of it, or `None` (no face, or not the
    /// subject's). `small` and `large` are the same frame at two sizes: the whole-frame pass reads
    /// `small`, the search at tile scales and the tracked region read whichever is enough.
    pub fn find(
        &mut self,
        det: &mut FaceDetector,
        small: &RgbImage,
        large: &RgbImage,
    ) -> Result<Option<FaceBox>, FaceError> {
        let (w, h) = (large.width.max(1) as f32, large.height.max(1) as f32);
        let to_large = |b: &FaceBox| b.scaled(w, h);
        let to_frac = |b: &FaceBox| b.scaled(1.0 / w, 1.0 / h);
        if let Some(n) = self.since_tiles.as_mut() {
            *n += 1;
        }
        let track = self.track.map(|t| to_large(&t));
        if let Some(t) = track.filter(|t| !self.trusted(t, large)) {
            let region = region_around(&t, large.width, large.height, ROI_FACTOR);
            self.runs += 1;
            self.input_px += (SIDE * SIDE) as u64;
            let near = detect_square(det, small, large, region)?;
            if let Some(m) = best_match(&t, &near) {
                return Ok(Some(self.follow(to_frac(&m))));
            }
        }
        // The search runs at once when the sure subject followed until the last frame is not
        // found again; else when search_gap frames have passed since the last one.
        let just_lost = self.track.is_some() && self.misses == 0 && self.sure;
        let gap = search_gap(self.fruitless);
        let tiles = just_lost || self.since_tiles.is_none_or(|n| n >= gap);
        let candidates: Vec<FaceBox> = self
            .search(det, small, large, tiles)?
            .iter()
            .map(to_frac)
            .collect();
        let Some(t) = self.track else {
            return Ok(largest(&candidates).map(|b| self.start(b)));
        };
        let scale = |b: &FaceBox| to_large(b);
        let large_candidates: Vec<FaceBox> = candidates.iter().map(scale).collect();
        if let Some(m) = best_match(&to_large(&t), &large_candidates) {
            return Ok(Some(self.follow(to_frac(&m))));
        }
        self.misses += 1;
        if self.misses > REACQUIRE_AFTER {
            return Ok(largest(&candidates).map(|b| self.start(b)));
        }
        Ok(None)
    }

    /// `b` continues the subject's track.
    fn follow(&mut self, b: FaceBox) -> FaceBox {
        self.track = Some(b);
        self.misses = 0;
        if b.score >= CONFIDENT_SCORE {
            self.sure = true;
            self.fruitless = 0;
        }
        b
    }

    /// `b` becomes the subject.
    fn start(&mut self, b: FaceBox) -> FaceBox {
        self.sure = false;
        self.follow(b)
    }

    /// Whether a box (large-frame pixels) is large enough for the whole-frame pass.
    fn trusted(&self, b: &FaceBox, large: &RgbImage) -> bool {
        let longer = large.width.max(large.height).max(1) as f32;
        b.width().max(b.height()) * 128.0 / longer >= TRUST_INPUT_PX
    }

    /// Every face the whole-frame pass and, where needed and `tiles` allows, the search at tile
    /// scales finds
    /// (large-frame pixels).
    fn search(
        &mut self,
        det: &mut FaceDetector,
        small: &RgbImage,
        large: &RgbImage,
        tiles: bool,
    ) -> Result<Vec<FaceBox>, FaceError> {
        let (sx, sy) = (
            large.width as f32 / small.width.max(1) as f32,
            large.height as f32 / small.height.max(1) as f32,
        );
        self.runs += 1;
        self.input_px += (SIDE * SIDE) as u64;
        let whole: Vec<FaceBox> = det
            .detect(small)?
            .iter()
            .map(|b| b.scaled(sx, sy))
            .collect();
        // A large but unsure box is a textured background as often as a face: the search decides.
        if whole
            .iter()
            .any(|b| self.trusted(b, large) && b.score >= CONFIDENT_SCORE)
            || !tiles
        {
            return Ok(whole);
        }
        self.since_tiles = Some(0);
        let mut found = Vec::new();
        for side in tile_sides(large.width, large.height) {
            self.runs += 1;
            let (w, h) = search_size(large.width, large.height, side);
            let (pw, ph) = FaceDetector::padded(w, h);
            self.input_px += u64::from(pw) * u64::from(ph);
            found.extend(detect_at_scale(det, small, large, side)?);
            if found.iter().any(|b| b.score >= CONFIDENT_SCORE) {
                break;
            }
        }
        if !found.iter().any(|b| b.score >= CONFIDENT_SCORE) {
            self.fruitless += 1;
        }
        if found.is_empty() {
            return Ok(whole);
        }
        let merged = weighted_nms(found, NMS_IOU);
        let confident: Vec<FaceBox> = merged
            .iter()
            .filter(|b| b.score >= CONFIDENT_SCORE)
            .copied()
            .collect();
        Ok(if confident.is_empty() {
            merged
        } else {
            confident
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn b(x0: f32, y0: f32, x1: f32, y1: f32) -> FaceBox {
        FaceBox {
            x0,
            y0,
            x1,
            y1,
            score: 0.9,
            eyes: None,
        }
    }

    #[test]
    fn the_search_runs_at_tile_scales_coarse_to_fine() {
        assert_eq!(tile_sides(1920, 1080), vec![1080, 540, 270]);
        assert_eq!(tile_sides(640, 480), vec![480, 270]);
        assert_eq!(tile_sides(1280, 720), vec![720, 360, 270]);
        assert_eq!(tile_sides(1920, 1920), vec![1920, 960, 480, 270]);
        assert_eq!(tile_sides(320, 240), vec![240]);
        assert_eq!(tile_sides(64, 64), Vec::<u32>::new());
        // A 270-px tile's scale: 1920×1080 at 128/270, a 43-px face ~20 input pixels.
        assert_eq!(search_size(1920, 1080, 270), (910, 512));
        assert_eq!(FaceDetector::padded(910, 512), (912, 512));
        assert_eq!(search_size(1920, 1080, 1080), (228, 128));
        assert_eq!(search_size(854, 480, 270), (405, 228));
        assert_eq!(FaceDetector::padded(405, 228), (416, 240));
    }

    #[test]
    fn large_regions_are_read_from_the_small_frame() {
        let (large, small) = ((1920, 1080), (512, 288));
        let r = |x, y, side| CropRect { x, y, side };
        // 540 px = 144 small px: from the small frame, at the scaled place.
        assert_eq!(
            small_region(r(270, 270, 540), large, small),
            Some(r(72, 72, 144))
        );
        // Flush with the right and bottom edges in the large frame: flush there too.
        assert_eq!(
            small_region(r(1380, 540, 540), large, small),
            Some(r(368, 144, 144))
        );
        // 270 px = 72 small px: too few, read from the large frame.
        assert_eq!(small_region(r(0, 0, 270), large, small), None);
        // A frame no larger than the small one: nothing to gain.
        assert_eq!(small_region(r(0, 0, 240), (320, 240), (320, 240)), None);
    }

    #[test]
    fn the_track_continues_by_overlap_or_nearby_centre() {
        let track = b(100.0, 100.0, 160.0, 160.0);
        // Overlapping.
        assert!(continues(&track, &b(120.0, 110.0, 180.0, 170.0)));
        // Moved a box width to the right: no overlap, but near and the same size.
        assert!(continues(&track, &b(165.0, 100.0, 225.0, 160.0)));
        // Far away, or the same place at three times the size.
        assert!(!continues(&track, &b(400.0, 100.0, 460.0, 160.0)));
        assert!(!continues(&track, &b(160.0, 160.0, 400.0, 400.0)));
        let two = [b(400.0, 90.0, 520.0, 210.0), b(110.0, 105.0, 170.0, 165.0)];
        assert_eq!(best_match(&track, &two), Some(two[1]));
        assert_eq!(largest(&two), Some(two[0]));
    }

    // --- the real model on committed clips ------------------------------------------------------

    use crate::detector::SessionOptions;
    use crate::faces::{FaceCropper, FaceCrops, model_path};
    use crate::test_support::{decode_lock, runtime, video};

    fn detector() -> FaceDetector {
        FaceDetector::load(&runtime(), &model_path(None), &SessionOptions::default()).unwrap()
    }

    /// The worker's prepare rule (pipeline::prepare_frames) on a fixture: the chosen boxes
    /// (fractions), the crops, the large frames' size, and the model runs it took.
    fn prepare(name: &str, k: usize) -> (Vec<Option<FaceBox>>, FaceCrops, (u32, u32), u64) {
        let _guard = decode_lock();
        let mut det = detector();
        let mut finder = FaceFinder::new();
        let mut cropper = FaceCropper::new(512);
        let mut faces = Vec::new();
        let mut size = (0, 0);
        crate::media::sample_frames_each(&video(name), k, &[1920, 512], |_, mut images| {
            let (small, large) = (images.pop().unwrap(), images.pop().unwrap());
            size = (large.width, large.height);
            let face = finder.find(&mut det, &small, &large)?;
            faces.push(face);
            cropper.push(large, face);
            Ok::<(), crate::pipeline::JobError>(())
        })
        .unwrap();
        (faces, cropper.finish(), size, finder.runs)
    }

    #[test]
    fn rotated_flipped_and_anamorphic_clips_give_the_upright_crops() {
        let (_, upright, _, runs) = prepare("face_moving.mp4", 12);
        assert_eq!(upright.face_frames(), 12);
        // Close-ups: one whole-frame run per frame.
        assert_eq!(runs, 12);
        for name in ["face_rot90.mp4", "face_hflip.mp4", "face_anamorphic.mp4"] {
            let (_, crops, size, _) = prepare(name, 12);
            assert_eq!(size, (320, 240), "{name}");
            assert_eq!(crops.face_frames(), 12, "{name}");
            for (i, (r, u)) in crops.rects.iter().zip(&upright.rects).enumerate() {
                let (a, b) = (r.centre(), u.centre());
                assert!(
                    (a.0 - b.0).abs() <= 3.0 && (a.1 - b.1).abs() <= 3.0,
                    "{name} frame {i}: {r:?} vs upright {u:?}"
                );
                assert!(
                    r.side.abs_diff(u.side) <= 4,
                    "{name} frame {i}: {r:?} vs {u:?}"
                );
            }
        }
    }

    #[test]
    fn without_a_face_the_searches_come_further_apart() {
        assert_eq!(
            (0..6).map(search_gap).collect::<Vec<_>>(),
            vec![8, 8, 16, 32, 32, 32]
        );
        let grey = |width: u32, height: u32| RgbImage {
            width,
            height,
            data: vec![128; (width * height * 3) as usize],
        };
        let (small, large) = (grey(512, 288), grey(1920, 1080));
        let per_search = tile_sides(1920, 1080).len() as u64;
        let mut det = detector();
        let mut finder = FaceFinder::new();
        let mut searched = Vec::new();
        for i in 0..60 {
            let before = finder.runs;
            assert_eq!(finder.find(&mut det, &small, &large).unwrap(), None);
            if finder.runs - before > 1 {
                assert_eq!(finder.runs - before, 1 + per_search, "frame {i}");
                searched.push(i);
            }
        }
        // One whole-frame run per frame; the search on frames 0, 8 (SEARCH_EVERY), then 16 and
        // 32 frames later, then every 32.
        assert_eq!(searched, vec![0, 8, 24, 56]);
    }

    /// Where make_display_clips.py puts person A's face centre in frame `i` of
    /// two_faces_1080p.mp4 (a 120-px head patch at (300 + 60 i, 420); the face centre is at
    /// (60, 74) inside it, as in face_moving.mp4).
    fn person_a(i: usize) -> (f32, f32) {
        (300.0 + 60.0 * i as f32 + 60.0, 420.0 + 74.0)
    }

    #[test]
    fn a_small_face_at_1080p_is_found_in_every_frame_and_followed_past_a_larger_one() {
        let (faces, crops, size, runs) = prepare("two_faces_1080p.mp4", 8);
        assert_eq!(size, (1920, 1080));
        assert_eq!(crops.face_frames(), 8, "{faces:?}");
        for (i, rect) in crops.rects.iter().enumerate() {
            let (cx, cy) = rect.centre();
            let (ax, ay) = person_a(i);
            assert!(
                (cx - ax).abs() < 10.0 && (cy - ay).abs() < 10.0,
                "frame {i}: crop centre ({cx}, {cy}), person A at ({ax}, {ay}); {rect:?}"
            );
            // A's face is ~64 px tall: the crop is 1.3 x its box.
            assert!((60..=120).contains(&rect.side), "frame {i}: {rect:?}");
        }
        // The search ran where needed, not on every frame: once to find A (the whole frame, then
        // one run per tile scale), then one run per frame around her.
        assert!(runs < 8 * 2, "{runs} model runs");
        // Without the search the face is a few pixels in the 128-px input: not found at all.
        let _guard = decode_lock();
        let small = crate::media::sample_frames(&video("two_faces_1080p.mp4"), 8, 512).unwrap();
        drop(_guard);
        let mut det = detector();
        let whole = crate::faces::find_faces(&mut det, &small.frames).unwrap();
        assert!(whole.iter().all(Option::is_none), "{whole:?}");
        // In the last frame person B's face is the larger one: a search without the track
        // picks her, so following A is the tracker's doing.
        let last =
            crate::media::sample_frames_sized(&video("two_faces_1080p.mp4"), 8, &[1920, 512])
                .unwrap();
        let mut fresh = FaceFinder::new();
        let b = fresh
            .find(&mut det, &last.sizes[1][7], &last.sizes[0][7])
            .unwrap()
            .unwrap();
        let (bx, _) = b.scaled(1920.0, 1080.0).centre();
        assert!(bx > 1150.0, "{b:?}");
    }
}
