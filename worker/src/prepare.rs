//! Preparing a video: one decode, its faces found and cut, and the two caches it leaves: in
//! memory ([`prepare_frames`], [`PreparedVideo`]: `arena eval`) or written to files as the
//! images are made ([`prepare_to_files`], [`PreparedCaches`]: an evaluation child and the
//! in-process path). The same decode, face search and cutting runs in each.

use crate::crops::{Crops, CropsFileWriter, CropsView};
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
    /// Written by this process ([`PreparedCaches::prepare_into`]) and not read back: the store adopts
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
    /// Prepares `path` in this process ([`prepare_to_files`]), leaving its caches as files in
    /// `dir` for the store to adopt, written as a decode child writes them: no encoded copy of
    /// the images is built in memory first, nor read back, and each image is written as soon as
    /// it is final. (Until 2026-12-05 the in-process path encoded each cache into one buffer
    /// and the store wrote that: a second copy of ~25 MB per video, docs/BENCHMARKS.md
    /// "In-process caches as files"; then it wrote both caches once the video was done.)
    /// Blocking.
    pub fn prepare_into(
        path: &Path,
        plan: &PreparePlan,
        detector: &mut FaceDetector,
        dir: tempfile::TempDir,
    ) -> Result<Self, JobError> {
        let faces = dir.path().join("faces.crops");
        let frames = dir.path().join("frames.crops");
        let summary = prepare_to_files(path, plan, detector, &faces, &frames, |what, e| {
            JobError::infra("scratch", format!("{what}: {e}"))
        })?;
        Ok(PreparedCaches {
            contents: CacheContents::Written(CacheFiles { faces, frames, dir }),
            summary,
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
    timer: Option<&mut PrepareTimes>,
) -> Result<PreparedVideo, JobError> {
    let mut kept = Kept {
        frames: Crops::empty(),
        faces: faces::FaceCrops::empty(),
    };
    prepare_each(path, plan, faces, timer, &mut kept)?;
    let prepared = PreparedVideo::new(kept.frames, kept.faces)?;
    tracing::debug!(
        frames = prepared.frames.indices.len(),
        face_frames = prepared.faces.face_frames(),
        "faces found"
    );
    Ok(prepared)
}

/// [`prepare_frames`] leaving the two caches as files, `faces_out` and `frames_out`, with the
/// bytes [`Crops::encode`] gives for [`prepare_frames`]' images, each image written as soon as
/// it is final ([`CropsFileWriter`]) instead of all of them being held until the video is done
/// (~25 MB of new memory per 2-s 640x480 video that a decode child no longer touches:
/// docs/BENCHMARKS.md "Images written as they are made"). Only the frames before the first
/// detection wait, at decode size, for its box. `io_error` names a failed write. Blocking.
/// What a decode child and the in-process path run.
pub fn prepare_to_files(
    path: &Path,
    plan: &PreparePlan,
    faces: &mut FaceDetector,
    faces_out: &Path,
    frames_out: &Path,
    io_error: fn(&str, std::io::Error) -> JobError,
) -> Result<CropsSummary, JobError> {
    let mut files = Files {
        frames: CropsFileWriter::create(frames_out)
            .map_err(|e| io_error("writing the frames", e))?,
        faces: CropsFileWriter::create(faces_out)
            .map_err(|e| io_error("writing the face crops", e))?,
        indices: Vec::new(),
        face_frames: 0,
        io_error,
    };
    prepare_each(path, plan, faces, None, &mut files)?;
    if files.indices.is_empty() {
        return Err(no_frame());
    }
    if files.faces.count() as usize != files.indices.len() {
        return Err(JobError::infra(
            "media_internal",
            "a frame without its face crop",
        ));
    }
    files
        .frames
        .finish()
        .map_err(|e| io_error("writing the frames", e))?;
    files
        .faces
        .finish()
        .map_err(|e| io_error("writing the face crops", e))?;
    let summary = CropsSummary {
        frames: files.indices.len(),
        face_frames: files.face_frames,
        indices: files.indices,
    };
    tracing::debug!(
        frames = summary.frames,
        face_frames = summary.face_frames,
        "faces found"
    );
    Ok(summary)
}

/// Where [`prepare_each`] puts each whole frame and each face crop, in frame order, as soon as
/// they are final.
trait Sink {
    fn frame(&mut self, index: u64, frame: crate::media::RgbImage) -> Result<(), JobError>;
    /// The face crops of the next frames (as many as are final).
    fn faces(&mut self, crops: faces::FaceCrops) -> Result<(), JobError>;
}

/// The images kept in memory ([`prepare_frames`]).
struct Kept {
    frames: Crops,
    faces: faces::FaceCrops,
}

impl Sink for Kept {
    fn frame(&mut self, index: u64, frame: crate::media::RgbImage) -> Result<(), JobError> {
        self.frames.indices.push(index);
        self.frames.images.push(frame);
        self.frames.detected.push(false);
        self.frames.contexts.push(None);
        Ok(())
    }

    fn faces(&mut self, crops: faces::FaceCrops) -> Result<(), JobError> {
        self.faces.append(crops);
        Ok(())
    }
}

/// The images written to the cache files ([`prepare_to_files`]).
struct Files {
    frames: CropsFileWriter,
    faces: CropsFileWriter,
    /// The frames' indices (a face crop is the one of the next frame without one).
    indices: Vec<u64>,
    face_frames: usize,
    io_error: fn(&str, std::io::Error) -> JobError,
}

impl Sink for Files {
    fn frame(&mut self, index: u64, frame: crate::media::RgbImage) -> Result<(), JobError> {
        self.indices.push(index);
        self.frames
            .push(index, false, None, &frame)
            .map_err(|e| (self.io_error)("writing the frames", e))
    }

    fn faces(&mut self, crops: faces::FaceCrops) -> Result<(), JobError> {
        let io_error = self.io_error;
        for ((image, detected), context) in
            crops.images.iter().zip(crops.detected).zip(crops.contexts)
        {
            let at = self.faces.count() as usize;
            let Some(&index) = self.indices.get(at) else {
                return Err(JobError::infra(
                    "media_internal",
                    "a face crop without its frame",
                ));
            };
            self.face_frames += usize::from(detected);
            self.faces
                .push(index, detected, context, image)
                .map_err(|e| io_error("writing the face crops", e))?;
        }
        Ok(())
    }
}

/// Decodes `path` once and, frame by frame as they come out of the decoder, finds the subject's
/// face ([`crate::face_search`]) and cuts its crop from the large frame (so the large frames are
/// not all held at once), handing `sink` each frame at `max_side` and each crop once final.
fn prepare_each(
    path: &Path,
    plan: &PreparePlan,
    faces: &mut FaceDetector,
    mut timer: Option<&mut PrepareTimes>,
    sink: &mut impl Sink,
) -> Result<(), JobError> {
    let now = |on: bool| on.then(Instant::now);
    let mut cutting = Cutting(faces::FaceCropper::new(plan.max_side));
    let mut finder = crate::face_search::FaceFinder::new();
    let sizes = [plan.decode_max_side, plan.max_side];
    media::sample_frames_each(path, plan.frames, &sizes, |index, mut images| {
        let (Some(small), Some(large)) = (images.pop(), images.pop()) else {
            return Err(JobError::infra("media_internal", "a size is missing"));
        };
        let t = now(timer.is_some());
        let face = finder.find(faces, &small, &large)?;
        let t2 = now(timer.is_some());
        let r = cutting.push(sink, index, small, large, face);
        if let (Some(timer), Some(t), Some(t2)) = (timer.as_deref_mut(), t, t2) {
            timer.crops += t2.elapsed();
            timer.faces += t2 - t;
        }
        r
    })?;
    let t = now(timer.is_some());
    let r = cutting.finish(sink);
    if let (Some(timer), Some(t)) = (timer, t) {
        timer.crops += t.elapsed();
    }
    r
}

/// Cuts each frame's face crop ([`faces::FaceCropper`]) and hands a [`Sink`] the frame, then
/// the crops that are final, in frame order.
struct Cutting(faces::FaceCropper);

impl Cutting {
    fn push(
        &mut self,
        sink: &mut impl Sink,
        index: u64,
        small: crate::media::RgbImage,
        large: crate::media::RgbImage,
        face: Option<crate::faces::FaceBox>,
    ) -> Result<(), JobError> {
        self.0.push(large, face);
        sink.frame(index, small)?;
        sink.faces(self.0.take_cut())
    }

    fn finish(self, sink: &mut impl Sink) -> Result<(), JobError> {
        sink.faces(self.0.finish())
    }
}

fn no_frame() -> JobError {
    JobError {
        code: "invalid_video",
        message: "no frame could be decoded".to_owned(),
        permanent: true,
    }
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
            return Err(no_frame());
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
    use crate::test_support::{decode_lock, face_detector, video};

    #[test]
    fn caches_written_as_they_are_made_hold_the_encoded_bytes() {
        let _guard = decode_lock();
        let mut det = face_detector();
        // A face that moves, a clip without a face (centre crops), one rotated by its display
        // matrix, and every other fixture.
        let mut cases = vec![
            ("face_moving.mp4", 6, Some(6)),
            ("real_1.mp4", 5, Some(0)),
            ("face_rot90.mp4", 4, Some(4)),
        ];
        for other in [
            "face_anamorphic.mp4",
            "face_hflip.mp4",
            "fake_1.mp4",
            "fake_1_8frames.mp4",
            "fake_2.mp4",
            "real_2.mp4",
            "real_3.mp4",
            "real_1.webm",
            "two_faces_1080p.mp4",
        ] {
            cases.push((other, 8, None));
        }
        for (name, frames, with_face) in cases {
            let plan = PreparePlan {
                frames,
                decode_max_side: 1920,
                max_side: 96,
            };
            let prepared = prepare_frames(&video(name), &plan, &mut det).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_owned();
            let caches = PreparedCaches::prepare_into(&video(name), &plan, &mut det, dir).unwrap();
            let CacheContents::Written(files) = &caches.contents else {
                panic!("the store adopts the files this process wrote: {caches:?}");
            };
            let faces = std::fs::read(&files.faces).unwrap();
            let frames = std::fs::read(&files.frames).unwrap();
            assert_eq!(faces, prepared.faces.encode(), "{name}");
            assert_eq!(frames, prepared.frames.encode(), "{name}");
            assert!(files.faces.starts_with(&root) && files.frames.starts_with(&root));
            assert_eq!(caches.summary.frames, frames_of(&prepared), "{name}");
            assert_eq!(
                caches.summary.face_frames,
                prepared.faces.face_frames(),
                "{name}"
            );
            if let Some(n) = with_face {
                assert_eq!(prepared.faces.face_frames(), n, "{name}");
            }
            assert_eq!(caches.summary.indices, prepared.faces.indices);
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

    fn frames_of(p: &PreparedVideo) -> usize {
        assert_eq!(p.faces.images.len(), p.frames.images.len());
        p.frames.images.len()
    }

    #[test]
    fn a_file_that_is_no_video_leaves_no_caches_to_adopt() {
        let _guard = decode_lock();
        let mut det = face_detector();
        let plan = PreparePlan {
            frames: 4,
            decode_max_side: 640,
            max_side: 96,
        };
        let dir = tempfile::tempdir().unwrap();
        let err = PreparedCaches::prepare_into(&video("not_a_video.mp4"), &plan, &mut det, dir)
            .unwrap_err();
        let frames_only = prepare_frames(&video("not_a_video.mp4"), &plan, &mut det).unwrap_err();
        assert_eq!(err.code, frames_only.code, "{err:?}");
        assert_eq!(err.permanent, frames_only.permanent);
    }

    /// A frame of `w`x`h` whose pixels depend on `seed` and their place.
    fn frame(seed: u8, w: u32, h: u32) -> crate::media::RgbImage {
        crate::media::RgbImage {
            width: w,
            height: h,
            data: (0..w * h * 3)
                .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
                .collect(),
        }
    }

    #[test]
    fn frames_before_the_first_face_are_written_in_order_once_it_is_found() {
        let face = |x: f32| crate::faces::FaceBox {
            x0: x,
            y0: 0.2,
            x1: x + 0.4,
            y1: 0.7,
            score: 0.9,
            eyes: None,
        };
        // No face in the first two frames, then one, none, one; and a video with no face at all.
        for boxes in [
            vec![None, None, Some(face(0.3)), None, Some(face(0.1))],
            vec![None, None, None],
            vec![Some(face(0.2)), None],
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut files = Files {
                frames: CropsFileWriter::create(&dir.path().join("frames")).unwrap(),
                faces: CropsFileWriter::create(&dir.path().join("faces")).unwrap(),
                indices: Vec::new(),
                face_frames: 0,
                io_error: |_, e| JobError::infra("scratch", e),
            };
            let mut kept = Kept {
                frames: Crops::empty(),
                faces: faces::FaceCrops::empty(),
            };
            let mut written = Cutting(faces::FaceCropper::new(24));
            let mut held = Cutting(faces::FaceCropper::new(24));
            let mut waiting = 0;
            for (i, b) in boxes.iter().enumerate() {
                let (small, large) = (frame(i as u8, 16, 12), frame(i as u8 + 50, 64, 48));
                let index = 3 * i as u64;
                written
                    .push(&mut files, index, small.clone(), large.clone(), *b)
                    .unwrap();
                held.push(&mut kept, index, small, large, *b).unwrap();
                // Nothing is cut before the first face; then every frame at once.
                waiting = if b.is_some() || files.faces.count() > 0 {
                    0
                } else {
                    waiting + 1
                };
                assert_eq!(files.faces.count() as usize, i + 1 - waiting, "{boxes:?}");
            }
            written.finish(&mut files).unwrap();
            held.finish(&mut kept).unwrap();
            assert_eq!(files.faces.count() as usize, boxes.len());
            assert_eq!(
                files.face_frames,
                boxes.iter().filter(|b| b.is_some()).count()
            );
            files.frames.finish().unwrap();
            files.faces.finish().unwrap();
            let prepared = PreparedVideo::new(kept.frames, kept.faces).unwrap();
            let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
            assert_eq!(read("frames"), prepared.frames.encode(), "{boxes:?}");
            assert_eq!(read("faces"), prepared.faces.encode(), "{boxes:?}");
            assert_eq!(files.indices, prepared.faces.indices);
        }
    }

    #[test]
    fn the_file_writer_gives_the_encoded_bytes() {
        use crate::media::RgbImage;
        let img = |v: u8, w: u32| RgbImage {
            width: w,
            height: 2,
            data: vec![v; (w * 2 * 3) as usize],
        };
        let crops = Crops {
            indices: vec![0, 5, 9],
            images: vec![img(1, 3), img(2, 4), img(3, 1)],
            detected: vec![false; 3],
            contexts: vec![None; 3],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frames.crops");
        let mut w = CropsFileWriter::create(&path).unwrap();
        for (i, img) in crops.indices.iter().zip(&crops.images) {
            w.push(*i, false, None, img).unwrap();
        }
        assert_eq!(w.count(), 3);
        w.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), crops.encode());
        // None at all: still a valid (empty) cache.
        let empty = dir.path().join("empty.crops");
        CropsFileWriter::create(&empty).unwrap().finish().unwrap();
        assert_eq!(std::fs::read(&empty).unwrap(), Crops::empty().encode());
    }
}
