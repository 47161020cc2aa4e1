//! A finished competition released as a research dataset (as DFGC released its test set): the
//! manifest — competition, phases, tasks, published videos with labels and sha256, creations and
//! detectors, every detector's score of every published video — and the stored objects to ship
//! beside it. The web crate writes the zip.

use crate::domain::VideoRole;
use crate::entities::{competitions, videos};
use crate::error::RepoError;
use crate::evaluation;
use crate::repo;
use crate::rules::{DetectorSlot, VideoSlot};
use crate::time::now_ms;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The manifest's format tag (bumped when a field changes meaning).
pub const FORMAT: &str = "arena-release/1";

/// Which real videos (hidden reals and task targets) are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealsChoice {
    All,
    None,
    /// Video ids (`17` or `video-17`, as the scores CSV names them) or sha256 digests.
    Listed(Vec<String>),
}

impl RealsChoice {
    /// `all`, `none` or a comma-separated list of video ids / sha256 digests.
    pub fn parse(raw: &str) -> RealsChoice {
        match raw.trim() {
            "all" => RealsChoice::All,
            "none" | "" => RealsChoice::None,
            list => RealsChoice::Listed(
                list.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            RealsChoice::All => "all",
            RealsChoice::None => "none",
            RealsChoice::Listed(_) => "list",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    pub reals: RealsChoice,
    /// Teams become `team-1`, `team-2` … (by team id), submissions `creation-N` / `detector-N`.
    pub anonymise: bool,
    /// Release a competition that has not finished (a live one never does by itself).
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{0} has a phase still open or to come (or runs live, without phases)")]
    NotFinished(String),
    #[error("{0:?} is not a real video of this competition (give video ids or sha256 digests)")]
    UnknownReal(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleaseManifest {
    pub format: &'static str,
    pub released_at_ms: i64,
    /// Whether team names and submission ids were replaced.
    pub anonymised: bool,
    /// `all`, `none` or `list`: how the published reals were chosen.
    pub reals: &'static str,
    pub competition: ReleasedCompetition,
    pub tasks: Vec<ReleasedTask>,
    pub creations: Vec<ReleasedEntry>,
    pub detectors: Vec<ReleasedEntry>,
    pub videos: Vec<ReleasedVideo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleasedCompetition {
    pub slug: String,
    pub title: String,
    pub mode: String,
    pub preset: String,
    pub phases: Vec<ReleasedPhase>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleasedPhase {
    pub kind: String,
    pub round: i32,
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleasedTask {
    pub task_id: String,
    pub round: i32,
    pub donor_identity: String,
    pub target_sha256: String,
    /// The target clip's path in the zip when it is published.
    pub target_file: Option<String>,
    /// The donor's reference clip (the ID term's reference), when the task has one.
    pub donor_reference_sha256: Option<String>,
    pub donor_reference_file: Option<String>,
}

/// A creation or a detector: `name` is what videos and scores refer to.
#[derive(Debug, Clone, Serialize)]
pub struct ReleasedEntry {
    /// `<team>#<submission>` (as in the scores CSV), or `creation-N` / `detector-N` anonymised.
    pub name: String,
    pub team: String,
    /// None when anonymised.
    pub submission: Option<i64>,
    pub round: Option<i32>,
    pub baseline: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleasedVideo {
    /// Its path in the zip (`fakes/<sha256>.<ext>`, `reals/<sha256>.<ext>`).
    pub file: String,
    pub sha256: String,
    /// 1 = fake, 0 = real.
    pub label: u8,
    /// `fake`, `real` (a hidden real), `target` (a task's target clip) or `donor_reference` (a
    /// task's donor clip); all but `fake` are real.
    pub role: String,
    pub creation: Option<String>,
    pub team: Option<String>,
    pub task: Option<String>,
    pub round: Option<i32>,
    pub width: i32,
    pub height: i32,
    pub fps: f64,
    pub frames: i64,
    pub duration_s: f64,
    /// Detector name → P(fake); null where the detector failed on the video. Pairs the
    /// competition never scored (out of scope in rounds mode) are absent.
    pub scores: BTreeMap<String, Option<f64>>,
}

/// A stored object to put in the zip at `path` (each content once).
#[derive(Debug, Clone)]
pub struct ReleaseFile {
    pub path: String,
    pub storage_key: String,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct Release {
    pub manifest: ReleaseManifest,
    pub files: Vec<ReleaseFile>,
}

/// The file extension a stored video is published with.
fn extension(v: &videos::Model) -> &'static str {
    if v.container.contains("matroska") || v.container.contains("webm") {
        "mkv"
    } else {
        "mp4"
    }
}

/// Builds the release of `comp`: its live (not withdrawn, disqualified or failed) creations and
/// detectors, their fakes, the chosen reals, and every stored score among them.
#[tracing::instrument(skip_all, fields(slug = %comp.slug), err)]
pub async fn build<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    opts: &ReleaseOptions,
) -> Result<Release, ReleaseError> {
    if !opts.force && !crate::deletion::is_finished(db, comp).await? {
        return Err(ReleaseError::NotFinished(comp.slug.clone()));
    }
    let view = evaluation::view(db, comp.id).await?;
    let tasks = repo::tasks::list(db, comp.id).await?;
    let mut reals: Vec<videos::Model> = view
        .videos
        .iter()
        .filter(|v| v.role == VideoRole::Real)
        .map(|v| v.video.clone())
        .collect();
    let mut clip_ids: Vec<i64> = tasks.iter().map(|t| t.target_video_id).collect();
    let reference_ids: HashSet<i64> = (tasks.iter())
        .filter_map(|t| t.donor_reference_video_id)
        .collect();
    clip_ids.extend(reference_ids.iter().copied());
    reals.extend(repo::videos::find_many(db, &clip_ids).await?);
    let published_reals = choose_reals(&reals, &opts.reals)?;

    let names = Names::new(&view, opts.anonymise);
    let mut manifest = ReleaseManifest {
        format: FORMAT,
        released_at_ms: now_ms(),
        anonymised: opts.anonymise,
        reals: opts.reals.label(),
        competition: ReleasedCompetition {
            slug: comp.slug.clone(),
            title: comp.title.clone(),
            mode: comp.mode.clone(),
            preset: comp.preset.clone(),
            phases: (repo::phases::list(db, comp.id).await?.into_iter())
                .map(|p| ReleasedPhase {
                    kind: p.kind,
                    round: p.round,
                    opens_at_ms: p.opens_at_ms,
                    closes_at_ms: p.closes_at_ms,
                })
                .collect(),
        },
        tasks: Vec::new(),
        creations: names.creations.clone(),
        detectors: names.detectors.values().cloned().collect(),
        videos: Vec::new(),
    };
    let mut files: Vec<ReleaseFile> = Vec::new();
    let mut shipped: HashSet<String> = HashSet::new();
    let mut ship = |v: &videos::Model, folder: &str| -> String {
        let path = format!("{folder}/{}.{}", v.sha256, extension(v));
        if shipped.insert(path.clone()) {
            files.push(ReleaseFile {
                path: path.clone(),
                storage_key: v.storage_key.clone(),
                sha256: v.sha256.clone(),
            });
        }
        path
    };
    let targets: HashMap<i64, &videos::Model> = reals.iter().map(|v| (v.id, v)).collect();
    for t in &tasks {
        let target = targets.get(&t.target_video_id);
        let reference = t.donor_reference_video_id.and_then(|id| targets.get(&id));
        manifest.tasks.push(ReleasedTask {
            donor_reference_sha256: reference.map(|v| v.sha256.clone()),
            donor_reference_file: reference
                .filter(|v| published_reals.contains(&v.id))
                .map(|v| ship(v, "reals")),
            task_id: t.task_id.clone(),
            round: t.round,
            donor_identity: t.donor_identity.clone(),
            target_sha256: target.map(|v| v.sha256.clone()).unwrap_or_default(),
            target_file: target
                .filter(|v| published_reals.contains(&v.id))
                .map(|v| ship(v, "reals")),
        });
    }
    let scores = scores_of(db, &view).await?;
    let task_round: HashMap<&str, i32> = tasks
        .iter()
        .map(|t| (t.task_id.as_str(), t.round))
        .collect();
    let mut seen_reals = HashSet::new();
    for v in &reals {
        if !published_reals.contains(&v.id) || !seen_reals.insert(v.id) {
            continue;
        }
        let file = ship(v, "reals");
        let role = repo::videos::role(v)?;
        let mut out = released_video(v, file, &names, &scores);
        out.role = if reference_ids.contains(&v.id) {
            "donor_reference".to_owned()
        } else {
            role.as_str().to_owned()
        };
        out.round = v
            .task_id
            .as_deref()
            .and_then(|t| task_round.get(t).copied());
        manifest.videos.push(out);
    }
    for lv in view.videos.iter().filter(|v| v.role == VideoRole::Fake) {
        let v = &lv.video;
        let Some(creation) = v.submission_id.and_then(|s| names.creation_of.get(&s)) else {
            continue;
        };
        let file = ship(v, "fakes");
        let mut out = released_video(v, file, &names, &scores);
        out.label = 1;
        out.role = VideoRole::Fake.as_str().to_owned();
        out.creation = Some(creation.name.clone());
        out.team = Some(creation.team.clone());
        out.round = match lv.slot {
            VideoSlot::Fake { round } => Some(round),
            _ => None,
        };
        manifest.videos.push(out);
    }
    Ok(Release { manifest, files })
}

/// The reals chosen for publication, by video id; an entry naming no real is an error.
fn choose_reals(
    reals: &[videos::Model],
    choice: &RealsChoice,
) -> Result<HashSet<i64>, ReleaseError> {
    match choice {
        RealsChoice::All => Ok(reals.iter().map(|v| v.id).collect()),
        RealsChoice::None => Ok(HashSet::new()),
        RealsChoice::Listed(list) => {
            let mut out = HashSet::new();
            for item in list {
                let id = item
                    .strip_prefix("video-")
                    .unwrap_or(item)
                    .parse::<i64>()
                    .ok();
                let found: Vec<i64> = reals
                    .iter()
                    .filter(|v| Some(v.id) == id || v.sha256 == *item)
                    .map(|v| v.id)
                    .collect();
                if found.is_empty() {
                    return Err(ReleaseError::UnknownReal(item.clone()));
                }
                out.extend(found);
            }
            Ok(out)
        }
    }
}

/// (detector id, video id) → score, None where the detector failed on the video.
async fn scores_of<C: ConnectionTrait>(
    db: &C,
    view: &evaluation::CompetitionView,
) -> Result<HashMap<(i64, i64), Option<f64>>, RepoError> {
    let ids: Vec<i64> = view.detectors.iter().map(|d| d.detector.id).collect();
    let failed: HashSet<(i64, i64)> = repo::scores::failed_for_detectors(db, &ids)
        .await?
        .into_iter()
        .collect();
    Ok(repo::scores::for_detectors(db, &ids)
        .await?
        .into_iter()
        .map(|(d, v, s)| ((d, v), (!failed.contains(&(d, v))).then_some(s)))
        .collect())
}

fn released_video(
    v: &videos::Model,
    file: String,
    names: &Names,
    scores: &HashMap<(i64, i64), Option<f64>>,
) -> ReleasedVideo {
    let (width, height) = v.display_size();
    ReleasedVideo {
        file,
        sha256: v.sha256.clone(),
        label: 0,
        role: String::new(),
        creation: None,
        team: None,
        task: v.task_id.clone(),
        round: None,
        width,
        height,
        fps: v.fps,
        frames: v.frames,
        duration_s: v.duration_s,
        scores: (names.detectors.iter())
            .filter_map(|(id, d)| scores.get(&(*id, v.id)).map(|s| (d.name.clone(), *s)))
            .collect(),
    }
}

/// What the manifest calls each team, creation and detector.
struct Names {
    creations: Vec<ReleasedEntry>,
    /// Creation submission id → its entry.
    creation_of: HashMap<i64, ReleasedEntry>,
    /// Detector id → its entry (ordered by detector id).
    detectors: BTreeMap<i64, ReleasedEntry>,
}

impl Names {
    fn new(view: &evaluation::CompetitionView, anonymise: bool) -> Names {
        let mut team_ids: Vec<i64> = view.submissions.values().map(|s| s.team_id).collect();
        team_ids.sort_unstable();
        team_ids.dedup();
        let team_name = |id: i64| -> String {
            if anonymise {
                let n = team_ids.iter().position(|t| *t == id).unwrap_or(0) + 1;
                format!("team-{n}")
            } else {
                view.teams.get(&id).map(|t| t.0.clone()).unwrap_or_default()
            }
        };
        let baseline = |id: i64| view.teams.get(&id).is_some_and(|t| t.1);
        let mut creation_subs: Vec<i64> = view
            .videos
            .iter()
            .filter(|v| v.role == VideoRole::Fake)
            .filter_map(|v| v.video.submission_id)
            .collect();
        creation_subs.sort_unstable();
        creation_subs.dedup();
        let mut creations = Vec::new();
        let mut creation_of = HashMap::new();
        for (i, sub_id) in creation_subs.iter().enumerate() {
            let Some(sub) = view.submissions.get(sub_id) else {
                continue;
            };
            let team = team_name(sub.team_id);
            let round = (view.videos.iter())
                .find(|v| v.video.submission_id == Some(*sub_id))
                .and_then(|v| match v.slot {
                    VideoSlot::Fake { round } => Some(round),
                    _ => None,
                });
            let entry = ReleasedEntry {
                name: if anonymise {
                    format!("creation-{}", i + 1)
                } else {
                    format!("{team}#{sub_id}")
                },
                team,
                submission: (!anonymise).then_some(*sub_id),
                round,
                baseline: baseline(sub.team_id),
            };
            creation_of.insert(*sub_id, entry.clone());
            creations.push(entry);
        }
        let mut dets: Vec<&evaluation::LiveDetector> = view.detectors.iter().collect();
        dets.sort_by_key(|d| d.detector.id);
        let detectors = (dets.iter().enumerate())
            .map(|(i, d)| {
                let team = team_name(d.submission.team_id);
                let entry = ReleasedEntry {
                    name: if anonymise {
                        format!("detector-{}", i + 1)
                    } else {
                        format!("{team}#{}", d.submission.id)
                    },
                    team,
                    submission: (!anonymise).then_some(d.submission.id),
                    round: match d.slot {
                        DetectorSlot::Round { round, .. } => Some(round),
                        _ => None,
                    },
                    baseline: d.baseline,
                };
                (d.detector.id, entry)
            })
            .collect();
        Names {
            creations,
            creation_of,
            detectors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_choices_parse() {
        assert_eq!(RealsChoice::parse("all"), RealsChoice::All);
        assert_eq!(RealsChoice::parse("none"), RealsChoice::None);
        assert_eq!(
            RealsChoice::parse("video-3, 4,ABC"),
            RealsChoice::Listed(vec!["video-3".into(), "4".into(), "abc".into()])
        );
    }
}
