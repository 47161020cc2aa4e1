//! Scoring one or several videos' cached images with a loaded detector: the rule the `score`
//! job, its evaluation child and `arena eval` share.

use crate::crops::CropsView;
use crate::detector::{Detector, aggregate};
use crate::job_error::JobError;
use std::time::Instant;

/// One video's score: what [`score_images`] gives.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoScore {
    /// P(fake) of the video, aggregated per the manifest.
    pub score: f32,
    pub per_frame: Vec<f32>,
    /// Inference time (cutting the crops and preprocessing included).
    pub elapsed_ms: i64,
}

/// Scores one video from its cached images: the manifest's `frames` of them, evenly spaced, cut
/// per its crop rule ([`CropsView::for_detector`]), run through the detector and aggregated.
/// Blocking: call it off the async executor.
pub fn score_images(detector: &mut Detector, images: &CropsView) -> Result<VideoScore, JobError> {
    let started = Instant::now();
    let frames = images.for_detector(detector.manifest());
    let per_frame = detector.score_frames(&frames)?;
    Ok(VideoScore {
        score: aggregate(detector.manifest().aggregate, &per_frame),
        per_frame,
        elapsed_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    })
}

/// [`score_images`] for several videos at once: on a GPU their frames share session runs
/// ([`Detector::score_videos`]); each video's elapsed time is its share of the runs, by frames.
pub fn score_images_many(
    detector: &mut Detector,
    videos: &[CropsView],
) -> Result<Vec<VideoScore>, JobError> {
    let started = Instant::now();
    let frames: Vec<Vec<_>> = videos
        .iter()
        .map(|v| v.for_detector(detector.manifest()))
        .collect();
    let per_video = detector.score_videos(&frames)?;
    let total_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let all = frames.iter().map(Vec::len).sum::<usize>().max(1) as i64;
    let kind = detector.manifest().aggregate;
    Ok(per_video
        .into_iter()
        .zip(&frames)
        .map(|(per_frame, f)| VideoScore {
            score: aggregate(kind, &per_frame),
            per_frame,
            elapsed_ms: total_ms.saturating_mul(f.len() as i64) / all,
        })
        .collect())
}
