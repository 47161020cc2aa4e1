//! ROC-AUC with ties counted ½ (the Mann–Whitney U statistic).

/// AUC of `scores` where `labels[i]` is true for positives (fakes). `None` when a class is empty.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 || scores.len() != labels.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid_rank * order[i..=j].iter().filter(|k| labels[**k]).count() as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::auc;

    /// Counts pairs by hand: the definition, not the rank formula.
    fn brute(scores: &[f64], labels: &[bool]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (i, li) in labels.iter().enumerate() {
            for (j, lj) in labels.iter().enumerate() {
                if *li && !*lj {
                    pairs += 1.0;
                    if scores[i] > scores[j] {
                        wins += 1.0;
                    } else if scores[i] == scores[j] {
                        wins += 0.5;
                    }
                }
            }
        }
        wins / pairs
    }

    #[test]
    fn hand_computed_cases() {
        assert_eq!(auc(&[0.1, 0.9], &[false, true]), Some(1.0));
        assert_eq!(auc(&[0.9, 0.1], &[false, true]), Some(0.0));
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        // reals 0.2 0.5 0.8, fakes 0.3 0.9 → (1 + 3) / 6
        let s = [0.2, 0.5, 0.8, 0.3, 0.9];
        let l = [false, false, false, true, true];
        assert!((auc(&s, &l).unwrap() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(auc(&[0.3], &[true]), None);
    }

    #[test]
    fn matches_pair_counting_with_heavy_ties() {
        let mut seed = 7u64;
        for round in 0..200 {
            let n = 2 + round % 40;
            let mut scores = Vec::new();
            let mut labels = Vec::new();
            for _ in 0..n {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                scores.push(((seed >> 33) % 5) as f64 / 4.0);
                labels.push((seed >> 20).is_multiple_of(3));
            }
            if let Some(a) = auc(&scores, &labels) {
                assert!((a - brute(&scores, &labels)).abs() < 1e-12);
            }
        }
    }
}
