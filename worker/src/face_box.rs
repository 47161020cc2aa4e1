//! Face boxes and BlazeFace's output decoding: the anchors, the per-anchor boxes and keypoints,
//! weighted NMS, where a frame lies in the letterboxed model input, and the square crops cut
//! around a box ([`CropRect`], [`square_crop`], [`centre_crop`]). Pure arithmetic, no model
//! session ([`crate::faces::FaceDetector`] runs the model).

/// Side of the model's square input.
pub(crate) const SIDE: usize = 128;
/// Raw logits are clipped to ±this before the sigmoid, like MediaPipe's `score_clipping_thresh`.
const LOGIT_CLIP: f32 = 100.0;
/// Values per anchor in a box output: box (dx, dy, w, h) then six (x, y) keypoints.
pub(crate) const BOX_VALUES: usize = 16;

/// An axis-aligned face box; units depend on the context (model input pixels, frame pixels, or
/// fractions of the frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    pub score: f32,
    /// BlazeFace's first two keypoints, in the box's units: the subject's right eye (x, y)
    /// (on the image's left in an upright face), then the left eye. `None` for boxes made by hand.
    pub eyes: Option<[f32; 4]>,
}

impl FaceBox {
    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn centre(&self) -> (f32, f32) {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }

    pub fn iou(&self, other: &FaceBox) -> f32 {
        let w = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let h = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// The box with x multiplied by `sx` and y by `sy`.
    pub fn scaled(&self, sx: f32, sy: f32) -> FaceBox {
        self.mapped(|x| x * sx, |y| y * sy)
    }

    /// The box moved by (`dx`, `dy`).
    pub fn shifted(&self, dx: f32, dy: f32) -> FaceBox {
        self.mapped(|x| x + dx, |y| y + dy)
    }

    /// The box (and its eyes) with `fx` applied to every x and `fy` to every y.
    pub fn mapped(&self, fx: impl Fn(f32) -> f32, fy: impl Fn(f32) -> f32) -> FaceBox {
        FaceBox {
            x0: fx(self.x0),
            y0: fy(self.y0),
            x1: fx(self.x1),
            y1: fy(self.y1),
            score: self.score,
            eyes: self
                .eyes
                .map(|[rx, ry, lx, ly]| [fx(rx), fy(ry), fx(lx), fy(ly)]),
        }
    }

    /// The angle of the line from the right eye to the left one, in radians clockwise from the
    /// x axis (image y points down): 0 for level eyes; `None` without eyes.
    pub fn eye_angle(&self) -> Option<f32> {
        let [rx, ry, lx, ly] = self.eyes?;
        let angle = (ly - ry).atan2(lx - rx);
        (angle.is_finite() && (lx - rx).hypot(ly - ry) > 0.0).then_some(angle)
    }
}

/// Anchor centres as fractions of the 128-px input: a 16×16 grid with 2 anchors per cell
/// (stride 8), then an 8×8 grid with 6 per cell (stride 16), each centred at ((x + 0.5) / g,
/// (y + 0.5) / g).
pub fn anchors() -> Vec<[f32; 2]> {
    anchors_for(SIDE as u32, SIDE as u32)
}

/// [`anchors`] of a `width`×`height` input (multiples of 16; [`crate::face_model`]), as fractions
/// of each side: a (W/8)×(H/8) grid with 2 per cell, then a (W/16)×(H/16) grid with 6, rows first.
pub fn anchors_for(width: u32, height: u32) -> Vec<[f32; 2]> {
    let mut out = Vec::new();
    for (stride, per_cell) in [(8u32, 2usize), (16, 6)] {
        let (gw, gh) = (width / stride, height / stride);
        for y in 0..gh {
            for x in 0..gw {
                let centre = [(x as f32 + 0.5) / gw as f32, (y as f32 + 0.5) / gh as f32];
                out.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    out
}

pub(crate) fn sigmoid(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit.clamp(-LOGIT_CLIP, LOGIT_CLIP)).exp())
}

/// Boxes (in model-input pixels) of the anchors scoring at least `threshold`: `scores` holds one
/// logit per anchor, `boxes` 16 values per anchor of which the first four are (dx, dy, w, h) in
/// input pixels, relative to the anchor centre.
pub fn decode_detections(
    scores: &[f32],
    boxes: &[f32],
    anchors: &[[f32; 2]],
    threshold: f32,
) -> Vec<FaceBox> {
    let side = SIDE as u32;
    decode_detections_sized(scores, boxes, anchors, threshold, (side, side))
}

/// [`decode_detections`] of a `width`×`height` input, with anchors from [`anchors_for`]: boxes
/// in its pixels.
pub fn decode_detections_sized(
    scores: &[f32],
    boxes: &[f32],
    anchors: &[[f32; 2]],
    threshold: f32,
    (width, height): (u32, u32),
) -> Vec<FaceBox> {
    let (sx, sy) = (width as f32, height as f32);
    scores
        .iter()
        .zip(boxes.chunks_exact(BOX_VALUES))
        .zip(anchors)
        .filter_map(|((&logit, b), &[ax, ay])| {
            let score = sigmoid(logit);
            if score.is_nan() || score < threshold {
                return None;
            }
            let cx = b[0] / sx + ax;
            let cy = b[1] / sy + ay;
            let (w, h) = (b[2] / sx, b[3] / sy);
            let values = [cx, cy, w, h];
            if values.iter().any(|v| !v.is_finite()) || w <= 0.0 || h <= 0.0 {
                return None;
            }
            // Keypoints are offsets from the anchor centre too.
            let eyes = [
                (b[4] / sx + ax) * sx,
                (b[5] / sy + ay) * sy,
                (b[6] / sx + ax) * sx,
                (b[7] / sy + ay) * sy,
            ];
            Some(FaceBox {
                x0: (cx - w / 2.0) * sx,
                y0: (cy - h / 2.0) * sy,
                x1: (cx + w / 2.0) * sx,
                y1: (cy + h / 2.0) * sy,
                score,
                eyes: eyes.iter().all(|v| v.is_finite()).then_some(eyes),
            })
        })
        .collect()
}

/// Weighted non-maximum suppression (MediaPipe's `WEIGHTED`): the best remaining box and every
/// box overlapping it by more than `iou` merge into their score-weighted average (eyes too, over
/// the boxes that have them), which keeps the best box's score. Returns the merged boxes, best
/// first.
pub fn weighted_nms(mut boxes: Vec<FaceBox>, iou: f32) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(&top) = boxes.first() {
        let (cluster, rest): (Vec<FaceBox>, Vec<FaceBox>) = boxes
            .into_iter()
            .partition(|b| top.iou(b) > iou || *b == top);
        let total: f32 = cluster.iter().map(|b| b.score).sum();
        let avg =
            |f: fn(&FaceBox) -> f32| cluster.iter().map(|b| f(b) * b.score).sum::<f32>() / total;
        let with_eyes: Vec<(&FaceBox, [f32; 4])> = cluster
            .iter()
            .filter_map(|b| b.eyes.map(|e| (b, e)))
            .collect();
        let eye_total: f32 = with_eyes.iter().map(|(b, _)| b.score).sum();
        let eyes = (!with_eyes.is_empty()).then(|| {
            let mut e = [0f32; 4];
            for (b, v) in &with_eyes {
                for (acc, x) in e.iter_mut().zip(v) {
                    *acc += x * b.score;
                }
            }
            e.map(|v| v / eye_total)
        });
        out.push(FaceBox {
            x0: avg(|b| b.x0),
            y0: avg(|b| b.y0),
            x1: avg(|b| b.x1),
            y1: avg(|b| b.y1),
            score: top.score,
            eyes,
        });
        boxes = rest;
    }
    out
}

/// How a frame is placed inside the square model input: resized to `width`×`height` (aspect
/// kept) at (`offset_x`, `offset_y`), the rest padded black.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub width: u32,
    pub height: u32,
    pub offset_x: u32,
    pub offset_y: u32,
    /// Input pixels per frame pixel, per axis.
    pub scale_x: f32,
    pub scale_y: f32,
}

impl Letterbox {
    pub fn new(frame_width: u32, frame_height: u32, side: u32) -> Letterbox {
        let (fw, fh) = (frame_width.max(1), frame_height.max(1));
        let s = f64::from(side) / f64::from(fw.max(fh));
        let width = ((f64::from(fw) * s).round() as u32).clamp(1, side);
        let height = ((f64::from(fh) * s).round() as u32).clamp(1, side);
        Letterbox {
            width,
            height,
            offset_x: (side - width) / 2,
            offset_y: (side - height) / 2,
            scale_x: width as f32 / fw as f32,
            scale_y: height as f32 / fh as f32,
        }
    }

    /// A box in input pixels, in frame pixels.
    pub fn to_frame(&self, b: &FaceBox) -> FaceBox {
        let (ox, oy) = (self.offset_x as f32, self.offset_y as f32);
        b.mapped(|x| (x - ox) / self.scale_x, |y| (y - oy) / self.scale_y)
    }
}

/// A square region of a frame, in its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropRect {
    pub x: u32,
    pub y: u32,
    pub side: u32,
}

impl CropRect {
    pub fn centre(&self) -> (f32, f32) {
        let half = self.side as f32 / 2.0;
        (self.x as f32 + half, self.y as f32 + half)
    }
}

/// The square of `margin` × the face's longer side around its centre, shifted to lie inside the
/// `width`×`height` frame and shrunk to the frame's shorter side when larger.
pub fn square_crop(face: &FaceBox, width: u32, height: u32, margin: f32) -> CropRect {
    let limit = width.min(height).max(1);
    let wanted = (face.width().max(face.height()) * margin).round();
    let side = if wanted.is_finite() {
        (wanted.max(1.0) as u32).min(limit)
    } else {
        limit
    };
    let (cx, cy) = face.centre();
    let place = |centre: f32, extent: u32| {
        let max = f64::from(extent.saturating_sub(side));
        let start = (f64::from(centre) - f64::from(side) / 2.0).round();
        if start.is_finite() {
            start.clamp(0.0, max) as u32
        } else {
            0
        }
    };
    CropRect {
        x: place(cx, width),
        y: place(cy, height),
        side,
    }
}

/// The centered square of the frame's shorter side (the crop of a video with no face at all).
pub fn centre_crop(width: u32, height: u32) -> CropRect {
    let side = width.min(height).max(1);
    CropRect {
        x: width.saturating_sub(side) / 2,
        y: height.saturating_sub(side) / 2,
        side,
    }
}
