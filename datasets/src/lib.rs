//! Datasets for the arena: small committed fixtures (videos, ONNX detectors) made by
//! `datasets/fixtures/make_fixtures.sh`, and where to find them.

use std::path::PathBuf;

/// The committed fixtures folder of this checkout.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fixture video, e.g. `video("real_1.mp4")`.
pub fn video(name: &str) -> PathBuf {
    fixtures_dir().join("videos").join(name)
}

/// A fixture detector: (model.onnx, manifest.toml) of e.g. `detector("redblue")`.
pub fn detector(name: &str) -> (PathBuf, PathBuf) {
    let dir = fixtures_dir().join("models");
    (
        dir.join(format!("{name}.onnx")),
        dir.join(format!("{name}.toml")),
    )
}

/// A baseline detector built by `datasets/baselines/train.py`: (model.onnx, manifest.toml) of
/// `baseline("edges")` (trained), `baseline("edges-weak")` (handicapped); the constant baseline
/// is the fixture `detector("constant")`.
pub fn baseline(name: &str) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("baselines")
        .join("models");
    (
        dir.join(format!("{name}.onnx")),
        dir.join(format!("{name}.toml")),
    )
}

pub mod manifest;

pub use manifest::{Dataset, DatasetError, load};
pub mod demo;
pub mod encode;
pub mod model_inputs;
pub mod swap;
pub mod synth;
