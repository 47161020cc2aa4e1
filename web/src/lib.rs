//! The arena's web side: the actix-web app (REST API, pages), auth, uploads, and the `arena`
//! command line (server, workers, admin and client subcommands).

pub mod admin;
pub mod admission;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod client;
pub mod console;
pub mod context;
pub mod demo;
pub mod error;
pub mod import;
pub mod ingest;
pub mod ingest_video;
pub mod live;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod purge;
pub mod rate_limit;
pub mod release;
pub mod routes;
pub mod security_headers;
pub mod session;
pub mod session_key;
pub mod startup;
pub mod telemetry;
pub mod upload;
pub mod views;
pub mod webhooks;

pub use context::AppContext;
pub use startup::{Application, WorkerPool, spawn_workers};
