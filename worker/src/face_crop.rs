//! The crop rule: which square around the video's face each detector reads, and how it is cut
//! from the crop cache.
//!
//! The cache keeps, per sampled frame, the face's **context**: the square of [`CONTEXT_MARGIN`]
//! (the largest `margin` a manifest may ask for) × the face box's longer side around the box
//! centre, shifted inside the frame and shrunk to the frame's shorter side when larger (the rule
//! of [`square_crop`]), cut from the large decoded frame and shrunk to at most the cache's side
//! (512 px by default) — together with where it lies in the frame ([`FaceContext`]): the frame
//! size, the context square, the face box and BlazeFace's eye keypoints. At score time each
//! detector's crop is cut from it per its manifest ([`CropPolicy`]): the square of `margin` × the
//! box's longer side around the box centre, shifted inside the frame — exactly the square the
//! worker cut from the frame before contexts were cached — mapped into the context's pixels.
//! Without `align` that is a plain cut (rounded to whole context pixels): when the context was not
//! shrunk (a context of at most 512 px, i.e. a face up to ~205 px), the crop's pixels are the
//! frame's own, bit for bit what a cut from the frame gives; a larger face's crop is resampled
//! twice (the context's shrink, then the detector's resize): on a real face at a 224-px input
//! that moved pixels by ~1.3 grey levels on average (a test below). With `align` the same square is
//! turned about its centre by the eye line's angle, so the eyes come out level, and sampled
//! bilinearly; what falls outside the context is black.
//!
//! One decode serves every manifest: contexts are cut once at prepare time, crops at score time.

use crate::face_box::{CropRect, FaceBox, square_crop};
use crate::manifest::{CropMode, DEFAULT_MARGIN, MAX_MARGIN, Manifest};
use crate::media::{AsRgb, RgbImage, RgbView};

/// Margin of the cached context: the largest a manifest may ask for.
pub const CONTEXT_MARGIN: f32 = MAX_MARGIN;

/// How a detector wants its face crops (manifest `margin` and `align`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropPolicy {
    pub margin: f32,
    pub align: bool,
}

impl CropPolicy {
    /// The crops of a manifest without `margin` or `align`: 1.3×, not rotated.
    pub const DEFAULT: CropPolicy = CropPolicy {
        margin: DEFAULT_MARGIN,
        align: false,
    };

    pub fn of(manifest: &Manifest) -> CropPolicy {
        CropPolicy {
            margin: manifest.margin,
            align: manifest.align,
        }
    }
}

impl Default for CropPolicy {
    fn default() -> Self {
        CropPolicy::DEFAULT
    }
}

/// Where a cached face context came from, in its frame's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceContext {
    /// The frame the context was cut from.
    pub frame_width: u32,
    pub frame_height: u32,
    /// The context square ([`CONTEXT_MARGIN`] around the face, inside the frame).
    pub rect: CropRect,
    /// The face box and its eyes.
    pub face: FaceBox,
}

impl FaceContext {
    /// The context of `face` (frame pixels) in a `width`×`height` frame.
    pub fn around(face: FaceBox, width: u32, height: u32) -> FaceContext {
        FaceContext {
            frame_width: width,
            frame_height: height,
            rect: square_crop(&face, width, height, CONTEXT_MARGIN),
            face,
        }
    }

    /// The square a detector with `margin` reads, in frame pixels (the same rule as the
    /// context's, so it lies inside it).
    pub fn crop_rect(&self, margin: f32) -> CropRect {
        square_crop(&self.face, self.frame_width, self.frame_height, margin)
    }
}

/// A detector's input image: borrowed from the cache as it is, or cut from a context.
#[derive(Debug, Clone, PartialEq)]
pub enum Cut<'a> {
    Cached(RgbView<'a>),
    Owned(RgbImage),
}

impl AsRgb for Cut<'_> {
    fn rgb(&self) -> RgbView<'_> {
        match self {
            Cut::Cached(v) => *v,
            Cut::Owned(img) => img.rgb(),
        }
    }
}

/// The image a detector with `crop` and `policy` reads from one cached image: a crop cut from a
/// face context, else (whole frames, a video without a face, caches made before contexts) the
/// cached image as it is.
pub fn cut_for<'a>(
    image: RgbView<'a>,
    context: Option<&FaceContext>,
    crop: CropMode,
    policy: CropPolicy,
) -> Cut<'a> {
    match (crop, context) {
        (CropMode::Face, Some(ctx)) => Cut::Owned(cut(image, ctx, policy)),
        _ => Cut::Cached(image),
    }
}

/// Cuts the crop `policy` asks for from a context image (see the module docs). Any geometry,
/// even a corrupt one, gives an image (at worst the context as it is), never a panic.
pub fn cut(image: RgbView<'_>, ctx: &FaceContext, policy: CropPolicy) -> RgbImage {
    let (iw, ih) = (image.width, image.height);
    if iw == 0 || ih == 0 || ctx.rect.side == 0 {
        return image.to_image();
    }
    let r = ctx.crop_rect(policy.margin);
    // Context pixels per frame pixel (1 unless the context was shrunk to the cache's side).
    let scale = f64::from(iw) / f64::from(ctx.rect.side);
    let x = (f64::from(r.x) - f64::from(ctx.rect.x)) * scale;
    let y = (f64::from(r.y) - f64::from(ctx.rect.y)) * scale;
    let side = f64::from(r.side) * scale;
    if ![x, y, side].iter().all(|v| v.is_finite()) {
        return image.to_image();
    }
    let angle = if policy.align {
        ctx.face.eye_angle().map(f64::from)
    } else {
        None
    };
    match angle {
        None => {
            let n = (side.round().max(1.0) as u32).min(iw).min(ih);
            let place =
                |start: f64, extent: u32| start.round().clamp(0.0, f64::from(extent - n)) as u32;
            let (cx, cy) = (place(x, iw), place(y, ih));
            crate::media::resize::crop_view(image, cx, cy, n, n).unwrap_or_else(|| image.to_image())
        }
        Some(theta) => {
            // A crop lies inside its context: never more pixels than the context's side.
            let n = side.round().clamp(1.0, f64::from(iw.max(ih))) as u32;
            rotated_square(image, (x + side / 2.0, y + side / 2.0), side, n, theta)
        }
    }
}

/// An `n`×`n` image of the square of `side` context pixels centred at `centre`, turned by
/// `theta` (radians, clockwise in image coordinates): output pixel (u, v) samples the context at
/// `centre + R(theta) · ((u + ½, v + ½) · side / n − side / 2)`, bilinearly; black outside.
fn rotated_square(
    image: RgbView<'_>,
    centre: (f64, f64),
    side: f64,
    n: u32,
    theta: f64,
) -> RgbImage {
    let (w, h) = (image.width as usize, image.height as usize);
    let (sin, cos) = theta.sin_cos();
    let step = side / f64::from(n);
    let half = side / 2.0;
    let pixel = |x: isize, y: isize| -> [f64; 3] {
        if x < 0 || y < 0 || x as usize >= w || y as usize >= h {
            return [0.0; 3];
        }
        let i = (y as usize * w + x as usize) * 3;
        match image.data.get(i..i + 3) {
            Some(p) => [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])],
            None => [0.0; 3],
        }
    };
    let mut data = Vec::with_capacity(n as usize * n as usize * 3);
    for v in 0..n {
        let dy = (f64::from(v) + 0.5) * step - half;
        for u in 0..n {
            let dx = (f64::from(u) + 0.5) * step - half;
            // Source position, in pixel-centre coordinates.
            let sx = centre.0 + cos * dx - sin * dy - 0.5;
            let sy = centre.1 + sin * dx + cos * dy - 0.5;
            let (fx, fy) = (sx.floor(), sy.floor());
            let (ax, ay) = (sx - fx, sy - fy);
            let (x0, y0) = (fx as isize, fy as isize);
            let (p00, p10) = (pixel(x0, y0), pixel(x0 + 1, y0));
            let (p01, p11) = (pixel(x0, y0 + 1), pixel(x0 + 1, y0 + 1));
            for c in 0..3 {
                let top = p00[c] * (1.0 - ax) + p10[c] * ax;
                let bottom = p01[c] * (1.0 - ax) + p11[c] * ax;
                let value = top * (1.0 - ay) + bottom * ay;
                data.push(value.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    RgbImage {
        width: n,
        height: n,
        data,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::media::resize::crop;

    fn face(x0: f32, y0: f32, x1: f32, y1: f32, eyes: Option<[f32; 4]>) -> FaceBox {
        FaceBox {
            x0,
            y0,
            x1,
            y1,
            score: 0.9,
            eyes,
        }
    }

    /// A `w`×`h` frame whose pixel (x, y) is (x, y, x ^ y) modulo 256.
    fn pattern(w: u32, h: u32) -> RgbImage {
        let mut data = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[x as u8, y as u8, (x ^ y) as u8]);
            }
        }
        RgbImage {
            width: w,
            height: h,
            data,
        }
    }

    fn context_image(frame: &RgbImage, ctx: &FaceContext) -> RgbImage {
        let r = ctx.rect;
        crop(frame, r.x, r.y, r.side, r.side).unwrap()
    }

    #[test]
    fn the_margin_scales_the_box() {
        // A 40x60 face centred at (160, 120) in a 640x480 frame.
        let f = face(140.0, 90.0, 180.0, 150.0, None);
        let ctx = FaceContext::around(f, 640, 480);
        // Context: 2.5 x 60 = 150 around the centre.
        assert_eq!(
            ctx.rect,
            CropRect {
                x: 85,
                y: 45,
                side: 150
            }
        );
        let frame = pattern(640, 480);
        let image = context_image(&frame, &ctx);
        for (margin, side) in [(1.0, 60), (1.3, 78), (2.0, 120), (2.5, 150)] {
            let policy = CropPolicy {
                margin,
                align: false,
            };
            let got = cut(image.rgb(), &ctx, policy);
            assert_eq!((got.width, got.height), (side, side), "margin {margin}");
            // Bit for bit the frame's own square of that margin (the rule before contexts).
            let r = square_crop(&f, 640, 480, margin);
            assert_eq!(r.side, side);
            assert_eq!(got, crop(&frame, r.x, r.y, r.side, r.side).unwrap());
            // Centred on the face.
            assert_eq!(r.centre(), (160.0, 120.0));
        }
    }

    #[test]
    fn crops_near_the_frame_edge_are_the_frames_own() {
        // Faces at a corner and at an edge, and one whose context is the whole short side.
        for (f, w, h) in [
            (face(0.0, 0.0, 50.0, 60.0, None), 320, 240),
            (face(290.0, 100.0, 320.0, 140.0, None), 320, 240),
            (face(100.0, 40.0, 220.0, 200.0, None), 320, 240),
            (face(3.3, 7.7, 41.9, 52.2, None), 97, 61),
        ] {
            let frame = pattern(w, h);
            let ctx = FaceContext::around(f, w, h);
            let image = context_image(&frame, &ctx);
            for margin in [1.0, 1.3, 1.77, 2.5] {
                let got = cut(
                    image.rgb(),
                    &ctx,
                    CropPolicy {
                        margin,
                        align: false,
                    },
                );
                let r = square_crop(&f, w, h, margin);
                assert_eq!(
                    got,
                    crop(&frame, r.x, r.y, r.side, r.side).unwrap(),
                    "{f:?} at {margin}"
                );
            }
        }
    }

    #[test]
    fn a_shrunk_context_gives_the_same_square_at_its_scale() {
        // A 400-px face in a 1920x1080 frame: a 1000-px context, cached at 500 px.
        let f = face(700.0, 300.0, 1100.0, 700.0, None);
        let ctx = FaceContext::around(f, 1920, 1080);
        assert_eq!(ctx.rect.side, 1000);
        let frame = pattern(1920, 1080);
        let image = crate::media::resize::resize(&context_image(&frame, &ctx), 500, 500);
        let got = cut(image.rgb(), &ctx, CropPolicy::DEFAULT);
        // 1.3 x 400 = 520 frame pixels = 260 context pixels, centred.
        assert_eq!((got.width, got.height), (260, 260));
        let r = ctx.crop_rect(1.3);
        let offset = ((r.x - ctx.rect.x) / 2, (r.y - ctx.rect.y) / 2);
        assert_eq!(offset, (120, 120));
        assert_eq!(got, crop(&image, 120, 120, 260, 260).unwrap());
    }

    /// Centroid of the dark pixels of `img` whose x is below (`left`) or above `mid`.
    fn dark_centroid(img: &RgbImage, left: bool) -> (f64, f64) {
        let mid = img.width / 2;
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for y in 0..img.height {
            for x in 0..img.width {
                if (x < mid) != left {
                    continue;
                }
                let p = img.pixel(x, y).unwrap();
                let weight = f64::from(255 - p[0]);
                if weight > 64.0 {
                    sx += weight * (f64::from(x) + 0.5);
                    sy += weight * (f64::from(y) + 0.5);
                    n += weight;
                }
            }
        }
        assert!(n > 0.0, "no dark pixels");
        (sx / n, sy / n)
    }

    /// A white frame with two black dots (radius 4) at the eyes.
    fn two_dots(w: u32, h: u32, eyes: [f32; 4]) -> RgbImage {
        let mut img = RgbImage {
            width: w,
            height: h,
            data: vec![255; (w * h * 3) as usize],
        };
        for (ex, ey) in [(eyes[0], eyes[1]), (eyes[2], eyes[3])] {
            for y in 0..h {
                for x in 0..w {
                    let d = (x as f32 + 0.5 - ex).hypot(y as f32 + 0.5 - ey);
                    if d <= 4.0 {
                        let i = ((y * w + x) * 3) as usize;
                        img.data[i..i + 3].fill(0);
                    }
                }
            }
        }
        img
    }

    #[test]
    fn align_levels_the_eyes() {
        let (w, h) = (400, 300);
        let (cx, cy) = (200.0f32, 150.0f32);
        for degrees in [-35.0f32, -20.0, -7.0, 0.0, 12.0, 30.0] {
            let t = degrees.to_radians();
            // Eyes 40 px apart, 10 px above the box centre, turned by `degrees` about it.
            let turn = |dx: f32, dy: f32| {
                (
                    cx + dx * t.cos() - dy * t.sin(),
                    cy + dx * t.sin() + dy * t.cos(),
                )
            };
            let (r, l) = (turn(-20.0, -10.0), turn(20.0, -10.0));
            let eyes = [r.0, r.1, l.0, l.1];
            let frame = two_dots(w, h, eyes);
            let f = face(cx - 40.0, cy - 40.0, cx + 40.0, cy + 40.0, Some(eyes));
            assert!((f.eye_angle().unwrap() - t).abs() < 1e-4);
            let ctx = FaceContext::around(f, w, h);
            let image = context_image(&frame, &ctx);
            let aligned = cut(
                image.rgb(),
                &ctx,
                CropPolicy {
                    margin: 1.3,
                    align: true,
                },
            );
            assert_eq!((aligned.width, aligned.height), (104, 104));
            let (a, b) = (
                dark_centroid(&aligned, true),
                dark_centroid(&aligned, false),
            );
            let level = (b.1 - a.1).atan2(b.0 - a.0).to_degrees();
            assert!(level.abs() < 1.0, "{degrees}°: eyes at {a:?} and {b:?}");
            // Still 40 px apart and 10 px above the centre, right eye on the left.
            assert!(((b.0 - a.0) - 40.0).abs() < 1.5, "{a:?} {b:?}");
            assert!((a.1 - (52.0 - 10.0)).abs() < 1.5, "{a:?}");
            // Without align the dots keep their angle.
            let plain = cut(
                image.rgb(),
                &ctx,
                CropPolicy {
                    margin: 1.3,
                    align: false,
                },
            );
            let (a, b) = (dark_centroid(&plain, true), dark_centroid(&plain, false));
            let kept = (b.1 - a.1).atan2(b.0 - a.0).to_degrees();
            assert!(
                (kept - f64::from(degrees)).abs() < 1.0,
                "{degrees}° vs {kept}"
            );
        }
    }

    #[test]
    fn level_eyes_align_to_the_plain_crop() {
        let frame = pattern(320, 240);
        let f = face(100.0, 60.0, 180.0, 150.0, Some([120.0, 90.0, 160.0, 90.0]));
        let ctx = FaceContext::around(f, 320, 240);
        let image = context_image(&frame, &ctx);
        let plain = cut(image.rgb(), &ctx, CropPolicy::DEFAULT);
        let aligned = cut(
            image.rgb(),
            &ctx,
            CropPolicy {
                margin: 1.3,
                align: true,
            },
        );
        assert_eq!(plain, aligned);
    }

    #[test]
    fn whole_frames_and_faceless_videos_are_read_as_cached() {
        let img = pattern(8, 6);
        let ctx = FaceContext::around(face(2.0, 2.0, 4.0, 4.0, None), 8, 6);
        assert_eq!(
            cut_for(img.rgb(), Some(&ctx), CropMode::Frame, CropPolicy::DEFAULT),
            Cut::Cached(img.rgb())
        );
        assert_eq!(
            cut_for(img.rgb(), None, CropMode::Face, CropPolicy::DEFAULT),
            Cut::Cached(img.rgb())
        );
    }

    /// The real model: BlazeFace's first two keypoints are the eyes, right eye first (on the
    /// image's left), and they follow a turned face closely enough to level it.
    #[test]
    fn blazeface_eyes_level_a_turned_real_face() {
        use crate::detector::SessionOptions;
        use crate::faces::{FaceDetector, model_path};
        use crate::test_support::{runtime, sample};

        let mut det =
            FaceDetector::load(&runtime(), &model_path(None), &SessionOptions::default()).unwrap();
        let frame = sample("face_moving.mp4", 1, 512).unwrap().frames.remove(0);
        let f = det.largest_face(&frame).unwrap().expect("the astronaut");
        let [rx, ry, lx, ly] = f.eyes.expect("eyes");
        assert!(rx < lx, "right eye first: {f:?}");
        let (cx, cy) = f.centre();
        assert!(
            ry < cy && ly < cy && rx < cx && lx > cx,
            "eyes above the centre: {f:?}"
        );
        let upright = f.eye_angle().unwrap().to_degrees();
        assert!(upright.abs() < 8.0, "{upright}°");
        let (w, h) = (frame.width, frame.height);
        for degrees in [-25.0f32, 18.0] {
            // Turn the frame's face by `degrees`: an aligned cut whose "eyes" lie at -degrees
            // (relative to the real ones) turns the picture by +degrees.
            let t = (upright - degrees).to_radians();
            let mut tilted = f;
            tilted.eyes = Some([cx, cy, cx + 40.0 * t.cos(), cy + 40.0 * t.sin()]);
            let ctx = FaceContext::around(tilted, w, h);
            let image = context_image(&frame, &ctx);
            let turned = cut(
                image.rgb(),
                &ctx,
                CropPolicy {
                    margin: 2.5,
                    align: true,
                },
            );
            let g = det.largest_face(&turned).unwrap().expect("the turned face");
            let seen = g.eye_angle().unwrap().to_degrees();
            assert!(
                (seen - degrees).abs() < 6.0,
                "turned {degrees}°, eyes at {seen}°"
            );
            // Aligning by the detected eyes brings them back to level.
            let ctx = FaceContext::around(g, turned.width, turned.height);
            let aligned = cut(
                context_image(&turned, &ctx).rgb(),
                &ctx,
                CropPolicy {
                    margin: 1.3,
                    align: true,
                },
            );
            let back = det
                .largest_face(&aligned)
                .unwrap()
                .expect("the aligned face");
            let level = back.eye_angle().unwrap().to_degrees();
            assert!(
                level.abs() < 6.0,
                "turned {degrees}°, aligned eyes at {level}°"
            );
        }
    }

    /// A face too large for its context to fit the 512-px cache uncut: the crop is resampled
    /// twice (context shrunk to 512, then the detector's resize) instead of once. Measured on a
    /// real face at a detector's 224 px input: close to the single resample, not equal.
    #[test]
    fn a_large_face_loses_little_to_the_shrunk_context() {
        use crate::detector::SessionOptions;
        use crate::faces::{FaceDetector, model_path};
        use crate::media::resize::{downscale_to, resize};
        use crate::test_support::{runtime, sample};

        let mut det =
            FaceDetector::load(&runtime(), &model_path(None), &SessionOptions::default()).unwrap();
        let small = sample("face_moving.mp4", 1, 512).unwrap().frames.remove(0);
        // The 320x240 clip at 1600x1200: a face of ~320 px, its 2.5x context ~800 px.
        let frame = resize(&small, 1600, 1200);
        let f = det.largest_face(&frame).unwrap().expect("the astronaut");
        let ctx = FaceContext::around(f, frame.width, frame.height);
        assert!(ctx.rect.side > 700, "{ctx:?}");
        let cached = downscale_to(&context_image(&frame, &ctx), 512);
        let r = ctx.crop_rect(1.3);
        let once = resize(&crop(&frame, r.x, r.y, r.side, r.side).unwrap(), 224, 224);
        let twice = resize(&cut(cached.rgb(), &ctx, CropPolicy::DEFAULT), 224, 224);
        let diffs: Vec<f64> = once
            .data
            .iter()
            .zip(&twice.data)
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .collect();
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        eprintln!("shrunk context: mean |diff| {mean:.3} grey levels at 224 px");
        assert!(mean < 2.0, "mean |diff| {mean}");
    }

    #[test]
    fn corrupt_geometry_never_panics() {
        let img = pattern(16, 16);
        let nan = f32::NAN;
        for ctx in [
            FaceContext {
                frame_width: 0,
                frame_height: 0,
                rect: CropRect {
                    x: 0,
                    y: 0,
                    side: 0,
                },
                face: face(nan, nan, nan, nan, Some([nan; 4])),
            },
            FaceContext {
                frame_width: u32::MAX,
                frame_height: 7,
                rect: CropRect {
                    x: u32::MAX,
                    y: 3,
                    side: 1,
                },
                face: face(-1e30, 0.0, 1e30, 5.0, Some([0.0, 0.0, 1e30, -1e30])),
            },
        ] {
            for align in [false, true] {
                let out = cut(img.rgb(), &ctx, CropPolicy { margin: 2.5, align });
                assert_eq!(out.data.len(), (out.width * out.height * 3) as usize);
            }
        }
    }
}
