//! Offline scoring (`arena score`): every board number recomputed from a CSV of pair scores, with
//! the same functions the server uses. It sits above `scoring` and `ratings` (its report has
//! both), so it is not part of `scoring`, which `ratings` builds on.
//!
//! Pairs CSV: header `detector,creation,video,label,score` (any order, extra columns ignored);
//! `label` 0 = real, 1 = fake; `creation` names a fake's creation and is ignored for reals; `score`
//! in [0, 1], or empty when the detector failed on the video (scored 0.5, pair flagged incomplete).
//! Each detector and each creation name is its own team. A real video is known by its name, a fake
//! by (creation, name).
//!
//! Ratings CSV: header `creation,axis,value`, axis one of realism, quality, expression, mouth,
//! identity (human ratings 1–5), ssim (−1–1), id; repeated rows of a (creation, axis) are averaged.

use crate::ratings::bootstrap::MIN_RESAMPLES;
use crate::ratings::bradley_terry::DEFAULT_LAMBDA;
use crate::ratings::{RatingError, RatingOptions, RatingRow, rate};
use crate::scoring::detection::{DEFAULT_FPR, ScoredBoard};
use crate::scoring::leaderboard::{
    BoardExtras, BoardInput, CreationEntry, CreationRow, DetectionRow, DetectorEntry, Matrix,
    ScoringRules, compute_with,
};
use crate::scoring::presets::{CreationParts, Eligibility, Preset};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt;

const PAIR_COLUMNS: [&str; 5] = ["detector", "creation", "video", "label", "score"];
const RATING_COLUMNS: [&str; 3] = ["creation", "axis", "value"];

#[derive(Debug, Clone, PartialEq)]
pub struct OfflineOptions {
    /// The creation score; `None` ranks creations by anti-detection A(c).
    pub preset: Option<Preset>,
    /// The ratings CSV's text.
    pub ratings_csv: Option<String>,
    pub seed: u64,
    /// Bootstrap resamples (at least 200).
    pub bootstrap: usize,
    /// False-positive rate on the reals fixing τ_d (default 0.05).
    pub fpr: f64,
    /// Bradley–Terry L2 prior λ (default 0.01).
    pub lambda: f64,
    pub eligibility: Option<OfflineEligibility>,
}

impl Default for OfflineOptions {
    fn default() -> Self {
        Self {
            preset: None,
            ratings_csv: None,
            seed: 0,
            bootstrap: MIN_RESAMPLES,
            fpr: DEFAULT_FPR,
            lambda: DEFAULT_LAMBDA,
            eligibility: None,
        }
    }
}

/// Detectors must reach `min_auc` on the creation named `baseline_creation` (which is shown,
/// marked baseline, and not ranked).
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineEligibility {
    pub baseline_creation: String,
    pub min_auc: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OfflineReport {
    pub preset: Option<&'static str>,
    pub fpr: f64,
    pub lambda: f64,
    pub bootstrap: usize,
    pub seed: u64,
    pub matrix: Matrix,
    pub detection: Vec<DetectionRow>,
    pub creation: Vec<CreationRow>,
    pub ratings: Vec<RatingRow>,
}

/// Which input a CSV error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFile {
    Pairs,
    Ratings,
}

impl fmt::Display for CsvFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pairs => "pairs CSV",
            Self::Ratings => "ratings CSV",
        })
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OfflineError {
    /// `line` is 1-based, the header being line 1.
    #[error("{file} line {line}: {message}")]
    Csv {
        file: CsvFile,
        line: usize,
        message: String,
    },
    #[error("invalid options: {0}")]
    Options(String),
    #[error(transparent)]
    Ratings(#[from] RatingError),
}

impl OfflineError {
    /// Every variant but a failed fit is a problem with the user's input.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Ratings(_))
    }
}

fn csv_error(file: CsvFile, line: usize, message: impl Into<String>) -> OfflineError {
    OfflineError::Csv {
        file,
        line,
        message: message.into(),
    }
}

/// Scores a pairs CSV: the pair AUC matrix, both boards and the rating board.
pub fn score_pairs_csv(
    pairs_csv: &str,
    opts: &OfflineOptions,
) -> Result<OfflineReport, OfflineError> {
    check_options(opts)?;
    let (mut input, failed) = build_board(&parse_pairs(pairs_csv)?)?;
    let mut eligibility = None;
    if let Some(rule) = &opts.eligibility {
        let baseline = input
            .creations
            .iter_mut()
            .find(|c| c.team == rule.baseline_creation);
        let baseline = baseline.ok_or_else(|| {
            OfflineError::Options(format!(
                "baseline creation {:?} is not in the pairs CSV",
                rule.baseline_creation
            ))
        })?;
        baseline.baseline = true;
        eligibility = Some(Eligibility {
            min_auc: rule.min_auc,
        });
    }
    let parts = match &opts.ratings_csv {
        Some(text) => parse_ratings(text, &input)?,
        None => HashMap::new(),
    };
    let extras = BoardExtras { failed, parts };
    let rules = ScoringRules {
        fpr: opts.fpr,
        preset: opts.preset,
        eligibility,
    };
    let board = compute_with(&input, &extras, &rules);
    let rating_opts = RatingOptions {
        lambda: opts.lambda,
        resamples: opts.bootstrap,
        seed: opts.seed,
    };
    Ok(OfflineReport {
        preset: opts.preset.map(|p| p.name()),
        fpr: opts.fpr,
        lambda: opts.lambda,
        bootstrap: opts.bootstrap,
        seed: opts.seed,
        matrix: ScoredBoard::new(&input, &extras.failed).matrix(),
        detection: board.detection,
        creation: board.creation,
        ratings: rate(&input, &extras, &rules, &rating_opts)?,
    })
}

fn check_options(opts: &OfflineOptions) -> Result<(), OfflineError> {
    let bad = |m: String| Err(OfflineError::Options(m));
    if opts.bootstrap < MIN_RESAMPLES {
        return bad(format!(
            "bootstrap must be at least {MIN_RESAMPLES}, got {}",
            opts.bootstrap
        ));
    }
    if !(0.0..1.0).contains(&opts.fpr) {
        return bad(format!("fpr must be in [0, 1), got {}", opts.fpr));
    }
    if !(opts.lambda.is_finite() && opts.lambda > 0.0) {
        return bad(format!("lambda must be positive, got {}", opts.lambda));
    }
    if let Some(rule) = &opts.eligibility
        && !(0.0..=1.0).contains(&rule.min_auc)
    {
        return bad(format!("min_auc must be in [0, 1], got {}", rule.min_auc));
    }
    Ok(())
}

/// One data row of the pairs CSV.
#[derive(Debug, Clone, PartialEq)]
struct PairRow {
    line: usize,
    detector: String,
    creation: String,
    video: String,
    fake: bool,
    /// `None`: the detector failed on the video.
    score: Option<f64>,
}

fn parse_pairs(text: &str) -> Result<Vec<PairRow>, OfflineError> {
    let file = CsvFile::Pairs;
    let records = records(text, file, &PAIR_COLUMNS)?;
    let mut rows = Vec::with_capacity(records.len());
    for (line, f) in records {
        let err = |m: String| csv_error(file, line, m);
        let fake = match f[3].as_str() {
            "0" => false,
            "1" => true,
            other => {
                return Err(err(format!(
                    "label must be 0 (real) or 1 (fake), got {other:?}"
                )));
            }
        };
        let score = match f[4].as_str() {
            "" => None,
            s => match s.parse::<f64>() {
                Ok(v) if (0.0..=1.0).contains(&v) => Some(v),
                _ => {
                    return Err(err(format!(
                        "score must be a number in [0, 1] or empty (failed), got {s:?}"
                    )));
                }
            },
        };
        if f[0].is_empty() || f[2].is_empty() {
            return Err(err("detector and video must not be empty".into()));
        }
        if fake && f[1].is_empty() {
            return Err(err("a fake (label 1) needs its creation".into()));
        }
        rows.push(PairRow {
            line,
            detector: f[0].clone(),
            creation: if fake { f[1].clone() } else { String::new() },
            video: f[2].clone(),
            fake,
            score,
        });
    }
    if rows.is_empty() {
        return Err(csv_error(file, 1, "no data rows"));
    }
    Ok(rows)
}

/// Interns names as 1-based ids in order of first appearance.
fn intern(ids: &mut HashMap<String, i64>, name: &str) -> (i64, bool) {
    let next = ids.len() as i64 + 1;
    let id = *ids.entry(name.to_owned()).or_insert(next);
    (id, id == next)
}

/// The board of the CSV: ids in order of first appearance, failures (empty scores) apart.
/// The pairs CSV of a board's input, the inverse of [`score_pairs_csv`]'s reader: one row per
/// (detector, video) pair scored (full precision, so a re-score gives the very same numbers) or
/// failed (empty score); pending pairs are left out. Detectors and creations are named
/// `<team>#<submission>` (a team may hold several submissions), videos `video-<id>`.
pub fn write_pairs_csv(input: &BoardInput, failed: &HashSet<(i64, i64)>) -> String {
    use std::fmt::Write as _;
    let mut out = PAIR_COLUMNS.join(",");
    out.push('\n');
    let videos = input.real_video_ids.iter().map(|v| (String::new(), *v, 0));
    let fakes = input.creations.iter().flat_map(|c| {
        let name = format!("{}#{}", c.team, c.submission_id);
        c.video_ids.iter().map(move |v| (name.clone(), *v, 1))
    });
    let videos: Vec<(String, i64, u8)> = videos.chain(fakes).collect();
    for d in &input.detectors {
        let name = format!("{}#{}", d.team, d.submission_id);
        for (creation, v, label) in &videos {
            let score = if failed.contains(&(d.detector_id, *v)) {
                String::new()
            } else if let Some(s) = input.scores.get(&(d.detector_id, *v)) {
                format!("{s:?}")
            } else {
                continue;
            };
            let _ = writeln!(out, "{name},{creation},video-{v},{label},{score}");
        }
    }
    out
}

fn build_board(rows: &[PairRow]) -> Result<(BoardInput, HashSet<(i64, i64)>), OfflineError> {
    let (mut detectors, mut creations, mut videos) =
        (HashMap::new(), HashMap::new(), HashMap::new());
    let mut input = BoardInput::default();
    let mut failed = HashSet::new();
    let mut seen: HashMap<(i64, i64), usize> = HashMap::new();
    for row in rows {
        let (d, new) = intern(&mut detectors, &row.detector);
        if new {
            input.detectors.push(DetectorEntry {
                detector_id: d,
                submission_id: d,
                team: row.detector.clone(),
                baseline: false,
            });
        }
        // "\u{1f}" cannot appear in a parsed field's meaning: it separates creation and video.
        let (v, new_video) = intern(&mut videos, &format!("{}\u{1f}{}", row.creation, row.video));
        if new_video {
            add_video(&mut input, &mut creations, row, v);
        }
        if let Some(first) = seen.insert((d, v), row.line) {
            let what = if row.fake {
                format!("fake {:?} of {:?}", row.video, row.creation)
            } else {
                format!("real {:?}", row.video)
            };
            let message = format!(
                "detector {:?} scores {what} again (first on line {first})",
                row.detector
            );
            return Err(csv_error(CsvFile::Pairs, row.line, message));
        }
        match row.score {
            Some(s) => {
                input.scores.insert((d, v), s);
            }
            None => {
                failed.insert((d, v));
            }
        }
    }
    Ok((input, failed))
}

fn add_video(
    input: &mut BoardInput,
    creations: &mut HashMap<String, i64>,
    row: &PairRow,
    video: i64,
) {
    if !row.fake {
        input.real_video_ids.push(video);
        return;
    }
    let (c, new) = intern(creations, &row.creation);
    if new {
        input.creations.push(CreationEntry {
            submission_id: c,
            team: row.creation.clone(),
            baseline: false,
            video_ids: Vec::new(),
        });
    }
    if let Some(entry) = input.creations.iter_mut().find(|e| e.submission_id == c) {
        entry.video_ids.push(video);
    }
}

/// SSIM, ID and mean human ratings per creation submission id.
fn parse_ratings(
    text: &str,
    input: &BoardInput,
) -> Result<HashMap<i64, CreationParts>, OfflineError> {
    let file = CsvFile::Ratings;
    let mut sums: HashMap<(i64, String), (f64, usize)> = HashMap::new();
    for (line, f) in records(text, file, &RATING_COLUMNS)? {
        let err = |m: String| csv_error(file, line, m);
        let creation = input.creations.iter().find(|c| c.team == f[0]);
        let creation =
            creation.ok_or_else(|| err(format!("creation {:?} is not in the pairs CSV", f[0])))?;
        let axis = f[1].to_ascii_lowercase();
        let (range, expected) = match axis.as_str() {
            "realism" | "quality" | "expression" | "mouth" | "identity" => {
                (1.0..=5.0, "a number in [1, 5]")
            }
            "ssim" => (-1.0..=1.0, "a number in [-1, 1]"),
            "id" => (f64::MIN..=f64::MAX, "a finite number"),
            _ => {
                let message = format!(
                    "axis must be realism, quality, expression, mouth, identity, ssim or id, got {:?}",
                    f[1]
                );
                return Err(err(message));
            }
        };
        let value = f[2].parse::<f64>().ok().filter(|v| range.contains(v));
        let value =
            value.ok_or_else(|| err(format!("{axis} value must be {expected}, got {:?}", f[2])))?;
        let sum = sums
            .entry((creation.submission_id, axis))
            .or_insert((0.0, 0));
        *sum = (sum.0 + value, sum.1 + 1);
    }
    let mut parts: HashMap<i64, CreationParts> = HashMap::new();
    for ((c, axis), (sum, n)) in sums {
        let p = parts.entry(c).or_default();
        let mean = Some(sum / n as f64);
        match axis.as_str() {
            "realism" => p.human.realism = mean,
            "quality" => p.human.quality = mean,
            "expression" => p.human.expression = mean,
            "mouth" => p.human.mouth = mean,
            "identity" => p.human.identity = mean,
            "ssim" => p.ssim = mean,
            _ => p.id = mean,
        }
    }
    Ok(parts)
}

/// The data rows of a CSV with their line numbers, fields reordered to `columns`.
fn records(
    text: &str,
    file: CsvFile,
    columns: &[&str],
) -> Result<Vec<(usize, Vec<String>)>, OfflineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((header_line, header)) = lines.next() else {
        return Err(csv_error(
            file,
            1,
            format!("empty; expected the header {}", columns.join(",")),
        ));
    };
    let header = split_fields(header).map_err(|m| csv_error(file, header_line, m))?;
    let mut order = Vec::with_capacity(columns.len());
    for col in columns {
        let at = header.iter().position(|h| h.eq_ignore_ascii_case(col));
        let at = at.ok_or_else(|| {
            csv_error(
                file,
                header_line,
                format!(
                    "header lacks column {col:?} (expected {})",
                    columns.join(",")
                ),
            )
        })?;
        order.push(at);
    }
    let mut out = Vec::new();
    for (line, text) in lines {
        let fields = split_fields(text).map_err(|m| csv_error(file, line, m))?;
        if fields.len() != header.len() {
            let message = format!("{} fields, the header has {}", fields.len(), header.len());
            return Err(csv_error(file, line, message));
        }
        out.push((line, order.iter().map(|i| fields[*i].clone()).collect()));
    }
    Ok(out)
}

/// Splits one CSV line: comma-separated, fields optionally double-quoted with `""` escapes, trimmed.
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if current.trim().is_empty() => {
                current.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut current)),
            (_, c) => current.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(current);
    Ok(fields.into_iter().map(|f| f.trim().to_owned()).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The leaderboard module's hand-computed game as CSV: reals 0.2 0.5 0.8, creation a = one fake
    /// at 0.3, b = one fake at 0.9; detector "inverted" scores 1 − s.
    fn game_csv() -> String {
        let mut csv = String::from("detector,creation,video,label,score\n");
        for (det, flip) in [("good", false), ("inverted", true)] {
            let s = |x: f64| if flip { 1.0 - x } else { x };
            for (v, x) in [("r1", 0.2), ("r2", 0.5), ("r3", 0.8)] {
                csv += &format!("{det},,{v},0,{}\n", s(x));
            }
            csv += &format!("{det},a,f1,1,{}\n{det},\"b\",f1,1,{}\n", s(0.3), s(0.9));
        }
        csv
    }

    #[test]
    fn reproduces_the_hand_computed_boards() {
        let report = score_pairs_csv(&game_csv(), &OfflineOptions::default()).unwrap();
        let good = report.detection.iter().find(|r| r.team == "good").unwrap();
        assert!((good.score.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((good.pooled_auc.unwrap() - 4.0 / 6.0).abs() < 1e-12);
        assert!((good.worst_auc.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(good.threshold, Some(0.8f64.next_up()));
        assert_eq!(report.matrix.auc[0].len(), 2);
        for row in &report.creation {
            assert!((row.anti_detection.unwrap() - 0.5).abs() < 1e-12);
        }
        // 2 creators + 2 detectors, each fake played by both detectors.
        assert_eq!(report.ratings.len(), 4);
        assert!(report.ratings.iter().all(|r| r.matches == 2));
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["ratings"][0]["ci_low"].is_number());
    }

    #[test]
    fn preset_and_ratings_csv() {
        let ratings = "creation,axis,value\na,realism,4\na,realism,5\na,quality,3\na,expression,3\na,mouth,3\n\
                       a,identity,3\na,ssim,0.9\nb,ssim,0.5\n";
        let opts = OfflineOptions {
            preset: Some("dfgc2022".parse().unwrap()),
            ratings_csv: Some(ratings.into()),
            ..OfflineOptions::default()
        };
        let report = score_pairs_csv(&game_csv(), &opts).unwrap();
        let a = report.creation.iter().find(|r| r.team == "a").unwrap();
        // 4.5 + 3 + 3 + 3 + 3 + 5 · (1 − s_d), s_d = mean(1/3, 2/3) = 1/2.
        assert!((a.score.unwrap() - 19.0).abs() < 1e-12);
        assert_eq!((a.human, a.ssim, a.rank), (Some(16.5), Some(0.9), Some(1)));
        let b = report.creation.iter().find(|r| r.team == "b").unwrap();
        assert_eq!((b.score, b.rank, b.ssim), (None, None, Some(0.5)));
        assert_eq!(report.preset, Some("dfgc2022"));
    }

    #[test]
    fn empty_score_is_a_failure() {
        let csv = game_csv().replace("good,,r3,0,0.8", "good,,r3,0,");
        let report = score_pairs_csv(&csv, &OfflineOptions::default()).unwrap();
        let good = report.detection.iter().find(|r| r.team == "good").unwrap();
        assert!(good.incomplete);
        assert_eq!(report.matrix.incomplete[0], vec![true, true]);
    }

    #[test]
    fn eligibility_by_baseline_creation() {
        let opts = OfflineOptions {
            eligibility: Some(OfflineEligibility {
                baseline_creation: "b".into(),
                min_auc: 0.5,
            }),
            ..OfflineOptions::default()
        };
        let report = score_pairs_csv(&game_csv(), &opts).unwrap();
        let inverted = report
            .detection
            .iter()
            .find(|r| r.team == "inverted")
            .unwrap();
        assert_eq!(inverted.eligible, Some(false));
        assert!(report.ratings.iter().all(|r| r.team != "inverted"));
        let missing = OfflineOptions {
            eligibility: Some(OfflineEligibility {
                baseline_creation: "zzz".into(),
                min_auc: 0.5,
            }),
            ..OfflineOptions::default()
        };
        assert!(matches!(
            score_pairs_csv(&game_csv(), &missing),
            Err(OfflineError::Options(_))
        ));
    }

    fn line_of(err: OfflineError) -> (CsvFile, usize) {
        match err {
            OfflineError::Csv { file, line, .. } => (file, line),
            other => panic!("not a CSV error: {other}"),
        }
    }

    #[test]
    fn bad_csv_names_the_line() {
        let opts = OfflineOptions::default();
        let bad = |csv: &str| line_of(score_pairs_csv(csv, &opts).unwrap_err());
        assert_eq!(bad(""), (CsvFile::Pairs, 1));
        assert_eq!(bad("detector,video,label,score\n"), (CsvFile::Pairs, 1));
        let header = "detector,creation,video,label,score\n";
        assert_eq!(bad(header), (CsvFile::Pairs, 1));
        assert_eq!(
            bad(&format!("{header}d,,r1,0,0.1\nd,,r2,2,0.1\n")),
            (CsvFile::Pairs, 3)
        );
        assert_eq!(
            bad(&format!("{header}d,,r1,0,0.1\n\nd,,r2,0,1.5\n")),
            (CsvFile::Pairs, 4)
        );
        assert_eq!(bad(&format!("{header}d,,r1,0,abc\n")), (CsvFile::Pairs, 2));
        assert_eq!(bad(&format!("{header}d,,r1,0\n")), (CsvFile::Pairs, 2));
        assert_eq!(bad(&format!("{header}d,,f,1,0.3\n")), (CsvFile::Pairs, 2));
        assert_eq!(
            bad(&format!("{header}d,\"x,f,1,0.3\n")),
            (CsvFile::Pairs, 2)
        );
        let dup = score_pairs_csv(
            &format!("{header}d,,r1,0,0.1\nd,c,f,1,0.2\nd,,r1,0,0.3\n"),
            &opts,
        )
        .unwrap_err();
        assert_eq!(
            dup.to_string(),
            "pairs CSV line 4: detector \"d\" scores real \"r1\" again (first on line 2)"
        );
        let with = |ratings: &str| OfflineOptions {
            ratings_csv: Some(ratings.into()),
            ..OfflineOptions::default()
        };
        let bad_ratings = |r: &str| line_of(score_pairs_csv(&game_csv(), &with(r)).unwrap_err());
        assert_eq!(
            bad_ratings("creation,axis,value\na,realism,6\n"),
            (CsvFile::Ratings, 2)
        );
        assert_eq!(
            bad_ratings("creation,axis,value\na,ssim,0.5\na,smell,3\n"),
            (CsvFile::Ratings, 3)
        );
        assert_eq!(
            bad_ratings("creation,axis,value\nzz,ssim,0.5\n"),
            (CsvFile::Ratings, 2)
        );
        let few = OfflineOptions {
            bootstrap: 10,
            ..OfflineOptions::default()
        };
        assert!(matches!(
            score_pairs_csv(&game_csv(), &few),
            Err(OfflineError::Options(_))
        ));
    }

    #[test]
    fn split_fields_handles_quotes() {
        assert_eq!(
            split_fields(" a , \"b, c\" ,\"d\"\"e\",").unwrap(),
            vec!["a", "b, c", "d\"e", ""]
        );
        assert!(split_fields("\"open").is_err());
    }
}
