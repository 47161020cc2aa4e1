//! The dataset manifest: a TOML file listing real clips, each round's tasks and the hidden real set.
//!
//! Format (paths are relative to the manifest's folder; unknown keys are refused):
//!
//! ```toml
//! # Clips the organizer calls real; `id` is unique, `identity` names the person shown.
//! hidden_real = ["id2_0001"]          # clip ids kept back as the hidden real set
//!
//! [[clips]]
//! id = "id0_0000"
//! path = "real/id0_0000.mp4"
//! identity = "id0"
//! group = "g01"                        # e.g. a recording session; tasks are named after it
//!
//! [[rounds]]
//! number = 1
//! [[rounds.tasks]]
//! task_id = "g01_id1_0003"             # unique across the manifest
//! target = "id1_0003"                  # a clip id: the video to put the donor's face on
//! donor = "id0"                        # an identity: whose face goes on it
//! ```
//!
//! A Celeb-DF-style folder (`id0_0000.mp4`, ...) becomes a competition by writing one `[[clips]]`
//! entry per video plus the rounds and hidden set above.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The manifest as written on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    #[serde(default)]
    pub hidden_real: Vec<String>,
    #[serde(default)]
    pub clips: Vec<ClipEntry>,
    #[serde(default)]
    pub rounds: Vec<RoundEntry>,
}

/// One real clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipEntry {
    pub id: String,
    pub path: PathBuf,
    pub identity: String,
    pub group: String,
}

/// One round and its creation tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundEntry {
    pub number: u32,
    #[serde(default)]
    pub tasks: Vec<TaskEntry>,
}

/// A creation task: put `donor`'s face onto clip `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEntry {
    pub task_id: String,
    pub target: String,
    pub donor: String,
}

/// A real clip of a loaded dataset, its path resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clip {
    pub id: String,
    pub path: PathBuf,
    pub identity: String,
    pub group: String,
}

/// A loaded, checked manifest: every path exists, every id is unique, every reference resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// The manifest file it was loaded from.
    pub manifest_path: PathBuf,
    pub clips: Vec<Clip>,
    pub rounds: Vec<RoundEntry>,
    pub hidden_real: Vec<String>,
}

impl Dataset {
    pub fn clip(&self, id: &str) -> Option<&Clip> {
        self.clips.iter().find(|c| c.id == id)
    }

    pub fn round(&self, number: u32) -> Option<&RoundEntry> {
        self.rounds.iter().find(|r| r.number == number)
    }

    /// The clips of `identity`, in manifest order.
    pub fn clips_of<'a>(&'a self, identity: &'a str) -> impl Iterator<Item = &'a Clip> + 'a {
        self.clips.iter().filter(move |c| c.identity == identity)
    }

    /// The hidden real clips.
    pub fn hidden_clips(&self) -> impl Iterator<Item = &Clip> {
        self.hidden_real.iter().filter_map(|id| self.clip(id))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("invalid manifest {path}: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("{manifest}: {field} names {file}, which is not a file")]
    MissingFile {
        manifest: PathBuf,
        field: String,
        file: PathBuf,
    },
    #[error("{manifest}: {field} repeats id {id:?}")]
    DuplicateId {
        manifest: PathBuf,
        field: String,
        id: String,
    },
    #[error("{manifest}: {field} names unknown identity {identity:?}")]
    UnknownIdentity {
        manifest: PathBuf,
        field: String,
        identity: String,
    },
    #[error("{manifest}: {field} names unknown clip {id:?}")]
    UnknownClip {
        manifest: PathBuf,
        field: String,
        id: String,
    },
}

/// Reads and checks the manifest at `path`.
#[tracing::instrument(skip_all, fields(path = %path.display()), err(level = "info"))]
pub fn load(path: &Path) -> Result<Dataset, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let file: ManifestFile = toml::from_str(&text).map_err(|e| DatasetError::Toml {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    check(path, file)
}

fn check(path: &Path, file: ManifestFile) -> Result<Dataset, DatasetError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let m = path.to_owned();
    let mut clip_ids = HashSet::new();
    let mut clips = Vec::with_capacity(file.clips.len());
    for (i, c) in file.clips.into_iter().enumerate() {
        if !clip_ids.insert(c.id.clone()) {
            return Err(DatasetError::DuplicateId {
                manifest: m,
                field: format!("clips[{i}].id"),
                id: c.id,
            });
        }
        let resolved = base.join(&c.path);
        if !resolved.is_file() {
            return Err(DatasetError::MissingFile {
                manifest: m,
                field: format!("clips[{i}].path"),
                file: resolved,
            });
        }
        clips.push(Clip {
            id: c.id,
            path: resolved,
            identity: c.identity,
            group: c.group,
        });
    }
    let identities: HashSet<&str> = clips.iter().map(|c| c.identity.as_str()).collect();
    let mut task_ids = HashSet::new();
    let mut round_numbers = HashSet::new();
    for (r, round) in file.rounds.iter().enumerate() {
        if !round_numbers.insert(round.number) {
            return Err(DatasetError::DuplicateId {
                manifest: m,
                field: format!("rounds[{r}].number"),
                id: round.number.to_string(),
            });
        }
        for (t, task) in round.tasks.iter().enumerate() {
            let field = |name: &str| format!("rounds[{r}].tasks[{t}].{name}");
            if !task_ids.insert(task.task_id.as_str()) {
                return Err(DatasetError::DuplicateId {
                    manifest: m,
                    field: field("task_id"),
                    id: task.task_id.clone(),
                });
            }
            if !clip_ids.contains(&task.target) {
                return Err(DatasetError::UnknownClip {
                    manifest: m,
                    field: field("target"),
                    id: task.target.clone(),
                });
            }
            if !identities.contains(task.donor.as_str()) {
                return Err(DatasetError::UnknownIdentity {
                    manifest: m,
                    field: field("donor"),
                    identity: task.donor.clone(),
                });
            }
        }
    }
    let mut hidden = HashSet::new();
    for (i, id) in file.hidden_real.iter().enumerate() {
        let field = format!("hidden_real[{i}]");
        if !clip_ids.contains(id) {
            return Err(DatasetError::UnknownClip {
                manifest: m,
                field,
                id: id.clone(),
            });
        }
        if !hidden.insert(id.as_str()) {
            return Err(DatasetError::DuplicateId {
                manifest: m,
                field,
                id: id.clone(),
            });
        }
    }
    Ok(Dataset {
        manifest_path: m,
        clips,
        rounds: file.rounds,
        hidden_real: file.hidden_real,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
hidden_real = ["id1_0000"]

[[clips]]
id = "id0_0000"
path = "real/id0_0000.mp4"
identity = "id0"
group = "g01"

[[clips]]
id = "id1_0000"
path = "real/id1_0000.mp4"
identity = "id1"
group = "g01"

[[rounds]]
number = 1
[[rounds.tasks]]
task_id = "g01_id0_0000"
target = "id0_0000"
donor = "id1"
"#;

    fn write(manifest: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        for name in ["id0_0000.mp4", "id1_0000.mp4"] {
            std::fs::write(dir.path().join("real").join(name), b"x").unwrap();
        }
        let path = dir.path().join("manifest.toml");
        std::fs::write(&path, manifest).unwrap();
        (dir, path)
    }

    #[test]
    fn loads_a_good_manifest_with_resolved_paths() {
        let (dir, path) = write(GOOD);
        let ds = load(&path).unwrap();
        assert_eq!(ds.clips.len(), 2);
        assert_eq!(
            ds.clip("id1_0000").unwrap().path,
            dir.path().join("real/id1_0000.mp4")
        );
        assert_eq!(ds.round(1).unwrap().tasks[0].donor, "id1");
        assert_eq!(
            ds.hidden_clips().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["id1_0000"]
        );
        assert_eq!(ds.clips_of("id0").count(), 1);
    }

    #[test]
    fn a_missing_clip_file_is_named_with_its_field() {
        let (_dir, path) = write(&GOOD.replace("real/id1_0000.mp4", "real/nope.mp4"));
        let err = load(&path).unwrap_err();
        assert!(matches!(err, DatasetError::MissingFile { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("clips[1].path") && text.contains("nope.mp4"),
            "{text}"
        );
    }

    #[test]
    fn duplicate_clip_and_task_ids_are_refused() {
        let (_dir, path) = write(&GOOD.replace("id = \"id1_0000\"", "id = \"id0_0000\""));
        let text = load(&path).unwrap_err().to_string();
        assert!(
            text.contains("clips[1].id") && text.contains("id0_0000"),
            "{text}"
        );

        let twice = format!(
            "{GOOD}[[rounds.tasks]]\ntask_id = \"g01_id0_0000\"\ntarget = \"id1_0000\"\ndonor = \"id0\"\n"
        );
        let (_dir, path) = write(&twice);
        let text = load(&path).unwrap_err().to_string();
        assert!(text.contains("rounds[0].tasks[1].task_id"), "{text}");
    }

    #[test]
    fn unknown_donor_identity_and_hidden_clip_are_refused() {
        let (_dir, path) = write(&GOOD.replace("donor = \"id1\"", "donor = \"id9\""));
        let err = load(&path).unwrap_err();
        assert!(
            matches!(&err, DatasetError::UnknownIdentity { identity, .. } if identity == "id9"),
            "{err}"
        );
        assert!(err.to_string().contains("rounds[0].tasks[0].donor"));

        let (_dir, path) = write(&GOOD.replace("[\"id1_0000\"]", "[\"id7_0000\"]"));
        let text = load(&path).unwrap_err().to_string();
        assert!(
            text.contains("hidden_real[0]") && text.contains("id7_0000"),
            "{text}"
        );
    }

    #[test]
    fn bad_toml_and_unknown_keys_are_refused_naming_the_file() {
        let (_dir, path) = write(&GOOD.replace("group = \"g01\"", "group = \"g01\"\ncolour = 3"));
        let err = load(&path).unwrap_err();
        assert!(matches!(err, DatasetError::Toml { .. }), "{err}");
        assert!(err.to_string().contains("colour"), "{err}");
        assert!(err.to_string().contains("manifest.toml"), "{err}");

        let (_dir, path) = write("[[clips]\nid = ");
        assert!(matches!(load(&path), Err(DatasetError::Toml { .. })));

        let missing = load(Path::new("/nonexistent/manifest.toml")).unwrap_err();
        assert!(matches!(missing, DatasetError::Io { .. }), "{missing}");
    }
}
