//! Shared test helpers: committed fixtures, the real onnxruntime, and hand-built ONNX models.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use crate::detector::OrtRuntime;
use crate::manifest::Manifest;
use crate::media::{MediaError, SampledFrames, sample_frames};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures")
}

pub fn video(name: &str) -> PathBuf {
    fixtures().join("videos").join(name)
}

/// A committed detector: its model bytes and parsed manifest.
pub fn detector_fixture(name: &str) -> (Vec<u8>, Manifest) {
    let dir = fixtures().join("models");
    let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
    let text = std::fs::read_to_string(dir.join(format!("{name}.toml"))).unwrap();
    (bytes, Manifest::parse(&text).unwrap())
}

pub fn runtime() -> OrtRuntime {
    OrtRuntime::init(&OrtRuntime::default_lib_path()).unwrap()
}

/// The bootstrap's BlazeFace with default session options.
pub fn face_detector() -> crate::faces::FaceDetector {
    crate::faces::FaceDetector::load(
        &runtime(),
        &crate::faces::model_path(None),
        &crate::detector::SessionOptions::default(),
    )
    .unwrap()
}

static DECODE_LOCK: Mutex<()> = Mutex::new(());

/// Serializes decodes so a test can count them exactly.
pub fn decode_lock() -> MutexGuard<'static, ()> {
    DECODE_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn sample(name: &str, k: usize, max_side: u32) -> Result<SampledFrames, MediaError> {
    let _guard = decode_lock();
    sample_frames(&video(name), k, max_side)
}

/// Mean of each RGB channel over an image, in 0..=255.
pub fn channel_means(img: &crate::media::RgbImage) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for px in img.data.chunks(3) {
        for c in 0..3 {
            sum[c] += f64::from(px[c]);
        }
    }
    let n = (img.data.len() / 3) as f64;
    sum.map(|s| s / n)
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub use crate::test_models::{
    int_attr, ints_attr, means_model, model, node, tensor_f32, value_info,
};
