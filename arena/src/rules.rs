//! Competition rules (DESIGN.md §6): settings, phases, and which (detector, video) pairs are in
//! scope. Pure functions; the evaluation module applies them to the database.

use crate::entities::competitions;
use crate::error::RepoError;
use serde::{Deserialize, Serialize};

/// The competition's settings (defaults for an empty record).
pub fn settings(comp: &competitions::Model) -> Result<CompetitionSettings, RepoError> {
    if comp.settings.trim().is_empty() {
        return Ok(CompetitionSettings::default());
    }
    serde_json::from_str(&comp.settings)
        .map_err(|e| RepoError::Corrupt(format!("competition settings: {e}")))
}

/// Per-competition settings, stored as JSON on the competition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CompetitionSettings {
    /// Which submission of a team shows on the board.
    pub board: BoardPolicy,
    /// Submissions per team, phase and UTC day (None = unlimited).
    #[serde(deserialize_with = "crate::json::optional_integer")]
    #[schema(maximum = 4294967295_u64)]
    pub daily_limit: Option<u32>,
    /// Submissions per team and phase (None = unlimited).
    #[serde(deserialize_with = "crate::json::optional_integer")]
    #[schema(maximum = 4294967295_u64)]
    pub total_limit: Option<u32>,
    /// Final picks per team and kind (rounds mode: per phase); a team that picked any is ranked
    /// by its best final pick (None = no finals; every team ranks by `board`).
    #[serde(deserialize_with = "crate::json::optional_integer")]
    #[schema(maximum = 4294967295_u64)]
    pub final_picks: Option<u32>,
    /// Public / private (`crate::split`): the fraction of the hidden reals and of each
    /// creation's fakes kept for the private part, revealed at the end (0 = no split; else
    /// 0 < f < 1).
    #[schema(minimum = 0.0, exclusive_maximum = 1.0)]
    pub private_fraction: f64,
    /// The salt of the public / private split; keep it secret (settings are not published).
    #[schema(max_length = 200)]
    pub private_salt: String,
    /// Allowed relative difference between a fake's frame count and its target clip's.
    pub frame_tolerance: f64,
    /// Weights of the `dfgc2021` creation score (default SSIM 1, ID 1, anti-detection 2).
    pub dfgc2021: Option<crate::scoring::presets::Dfgc2021Weights>,
    /// Weights of the `dfgc2022` creation score (default 1 per axis, 5 for 1 − s_d).
    pub dfgc2022: Option<crate::scoring::presets::Dfgc2022Weights>,
    /// A detector is ranked only with AUC ≥ this on the organizers' baseline creation(s).
    pub eligibility_min_auc: Option<f64>,
    /// In-platform human rating: ratings each fake should get before raters move on (raters
    /// are shown the least-rated fake they have not rated; see `arena::human_rating`; 0 counts
    /// as 1).
    #[serde(deserialize_with = "crate::json::integer")]
    #[schema(maximum = 4294967295_u64)]
    pub ratings_per_video: u32,
}

impl Default for CompetitionSettings {
    fn default() -> Self {
        CompetitionSettings {
            board: BoardPolicy::Best,
            daily_limit: None,
            total_limit: None,
            final_picks: None,
            private_fraction: 0.0,
            private_salt: String::new(),
            frame_tolerance: 0.02,
            dfgc2021: None,
            dfgc2022: None,
            eligibility_min_auc: None,
            ratings_per_video: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BoardPolicy {
    #[default]
    Best,
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    Creation,
    Detection,
}

impl PhaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseKind::Creation => "creation",
            PhaseKind::Detection => "detection",
        }
    }
    pub fn parse(raw: &str) -> Option<PhaseKind> {
        match raw {
            "creation" => Some(PhaseKind::Creation),
            "detection" => Some(PhaseKind::Detection),
            _ => None,
        }
    }
    /// `C` or `D`, as in C1, D1.
    pub fn letter(self) -> char {
        match self {
            PhaseKind::Creation => 'C',
            PhaseKind::Detection => 'D',
        }
    }
}

/// A phase as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    pub id: i64,
    pub kind: PhaseKind,
    pub round: i32,
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
}

impl Phase {
    pub fn is_open(&self, now_ms: i64) -> bool {
        self.opens_at_ms <= now_ms && now_ms < self.closes_at_ms
    }
    pub fn is_closed(&self, now_ms: i64) -> bool {
        now_ms >= self.closes_at_ms
    }
    pub fn name(&self) -> String {
        format!("{}{}", self.kind.letter(), self.round)
    }
}

/// The scoring rules of a competition: its preset (with its weights) and eligibility rule.
pub fn scoring_rules(
    preset: crate::domain::Preset,
    settings: &CompetitionSettings,
) -> crate::scoring::leaderboard::ScoringRules {
    use crate::scoring::presets::Preset as Scored;
    let preset = match preset {
        crate::domain::Preset::Dfgc2021 => Scored::Dfgc2021(settings.dfgc2021.unwrap_or_default()),
        crate::domain::Preset::Dfgc2022 => Scored::Dfgc2022(settings.dfgc2022.unwrap_or_default()),
    };
    crate::scoring::leaderboard::ScoringRules {
        preset: Some(preset),
        eligibility: settings
            .eligibility_min_auc
            .map(|min_auc| crate::scoring::presets::Eligibility { min_auc }),
        ..Default::default()
    }
}

/// The open phase of `kind`, if any.
pub fn open_phase(phases: &[Phase], kind: PhaseKind, now_ms: i64) -> Option<Phase> {
    phases
        .iter()
        .copied()
        .find(|p| p.kind == kind && p.is_open(now_ms))
}

/// The phase of `kind` and `round`.
pub fn phase(phases: &[Phase], kind: PhaseKind, round: i32) -> Option<Phase> {
    phases
        .iter()
        .copied()
        .find(|p| p.kind == kind && p.round == round)
}

/// Where a detector stands in rounds mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorSlot {
    /// An organizer's baseline outside any phase: the "D0" that C1 is scored against.
    Baseline,
    /// Submitted in detection phase Dk; `final_of_closed` when Dk has closed and it is its
    /// team's last valid detector there.
    Round { round: i32, final_of_closed: bool },
    /// A non-baseline detector outside any phase (live-mode data in a rounds competition).
    Unphased,
}

/// Where a video stands in rounds mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoSlot {
    /// A hidden real: every detector scores it.
    Real,
    /// A fake submitted in creation phase Ck.
    Fake { round: i32 },
    /// A fake outside any phase.
    Unphased,
}

/// Is (detector, video) a pair the rounds schedule evaluates?
/// Ck's fakes are scored by D(k−1)'s final detectors (D0 = baselines) and by every Dk detector.
pub fn in_scope(det: DetectorSlot, video: VideoSlot) -> bool {
    match (video, det) {
        (VideoSlot::Real, _) => true,
        (VideoSlot::Fake { round: 1 }, DetectorSlot::Baseline) => true,
        (
            VideoSlot::Fake { round: k },
            DetectorSlot::Round {
                round: d,
                final_of_closed,
            },
        ) => d == k || (d == k - 1 && final_of_closed),
        _ => false,
    }
}

/// The detectors a creation of round k is ranked against: Dk's finals once Dk has closed,
/// else D(k−1)'s finals (provisional), and for k = 1 before D1 closes the baselines.
pub fn creation_board_detectors(k: i32, dk_closed: bool) -> impl Fn(DetectorSlot) -> bool {
    move |slot| match slot {
        DetectorSlot::Round {
            round,
            final_of_closed,
        } => final_of_closed && ((dk_closed && round == k) || (!dk_closed && round == k - 1)),
        DetectorSlot::Baseline => k == 1 && !dk_closed,
        DetectorSlot::Unphased => false,
    }
}

/// Keeps each team's last item (by id): the "final" detectors of a phase.
pub fn last_per_team(items: &[(i64, i64)]) -> Vec<i64> {
    let mut last: Vec<(i64, i64)> = Vec::new();
    for &(team, id) in items {
        match last.iter_mut().find(|(t, _)| *t == team) {
            Some(entry) => entry.1 = entry.1.max(id),
            None => last.push((team, id)),
        }
    }
    last.into_iter().map(|(_, id)| id).collect()
}

/// Start of the UTC day containing `now_ms`.
pub fn utc_day_start(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(86_400_000)
}

/// Whether a fake's frame count is within tolerance of its target's.
pub fn frames_match(fake: i64, target: i64, tolerance: f64) -> bool {
    if target <= 0 {
        return fake == target;
    }
    ((fake - target).abs() as f64) <= tolerance * target as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn round(d: i32, f: bool) -> DetectorSlot {
        DetectorSlot::Round {
            round: d,
            final_of_closed: f,
        }
    }

    #[test]
    fn rounds_scope() {
        let c1 = VideoSlot::Fake { round: 1 };
        let c2 = VideoSlot::Fake { round: 2 };
        assert!(in_scope(DetectorSlot::Baseline, c1));
        assert!(!in_scope(DetectorSlot::Baseline, c2));
        assert!(in_scope(round(1, false), c1), "D1 scores C1's fakes");
        assert!(
            !in_scope(round(1, false), c2),
            "an open D1 detector is not yet final"
        );
        assert!(in_scope(round(1, true), c2), "D1's finals score C2");
        assert!(!in_scope(round(2, true), c1));
        assert!(in_scope(round(2, false), VideoSlot::Real));
        assert!(!in_scope(DetectorSlot::Unphased, c1));
    }

    #[test]
    fn creation_boards_switch_when_dk_closes() {
        let provisional = creation_board_detectors(2, false);
        assert!(provisional(round(1, true)));
        assert!(!provisional(round(2, false)));
        let final_board = creation_board_detectors(2, true);
        assert!(final_board(round(2, true)));
        assert!(!final_board(round(1, true)));
        assert!(creation_board_detectors(1, false)(DetectorSlot::Baseline));
    }

    #[test]
    fn helpers() {
        assert_eq!(last_per_team(&[(1, 10), (2, 11), (1, 12)]), vec![12, 11]);
        assert!(frames_match(98, 100, 0.02));
        assert!(!frames_match(97, 100, 0.02));
        assert_eq!(utc_day_start(86_400_000 + 5), 86_400_000);
        let p = Phase {
            id: 1,
            kind: PhaseKind::Creation,
            round: 1,
            opens_at_ms: 10,
            closes_at_ms: 20,
        };
        assert!(p.is_open(10) && !p.is_open(20) && p.is_closed(20));
        assert_eq!(p.name(), "C1");
    }
}
