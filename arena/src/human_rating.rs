//! Human rating in the platform (DFGC-2022 axes): which fake a rater is shown next, and how far
//! raters agree (Krippendorff's alpha, interval metric). Pure functions.

use std::collections::HashMap;

/// The five DFGC-2022 axes a rater scores from 1 to 5.
pub const AXES: [&str; 5] = ["realism", "quality", "expression", "mouth", "identity"];

/// One fake that may be rated, and what is known of it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub video_id: i64,
    /// Ratings it has.
    pub ratings: u32,
    /// Other raters currently shown it (not yet rated).
    pub open: u32,
    /// This rater has rated it already.
    pub rated_by_me: bool,
}

/// The fake a rater is shown next: among fakes it has not rated and that still lack ratings
/// (fewer than `per_video`), the one with the fewest ratings plus open assignments of other
/// raters (so raters working at once spread out), ties to the lowest video id. None when the
/// rater has nothing left to rate.
pub fn pick_next(candidates: &[Candidate], per_video: u32) -> Option<i64> {
    candidates
        .iter()
        .filter(|c| !c.rated_by_me && c.ratings < per_video)
        .min_by_key(|c| (c.ratings + c.open, c.video_id))
        .map(|c| c.video_id)
}

/// Krippendorff's alpha with the interval metric (squared difference) for `units`: each unit
/// (a fake) holds the values its raters gave. Units with fewer than two values are not
/// pairable and ignored. α = 1 − D_o / D_e with D_o the mean squared difference within units
/// (each unit weighted by 1 / (m_u − 1)) and D_e over all pairable values (Krippendorff 2011,
/// "Computing Krippendorff's alpha-reliability"). None without two pairable values or when
/// every value is the same (D_e = 0: agreement is undefined).
pub fn krippendorff_alpha_interval(units: &[Vec<f64>]) -> Option<f64> {
    let pairable: Vec<&Vec<f64>> = units.iter().filter(|u| u.len() >= 2).collect();
    let n: f64 = pairable.iter().map(|u| u.len() as f64).sum();
    if n < 2.0 {
        return None;
    }
    let mut observed = 0.0;
    for u in &pairable {
        let m = u.len() as f64;
        let sq: f64 = u
            .iter()
            .flat_map(|a| u.iter().map(move |b| (a - b).powi(2)))
            .sum();
        observed += sq / (m - 1.0);
    }
    observed /= n;
    let all: Vec<f64> = pairable.iter().flat_map(|u| u.iter().copied()).collect();
    let sq: f64 = all
        .iter()
        .flat_map(|a| all.iter().map(move |b| (a - b).powi(2)))
        .sum();
    let expected = sq / (n * (n - 1.0));
    (expected > 0.0).then(|| 1.0 - observed / expected)
}

/// Per-axis agreement of in-platform ratings: `ratings` are (video id, axis values in
/// [`AXES`] order); alpha per axis, in [`AXES`] order.
pub fn agreement(ratings: &[(i64, [f64; 5])]) -> [Option<f64>; 5] {
    let mut by_video: HashMap<i64, Vec<[f64; 5]>> = HashMap::new();
    for (video, values) in ratings {
        by_video.entry(*video).or_default().push(*values);
    }
    std::array::from_fn(|axis| {
        let units: Vec<Vec<f64>> = by_video
            .values()
            .map(|rs| rs.iter().map(|r| r[axis]).collect())
            .collect();
        krippendorff_alpha_interval(&units)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cand(video_id: i64, ratings: u32, open: u32, rated_by_me: bool) -> Candidate {
        Candidate {
            video_id,
            ratings,
            open,
            rated_by_me,
        }
    }

    #[test]
    fn the_least_rated_fake_not_rated_by_me_comes_next() {
        let cs = [
            cand(1, 1, 0, false),
            cand(2, 0, 0, true),
            cand(3, 0, 1, false),
        ];
        // 2 is mine already; 1 and 3 both have load 1: the lower id.
        assert_eq!(pick_next(&cs, 3), Some(1));
        let cs = [cand(1, 2, 0, false), cand(3, 0, 1, false)];
        assert_eq!(pick_next(&cs, 3), Some(3));
        // Fakes with enough ratings are left alone.
        assert_eq!(pick_next(&[cand(1, 3, 0, false)], 3), None);
        assert_eq!(pick_next(&[cand(1, 0, 0, true)], 3), None);
    }

    /// Krippendorff (2011), section C: 4 observers, 12 units, values 1–5 with gaps; the paper
    /// gives α_interval = 0.849 (nominal 0.743, ordinal 0.815, ratio 0.797).
    #[test]
    fn alpha_matches_krippendorffs_worked_example() {
        let nan = f64::NAN;
        let a = [1., 2., 3., 3., 2., 1., 4., 1., 2., nan, nan, nan];
        let b = [1., 2., 3., 3., 2., 2., 4., 1., 2., 5., nan, 3.];
        let c = [nan, 3., 3., 3., 2., 3., 4., 2., 2., 5., 1., nan];
        let d = [1., 2., 3., 3., 2., 4., 4., 1., 2., 5., 1., nan];
        let units: Vec<Vec<f64>> = (0..12)
            .map(|i| {
                [a[i], b[i], c[i], d[i]]
                    .into_iter()
                    .filter(|v| !v.is_nan())
                    .collect()
            })
            .collect();
        let alpha = krippendorff_alpha_interval(&units).unwrap();
        assert!((alpha - 0.849).abs() < 5e-4, "{alpha}");
    }

    #[test]
    fn alpha_edges() {
        // Perfect agreement with spread between units: 1.
        let units = vec![vec![1.0, 1.0], vec![5.0, 5.0]];
        assert!((krippendorff_alpha_interval(&units).unwrap() - 1.0).abs() < 1e-12);
        // Nothing pairable, or no variance at all: undefined.
        assert_eq!(krippendorff_alpha_interval(&[vec![3.0], vec![4.0]]), None);
        assert_eq!(krippendorff_alpha_interval(&[vec![3.0, 3.0]]), None);
        let per_axis = agreement(&[(1, [1.0; 5]), (1, [1.0; 5]), (2, [5.0; 5]), (2, [5.0; 5])]);
        assert!(
            per_axis
                .iter()
                .all(|a| a.is_some_and(|a| (a - 1.0).abs() < 1e-12))
        );
    }
}
