//! The demo competition's videos: synthetic reals, two rounds of tasks, and the baseline
//! creator's swaps for each creator team. Generated once into a folder (deterministic: same
//! seed, same bytes) and reused when the folder already holds them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arena_worker::RgbImage;
use arena_worker::faces::FaceDetector;

use crate::manifest::{Dataset, DatasetError, load};
use crate::swap::{Strength, SwapError, donor_face, swap_clip};
use crate::synth::{SynthError, generate};

/// Synthetic identities; not the seeds the baseline detectors were trained or checked on.
pub const SEED: u64 = 7;
pub const IDENTITIES: usize = 4;
/// Per identity: clip 0 is a round-1 target, clip 1 a round-2 target, clip 2 a hidden real.
pub const CLIPS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Synth(#[from] SynthError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Swap(#[from] SwapError),
    #[error("cannot write {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// A task of the demo: its target clip and whose face goes on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoTask {
    pub task_id: String,
    pub round: u32,
    pub target: PathBuf,
    pub donor: String,
}

/// One creator team's upload in one round: `(task_id, video)` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCreation {
    pub team: &'static str,
    pub round: u32,
    pub videos: Vec<(String, PathBuf)>,
}

/// Everything the demo uploads, as files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSet {
    pub hidden_reals: Vec<PathBuf>,
    pub tasks: Vec<DemoTask>,
    pub creations: Vec<DemoCreation>,
}

/// How a creator team makes its fake for a task (the i-th task of its round).
struct Recipe {
    team: &'static str,
    rounds: &'static [u32],
    strength: fn(usize) -> Strength,
    /// Donor: the task's donor identity, or the identity after it.
    other_donor: bool,
}

const RECIPES: &[Recipe] = &[
    Recipe {
        team: "crude-swaps",
        rounds: &[1, 2],
        strength: |_| Strength::Crude,
        other_donor: false,
    },
    Recipe {
        team: "careful-swaps",
        rounds: &[1, 2],
        strength: |_| Strength::Careful,
        other_donor: false,
    },
    // Joins in round 2: half crude, half careful, with other donors.
    Recipe {
        team: "mixed-swaps",
        rounds: &[2],
        strength: |i| {
            if i % 2 == 0 {
                Strength::Crude
            } else {
                Strength::Careful
            }
        },
        other_donor: true,
    },
];

fn io(path: &Path, e: &dyn std::fmt::Display) -> DemoError {
    DemoError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// The identity after `identity` (`id3` → `id0` with 4 identities).
fn next_identity(identity: &str) -> String {
    let k: usize = identity
        .trim_start_matches("id")
        .parse()
        .unwrap_or_default();
    format!("id{}", (k + 1) % IDENTITIES)
}

/// The donor face of `identity` (from its first clip), found once.
fn donor_of(
    faces: &mut FaceDetector,
    ds: &Dataset,
    cache: &mut HashMap<String, RgbImage>,
    identity: &str,
) -> Result<RgbImage, DemoError> {
    if let Some(f) = cache.get(identity) {
        return Ok(f.clone());
    }
    let clip = ds
        .clips_of(identity)
        .next()
        .ok_or_else(|| SwapError::Dataset(format!("no clip of {identity}")))?;
    let face = donor_face(faces, &clip.path)?;
    cache.insert(identity.to_owned(), face.clone());
    Ok(face)
}

/// Swaps `face` onto the task's target into `out`, through a temporary name.
fn write_swap(
    faces: &mut FaceDetector,
    task: &DemoTask,
    face: &RgbImage,
    strength: Strength,
    out: &Path,
) -> Result<(), DemoError> {
    let parent = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io(parent, &e))?;
    let tmp = out.with_extension("tmp.mp4");
    swap_clip(faces, &task.target, face, strength, &tmp)?;
    std::fs::rename(&tmp, out).map_err(|e| io(out, &e))
}

/// Writes (or reuses) the demo's videos under `dir` and says which file goes where. Swaps are
/// written to a temporary name and renamed, so an interrupted run leaves no half file behind.
#[tracing::instrument(skip_all, fields(dir = %dir.display()), err)]
pub fn build(dir: &Path, faces: &mut FaceDetector) -> Result<DemoSet, DemoError> {
    let synth = dir.join("synth");
    if !synth.join("manifest.toml").is_file() {
        let tmp = dir.join("synth.tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, &e))?;
        }
        generate(&tmp, IDENTITIES, CLIPS, SEED)?;
        std::fs::rename(&tmp, &synth).map_err(|e| io(&synth, &e))?;
    }
    let ds = load(&synth.join("manifest.toml"))?;
    let mut tasks = Vec::new();
    for t in ds.round(1).map(|r| r.tasks.as_slice()).unwrap_or_default() {
        let Some(target) = ds.clip(&t.target) else {
            continue;
        };
        let round = if t.target.ends_with("_0000") { 1 } else { 2 };
        tasks.push(DemoTask {
            task_id: t.task_id.clone(),
            round,
            target: target.path.clone(),
            donor: t.donor.clone(),
        });
    }
    let mut donors: HashMap<String, RgbImage> = HashMap::new();
    let mut creations = Vec::new();
    for recipe in RECIPES {
        for &round in recipe.rounds {
            let mut videos = Vec::new();
            for (i, task) in tasks.iter().filter(|t| t.round == round).enumerate() {
                let out = dir
                    .join("fakes")
                    .join(recipe.team)
                    .join(format!("{}.mp4", task.task_id));
                if !out.is_file() {
                    let donor = if recipe.other_donor {
                        next_identity(&task.donor)
                    } else {
                        task.donor.clone()
                    };
                    let face = donor_of(faces, &ds, &mut donors, &donor)?;
                    write_swap(faces, task, &face, (recipe.strength)(i), &out)?;
                }
                videos.push((task.task_id.clone(), out));
            }
            creations.push(DemoCreation {
                team: recipe.team,
                round,
                videos,
            });
        }
    }
    Ok(DemoSet {
        hidden_reals: ds.hidden_clips().map(|c| c.path.clone()).collect(),
        tasks,
        creations,
    })
}
