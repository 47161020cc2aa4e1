//! Black-box tests of the arena: the real app on port 0, real HTTP, real FFmpeg and onnxruntime.

mod admin;
mod auth;
mod authz_matrix;
mod browser_auth;
mod browser_chromium;
mod deletion;
mod dfgc_rules;
mod finals;
mod game;
mod health;
mod import;
mod ingest_errors;
mod isolation;
mod live;
mod ops;
mod pages;
mod queue;
mod rate_limits;
mod repo;
mod rounds;
mod s3;
mod scoring;
mod security_headers;
mod tasks_cli;
mod tokens;
mod withdraw;
