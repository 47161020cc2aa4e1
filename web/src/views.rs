//! What the pages show, formatted: board rows, rating interval bars, phase countdowns and the
//! AUC heatmap. The live script on the competition page formats the JSON the same way.

use arena::boards::Boards;
use arena::entities::phases;
use arena::scoring::Matrix;

/// A number as the boards show it: 4 decimals, `…` while pending.
pub fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "…".to_owned(), |v| format!("{v:.4}"))
}

/// A rank, `–` for unranked rows (baselines, ineligible detectors).
pub fn rank(r: Option<u32>) -> String {
    r.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

/// A UTC time, to the minute.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A UTC time, to the second (log lines).
pub fn time_s(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// `2d 03h`, `1h 02m`, `4m 05s`, `12s`: time left until a deadline.
pub fn countdown(ms_left: i64) -> String {
    let s = ms_left.max(0) / 1000;
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    }
}

/// A byte count for limits shown on forms.
pub fn bytes(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    if n >= MIB {
        format!("{} MiB", n / MIB)
    } else {
        format!("{} KiB", n.div_ceil(1024))
    }
}

pub struct DetectionView {
    pub rank: String,
    pub team: String,
    pub submission: i64,
    pub score: String,
    pub pooled_auc: String,
    pub worst_auc: String,
    pub progress: String,
    pub baseline: bool,
    /// A final pick of its team.
    pub final_pick: bool,
}

pub struct CreationView {
    pub rank: String,
    pub team: String,
    pub submission: i64,
    pub score: String,
    pub anti_detection: String,
    pub detectors: usize,
    pub videos: usize,
    pub baseline: bool,
    /// A final pick of its team.
    pub final_pick: bool,
}

/// A rating row with its 95 % interval drawn on a shared scale.
pub struct RatingView {
    pub rank: String,
    pub team: String,
    pub role: String,
    pub rating: String,
    pub interval: String,
    pub x_low: String,
    pub x_mid: String,
    pub x_high: String,
    pub matches: usize,
    pub wins: usize,
    pub glicko: String,
    pub baseline: bool,
}

/// Width of a rating bar, in SVG units (the script uses the same).
pub const BAR_WIDTH: f64 = 160.0;
const BAR_MARGIN: f64 = 6.0;

/// The scale all interval bars share: min(ci_low)..max(ci_high).
struct Scale {
    lo: f64,
    hi: f64,
}

impl Scale {
    fn x(&self, v: f64) -> String {
        let span = BAR_WIDTH - 2.0 * BAR_MARGIN;
        format!(
            "{:.1}",
            BAR_MARGIN + (v - self.lo) / (self.hi - self.lo) * span
        )
    }
}

pub fn detection(b: &Boards) -> Vec<DetectionView> {
    b.detection
        .iter()
        .map(|r| DetectionView {
            rank: rank(r.rank),
            team: r.team.clone(),
            submission: r.submission,
            score: num(r.score),
            pooled_auc: num(r.pooled_auc),
            worst_auc: num(r.worst_auc),
            progress: format!("{}/{}", r.videos_scored, r.videos_total),
            baseline: r.baseline,
            final_pick: r.final_pick,
        })
        .collect()
}

pub fn creation(b: &Boards) -> Vec<CreationView> {
    b.creation
        .iter()
        .map(|r| CreationView {
            rank: rank(r.rank),
            team: r.team.clone(),
            submission: r.submission,
            score: num(r.score),
            anti_detection: num(r.anti_detection),
            detectors: r.detectors_scored,
            videos: r.videos,
            baseline: r.baseline,
            final_pick: r.final_pick,
        })
        .collect()
}

fn role_name(role: arena::ratings::Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn ratings(b: &Boards) -> Vec<RatingView> {
    let lo = b
        .ratings
        .iter()
        .map(|r| r.ci_low)
        .fold(f64::INFINITY, f64::min);
    let hi = b
        .ratings
        .iter()
        .map(|r| r.ci_high)
        .fold(f64::NEG_INFINITY, f64::max);
    let scale = if lo.is_finite() && hi.is_finite() && hi - lo >= 1.0 {
        Scale { lo, hi }
    } else {
        let mid = if lo.is_finite() {
            (lo + hi) / 2.0
        } else {
            1000.0
        };
        Scale {
            lo: mid - 1.0,
            hi: mid + 1.0,
        }
    };
    b.ratings
        .iter()
        .map(|r| RatingView {
            rank: rank(r.rank),
            team: r.team.clone(),
            role: role_name(r.role),
            rating: format!("{:.1}", r.rating),
            interval: format!("{:.1}–{:.1}", r.ci_low, r.ci_high),
            x_low: scale.x(r.ci_low),
            x_mid: scale.x(r.rating),
            x_high: scale.x(r.ci_high),
            matches: r.matches,
            wins: r.wins,
            glicko: r
                .glicko
                .map_or_else(|| "…".to_owned(), |g| format!("{g:.1}")),
            baseline: r.baseline,
        })
        .collect()
}

/// A phase with its state and the deadline its countdown runs to.
pub struct PhaseView {
    pub name: String,
    pub kind: String,
    /// `open`, `upcoming` or `closed`.
    pub state: &'static str,
    pub opens: String,
    pub closes: String,
    /// Closing time when open, opening time when upcoming, 0 when closed.
    pub deadline_ms: i64,
    /// `closes in 1h 02m`, `opens in 3d 01h`, `closed`.
    pub countdown: String,
}

pub fn phases(rows: &[phases::Model], now: i64) -> Vec<PhaseView> {
    rows.iter()
        .map(|p| {
            let (state, deadline, countdown) = if now < p.opens_at_ms {
                let c = format!("opens in {}", countdown(p.opens_at_ms - now));
                ("upcoming", p.opens_at_ms, c)
            } else if now < p.closes_at_ms {
                let c = format!("closes in {}", countdown(p.closes_at_ms - now));
                ("open", p.closes_at_ms, c)
            } else {
                ("closed", 0, "closed".to_owned())
            };
            let letter = if p.kind == "creation" { 'C' } else { 'D' };
            PhaseView {
                name: format!("{letter}{}", p.round),
                kind: p.kind.clone(),
                state,
                opens: time(p.opens_at_ms),
                closes: time(p.closes_at_ms),
                deadline_ms: deadline,
                countdown,
            }
        })
        .collect()
}

/// One heatmap cell.
pub struct HeatCell {
    pub x: usize,
    pub y: usize,
    pub fill: String,
    pub label: String,
    /// The hover text: `detector vs creation: AUC 0.6667`.
    pub title: String,
}

pub struct AxisLabel {
    pub at: usize,
    pub text: String,
    /// The detector's or creation's submission id (the label links to its page).
    pub submission: i64,
    pub team: String,
}

/// The detectors × creations heatmap laid out in SVG units.
pub struct Heatmap {
    pub width: usize,
    pub height: usize,
    /// Where the cells start: room for the longest row label on the left and the longest
    /// (slanted) column label above, so no label is clipped.
    pub left: usize,
    pub top: usize,
    pub cells: Vec<HeatCell>,
    pub rows: Vec<AxisLabel>,
    pub columns: Vec<AxisLabel>,
    pub cell_w: usize,
    pub cell_h: usize,
}

const LEFT: usize = 180;
const TOP: usize = 110;
const CELL_W: usize = 64;
const CELL_H: usize = 30;
/// A generous width per character of an 11 px label, in SVG units.
const CHAR_W: f64 = 7.0;
/// Column labels are turned 35° up from the horizontal.
const SLANT_DEG: f64 = 35.0;

/// The longest label's width estimate, in SVG units.
fn label_width(labels: &[AxisLabel]) -> f64 {
    labels
        .iter()
        .map(|l| l.text.chars().count() as f64 * CHAR_W)
        .fold(0.0, f64::max)
}

/// Blue for detectors beating the creation (AUC → 1), white at chance, red below it.
pub fn heat_color(auc: Option<f64>) -> String {
    match auc {
        None => "#e4e4e8".to_owned(),
        Some(a) => {
            let t = ((a - 0.5) * 2.0).clamp(-1.0, 1.0);
            let hue = if t >= 0.0 { 215 } else { 5 };
            let light = 97.0 - 52.0 * t.abs();
            format!("hsl({hue}, 70%, {light:.0}%)")
        }
    }
}

pub fn heatmap(m: &Matrix) -> Heatmap {
    let label = |a: &arena::scoring::leaderboard::MatrixAxis| AxisLabel {
        at: 0,
        text: format!("{} #{}", a.team, a.submission),
        submission: a.submission,
        team: a.team.clone(),
    };
    let mut rows: Vec<AxisLabel> = m.detectors.iter().map(label).collect();
    let mut columns: Vec<AxisLabel> = m.creations.iter().map(label).collect();
    let (sin, cos) = SLANT_DEG.to_radians().sin_cos();
    let column_w = label_width(&columns);
    let left = LEFT.max((label_width(&rows) + 18.0).ceil() as usize);
    let top = TOP.max((column_w * sin + 16.0).ceil() as usize);
    let mut cells = Vec::new();
    for (i, det) in m.detectors.iter().enumerate() {
        for (j, cre) in m.creations.iter().enumerate() {
            let auc = m.auc.get(i).and_then(|r| r.get(j)).copied().flatten();
            let incomplete = m
                .incomplete
                .get(i)
                .and_then(|r| r.get(j))
                .copied()
                .unwrap_or(false);
            let star = if incomplete { " (incomplete)" } else { "" };
            cells.push(HeatCell {
                x: left + j * CELL_W,
                y: top + i * CELL_H,
                fill: heat_color(auc),
                label: auc.map_or_else(|| "…".to_owned(), |a| format!("{a:.2}")),
                title: format!(
                    "{} #{} vs {} #{}: AUC {}{star}",
                    det.team,
                    det.submission,
                    cre.team,
                    cre.submission,
                    num(auc)
                ),
            });
        }
    }
    for (i, r) in rows.iter_mut().enumerate() {
        r.at = top + i * CELL_H + CELL_H / 2;
    }
    for (j, c) in columns.iter_mut().enumerate() {
        c.at = left + j * CELL_W + CELL_W / 2;
    }
    let cells_right = left + m.creations.len() * CELL_W;
    // The last column label starts at its column's centre and runs up and to the right.
    let label_right = columns.last().map_or(0.0, |c| c.at as f64 + column_w * cos);
    Heatmap {
        width: cells_right.max(label_right.ceil() as usize) + 10,
        height: top + m.detectors.len() * CELL_H + 10,
        left,
        top,
        cells,
        rows,
        columns,
        cell_w: CELL_W,
        cell_h: CELL_H,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_read_naturally() {
        assert_eq!(countdown(12_400), "12s");
        assert_eq!(countdown(245_000), "4m 05s");
        assert_eq!(countdown(3_720_000), "1h 02m");
        assert_eq!(countdown(2 * 86_400_000 + 3 * 3_600_000), "2d 03h");
        assert_eq!(countdown(-5), "0s");
    }

    #[test]
    fn heat_colors_run_from_red_through_white_to_blue() {
        assert_eq!(heat_color(Some(0.5)), "hsl(215, 70%, 97%)");
        assert_eq!(heat_color(Some(1.0)), "hsl(215, 70%, 45%)");
        assert_eq!(heat_color(Some(0.0)), "hsl(5, 70%, 45%)");
        assert_eq!(heat_color(None), "#e4e4e8");
    }

    #[test]
    fn long_matrix_labels_get_room() {
        use arena::scoring::leaderboard::MatrixAxis;
        let axis = |team: &str, submission| MatrixAxis {
            submission,
            team: team.to_owned(),
        };
        let long = "a-team-with-a-really-long-name-indeed";
        let m = Matrix {
            detectors: vec![axis(long, 1)],
            creations: vec![axis("b", 2), axis(long, 3)],
            auc: vec![vec![Some(0.5), None]],
            incomplete: vec![vec![false, false]],
        };
        let h = heatmap(&m);
        let text_w = (long.len() + 3) as f64 * CHAR_W;
        // Row labels end at left − 8 and fit from x = 0; slanted columns fit above and right.
        assert!(h.left as f64 - 8.0 >= text_w);
        assert!(h.top as f64 >= text_w * 35f64.to_radians().sin());
        assert!(h.width as f64 >= h.columns[1].at as f64 + text_w * 35f64.to_radians().cos());
        assert_eq!(h.cells[1].x, h.left + CELL_W);
        assert_eq!(h.rows[0].submission, 1);
        // Short names keep the usual layout.
        let short = Matrix {
            detectors: vec![axis("d", 1)],
            creations: vec![axis("c", 2)],
            auc: vec![vec![None]],
            incomplete: vec![vec![false]],
        };
        let h = heatmap(&short);
        assert_eq!((h.left, h.top), (LEFT, TOP));
    }

    #[test]
    fn numbers_and_ranks() {
        assert_eq!(num(Some(2.0 / 3.0)), "0.6667");
        assert_eq!(num(None), "…");
        assert_eq!(rank(None), "–");
        assert_eq!(bytes(200 << 20), "200 MiB");
        assert_eq!(bytes(1000), "1 KiB");
    }
}
