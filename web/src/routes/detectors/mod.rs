//! Detector uploads.

pub mod post;
