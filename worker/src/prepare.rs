//! Preparing a video: one decode, its faces found and cut ([`prepare_frames`]), and the two
//! caches it leaves ([`PreparedVideo`], [`PreparedCaches`]). The same code runs in an evaluation
//! child, in process, and in `arena eval`.

use crate::crops::{Crops, CropsView};
use crate::faces::{self, FaceDetector};
use crate::job_error::JobError;
use crate::manifest::CropMode;
use crate::media;
use bytes::Bytes;
use std::path::Path;
use std::time::{Duration, Instant};

pub use crate::faces::FACE_DETECTOR_VERSION;

/// Version of the frame sampler; part of both cache keys.
pub const SAMPLER_VERSION: i32 = 2;

/// What `prepare_video` caches for one video.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedVideo {
    /// Square face contexts (each detector's crop is cut from them), native resolution capped at
    /// `max_side`.
    pub faces: Crops,
    /// Whole frames capped at `max_side`, for `crop = "frame"` detectors.
    pub frames: Crops,
}

/// A prepared video's two caches in their stored encoding ([`Crops::encode`]), with what its
/// rows record. An evaluation child's files become this as they were written (checked with
/// [`Crops::parse_current`], not decoded and encoded again).
#[derive(Debug)]
pub struct PreparedCaches {
    pub contents: CacheContents,
    pub summary: CropsSummary,
}

/// Where a prepared video's caches are.
#[derive(Debug)]
pub enum CacheContents {
    /// Read (or mapped) and checked: a decode child's output. `files`: the files they were read
    /// from, when they are out of the child's reach (`sandbox/handoff.rs`): the store adopts
    /// them instead of writing the bytes again.
    Checked {
        faces: Bytes,
        frames: Bytes,
        files: Option<CacheFiles>,
    },
    /// Written by this process ([`PreparedCaches::write`]) and not read back: the store adopts
    /// the files, and a fake's SSIM reads its frames from the store. (Until 2026-12-05 they were
    /// mapped, populated, right after being written, and unmapped unread unless the video had a
    /// target: docs/BENCHMARKS.md "In-process caches not mapped back".)
    Written(CacheFiles),
}

impl CacheContents {
    /// The whole frames' cache, when it is in memory already.
    pub fn frames(&self) -> Option<Bytes> {
        match self {
            CacheContents::Checked { frames, .. } => Some(frames.clone()),
            CacheContents::Written(_) => None,
        }
    }
}

/// A prepared video's cache files, in a folder of the server's (removed when this is dropped).
#[derive(Debug)]
pub struct CacheFiles {
    pub faces: std::path::PathBuf,
    pub frames: std::path::PathBuf,
    /// The folder holding them.
    pub dir: tempfile::TempDir,
}

/// What a video's rows record of its face cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CropsSummary {
    /// Frames sampled (the images of the cache).
    pub frames: usize,
    /// Of which cut around a real face detection.
    pub face_frames: usize,
    /// The sampled frames' indices.
    pub indices: Vec<u64>,
}

impl CropsSummary {
    pub fn of(faces: &CropsView<'_>) -> CropsSummary {
        CropsSummary {
            frames: faces.images.len(),
            face_frames: faces.detected.iter().filter(|&&d| d).count(),
            indices: faces.indices.clone(),
        }
    }
}

impl PreparedCaches {
    /// The caches of a video prepared in this process, written to files in `dir` image by image
    /// as a decode child writes them ([`Crops::write_to`]): the store adopts the files, and no
    /// encoded copy of the images is built in memory first, nor read back. (Until 2026-12-05 the
    /// in-process path encoded each cache into one buffer and the store wrote that: a second
    /// copy of ~25 MB per video, docs/BENCHMARKS.md "In-process caches as files".) Blocking.
    pub fn write(prepared: &PreparedVideo, dir: tempfile::TempDir) -> std::io::Result<Self> {
        let faces = dir.path().join("faces.crops");
        let frames = dir.path().join("frames.crops");
        prepared.faces.write_file(&faces)?;
        prepared.frames.write_file(&frames)?;
        Ok(PreparedCaches {
            contents: CacheContents::Written(CacheFiles { faces, frames, dir }),
            summary: CropsSummary::of(&prepared.faces.view()),
        })
    }

    /// The faces' and the frames' caches as stored: in memory, or read from this process's files.
    pub fn bytes(&self) -> std::io::Result<(Bytes, Bytes)> {
        match &self.contents {
            CacheContents::Checked { faces, frames, .. } => Ok((faces.clone(), frames.clone())),
            CacheContents::Written(files) => Ok((
                std::fs::read(&files.faces)?.into(),
                std::fs::read(&files.frames)?.into(),
            )),
        }
    }

    /// The images (a copy), as [`prepare_frames`] returns them.
    pub fn decode(&self) -> std::io::Result<PreparedVideo> {
        let (faces, frames) = self.bytes()?;
        let decode = |b: &Bytes| Crops::decode(b).map_err(|e| std::io::Error::other(e.to_string()));
        Ok(PreparedVideo {
            faces: decode(&faces)?,
            frames: decode(&frames)?,
        })
    }
}

/// Sizes and counts for [`prepare_frames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreparePlan {
    /// K: frames kept, evenly spaced.
    pub frames: usize,
    /// Longest side frames are decoded at; faces are cut from these.
    pub decode_max_side: u32,
    /// Longest side of a cached image.
    pub max_side: u32,
}

impl PreparePlan {
    pub fn from_settings(e: &arena::config::EvaluationSettings) -> PreparePlan {
        PreparePlan {
            frames: e.sampler_frames,
            decode_max_side: e.decode_max_side.max(e.max_side),
            max_side: e.max_side,
        }
    }
}

/// Decodes `path` once and, frame by frame as they come out of the decoder, finds the subject's
/// face ([`crate::face_search`]) and cuts its crop from the large frame, so the large frames are
/// not all held at once. Blocking: call it off the async executor.
pub fn prepare_frames(
    path: &Path,
    plan: &PreparePlan,
    faces: &mut FaceDetector,
) -> Result<PreparedVideo, JobError> {
    prepare_frames_timed(path, plan, faces, None)
}

/// Time spent in [`prepare_frames`]' stages besides decoding (`arena eval`'s breakdown).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PrepareTimes {
    /// Finding the faces.
    pub faces: Duration,
    /// Cutting the face contexts.
    pub crops: Duration,
}

/// [`prepare_frames`], adding each stage's time to `timer` when there is one.
pub fn prepare_frames_timed(
    path: &Path,
    plan: &PreparePlan,
    faces: &mut FaceDetector,
    mut timer: Option<&mut PrepareTimes>,
) -> Result<PreparedVideo, JobError> {
    let now = |on: bool| on.then(Instant::now);
    let mut cropper = faces::FaceCropper::new(plan.max_side);
    let mut finder = crate::face_search::FaceFinder::new();
    let mut frames = Crops::empty();
    let sizes = [plan.decode_max_side, plan.max_side];
    media::sample_frames_each(path, plan.frames, &sizes, |index, mut images| {
        let (Some(small), Some(large)) = (images.pop(), images.pop()) else {
            return Err(JobError::infra("media_internal", "a size is missing"));
        };
        let t = now(timer.is_some());
        let face = finder.find(faces, &small, &large)?;
        let t2 = now(timer.is_some());
        cropper.push(large, face);
        if let (Some(timer), Some(t), Some(t2)) = (timer.as_deref_mut(), t, t2) {
            timer.crops += t2.elapsed();
            timer.faces += t2 - t;
        }
        frames.indices.push(index);
        frames.images.push(small);
        frames.detected.push(false);
        frames.contexts.push(None);
        Ok(())
    })?;
    let t = now(timer.is_some());
    let prepared = PreparedVideo::new(frames, cropper.finish())?;
    if let (Some(timer), Some(t)) = (timer, t) {
        timer.crops += t.elapsed();
    }
    tracing::debug!(
        frames = prepared.frames.indices.len(),
        face_frames = prepared.faces.face_frames(),
        "faces found"
    );
    Ok(prepared)
}

impl PreparedVideo {
    /// The cache a detector with `crop` reads.
    pub fn images_for(&self, crop: CropMode) -> &Crops {
        match crop {
            CropMode::Face => &self.faces,
            CropMode::Frame => &self.frames,
        }
    }

    /// The whole frames and the face contexts cut from the same frames; an error when no frame
    /// could be decoded.
    pub fn new(frames: Crops, faces: faces::FaceCrops) -> Result<PreparedVideo, JobError> {
        if frames.indices.is_empty() {
            return Err(JobError {
                code: "invalid_video",
                message: "no frame could be decoded".to_owned(),
                permanent: true,
            });
        }
        Ok(PreparedVideo {
            faces: Crops {
                indices: frames.indices.clone(),
                images: faces.images,
                detected: faces.detected,
                contexts: faces.contexts,
            },
            frames,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::media::RgbImage;

    fn crops(values: &[u8], detected: &[bool]) -> Crops {
        Crops {
            indices: (0..values.len() as u64).map(|i| i * 3).collect(),
            images: values
                .iter()
                .map(|&v| RgbImage {
                    width: 6,
                    height: 4,
                    data: vec![v; 6 * 4 * 3],
                })
                .collect(),
            detected: detected.to_vec(),
            contexts: vec![None; values.len()],
        }
    }

    #[test]
    fn caches_written_as_files_hold_the_encoded_bytes() {
        let prepared = PreparedVideo {
            faces: crops(&[10, 20, 30], &[true, false, true]),
            frames: crops(&[1, 2, 3], &[false, false, false]),
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let caches = PreparedCaches::write(&prepared, dir).unwrap();
        let CacheContents::Written(files) = &caches.contents else {
            panic!("the store adopts the files this process wrote: {caches:?}");
        };
        let faces = std::fs::read(&files.faces).unwrap();
        let frames = std::fs::read(&files.frames).unwrap();
        assert_eq!(faces, prepared.faces.encode());
        assert_eq!(frames, prepared.frames.encode());
        assert!(files.faces.starts_with(&root) && files.frames.starts_with(&root));
        assert_eq!(caches.summary.frames, 3);
        assert_eq!(caches.summary.face_frames, 2);
        assert_eq!(caches.summary.indices, vec![0, 3, 6]);
        assert_eq!(Crops::decode(&faces).unwrap(), prepared.faces);
        assert_eq!(Crops::decode(&frames).unwrap(), prepared.frames);
        assert_eq!(caches.contents.frames(), None, "not read back");
        assert_eq!(
            caches.decode().unwrap(),
            prepared,
            "read from the files on demand"
        );
        drop(caches);
        assert!(!root.exists(), "the folder goes with the caches");
    }
}
