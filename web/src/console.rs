//! The command line's output on stdout (results, as opposed to logs on stderr): used by the
//! `arena` commands and by the client and purge code they run.

/// Prints a result line on stdout.
#[expect(clippy::print_stdout, reason = "the CLI's output")]
pub fn say(line: &str) {
    println!("{line}");
}
