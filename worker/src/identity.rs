//! The DFGC-2021 ID term's embeddings: an organizer's face-embedding ONNX model (`[identity]` in
//! the server config) turns face crops into vectors; a fake's identity similarity is the mean
//! cosine similarity between its crops' embeddings and its donor's reference crops' embeddings.
//!
//! The model is the organizers' own (trusted configuration, not an upload) and reads face crops
//! the sandboxed prepare step already cut and cached, so it runs in the worker like SSIM does.

use crate::context::{SessionCache, WorkerContext};
use crate::crops::Crops;
use crate::detector::{DetectorError, SessionOptions};
use crate::job_error::JobError;
use crate::prepare::{FACE_DETECTOR_VERSION, SAMPLER_VERSION};
use arena::entities::videos;
use arena::{repo, storage};

pub use crate::identity_model::{IdentityManifest, IdentityModel};

/// Loads the configured `[identity]` model (None when none is configured).
fn load_configured(ctx: &WorkerContext) -> Result<Option<IdentityModel>, JobError> {
    let cfg = &ctx.settings.identity;
    let Some(model_path) = &cfg.model else {
        return Ok(None);
    };
    let fail = |e: String| JobError::infra("identity_model", e);
    let manifest_path = cfg
        .manifest
        .as_ref()
        .ok_or_else(|| fail("[identity] model is set without a manifest".into()))?;
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|e| fail(format!("{}: {e}", manifest_path.display())))?;
    let manifest = IdentityManifest::parse(&text).map_err(|e| fail(e.to_string()))?;
    let bytes =
        std::fs::read(model_path).map_err(|e| fail(format!("{}: {e}", model_path.display())))?;
    let opts = SessionOptions::from_settings(&ctx.settings.evaluation);
    IdentityModel::load(&ctx.ort, &bytes, &manifest, &opts)
        .map(Some)
        .map_err(|e| fail(e.to_string()))
}

/// A video's cached face crops.
async fn face_crops(ctx: &WorkerContext, v: &videos::Model) -> Result<Crops, JobError> {
    let key = storage::crops_key(&v.sha256, SAMPLER_VERSION, FACE_DETECTOR_VERSION);
    Crops::decode(&ctx.storage.get(&key).await?).map_err(|e| JobError::infra("corrupt_crops", e))
}

/// The donor reference clips of `fake`'s task whose face crops are not cached yet: the prepare
/// job prepares them (finding the cache, their own jobs then do not decode again) before
/// [`measure`]. Empty without an `[identity]` model or a task.
pub async fn unprepared_references(
    ctx: &WorkerContext,
    fake: &videos::Model,
) -> Result<Vec<i64>, JobError> {
    let mut missing = Vec::new();
    for r in donor_references(ctx, fake).await? {
        let key = storage::crops_key(&r.sha256, SAMPLER_VERSION, FACE_DETECTOR_VERSION);
        if !ctx.storage.exists(&key).await? {
            missing.push(r.id);
        }
    }
    Ok(missing)
}

/// The donor reference clips of `fake`'s task; none without an `[identity]` model or a task.
async fn donor_references(
    ctx: &WorkerContext,
    fake: &videos::Model,
) -> Result<Vec<videos::Model>, JobError> {
    if ctx.settings.identity.model.is_none() {
        return Ok(Vec::new());
    }
    let Some(task_id) = &fake.task_id else {
        return Ok(Vec::new());
    };
    let Some(task) = repo::tasks::find(&ctx.db, fake.competition_id, task_id).await? else {
        return Ok(Vec::new());
    };
    let ids =
        repo::tasks::donor_references(&ctx.db, fake.competition_id, &task.donor_identity).await?;
    let mut refs = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = repo::videos::find(&ctx.db, id).await? {
            refs.push(r);
        }
    }
    Ok(refs)
}

/// The fake's identity similarity to its task's donor: the mean cosine similarity between the
/// embeddings of its face crops and those of every donor reference clip's crops. None without an
/// `[identity]` model, a task, or a donor reference clip (the ID term then comes from ratings).
pub async fn measure(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    fake: &videos::Model,
) -> Result<Option<f64>, JobError> {
    let mut reference_crops = Vec::new();
    for r in donor_references(ctx, fake).await? {
        // The caller prepared every reference first (see [`unprepared_references`]).
        reference_crops.push(face_crops(ctx, &r).await?);
    }
    if reference_crops.is_empty() {
        return Ok(None);
    }
    let fake_crops = face_crops(ctx, fake).await?;
    let model = match cache.identity.take() {
        Some(m) => m,
        None => match load_configured(ctx)? {
            Some(m) => m,
            None => return Ok(None),
        },
    };
    let (model, result) = tokio::task::spawn_blocking(move || {
        let mut model = model;
        let out = similarity(&mut model, &fake_crops, &reference_crops);
        (model, out)
    })
    .await
    .map_err(|e| JobError::infra("worker_panic", e))?;
    cache.identity = Some(model);
    result.map_err(|e| JobError::infra("identity_model", e))
}

/// [`mean_cosine`] of the fake's crop embeddings against all the references' crop embeddings.
pub fn similarity(
    model: &mut IdentityModel,
    fake: &Crops,
    references: &[Crops],
) -> Result<Option<f64>, DetectorError> {
    let fake = model.embed_crops(fake)?;
    let mut reference = Vec::new();
    for c in references {
        reference.extend(model.embed_crops(c)?);
    }
    Ok(mean_cosine(&fake, &reference))
}

/// Cosine similarity of two vectors (None for a zero vector or a length mismatch).
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    (na > 0.0 && nb > 0.0).then(|| dot / (na.sqrt() * nb.sqrt()))
}

/// The mean cosine similarity over every (fake crop, reference crop) pair.
pub fn mean_cosine(fake: &[Vec<f32>], reference: &[Vec<f32>]) -> Option<f64> {
    let mut sum = 0.0;
    let mut n = 0usize;
    for a in fake {
        for b in reference {
            sum += cosine(a, b)?;
            n += 1;
        }
    }
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::media::RgbImage;

    #[test]
    fn cosine_matches_hand_computed_cases() {
        assert!((cosine(&[1.0, 0.0], &[0.0, 1.0]).unwrap()).abs() < 1e-12);
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]).unwrap() - 1.0).abs() < 1e-12);
        // (3, 4)·(4, 3) = 24 over 5·5.
        assert!((cosine(&[3.0, 4.0], &[4.0, 3.0]).unwrap() - 0.96).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), None);
        let fake = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let reference = vec![vec![1.0, 0.0]];
        assert!((mean_cosine(&fake, &reference).unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn the_fixture_manifest_parses_and_checks_as_a_detector_manifest() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text =
            std::fs::read_to_string(root.join("datasets/fixtures/models/identity.toml")).unwrap();
        let m = IdentityManifest::parse(&text).unwrap();
        assert_eq!(
            (m.output.as_str(), m.size, m.frames),
            ("embedding", [32, 32], 8)
        );
        assert!(IdentityManifest::parse(&format!("{text}output_kind = \"logit\"\n")).is_err());
    }

    /// The fixture model's embedding of a 32×32 image against numpy's own convolution of the
    /// weights read from the .onnx file (an independent implementation of the same net).
    #[test]
    fn fixture_embeddings_match_a_numpy_reference() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let models = root.join("datasets/fixtures/models");
        let manifest = IdentityManifest::parse(
            &std::fs::read_to_string(models.join("identity.toml")).unwrap(),
        )
        .unwrap();
        let bytes = std::fs::read(models.join("identity.onnx")).unwrap();
        let rt = crate::test_support::runtime();
        let mut model =
            IdentityModel::load(&rt, &bytes, &manifest, &SessionOptions::default()).unwrap();
        let img = RgbImage {
            width: 32,
            height: 32,
            data: (0..32 * 32 * 3)
                .map(|i| ((i * 7 + (i / 96) * 13) % 256) as u8)
                .collect(),
        };
        let ours = model.embed(std::slice::from_ref(&img)).unwrap().remove(0);
        assert_eq!(ours.len(), 8);
        let probe = std::process::Command::new("python3")
            .args(["-c", "import onnx, numpy"])
            .output();
        if !probe.map(|o| o.status.success()).unwrap_or(false) {
            assert!(
                std::env::var("ARENA_REQUIRE_PYTHON_REFERENCE").as_deref() != Ok("1"),
                "python3 with onnx and numpy is missing, but ARENA_REQUIRE_PYTHON_REFERENCE=1 requires it"
            );
            eprintln!("SKIPPED: python3 with onnx and numpy is not available");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("img.raw");
        std::fs::write(&raw, &img.data).unwrap();
        let script = r#"
import sys
import numpy as np
import onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
W, B = w["W"].astype(np.float64), w["B"].astype(np.float64)
x = np.frombuffer(open(sys.argv[2], "rb").read(), dtype=np.uint8).reshape(32, 32, 3)
x = ((x / 255.0) - 0.5) / 0.5
x = x.transpose(2, 0, 1)
out = np.zeros((8, 15, 15))
for i in range(15):
    for j in range(15):
        patch = x[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
        out[:, i, j] = (W * patch).sum(axis=(1, 2, 3)) + B
print(" ".join(repr(float(v)) for v in np.maximum(out, 0).mean(axis=(1, 2))))
"#;
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(models.join("identity.onnx"))
            .arg(&raw)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reference: Vec<f64> = String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(reference.len(), 8);
        for (a, b) in ours.iter().zip(&reference) {
            assert!(
                (f64::from(*a) - b).abs() < 1e-4,
                "ours {ours:?} vs numpy {reference:?}"
            );
        }
        assert!(
            reference.iter().any(|v| *v > 0.0),
            "a non-trivial embedding"
        );
    }
}
