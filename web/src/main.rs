//! The `arena` binary: parse the command line and run it.

fn main() -> std::process::ExitCode {
    arena_web::telemetry::init();
    arena_web::cli::main()
}
