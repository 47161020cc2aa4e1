//! `arena-sandbox`: the worker's evaluation child. It limits itself (its arguments), leaves the
//! network, runs one decode or scoring request read from stdin, and answers on stdout
//! (docs/SANDBOX.md). Logs go to stderr; `RUST_LOG` sets their level (default `warn`).

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
    arena_worker::sandbox::child::main(std::env::args().skip(1))
}
