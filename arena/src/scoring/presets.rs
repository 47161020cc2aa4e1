//! Creation-score presets (`dfgc2021`, `dfgc2022`) and detector eligibility (DESIGN.md §6).

use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Weights of S_C = ssim·SSIM(c) + id·ID(c) + anti·A(c) (DFGC-2021: 1, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dfgc2021Weights {
    pub ssim: f64,
    pub id: f64,
    pub anti: f64,
}

impl Default for Dfgc2021Weights {
    fn default() -> Self {
        Self {
            ssim: 1.0,
            id: 1.0,
            anti: 2.0,
        }
    }
}

/// Weights of S_C = Σ axis·s_axis + detection·(1 − s_d) (DFGC-2022: 1, 1, 1, 1, 1, 5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dfgc2022Weights {
    pub realism: f64,
    pub quality: f64,
    pub expression: f64,
    pub mouth: f64,
    pub identity: f64,
    pub detection: f64,
}

impl Default for Dfgc2022Weights {
    fn default() -> Self {
        Self {
            realism: 1.0,
            quality: 1.0,
            expression: 1.0,
            mouth: 1.0,
            identity: 1.0,
            detection: 5.0,
        }
    }
}

/// How a creation's score is made from its parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "preset", content = "weights", rename_all = "lowercase")]
pub enum Preset {
    Dfgc2021(Dfgc2021Weights),
    Dfgc2022(Dfgc2022Weights),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown preset {0:?} (expected dfgc2021 or dfgc2022)")]
pub struct UnknownPreset(pub String);

impl FromStr for Preset {
    type Err = UnknownPreset;

    /// `dfgc2021` / `dfgc2022` with their default weights.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dfgc2021" => Ok(Self::Dfgc2021(Dfgc2021Weights::default())),
            "dfgc2022" => Ok(Self::Dfgc2022(Dfgc2022Weights::default())),
            _ => Err(UnknownPreset(s.to_owned())),
        }
    }
}

/// Mean human ratings (1–5) of a creation per axis; `None` where none were imported.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HumanRatings {
    pub realism: Option<f64>,
    pub quality: Option<f64>,
    pub expression: Option<f64>,
    pub mouth: Option<f64>,
    pub identity: Option<f64>,
}

impl HumanRatings {
    fn all(&self) -> Option<[f64; 5]> {
        Some([
            self.realism?,
            self.quality?,
            self.expression?,
            self.mouth?,
            self.identity?,
        ])
    }

    /// s_r + s_q + s_e + s_m + s_id, once every axis has ratings.
    pub fn sum(&self) -> Option<f64> {
        self.all().map(|a| a.iter().sum())
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The parts of a creation's score that do not come from detectors.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CreationParts {
    /// SSIM(c): mean SSIM of its fakes' sampled frames against the target clips.
    pub ssim: Option<f64>,
    /// ID(c): identity similarity (embedding model or imported ratings).
    pub id: Option<f64>,
    pub human: HumanRatings,
}

impl Preset {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Dfgc2021(_) => "dfgc2021",
            Self::Dfgc2022(_) => "dfgc2022",
        }
    }

    /// S_C from the parts and the anti-detection A(c) = mean over detectors of 1 − AUC(d, c).
    ///
    /// `dfgc2021`: `None` until SSIM and A(c) are known; a missing ID counts 0 (DESIGN.md §6).
    /// `dfgc2022`: 1 − s_d is A(c) (s_d = mean AUC over the same detectors); `None` until A(c) and
    /// all five rating axes are known.
    pub fn score(&self, parts: &CreationParts, anti: Option<f64>) -> Option<f64> {
        match self {
            Self::Dfgc2021(w) => {
                Some(w.ssim * parts.ssim? + w.id * parts.id.unwrap_or(0.0) + w.anti * anti?)
            }
            Self::Dfgc2022(w) => {
                let [r, q, e, m, id] = parts.human.all()?;
                let human = w.realism * r
                    + w.quality * q
                    + w.expression * e
                    + w.mouth * m
                    + w.identity * id;
                Some(human + w.detection * anti?)
            }
        }
    }
}

/// A detector counts (is "in scope" for creations and ratings, and is ranked) only when its AUC on
/// each of the organizer's baseline creations (creations flagged `baseline`) is at least `min_auc`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eligibility {
    pub min_auc: f64,
}

impl Eligibility {
    /// `baseline_aucs`: the detector's pair AUCs on the baseline creations (`None` = pending).
    /// A pending pair is not (yet) eligible; with no baseline creation there is nothing to clear.
    pub fn is_eligible(&self, baseline_aucs: &[Option<f64>]) -> bool {
        baseline_aucs
            .iter()
            .all(|a| a.is_some_and(|a| a >= self.min_auc))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ratings(v: [f64; 5]) -> HumanRatings {
        HumanRatings {
            realism: Some(v[0]),
            quality: Some(v[1]),
            expression: Some(v[2]),
            mouth: Some(v[3]),
            identity: Some(v[4]),
        }
    }

    #[test]
    fn dfgc2021_by_hand() {
        let p: Preset = "dfgc2021".parse().unwrap();
        let parts = CreationParts {
            ssim: Some(0.8),
            id: Some(0.6),
            human: HumanRatings::default(),
        };
        // 0.8 + 0.6 + 2 · 0.3
        assert!((p.score(&parts, Some(0.3)).unwrap() - 2.0).abs() < 1e-12);
        let no_id = CreationParts { id: None, ..parts };
        assert!((p.score(&no_id, Some(0.3)).unwrap() - 1.4).abs() < 1e-12);
        assert_eq!(
            p.score(
                &CreationParts {
                    ssim: None,
                    ..parts
                },
                Some(0.3)
            ),
            None
        );
        assert_eq!(p.score(&parts, None), None);
        let custom = Preset::Dfgc2021(Dfgc2021Weights {
            ssim: 0.5,
            id: 0.0,
            anti: 1.0,
        });
        assert!((custom.score(&parts, Some(0.3)).unwrap() - 0.7).abs() < 1e-12);
    }

    #[test]
    fn dfgc2022_by_hand() {
        let p: Preset = " DFGC2022 ".parse().unwrap();
        let parts = CreationParts {
            human: ratings([4.0, 3.5, 3.0, 2.5, 4.5]),
            ..CreationParts::default()
        };
        // s_d = 0.8 → 1 − s_d = A = 0.2: 17.5 + 5 · 0.2
        assert!((p.score(&parts, Some(0.2)).unwrap() - 18.5).abs() < 1e-12);
        assert_eq!(parts.human.sum(), Some(17.5));
        let missing = CreationParts {
            human: HumanRatings {
                mouth: None,
                ..parts.human
            },
            ..parts
        };
        assert_eq!(p.score(&missing, Some(0.2)), None);
        assert!("dfgc2030".parse::<Preset>().is_err());
    }

    #[test]
    fn eligibility() {
        let rule = Eligibility { min_auc: 0.6 };
        assert!(rule.is_eligible(&[Some(0.6), Some(0.9)]));
        assert!(!rule.is_eligible(&[Some(0.59)]));
        assert!(!rule.is_eligible(&[None]));
        assert!(rule.is_eligible(&[]));
    }
}
