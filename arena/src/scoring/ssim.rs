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
pub fn ssim_luma(a: &[f64], b: &[f64], width: usize, height: usize) -> Option<f64> {
    if width < WIN || height < WIN || a.len() != width * height || b.len() != a.len() {
        return None;
    }
    let kernel = gaussian_kernel();
    let products = |f: fn(f64, f64) -> f64| {
        a.iter()
            .zip(b)
            .map(|(x, y)| f(*x, *y))
            .collect::<Vec<f64>>()
    };
    let filter = |img: &[f64]| filter_valid(img, width, height, &kernel);
    let ux = filter(a);
    let uy = filter(b);
    let uxx = filter(&products(|x, _| x * x));
    let uyy = filter(&products(|_, y| y * y));
    let uxy = filter(&products(|x, y| x * y));
    let mut total = 0.0;
    for i in 0..ux.len() {
        let (mx, my) = (ux[i], uy[i]);
        let vx = uxx[i] - mx * mx;
        let vy = uyy[i] - my * my;
        let vxy = uxy[i] - mx * my;
        let num = (2.0 * mx * my + C1) * (2.0 * vxy + C2);
        let den = (mx * mx + my * my + C1) * (vx + vy + C2);
        total += num / den;
    }
    Some(total / ux.len() as f64)
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

/// Separable Gaussian filter evaluated only where the window fits: the
/// `(width − 10) × (height − 10)` map of window centres at least 5 pixels from every edge.
fn filter_valid(img: &[f64], width: usize, height: usize, kernel: &[f64; WIN]) -> Vec<f64> {
    let out_w = width - 2 * RADIUS;
    let out_h = height - 2 * RADIUS;
    // Horizontal pass over every row, valid columns only.
    let mut rows = vec![0.0; out_w * height];
    for (src, dst) in img.chunks_exact(width).zip(rows.chunks_exact_mut(out_w)) {
        for (x, out) in dst.iter_mut().enumerate() {
            *out = src[x..x + WIN].iter().zip(kernel).map(|(p, k)| p * k).sum();
        }
    }
    // Vertical pass: accumulate the 11 contributing rows into each output row.
    let mut out = vec![0.0; out_w * out_h];
    for (y, dst) in out.chunks_exact_mut(out_w).enumerate() {
        for (k, weight) in kernel.iter().enumerate() {
            let src = &rows[(y + k) * out_w..(y + k + 1) * out_w];
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += weight * s);
        }
    }
    out
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

    #[test]
    fn kernel_is_normalised_and_symmetric() {
        let k = gaussian_kernel();
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(k[0], k[10]);
        assert!(k[5] > k[4]);
    }
}
