//! The `arena` binary: parse the command line and run it.

fn main() -> std::process::ExitCode {
    // onnxruntime 1.31's Linux build records usage events in a SQLite file under
    // ~/.cache/Microsoft/DeveloperTools and tries to upload them; it reads this variable when
    // its environment is created (DisableTelemetryEvents, called after, is too late for that).
    if std::env::var_os("ORT_DISABLE_TELEMETRY").is_none() {
        // SAFETY: no other thread exists yet (the runtime and the loggers start below), so
        // nothing can read the environment concurrently.
        #[expect(
            unsafe_code,
            reason = "set_var before any other thread exists, see SAFETY"
        )]
        unsafe {
            std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
        }
    }
    // Logging starts in `cli::main`, once `--log-format` is parsed.
    arena_web::cli::main()
}
