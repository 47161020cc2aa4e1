//! The command line's output: result lines on stdout, as opposed to logs on stderr. A module of
//! its own so the CLI's helpers (`client`, `purge`) print without importing the CLI back.

/// Prints a result line on stdout.
#[expect(clippy::print_stdout, reason = "the CLI's output")]
pub fn say(line: &str) {
    println!("{line}");
}
