//! Antialiased RGB resizing (separable triangle filter, like Pillow's `BILINEAR`) and cropping.

use super::image::{AsRgb, RgbImage, RgbView};

/// One output sample's source taps: first source index and the normalized weights from there.
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

/// Triangle-filter taps mapping `src` samples onto `dst`; the filter widens when shrinking so
/// every source pixel contributes (no aliasing on large downscales).
fn taps(src: usize, dst: usize) -> Vec<Taps> {
    let scale = src as f64 / dst as f64;
    let support = scale.max(1.0);
    (0..dst)
        .map(|d| {
            let centre = (d as f64 + 0.5) * scale;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = ((centre + support).ceil() as usize).min(src);
            let mut weights: Vec<f32> = (lo..hi)
                .map(|i| {
                    let x = (i as f64 + 0.5 - centre) / support;
                    (1.0 - x.abs()).max(0.0) as f32
                })
                .collect();
            let sum: f32 = weights.iter().sum();
            // The tap nearest the centre always has weight > 0, so `sum` is positive.
            weights.iter_mut().for_each(|w| *w /= sum);
            Taps { start: lo, weights }
        })
        .collect()
}

/// `img` resized to `width` x `height` (both at least 1).
pub fn resize(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    if (img.width, img.height) == (width.max(1), height.max(1)) || img.width == 0 || img.height == 0
    {
        return img.clone();
    }
    resize_region(img.rgb(), (0, 0, img.width, img.height), width, height)
        .unwrap_or_else(|| img.clone())
}

/// The `w` x `h` region of `img` at (`x`, `y`) (`region` = (x, y, w, h)) resized to `width` x
/// `height`, read straight from `img`: the same bytes as [`crop`] then [`resize`], without the
/// copy. `None` when the region is empty or does not fit inside.
pub fn resize_region(
    img: RgbView<'_>,
    region: (u32, u32, u32, u32),
    width: u32,
    height: u32,
) -> Option<RgbImage> {
    let (x, y, w, h) = region;
    if w == 0 || h == 0 || x.checked_add(w)? > img.width || y.checked_add(h)? > img.height {
        return None;
    }
    let (sw, sh) = (w as usize, h as usize);
    let (dw, dh) = (width.max(1) as usize, height.max(1) as usize);
    let stride = img.width as usize * 3;
    let row_of = |r: usize| {
        let start = (y as usize + r) * stride + x as usize * 3;
        img.data.get(start..start + sw * 3)
    };
    if (sw, sh) == (dw, dh) {
        return crop_view(img, x, y, w, h);
    }
    let xs = taps(sw, dw);
    let ys = taps(sh, dh);
    // Horizontal pass into floats, then vertical pass into bytes. The vertical pass accumulates
    // whole rows (tap-major), which adds the same products in the same order per sample as a
    // per-sample loop, over contiguous memory.
    let mut mid = vec![0f32; sh * dw * 3];
    for (r, out) in mid.chunks_exact_mut(dw * 3).enumerate() {
        let row = row_of(r)?;
        for (t, o) in xs.iter().zip(out.chunks_exact_mut(3)) {
            let mut acc = [0f32; 3];
            let src = &row[t.start * 3..(t.start + t.weights.len()) * 3];
            for (p, &w) in src.chunks_exact(3).zip(&t.weights) {
                acc[0] += f32::from(p[0]) * w;
                acc[1] += f32::from(p[1]) * w;
                acc[2] += f32::from(p[2]) * w;
            }
            o.copy_from_slice(&acc);
        }
    }
    let mut data = vec![0u8; dh * dw * 3];
    let mut acc = vec![0f32; dw * 3];
    for (t, out) in ys.iter().zip(data.chunks_exact_mut(dw * 3)) {
        acc.fill(0.0);
        for (k, &w) in t.weights.iter().enumerate() {
            let src = &mid[(t.start + k) * dw * 3..(t.start + k + 1) * dw * 3];
            for (a, &m) in acc.iter_mut().zip(src) {
                *a += m * w;
            }
        }
        for (o, &a) in out.iter_mut().zip(&acc) {
            *o = a.round().clamp(0.0, 255.0) as u8;
        }
    }
    Some(RgbImage {
        width: dw as u32,
        height: dh as u32,
        data,
    })
}

/// Size with the longer side at most `max_side`, aspect kept, never upscaled (0 = no cap).
pub fn capped_size(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let side = width.max(height);
    if max_side == 0 || side <= max_side {
        return (width, height);
    }
    let s = f64::from(max_side) / f64::from(side);
    let dim = |v: u32| ((f64::from(v) * s).round() as u32).clamp(1, max_side);
    (dim(width), dim(height))
}

/// `img` shrunk so its longer side is at most `max_side` (unchanged when already small enough).
pub fn downscale_to(img: &RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = capped_size(img.width, img.height, max_side);
    resize(img, w, h)
}

/// The `w` x `h` region of `img` at (`x`, `y`); `None` when it does not fit inside.
pub fn crop(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> Option<RgbImage> {
    crop_view(img.rgb(), x, y, w, h)
}

/// [`crop`] of a borrowed image.
pub fn crop_view(img: RgbView<'_>, x: u32, y: u32, w: u32, h: u32) -> Option<RgbImage> {
    if w == 0 || h == 0 || x.checked_add(w)? > img.width || y.checked_add(h)? > img.height {
        return None;
    }
    let stride = img.width as usize * 3;
    let (x, w) = (x as usize * 3, w as usize * 3);
    let mut data = Vec::with_capacity(w * h as usize);
    for row in y as usize..(y + h) as usize {
        data.extend_from_slice(img.data.get(row * stride + x..row * stride + x + w)?);
    }
    Some(RgbImage {
        width: w as u32 / 3,
        height: h,
        data,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, mut f: impl FnMut(u32, u32) -> [u8; 3]) -> RgbImage {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&f(x, y));
            }
        }
        RgbImage {
            width: w,
            height: h,
            data,
        }
    }

    fn grey(w: u32, h: u32, values: &[u8]) -> RgbImage {
        image(w, h, |x, y| [values[(y * w + x) as usize]; 3])
    }

    fn channel(img: &RgbImage) -> Vec<u8> {
        img.data.chunks(3).map(|p| p[0]).collect()
    }

    #[test]
    fn matches_pillow_bilinear() {
        // Reference values from Pillow 13: Image.fromarray(a).resize((w, h), Image.BILINEAR).
        // Pillow rounds between its two passes, so a value may differ by one.
        let close = |got: Vec<u8>, want: &[u8]| {
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                assert!(g.abs_diff(*w) <= 1, "{got:?} vs {want:?}");
            }
        };
        close(
            channel(&resize(&grey(4, 1, &[0, 100, 200, 40]), 2, 1)),
            &[71, 117],
        );
        // b = 7 * arange(35).reshape(5, 7)
        let b: Vec<u8> = (0..35u8).map(|v| v * 7).collect();
        let src = grey(7, 5, &b);
        close(channel(&resize(&src, 3, 2)), &[55, 70, 85, 153, 168, 183]);
        let up = channel(&resize(&src, 10, 9));
        close(up[..10].to_vec(), &[0, 4, 9, 14, 19, 23, 28, 33, 38, 42]);
        close(
            up[40..50].to_vec(),
            &[98, 102, 107, 112, 117, 121, 126, 131, 136, 140],
        );
        close(
            up[80..].to_vec(),
            &[196, 200, 205, 210, 215, 219, 224, 229, 234, 238],
        );
    }

    /// The per-sample loops the row-wise `resize` replaced: both must give identical bytes.
    fn reference_resize(img: &RgbImage, width: u32, height: u32) -> RgbImage {
        let (sw, sh) = (img.width as usize, img.height as usize);
        let (dw, dh) = (width as usize, height as usize);
        let (xs, ys) = (taps(sw, dw), taps(sh, dh));
        let mut mid = vec![0f32; sh * dw * 3];
        for y in 0..sh {
            for (x, t) in xs.iter().enumerate() {
                for c in 0..3 {
                    let mut acc = 0f32;
                    for (k, w) in t.weights.iter().enumerate() {
                        acc += f32::from(img.data[(y * sw + t.start + k) * 3 + c]) * w;
                    }
                    mid[(y * dw + x) * 3 + c] = acc;
                }
            }
        }
        let mut data = vec![0u8; dh * dw * 3];
        for (y, t) in ys.iter().enumerate() {
            for i in 0..dw * 3 {
                let mut acc = 0f32;
                for (k, w) in t.weights.iter().enumerate() {
                    acc += mid[(t.start + k) * dw * 3 + i] * w;
                }
                data[y * dw * 3 + i] = acc.round().clamp(0.0, 255.0) as u8;
            }
        }
        RgbImage {
            width,
            height,
            data,
        }
    }

    #[test]
    fn row_wise_resize_matches_the_per_sample_loops() {
        let mut seed = 0x2545_f491_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for (sw, sh, dw, dh) in [
            (1280, 720, 128, 72),
            (640, 480, 227, 171),
            (97, 61, 224, 224),
            (3, 2, 1, 1),
            (200, 200, 200, 199),
        ] {
            let img = image(sw, sh, |_, _| [next() as u8, next() as u8, next() as u8]);
            assert_eq!(
                resize(&img, dw, dh).data,
                reference_resize(&img, dw, dh).data,
                "{sw}x{sh} -> {dw}x{dh}"
            );
        }
    }

    #[test]
    fn a_region_resizes_like_its_crop() {
        let mut seed = 0x1234_5678_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let img = image(300, 200, |_, _| [next() as u8, next() as u8, next() as u8]);
        for (x, y, w, h, dw, dh) in [
            (0, 0, 300, 200, 128, 85),
            (17, 9, 150, 150, 128, 128),
            (150, 50, 150, 150, 128, 128),
            (5, 5, 100, 100, 128, 128),
            (40, 30, 64, 64, 64, 64),
        ] {
            let want = resize(&crop(&img, x, y, w, h).unwrap(), dw, dh);
            let got = resize_region(img.rgb(), (x, y, w, h), dw, dh).unwrap();
            assert_eq!(got, want, "({x}, {y}) {w}x{h} -> {dw}x{dh}");
        }
        assert!(resize_region(img.rgb(), (200, 0, 101, 10), 8, 8).is_none());
        assert!(resize_region(img.rgb(), (0, 0, 0, 10), 8, 8).is_none());
    }

    #[test]
    fn constant_images_stay_constant() {
        let src = image(37, 23, |_, _| [10, 200, 77]);
        for (w, h) in [(5, 3), (37, 23), (80, 40), (1, 1)] {
            let out = resize(&src, w, h);
            assert_eq!((out.width, out.height), (w, h));
            assert!(out.data.chunks(3).all(|p| p == [10, 200, 77]));
        }
    }

    #[test]
    fn capped_size_keeps_aspect() {
        assert_eq!(capped_size(1920, 1080, 512), (512, 288));
        assert_eq!(capped_size(300, 200, 512), (300, 200));
        assert_eq!(capped_size(300, 200, 0), (300, 200));
    }

    #[test]
    fn crop_takes_the_region() {
        let src = image(6, 4, |x, y| [x as u8, y as u8, 0]);
        let c = crop(&src, 2, 1, 3, 2).unwrap();
        assert_eq!((c.width, c.height), (3, 2));
        assert_eq!(c.pixel(0, 0), Some([2, 1, 0]));
        assert_eq!(c.pixel(2, 1), Some([4, 2, 0]));
        assert!(crop(&src, 4, 0, 3, 1).is_none());
        assert!(crop(&src, 0, 0, 0, 1).is_none());
    }
}
