//! Creator uploads.

pub mod post;
