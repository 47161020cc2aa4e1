//! Black-box tests of the arena: the real app on port 0, real HTTP, real FFmpeg and onnxruntime.

mod auth;
mod game;
mod health;
mod ingest_errors;
mod queue;
mod repo;
mod rounds;
mod scoring;
