//! Reading how a child ended: its answer, or the reason it failed (limits, signals, crashes).

use super::protocol::{Isolation, Limits, Output, Response, Timings};
use crate::job_error::{
    CPU_LIMIT, CRASHED, FILE_LIMIT, JobError, KILLED, MEMORY_LIMIT, PROTOCOL, SYSCALL, TIMEOUT,
};
use nix::sys::signal::Signal;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a child ended, as the worker saw it.
#[derive(Debug, Default)]
pub(super) struct ChildExit {
    pub(super) code: Option<i32>,
    pub(super) signal: Option<i32>,
    pub(super) timed_out: bool,
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: String,
}

/// Messages of a failed allocation: Rust's abort, glibc and FFmpeg (ENOMEM), the dynamic loader
/// (an mmap refused under RLIMIT_AS), C++ and onnxruntime.
pub(super) const ALLOCATION_FAILURES: &[&str] = &[
    "memory allocation of",
    "cannot allocate memory",
    "failed to map segment",
    "bad_alloc",
    "bad allocation",
    "failed to allocate memory",
    "available memory of",
    "out of memory",
];

pub(super) fn looks_like_oom(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    ALLOCATION_FAILURES.iter().any(|m| text.contains(m))
}

pub(super) fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(s) => format!("signal {signal} ({})", s.as_str()),
        Err(_) => format!("signal {signal}"),
    }
}

/// A failure the child's limits or death explain; retried like infrastructure failures.
pub(super) fn failure(code: &'static str, message: String) -> JobError {
    JobError {
        code,
        message,
        permanent: false,
    }
}

pub(super) fn protocol_error(what: &str) -> JobError {
    failure(PROTOCOL, format!("the evaluation child {what}"))
}

/// Maps how the child ended to its result or a [`JobError`] naming the reason.
pub(super) fn judge(
    limits: &Limits,
    timeout: Duration,
    exit: &ChildExit,
) -> Result<(Isolation, Timings, Output), JobError> {
    if exit.timed_out {
        let message = format!(
            "evaluation child timed out after {} s and was killed",
            timeout.as_secs()
        );
        return Err(failure(TIMEOUT, message));
    }
    let memory = |detail: String| {
        let message = format!(
            "evaluation child exceeded its memory limit of {} MiB ({detail})",
            limits.memory_mb
        );
        failure(MEMORY_LIMIT, message)
    };
    let oom = limits.memory_mb > 0 && looks_like_oom(&exit.stderr);
    match (parse_response(&exit.stdout), exit.code, exit.signal) {
        // An answer followed by a crash on the way out still counts (it is complete and checked).
        (
            Some(Response::Ok {
                isolation,
                timings,
                output,
            }),
            Some(0) | None,
            _,
        ) => {
            if let Some(signal) = exit.signal {
                tracing::warn!(signal = %signal_name(signal), "evaluation child crashed after answering");
            }
            Ok((isolation, timings, output))
        }
        (Some(Response::Error { error, .. }), _, _) => {
            if limits.memory_mb > 0 && (oom || looks_like_oom(&error.message)) {
                return Err(memory(truncate(&error.message, 300)));
            }
            Err(JobError {
                code: intern_code(&error.code),
                message: error.message,
                permanent: error.client_error,
            })
        }
        (_, _, Some(signal)) => {
            let how = format!("killed by {}", signal_name(signal));
            Err(match Signal::try_from(signal) {
                Ok(Signal::SIGXCPU) => failure(
                    CPU_LIMIT,
                    format!(
                        "evaluation child exceeded its CPU-time limit of {} s and was {how}",
                        limits.cpu_seconds
                    ),
                ),
                Ok(Signal::SIGXFSZ) => failure(
                    FILE_LIMIT,
                    format!(
                        "evaluation child exceeded its file-size limit of {} MiB and was {how}",
                        limits.file_size_mb
                    ),
                ),
                _ if oom => memory(how),
                Ok(Signal::SIGSYS) => failure(
                    SYSCALL,
                    format!(
                        "evaluation child made a system call its seccomp filter forbids and was \
                         {how}"
                    ),
                ),
                Ok(Signal::SIGKILL) => failure(KILLED, format!("evaluation child {how}")),
                _ => failure(CRASHED, format!("evaluation child {how}")),
            })
        }
        (_, code, None) => {
            let status = code.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
            if oom {
                return Err(memory(format!("exit status {status}")));
            }
            Err(protocol_error(&format!(
                "exited with status {status} without a valid response"
            )))
        }
    }
}

/// The response: the last line of stdout.
pub(super) fn parse_response(stdout: &[u8]) -> Option<Response> {
    let text = std::str::from_utf8(stdout).ok()?;
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    serde_json::from_str(line).ok()
}

/// Error codes are `&'static str`; a child's code is kept once per distinct value (a bounded set:
/// the pipeline's codes), anything odd becomes `sandbox_error`.
pub(super) fn intern_code(code: &str) -> &'static str {
    static CODES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let valid = !code.is_empty()
        && code.len() <= 48
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let Ok(mut codes) = CODES.lock() else {
        return "sandbox_error";
    };
    if !valid {
        return "sandbox_error";
    }
    if let Some(known) = codes.get(code) {
        return known;
    }
    if codes.len() >= 256 {
        return "sandbox_error";
    }
    let kept: &'static str = Box::leak(code.to_owned().into_boxed_str());
    codes.insert(kept);
    kept
}

pub(super) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

pub(super) fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub(super) fn ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn warn_once_if_exposed(isolation: &Isolation) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !isolation.network && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            note = isolation.note.as_deref().unwrap_or_default(),
            "evaluation children keep network access: this kernel refused a network namespace"
        );
    }
    static WARNED_CONFINED: AtomicBool = AtomicBool::new(false);
    let confined = isolation.landlock && isolation.seccomp;
    if !confined && !WARNED_CONFINED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            landlock = isolation.landlock,
            seccomp = isolation.seccomp,
            note = isolation.note.as_deref().unwrap_or_default(),
            "evaluation children are not fully confined: this kernel lacks Landlock or seccomp"
        );
    }
}
