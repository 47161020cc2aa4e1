//! A detector's input tensor from RGB images, per its manifest: resize (exact, cached taps),
//! normalisation, channel order and layout ([`model_input`]).

use super::error::DetectorError;
use crate::manifest::{ColorOrder, CropMode, Layout, Manifest};
use crate::media::{AsRgb, RgbImage, RgbView};

/// The model input for `frames` exactly as a [`Detector`] with `manifest` builds it (resize,
/// normalisation, channel order, layout): `frames.len()` images of `3 * H * W` floats, in order.
/// Baseline detectors are trained on this, so training and scoring see the same tensors.
pub fn model_input(manifest: &Manifest, frames: &[RgbImage]) -> Result<Vec<f32>, DetectorError> {
    let mut out = Vec::new();
    write_input(manifest, frames, &mut None, &mut out)?;
    Ok(out)
}

/// Preprocesses `frames` into `input`, reusing `cached` while the frame size stays the same.
pub(super) fn write_input<F: AsRgb>(
    m: &Manifest,
    frames: &[F],
    cached: &mut Option<ResizePlan>,
    input: &mut Vec<f32>,
) -> Result<(), DetectorError> {
    let (h, w) = (m.height() as usize, m.width() as usize);
    let norm = Normalize::new(m);
    // Every value is written below (the image and its padding), so the buffer is not cleared.
    input.resize(frames.len() * 3 * h * w, 0.0);
    for (i, frame) in frames.iter().enumerate() {
        let frame = frame.rgb();
        if frame.data.len() != frame.width as usize * frame.height as usize * 3
            || frame.width == 0
            || frame.height == 0
        {
            return Err(DetectorError::Internal(format!(
                "frame {i} is not a {}x{} RGB image",
                frame.width, frame.height
            )));
        }
        let region = match m.crop {
            CropMode::Face => Region::full(w, h),
            CropMode::Frame => Region::letterbox(frame.width as usize, frame.height as usize, w, h),
        };
        let plan = match cached.take() {
            Some(p) if p.matches(&frame, &region) => p,
            _ => ResizePlan::new(frame.width as usize, frame.height as usize, region),
        };
        let out = &mut input[i * 3 * h * w..(i + 1) * 3 * h * w];
        let target = Target {
            width: w,
            height: h,
            layout: m.layout,
        };
        plan.write(&frame, &norm, &target, out);
        *cached = Some(plan);
    }
    Ok(())
}

/// Per-channel `(v / 255 - mean) / std` as `v * scale + offset`, in model channel order.
pub(super) struct Normalize {
    pub(super) scale: [f32; 3],
    pub(super) offset: [f32; 3],
    /// Source RGB channel feeding each model channel.
    pub(super) source: [usize; 3],
}

impl Normalize {
    pub(super) fn new(m: &Manifest) -> Self {
        let scale = [0, 1, 2].map(|c| 1.0 / (255.0 * m.std[c]));
        let offset = [0, 1, 2].map(|c| -m.mean[c] / m.std[c]);
        let source = match m.color {
            ColorOrder::Rgb => [0, 1, 2],
            ColorOrder::Bgr => [2, 1, 0],
        };
        Self {
            scale,
            offset,
            source,
        }
    }
}

pub(super) struct Target {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) layout: Layout,
}

/// Where the resized image lands inside the model input (the rest is black padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Region {
    pub(super) x: usize,
    pub(super) y: usize,
    pub(super) w: usize,
    pub(super) h: usize,
}

impl Region {
    pub(super) fn full(w: usize, h: usize) -> Self {
        Self { x: 0, y: 0, w, h }
    }

    pub(super) fn letterbox(sw: usize, sh: usize, dw: usize, dh: usize) -> Self {
        let s = (dw as f64 / sw as f64).min(dh as f64 / sh as f64);
        let w = ((sw as f64 * s).round() as usize).clamp(1, dw);
        let h = ((sh as f64 * s).round() as usize).clamp(1, dh);
        Self {
            x: (dw - w) / 2,
            y: (dh - h) / 2,
            w,
            h,
        }
    }
}

/// Precomputed bilinear taps (half-pixel centres, edge-clamped, like OpenCV's INTER_LINEAR).
pub(super) struct ResizePlan {
    pub(super) src: (usize, usize),
    pub(super) region: Region,
    pub(super) xs: Vec<(usize, usize, f32)>,
    pub(super) ys: Vec<(usize, usize, f32)>,
}

pub(super) fn taps(src: usize, dst: usize) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let pos = ((d as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
            let i0 = pos.floor() as usize;
            let i1 = (i0 + 1).min(src - 1);
            (i0, i1, (pos - i0 as f64) as f32)
        })
        .collect()
}

impl ResizePlan {
    pub(super) fn new(sw: usize, sh: usize, region: Region) -> Self {
        Self {
            src: (sw, sh),
            region,
            xs: taps(sw, region.w),
            ys: taps(sh, region.h),
        }
    }

    pub(super) fn matches(&self, frame: &RgbView<'_>, region: &Region) -> bool {
        self.src == (frame.width as usize, frame.height as usize) && self.region == *region
    }

    /// Writes the normalized, resized frame into `out` (one image of the batch).
    ///
    /// Same arithmetic as a per-pixel bilinear tap (`top = a + (b - a)·wx`, `bottom` likewise,
    /// `v = top + (bottom - top)·wy`, then `v·scale + offset`), organised row by row: each source
    /// row's horizontal pass is computed once, one plane per channel, and kept while consecutive
    /// output rows need it; the vertical blend and the normalisation are one straight loop per
    /// channel over contiguous slices. A frame already at the region's size is only normalised
    /// (its taps all have weight 0, which gives the same values).
    pub(super) fn write(&self, frame: &RgbView<'_>, norm: &Normalize, t: &Target, out: &mut [f32]) {
        let plane = t.width * t.height;
        let rw = self.region.w;
        self.pad(norm, t, out);
        let stride = frame.width as usize * 3;
        let src = frame.data;
        if self.src == (rw, self.region.h) {
            self.write_unscaled(src, norm, t, out);
            return;
        }
        // The horizontal pass of source row `y`: three planes of `rw` values (R, G, B). The row
        // is converted to floats once (a straight loop) before the taps read it.
        let mut row = vec![0f32; stride];
        let mut hpass = |y: usize, dst: &mut [f32]| {
            for (f, &v) in row.iter_mut().zip(&src[y * stride..(y + 1) * stride]) {
                *f = f32::from(v);
            }
            let (pixels, _) = row.as_chunks::<3>();
            let (r, rest) = dst.split_at_mut(rw);
            let (g, b) = rest.split_at_mut(rw);
            let planes = r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut());
            for (((r, g), b), &(x0, x1, wx)) in planes.zip(&self.xs) {
                let (p0, p1) = (pixels[x0], pixels[x1]);
                let lerp = |ch: usize| p0[ch] + (p1[ch] - p0[ch]) * wx;
                *r = lerp(0);
                *g = lerp(1);
                *b = lerp(2);
            }
        };
        // Two cached horizontal passes, keyed by source row.
        let mut rows = [
            (usize::MAX, vec![0f32; rw * 3]),
            (usize::MAX, vec![0f32; rw * 3]),
        ];
        let mut slot = |rows: &mut [(usize, Vec<f32>); 2], y: usize, keep: usize| -> usize {
            if rows[0].0 == y {
                0
            } else if rows[1].0 == y {
                1
            } else {
                let s = usize::from(rows[0].0 == keep);
                hpass(y, &mut rows[s].1);
                rows[s].0 = y;
                s
            }
        };
        let mut px = vec![0f32; rw];
        for (ry, &(y0, y1, wy)) in self.ys.iter().enumerate() {
            let s0 = slot(&mut rows, y0, y1);
            let s1 = slot(&mut rows, y1, y0);
            let (top, bottom) = (&rows[s0].1, &rows[s1].1);
            let oy = self.region.y + ry;
            for c in 0..3 {
                let s = norm.source[c];
                let (scale, offset) = (norm.scale[c], norm.offset[c]);
                let top = &top[s * rw..(s + 1) * rw];
                let bottom = &bottom[s * rw..(s + 1) * rw];
                let blend = |(&a, &b): (&f32, &f32)| (a + (b - a) * wy) * scale + offset;
                match t.layout {
                    Layout::Nchw => {
                        let start = c * plane + oy * t.width + self.region.x;
                        let dst = &mut out[start..start + rw];
                        for (d, ab) in dst.iter_mut().zip(top.iter().zip(bottom)) {
                            *d = blend(ab);
                        }
                    }
                    Layout::Nhwc => {
                        for (p, ab) in px.iter_mut().zip(top.iter().zip(bottom)) {
                            *p = blend(ab);
                        }
                        let start = (oy * t.width + self.region.x) * 3;
                        let dst = &mut out[start..start + rw * 3];
                        for (d, &p) in dst.chunks_exact_mut(3).zip(&px) {
                            d[c] = p;
                        }
                    }
                }
            }
        }
    }

    /// Fills what lies outside the region (letterbox bars) with black, normalized like the rest.
    pub(super) fn pad(&self, norm: &Normalize, t: &Target, out: &mut [f32]) {
        let r = self.region;
        if r.w == t.width && r.h == t.height {
            return;
        }
        let plane = t.width * t.height;
        let pad = norm.offset;
        // Spans of pixel positions (y * width + x) outside the region: the rows above it, the
        // bars left and right of each of its rows, and the rows below it.
        let mut spans = vec![(0, r.y * t.width)];
        for y in r.y..r.y + r.h {
            spans.push((y * t.width, y * t.width + r.x));
            spans.push((y * t.width + r.x + r.w, (y + 1) * t.width));
        }
        spans.push(((r.y + r.h) * t.width, plane));
        for (from, to) in spans.into_iter().filter(|(a, b)| a < b) {
            match t.layout {
                Layout::Nchw => {
                    for (c, &v) in pad.iter().enumerate() {
                        out[c * plane + from..c * plane + to].fill(v);
                    }
                }
                Layout::Nhwc => {
                    for px in out[from * 3..to * 3].chunks_exact_mut(3) {
                        px.copy_from_slice(&pad);
                    }
                }
            }
        }
    }

    /// [`ResizePlan::write`] for a frame already at the region's size: normalisation only.
    pub(super) fn write_unscaled(&self, src: &[u8], norm: &Normalize, t: &Target, out: &mut [f32]) {
        let plane = t.width * t.height;
        let rw = self.region.w;
        for (ry, row) in src.chunks_exact(rw * 3).enumerate() {
            let oy = self.region.y + ry;
            match t.layout {
                Layout::Nchw => {
                    for c in 0..3 {
                        let (s, scale, offset) = (norm.source[c], norm.scale[c], norm.offset[c]);
                        let start = c * plane + oy * t.width + self.region.x;
                        let dst = &mut out[start..start + rw];
                        for (d, p) in dst.iter_mut().zip(row.chunks_exact(3)) {
                            *d = f32::from(p[s]) * scale + offset;
                        }
                    }
                }
                Layout::Nhwc => {
                    let start = (oy * t.width + self.region.x) * 3;
                    let dst = &mut out[start..start + rw * 3];
                    for (d, p) in dst.chunks_exact_mut(3).zip(row.chunks_exact(3)) {
                        for c in 0..3 {
                            d[c] = f32::from(p[norm.source[c]]) * norm.scale[c] + norm.offset[c];
                        }
                    }
                }
            }
        }
    }
}
