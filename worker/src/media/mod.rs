//! Media ingest: safe opening of untrusted video files, probing, and frame sampling (ffmpeg-next).
//!
//! The shared pieces live in leaf modules (`error`, `image`, `open`) that the steps (`display`,
//! `probe`, `resize`, `sampler`) import directly; this file only declares and re-exports, so no
//! child depends on its parent (scripts/module-cycles).

pub mod display;
mod error;
mod image;
mod open;
pub mod probe;
pub mod resize;
pub mod sampler;

pub use error::MediaError;
pub use image::{AsRgb, RgbImage, RgbView};
pub use open::FORMAT_WHITELIST;
pub use probe::{ProbeFacts, ProbeLimits, probe_video};
pub use sampler::{
    SampledFrames, SampledSizes, decode_count, sample_frames, sample_frames_each,
    sample_frames_sized,
};
