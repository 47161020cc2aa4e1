//! Scoring numbers checked against independent references run in Python (scripts in
//! `tests/reference/`): ROC-AUC vs scikit-learn, SSIM vs scikit-image, Bradley–Terry vs an L2
//! logistic regression in scikit-learn. A test prints why and passes when the Python modules are
//! missing, unless `ARENA_REQUIRE_PYTHON_REFERENCE=1` (`.ci/run` sets it) makes that a failure
//! (set `ARENA_PYTHON` to pick the interpreter; default `python3`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arena::ratings::bradley_terry::{DEFAULT_LAMBDA, Game, fit};
use arena::scoring::{auc, ssim_gray, ssim_rgb};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> String {
    std::env::var("ARENA_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// A reference check that cannot run: a failure under `ARENA_REQUIRE_PYTHON_REFERENCE=1`, else a
/// line on stderr and in `ARENA_SKIP_LOG` (the summary `make test` prints).
fn skipped(what: &str) {
    assert!(
        std::env::var("ARENA_REQUIRE_PYTHON_REFERENCE").as_deref() != Ok("1"),
        "{what}, but ARENA_REQUIRE_PYTHON_REFERENCE=1 requires the reference"
    );
    eprintln!("SKIPPED {what}");
    if let Ok(log) = std::env::var("ARENA_SKIP_LOG") {
        use std::io::Write as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log);
        if let Ok(mut f) = file {
            let _ = writeln!(f, "python reference {what}");
        }
    }
}

/// Runs `tests/reference/<script> <input>` and returns its stdout, or `None` (after saying so on
/// stderr) when Python or one of `modules` cannot be imported. A failing script is a test failure.
fn reference(script: &str, modules: &str, input: &Path) -> Option<String> {
    let probe = Command::new(python())
        .args(["-c", &format!("import {modules}")])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr);
            skipped(&format!(
                "{script}: cannot import {modules}: {}",
                why.trim()
            ));
            return None;
        }
        Err(e) => {
            skipped(&format!("{script}: cannot run {}: {e}", python()));
            return None;
        }
    }
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "reference", script]
        .iter()
        .collect();
    let out = Command::new(python())
        .arg(&path)
        .arg(input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed: {stderr}");
    if !stderr.trim().is_empty() {
        eprintln!("{script}: {}", stderr.trim());
    }
    Some(String::from_utf8(out.stdout).unwrap())
}

fn parse_lines(text: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// A tiny deterministic generator (PCG-style LCG), so the cases never change.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 31) as f64
    }
}

fn join<T: ToString>(xs: &[T]) -> String {
    xs.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

/// (labels, scores): random continuous, heavily tied (5 or 2 levels), all tied, and lopsided cases.
fn auc_cases() -> Vec<(Vec<bool>, Vec<f64>)> {
    let mut rng = Lcg(2021);
    let mut cases = Vec::new();
    for round in 0..120 {
        let n = 2 + (round * 7) % 300;
        let positive_rate = [0.5, 0.1, 0.9, 0.02][round % 4];
        let levels = [0, 5, 2, 1][(round / 4) % 4]; // 0 = continuous
        let mut labels: Vec<bool> = (0..n).map(|_| rng.unit() < positive_rate).collect();
        // Both classes must be present for the AUC to exist.
        labels[0] = true;
        labels[n - 1] = false;
        let scores = (0..n)
            .map(|i| {
                let shift = if labels[i] { 0.15 } else { 0.0 };
                let x = (rng.unit() + shift).min(1.0);
                if levels == 0 {
                    x
                } else {
                    (x * levels as f64).floor() / levels as f64
                }
            })
            .collect();
        cases.push((labels, scores));
    }
    cases
}

#[test]
fn auc_matches_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    let cases = auc_cases();
    let mut text = String::new();
    for (labels, scores) in &cases {
        let l: Vec<u8> = labels.iter().map(|b| u8::from(*b)).collect();
        writeln!(text, "{};{}", join(&l), join(scores)).unwrap();
    }
    let input = dir.path().join("auc_cases.txt");
    std::fs::write(&input, text).unwrap();
    let Some(out) = reference("auc_reference.py", "sklearn", &input) else {
        return;
    };
    let expected = parse_lines(&out);
    assert_eq!(expected.len(), cases.len());
    let tied = cases
        .iter()
        .filter(|(_, s)| s.windows(2).any(|w| w[0] == w[1]))
        .count();
    eprintln!(
        "AUC: {} cases ({tied} with ties) against scikit-learn",
        cases.len()
    );
    for (i, ((labels, scores), want)) in cases.iter().zip(&expected).enumerate() {
        let got = auc(scores, labels).unwrap();
        assert!(
            (got - want).abs() < 1e-12,
            "case {i}: arena {got} vs sklearn {want}"
        );
    }
}

/// A width × height × channels image: gradient + checker pattern + noise.
fn image(rng: &mut Lcg, width: usize, height: usize, channels: usize) -> Vec<u8> {
    let mut px = Vec::with_capacity(width * height * channels);
    for y in 0..height {
        for x in 0..width {
            for c in 0..channels {
                let gradient = 200.0 * (x + y) as f64 / (width + height) as f64;
                let checker = if (x / 4 + y / 3 + c) % 2 == 0 {
                    30.0
                } else {
                    0.0
                };
                let noise = 25.0 * rng.unit();
                px.push((gradient + checker + noise).min(255.0) as u8);
            }
        }
    }
    px
}

/// A degraded copy: noise, a brightness shift, or a one-pixel horizontal shift.
fn degrade(rng: &mut Lcg, img: &[u8], width: usize, channels: usize, how: usize) -> Vec<u8> {
    let row = width * channels;
    (0..img.len())
        .map(|i| match how {
            0 => (f64::from(img[i]) + 60.0 * (rng.unit() - 0.5)).clamp(0.0, 255.0) as u8,
            1 => img[i].saturating_add(40),
            _ => img[if i % row >= channels { i - channels } else { i }],
        })
        .collect()
}

#[test]
fn ssim_matches_scikit_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Lcg(2004);
    let mut manifest = String::new();
    let mut ours = Vec::new();
    let sizes = [(11, 11), (64, 48), (97, 61), (200, 150)];
    for (k, &(w, h)) in sizes.iter().enumerate() {
        for (kind, channels) in [("gray", 1), ("rgb", 3)] {
            for how in 0..3 {
                let a = image(&mut rng, w, h, channels);
                let b = degrade(&mut rng, &a, w, channels, how);
                let (pa, pb) = (
                    dir.path().join(format!("{k}{kind}{how}a.raw")),
                    dir.path().join(format!("{k}{kind}{how}b.raw")),
                );
                std::fs::write(&pa, &a).unwrap();
                std::fs::write(&pb, &b).unwrap();
                writeln!(manifest, "{kind} {w} {h} {} {}", pa.display(), pb.display()).unwrap();
                let ssim = if channels == 1 {
                    ssim_gray(&a, &b, w, h)
                } else {
                    ssim_rgb(&a, &b, w, h)
                };
                ours.push(ssim.unwrap());
            }
        }
    }
    let input = dir.path().join("manifest.txt");
    std::fs::write(&input, manifest).unwrap();
    let Some(out) = reference("ssim_reference.py", "skimage, numpy", &input) else {
        return;
    };
    let expected = parse_lines(&out);
    assert_eq!(expected.len(), ours.len());
    let worst = ours
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "SSIM: largest difference from scikit-image {worst:.3e} over {} cases",
        ours.len()
    );
    for (i, (got, want)) in ours.iter().zip(&expected).enumerate() {
        assert!(
            (got - want).abs() < 1e-4,
            "case {i}: arena {got} vs skimage {want}"
        );
    }
    // The cases must span a useful range, not all sit near 1.
    assert!(expected.iter().any(|s| *s < 0.8) && expected.iter().any(|s| *s > 0.9));
}

/// 6 creators (0..6) vs 5 detectors (6..11) with hidden strengths; each pair plays 2–25 games.
/// Creator 0 never loses, to check that the prior keeps a perfect record finite in both fits.
fn tournament() -> Vec<Game> {
    let mut rng = Lcg(1952);
    let strength = [1.5, 0.8, 0.3, 0.0, -0.4, -1.0, 0.6, 0.2, -0.1, -0.5, 0.9];
    let mut games = Vec::new();
    for c in 0..6 {
        for d in 6..11 {
            let n = 2 + rng.next() % 24;
            for _ in 0..n {
                let p = 1.0 / (1.0 + f64::exp(strength[d] - strength[c]));
                let creator_won = c == 0 || rng.unit() < p;
                let (winner, loser) = if creator_won { (c, d) } else { (d, c) };
                games.push(Game { winner, loser });
            }
        }
    }
    games
}

#[test]
fn bradley_terry_matches_regularised_logistic_regression() {
    let games = tournament();
    for lambda in [DEFAULT_LAMBDA, 1.0] {
        let dir = tempfile::tempdir().unwrap();
        let mut text = format!("11 {lambda}\n");
        for g in &games {
            writeln!(text, "{} {}", g.winner, g.loser).unwrap();
        }
        let input = dir.path().join("games.txt");
        std::fs::write(&input, text).unwrap();
        let Some(out) = reference("bradley_terry_reference.py", "sklearn, numpy", &input) else {
            return;
        };
        let expected = parse_lines(&out);
        let ours = fit(11, &games, lambda).unwrap();
        assert_eq!(expected.len(), ours.len());
        let worst = ours
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "Bradley–Terry, λ = {lambda}: largest log-strength difference from sklearn {worst:.3e}"
        );
        for (k, (got, want)) in ours.iter().zip(&expected).enumerate() {
            assert!(
                (got - want).abs() < 1e-4,
                "λ = {lambda}, entry {k}: arena {got} vs sklearn {want}"
            );
        }
        assert!(ours[0] == ours.iter().copied().fold(f64::MIN, f64::max) && ours[0] < 20.0);
    }
}
