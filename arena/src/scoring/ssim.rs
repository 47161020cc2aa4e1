//! SSIM (Wang et al. 2004) between two same-size 8-bit images, as scikit-image computes it.
//!
//! Matches `skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
//! use_sample_covariance=False, data_range=255)`: an 11-tap Gaussian window (σ = 1.5, truncated at
//! 3.5σ, normalised to sum 1), K1 = 0.01, K2 = 0.03, L = 255, population (co)variances, and the mean
//! of the SSIM map after cropping the (11 − 1) / 2 = 5-pixel border. Only windows lying wholly inside
//! the image survive that crop, so the border mode of the filter never matters and is not computed.

const SIGMA: f64 = 1.5;
/// skimage's radius: `int(3.5 · σ + 0.5)` = 5, an 11×11 window.
const RADIUS: usize = 5;
const WIN: usize = 2 * RADIUS + 1;
const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// Mean SSIM of two grayscale images stored row-major, `width × height` bytes each.
/// `None` when a buffer has the wrong length or a side is under 11 pixels (skimage raises there).
pub fn ssim_gray(a: &[u8], b: &[u8], width: usize, height: usize) -> Option<f64> {
    let to_f64 = |img: &[u8]| img.iter().map(|p| f64::from(*p)).collect::<Vec<f64>>();
    ssim_luma(&to_f64(a), &to_f64(b), width, height)
}

/// Mean SSIM of two packed RGB images (`width × height × 3` bytes) on their BT.601 luma,
/// Y = 0.299 R + 0.587 G + 0.114 B kept in floating point (not rounded), on the 0–255 range.
pub fn ssim_rgb(a: &[u8], b: &[u8], width: usize, height: usize) -> Option<f64> {
    if a.len() != width * height * 3 || b.len() != a.len() {
        return None;
    }
    ssim_luma(&luma(a), &luma(b), width, height)
}

/// BT.601 luma of packed RGB bytes.
pub fn luma(rgb: &[u8]) -> Vec<f64> {
    let y = |p: &[u8]| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
    rgb.chunks_exact(3).map(y).collect()
}

/// Mean SSIM of two single-channel images with values on the 0–255 range.
///
/// One pass over the image for the five filtered planes (x, y, x², y², x·y) at once, in rows:
/// each row's horizontal pass is kept in a ring of the last 11 rows, and each output row's
/// vertical pass and SSIM are computed as soon as its 11 rows are there, so nothing image-sized
/// is allocated. Both passes fold the symmetric window (`w[k]·(p[x+k] + p[x+10−k])`, 6 products
/// instead of 11) and run along whole rows, which the compiler vectorises. The sums are those of
/// the straightforward filter in another order (differences ~1e-15).
pub fn ssim_luma(a: &[f64], b: &[f64], width: usize, height: usize) -> Option<f64> {
    if width < WIN || height < WIN || a.len() != width * height || b.len() != a.len() {
        return None;
    }
    let kernel = gaussian_kernel();
    let out_w = width - 2 * RADIUS;
    let out_h = height - 2 * RADIUS;
    // ring[r][c]: plane c (x, y, x², y², x·y) of input row r mod 11, filtered horizontally.
    let mut ring = vec![
        [
            vec![0.0; out_w],
            vec![0.0; out_w],
            vec![0.0; out_w],
            vec![0.0; out_w],
            vec![0.0; out_w]
        ];
        WIN
    ];
    let mut planes = [vec![0.0; width], vec![0.0; width], vec![0.0; width]];
    let mut acc = [
        vec![0.0; out_w],
        vec![0.0; out_w],
        vec![0.0; out_w],
        vec![0.0; out_w],
        vec![0.0; out_w],
    ];
    let mut total = 0.0;
    for y in 0..height {
        let (ra, rb) = (
            &a[y * width..(y + 1) * width],
            &b[y * width..(y + 1) * width],
        );
        let [xx, yy, xy] = &mut planes;
        for i in 0..width {
            xx[i] = ra[i] * ra[i];
            yy[i] = rb[i] * rb[i];
            xy[i] = ra[i] * rb[i];
        }
        let slot = &mut ring[y % WIN];
        for (src, dst) in [ra, rb, &planes[0], &planes[1], &planes[2]]
            .into_iter()
            .zip(slot.iter_mut())
        {
            filter_row(src, dst, &kernel);
        }
        if y + 1 < WIN {
            continue;
        }
        // Output row y − 10: the rows y − 10 ..= y of the ring, folded about the centre row.
        let top = y + 1 - WIN;
        for (c, out) in acc.iter_mut().enumerate() {
            let centre = &ring[(top + RADIUS) % WIN][c];
            out.iter_mut()
                .zip(centre)
                .for_each(|(o, s)| *o = kernel[RADIUS] * s);
            for k in 0..RADIUS {
                let (lo, hi) = (
                    &ring[(top + k) % WIN][c],
                    &ring[(top + WIN - 1 - k) % WIN][c],
                );
                let w = kernel[k];
                out.iter_mut()
                    .zip(lo.iter().zip(hi))
                    .for_each(|(o, (l, h))| *o += w * (l + h));
            }
        }
        let [ux, uy, uxx, uyy, uxy] = &acc;
        for i in 0..out_w {
            let (mx, my) = (ux[i], uy[i]);
            let vx = uxx[i] - mx * mx;
            let vy = uyy[i] - my * my;
            let vxy = uxy[i] - mx * my;
            let num = (2.0 * mx * my + C1) * (2.0 * vxy + C2);
            let den = (mx * mx + my * my + C1) * (vx + vy + C2);
            total += num / den;
        }
    }
    Some(total / (out_w * out_h) as f64)
}

/// The normalised 11-tap Gaussian, as `scipy.ndimage.gaussian_filter1d` builds it.
fn gaussian_kernel() -> [f64; WIN] {
    let mut k = [0.0; WIN];
    for (i, w) in k.iter_mut().enumerate() {
        let x = i as f64 - RADIUS as f64;
        *w = (-0.5 * x * x / (SIGMA * SIGMA)).exp();
    }
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|w| *w /= sum);
    k
}

/// One row of the separable Gaussian, valid columns only: `dst[x]` is the window centred on
/// `src[x + 5]`, `dst.len() = src.len() − 10`.
fn filter_row(src: &[f64], dst: &mut [f64], kernel: &[f64; WIN]) {
    let n = dst.len();
    dst.iter_mut()
        .zip(&src[RADIUS..RADIUS + n])
        .for_each(|(d, s)| *d = kernel[RADIUS] * s);
    for k in 0..RADIUS {
        let (lo, hi) = (&src[k..k + n], &src[WIN - 1 - k..WIN - 1 - k + n]);
        let w = kernel[k];
        dst.iter_mut()
            .zip(lo.iter().zip(hi))
            .for_each(|(d, (l, h))| *d += w * (l + h));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_score_one() {
        let img: Vec<u8> = (0..32 * 20).map(|i| (i * 7 % 251) as u8).collect();
        assert!((ssim_gray(&img, &img, 32, 20).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn constant_images_by_hand() {
        // Flat images: variances vanish, SSIM = (2·μx·μy + C1) / (μx² + μy² + C1).
        let (a, b) = (vec![100u8; 12 * 12], vec![50u8; 12 * 12]);
        let expected = (2.0 * 100.0 * 50.0 + C1) / (100.0f64.powi(2) + 50.0f64.powi(2) + C1);
        assert!((ssim_gray(&a, &b, 12, 12).unwrap() - expected).abs() < 1e-9);
    }

    #[test]
    fn rejects_small_or_mismatched_images() {
        assert_eq!(ssim_gray(&[0; 100], &[0; 100], 10, 10), None);
        assert_eq!(ssim_gray(&[0; 144], &[0; 143], 12, 12), None);
        assert_eq!(ssim_rgb(&[0; 144], &[0; 144], 12, 12), None);
        assert!(ssim_rgb(&[9; 432], &[9; 432], 12, 12).is_some());
    }

    /// The definition, written out: every window's weighted means and (co)variances summed
    /// directly over its 11 × 11 pixels.
    fn ssim_by_windows(a: &[f64], b: &[f64], w: usize, h: usize) -> f64 {
        let k = gaussian_kernel();
        let mut total = 0.0;
        for cy in RADIUS..h - RADIUS {
            for cx in RADIUS..w - RADIUS {
                let [mut mx, mut my, mut xx, mut yy, mut xy] = [0.0; 5];
                for j in 0..WIN {
                    for i in 0..WIN {
                        let p = (cy + j - RADIUS) * w + cx + i - RADIUS;
                        let wt = k[j] * k[i];
                        mx += wt * a[p];
                        my += wt * b[p];
                        xx += wt * a[p] * a[p];
                        yy += wt * b[p] * b[p];
                        xy += wt * a[p] * b[p];
                    }
                }
                let (vx, vy, vxy) = (xx - mx * mx, yy - my * my, xy - mx * my);
                total += (2.0 * mx * my + C1) * (2.0 * vxy + C2)
                    / ((mx * mx + my * my + C1) * (vx + vy + C2));
            }
        }
        total / ((w - 2 * RADIUS) * (h - 2 * RADIUS)) as f64
    }

    #[test]
    fn row_ring_filter_equals_the_windows_summed_directly() {
        for (w, h) in [(11, 11), (12, 30), (37, 23)] {
            let a: Vec<f64> = (0..w * h).map(|i| ((i * 37 + 11) % 256) as f64).collect();
            let b: Vec<f64> = (0..w * h)
                .map(|i| ((i * 37 + 11) % 256) as f64 * 0.7 + ((i * 13) % 50) as f64)
                .collect();
            let fast = ssim_luma(&a, &b, w, h).unwrap();
            let direct = ssim_by_windows(&a, &b, w, h);
            assert!((fast - direct).abs() < 1e-12, "{w}x{h}: {fast} vs {direct}");
            assert!(fast < 0.99, "{w}x{h}: the images differ, {fast}");
        }
    }

    #[test]
    fn kernel_is_normalised_and_symmetric() {
        let k = gaussian_kernel();
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(k[0], k[10]);
        assert!(k[5] > k[4]);
    }
}
