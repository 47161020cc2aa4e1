//! Creation quality measured by the worker: the SSIM between a fake's sampled frames and its
//! task's target clip at the same frame indices (DFGC-2021's SSIM term).

use crate::context::WorkerContext;
use crate::crops::{Crops, CropsView};
use crate::job_error::JobError;
use crate::prepare::SAMPLER_VERSION;
use arena::entities::videos;
use arena::repo;
use arena::scoring::ssim_rgb;
use arena::storage;

/// The target clip of the task a fake answers, if it answers one.
pub async fn target_of(
    ctx: &WorkerContext,
    fake: &videos::Model,
) -> Result<Option<videos::Model>, JobError> {
    let Some(task_id) = &fake.task_id else {
        return Ok(None);
    };
    let task = repo::tasks::find(&ctx.db, fake.competition_id, task_id)
        .await?
        .ok_or_else(|| JobError::infra("task_missing", format!("task {task_id} is gone")))?;
    let target = repo::videos::find(&ctx.db, task.target_video_id)
        .await?
        .ok_or_else(|| JobError::infra("target_missing", "the task's target clip is gone"))?;
    Ok(Some(target))
}

/// Mean SSIM (BT.601 luma) over the fake's cached frames against the target's cached frames.
/// Frames are paired by frame index; when the two clips' frame counts differ (within the task's
/// ±2 % tolerance) the sampled indices can differ by a frame, and each fake frame is paired with
/// the target frame of the nearest index. `fake_frames`: the fake's frames cache when the caller
/// has it in memory (its prepare job just stored it), else it is read from the store. Both are
/// read in place ([`Crops::parse`]), not copied into images.
pub async fn ssim_against_target(
    ctx: &WorkerContext,
    fake: &videos::Model,
    target: &videos::Model,
    fake_frames: Option<bytes::Bytes>,
) -> Result<f64, JobError> {
    let fake_frames = match fake_frames {
        Some(bytes) => bytes,
        None => {
            ctx.storage
                .get(&storage::frames_key(&fake.sha256, SAMPLER_VERSION))
                .await?
        }
    };
    let target_frames = ctx
        .storage
        .get(&storage::frames_key(&target.sha256, SAMPLER_VERSION))
        .await?;
    let ssim = tokio::task::spawn_blocking(move || {
        let corrupt = |e| JobError::infra("corrupt_crops", e);
        let fake = Crops::parse(&fake_frames).map_err(corrupt)?;
        let target = Crops::parse(&target_frames).map_err(corrupt)?;
        Ok::<_, JobError>(mean_ssim(&fake, &target))
    })
    .await
    .map_err(|e| JobError::infra("worker_panic", e))??;
    ssim.ok_or_else(|| JobError {
        code: "resolution_mismatch",
        message: "the fake's frames and the target's frames differ in size".to_owned(),
        permanent: true,
    })
}

/// Mean SSIM of paired frames (nearest index); `None` when sizes differ or nothing pairs.
pub fn mean_ssim(fake: &CropsView<'_>, target: &CropsView<'_>) -> Option<f64> {
    if fake.images.is_empty() || target.images.is_empty() {
        return None;
    }
    let mut total = 0.0;
    for (index, img) in fake.indices.iter().zip(&fake.images) {
        let nearest = target
            .indices
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| t.abs_diff(*index))
            .map(|(i, _)| i)?;
        let other = &target.images[nearest];
        if (other.width, other.height) != (img.width, img.height) {
            return None;
        }
        total += ssim_rgb(
            img.data,
            other.data,
            img.width as usize,
            img.height as usize,
        )?;
    }
    Some(total / fake.images.len() as f64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::media::RgbImage;

    fn crops(indices: &[u64], shade: u8) -> Crops {
        let img = |i: u64| RgbImage {
            width: 16,
            height: 16,
            data: (0..16 * 16 * 3)
                .map(|p| ((p as u64 * 7 + i * 13) % 200) as u8 + shade)
                .collect(),
        };
        Crops {
            indices: indices.to_vec(),
            images: indices.iter().map(|i| img(*i)).collect(),
            detected: vec![false; indices.len()],
            contexts: vec![None; indices.len()],
        }
    }

    #[test]
    fn identical_frames_have_ssim_one_and_pairing_is_by_index() {
        let (a, b, brighter) = (
            crops(&[0, 3, 6, 9], 0),
            // The target sampled one frame later at the end: pairs by nearest index.
            crops(&[0, 3, 6, 10], 0),
            crops(&[0, 3, 6, 9], 40),
        );
        let (a, b, brighter) = (a.view(), b.view(), brighter.view());
        assert!((mean_ssim(&a, &a).unwrap() - 1.0).abs() < 1e-12);
        let s = mean_ssim(&a, &b).unwrap();
        assert!(s < 1.0 && s > 0.0);
        assert!(mean_ssim(&a, &brighter).unwrap() < 1.0);
    }
}

/// SSIM on real decoded frames against scikit-image (arena/tests/reference/ssim_reference.py).
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod reference {
    use super::*;
    use std::fmt::Write as _;
    use std::process::Command;

    #[test]
    fn mean_ssim_on_decoded_frames_matches_scikit_image() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let clip = root.join("datasets/fixtures/videos/face_moving.mp4");
        let sampled = {
            let _decodes = crate::test_support::decode_lock();
            crate::media::sample_frames(&clip, 12, 512).expect("decode")
        };
        let n = sampled.frames.len();
        assert!(n >= 6, "{n} frames");
        // The "fake" is the clip one frame later: real motion, real codec noise.
        let pick = |range: std::ops::Range<usize>| Crops {
            indices: (0..range.len() as u64).collect(),
            images: sampled.frames[range.clone()].to_vec(),
            detected: vec![false; range.len()],
            contexts: vec![None; range.len()],
        };
        let (fake, target) = (pick(1..n), pick(0..n - 1));
        let ours = mean_ssim(&fake.view(), &target.view()).expect("ssim");

        let probe = Command::new("python3")
            .args(["-c", "import skimage, numpy"])
            .output();
        if !probe.map(|o| o.status.success()).unwrap_or(false) {
            assert!(
                std::env::var("ARENA_REQUIRE_PYTHON_REFERENCE").as_deref() != Ok("1"),
                "python3 with scikit-image is missing, but ARENA_REQUIRE_PYTHON_REFERENCE=1 requires it"
            );
            eprintln!("SKIPPED: python3 with scikit-image is not available");
            if let Ok(log) = std::env::var("ARENA_SKIP_LOG") {
                let mut text = std::fs::read_to_string(&log).unwrap_or_default();
                text.push_str("python reference: SSIM vs scikit-image\n");
                let _ = std::fs::write(&log, text);
            }
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = String::new();
        for (i, (a, b)) in fake.images.iter().zip(&target.images).enumerate() {
            let (pa, pb) = (
                dir.path().join(format!("{i}a.raw")),
                dir.path().join(format!("{i}b.raw")),
            );
            std::fs::write(&pa, &a.data).unwrap();
            std::fs::write(&pb, &b.data).unwrap();
            writeln!(
                manifest,
                "rgb {} {} {} {}",
                a.width,
                a.height,
                pa.display(),
                pb.display()
            )
            .unwrap();
        }
        let list = dir.path().join("manifest.txt");
        std::fs::write(&list, manifest).unwrap();
        let script = root.join("arena/tests/reference/ssim_reference.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(&list)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let values: Vec<f64> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        let reference = values.iter().sum::<f64>() / values.len() as f64;
        assert!(
            (ours - reference).abs() < 1e-6,
            "ours {ours} vs scikit-image {reference}"
        );
        assert!(
            ours < 0.999,
            "consecutive frames of a moving clip are not identical: {ours}"
        );
    }
}
