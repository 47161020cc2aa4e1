//! The offline commands (no server, no database): `arena dataset …`, `arena eval`, `arena score`.

use super::args::DatasetCommand;
use crate::output::say;
use anyhow::Context;
use arena::Settings;
use std::path::{Path, PathBuf};

/// `arena dataset …`: blocking work (FFmpeg, onnxruntime), run off the executor.
pub(super) async fn dataset(cmd: DatasetCommand) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || match cmd {
        DatasetCommand::Synth {
            out,
            identities,
            clips,
            seed,
        } => synth(&out, identities, clips, seed),
        DatasetCommand::Swap {
            dataset,
            round,
            strength,
            out,
        } => swap(&dataset, round, &strength, &out),
        DatasetCommand::Inputs {
            manifest,
            out,
            sampler_frames,
            videos,
        } => inputs(&manifest, &out, sampler_frames, &videos),
    })
    .await?
}

/// `arena dataset synth`: deterministic real clips and their manifest.
fn synth(out: &Path, identities: usize, clips: usize, seed: u64) -> anyhow::Result<()> {
    let ds = arena_datasets::synth::generate(out, identities, clips, seed)?;
    say(&format!(
        "{} clips, manifest {}",
        ds.clips.len(),
        ds.manifest_path.display()
    ));
    Ok(())
}

/// `arena dataset swap`: a round's creation zip with the baseline face swap.
fn swap(dataset: &Path, round: u32, strength: &str, out: &Path) -> anyhow::Result<()> {
    let strength = match strength {
        "crude" => arena_datasets::swap::Strength::Crude,
        "careful" => arena_datasets::swap::Strength::Careful,
        other => anyhow::bail!("--strength must be crude or careful, not {other:?}"),
    };
    let ds = arena_datasets::load(dataset)?;
    let mut faces = face_detector()?;
    let n = arena_datasets::swap::swap_round(&mut faces, &ds, round, strength, out)?;
    say(&format!("{n} videos written to {}", out.display()));
    Ok(())
}

/// `arena dataset inputs`: the server's default sizes, K frames, one decode per video.
fn inputs(
    manifest: &Path,
    out: &Path,
    sampler_frames: usize,
    videos: &[PathBuf],
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let manifest = arena_worker::Manifest::parse(&text)?;
    let mut eval = arena::Settings::default().evaluation;
    eval.sampler_frames = sampler_frames;
    let plan = arena_worker::pipeline::PreparePlan::from_settings(&eval);
    let mut faces = face_detector()?;
    let done = arena_datasets::model_inputs::export(&mut faces, &plan, &manifest, videos, out)?;
    say(&format!(
        "{} inputs of {} videos written to {}",
        done.rows,
        done.videos.len(),
        out.display()
    ));
    Ok(())
}

/// BlazeFace on the default onnxruntime library, in this process.
fn face_detector() -> anyhow::Result<arena_worker::FaceDetector> {
    let rt = arena_worker::OrtRuntime::init(&arena_worker::OrtRuntime::default_lib_path())?;
    Ok(arena_worker::FaceDetector::load(
        &rt,
        &arena_worker::faces::model_path(None),
        &arena_worker::SessionOptions::default(),
    )?)
}

/// `arena eval`: the pipeline offline; exit status 1 when any video or pair failed.
pub(super) async fn eval(
    settings: Settings,
    videos: Vec<PathBuf>,
    detectors: &[String],
    out: Option<&Path>,
    (parallel, intra_threads): (usize, usize),
) -> anyhow::Result<()> {
    let pairs = detectors
        .iter()
        .map(|d| {
            d.rsplit_once(':')
                .map(|(m, t)| (PathBuf::from(m), PathBuf::from(t)))
                .with_context(|| format!("--detector {d:?} must be MODEL.onnx:MANIFEST.toml"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opts = arena_worker::eval::EvalOptions {
        parallel,
        intra_threads,
        ..arena_worker::eval::EvalOptions::from_settings(&settings)
    };
    let report = tokio::task::spawn_blocking(move || {
        arena_worker::eval::evaluate_offline(&videos, &pairs, &opts)
    })
    .await??;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = out {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    say(&json);
    let failed = report
        .videos
        .iter()
        .any(|v| v.error.is_some() || v.scores.iter().any(|s| s.error.is_some()));
    anyhow::ensure!(!failed, "some videos or pairs failed (see the report)");
    Ok(())
}

/// `arena score`: the offline scorer over a pairs CSV.
pub(super) fn score(
    input: &Path,
    preset: Option<&str>,
    ratings: Option<&Path>,
    bootstrap: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let pairs = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let ratings_csv = match ratings {
        Some(p) => Some(
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        None => None,
    };
    let opts = arena::offline::OfflineOptions {
        preset: preset.map(str::parse).transpose()?,
        ratings_csv,
        bootstrap,
        seed,
        ..arena::offline::OfflineOptions::default()
    };
    let report = arena::offline::score_pairs_csv(&pairs, &opts)?;
    say(&serde_json::to_string_pretty(&report)?);
    Ok(())
}
