//! What the child's one-shot and serving modes share: limits and isolation, what a request may
//! touch, answers, and time and error helpers.

use crate::detector::ExecutionProvider;
use crate::job_error::JobError;
use crate::sandbox::confine::Access;
use crate::sandbox::protocol::{
    ChildError, EXIT_BAD_REQUEST, Isolation, Limits, Request, Response, Task,
};
use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, UsageWho, getrusage, setrlimit};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

pub(super) const MIB: u64 = 1 << 20;
/// The request is small (paths and a manifest); anything bigger is not from the worker.
pub(super) const MAX_REQUEST_BYTES: u64 = 1 << 20;

pub(super) fn answer(out: &mut File, response: &Response) -> bool {
    let written = serde_json::to_writer(&mut *out, response)
        .map_err(std::io::Error::other)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = &written {
        tracing::error!(error = %e, "cannot write the response");
    }
    written.is_ok()
}

pub(super) fn bad_request(isolation: Option<Isolation>, message: String) -> (Response, u8) {
    tracing::error!(%message, "bad sandbox request");
    let error = ChildError {
        code: "sandbox_bad_request".to_owned(),
        message,
        client_error: false,
    };
    (Response::Error { isolation, error }, EXIT_BAD_REQUEST)
}

/// Sets this process's rlimits (soft and hard, so they cannot be raised again without privilege).
pub fn apply_limits(limits: &Limits) -> nix::Result<()> {
    setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
    if limits.memory_mb > 0 {
        let bytes = limits.memory_mb.saturating_mul(MIB);
        setrlimit(Resource::RLIMIT_AS, bytes, bytes)?;
    }
    // SIGXCPU at the soft limit; SIGKILL at the hard one should SIGXCPU be caught.
    let cpu = limits.cpu_seconds.max(1);
    setrlimit(Resource::RLIMIT_CPU, cpu, cpu.saturating_add(2))?;
    setrlimit(
        Resource::RLIMIT_NOFILE,
        limits.open_files,
        limits.open_files,
    )?;
    let fsize = limits.file_size_mb.saturating_mul(MIB);
    setrlimit(Resource::RLIMIT_FSIZE, fsize, fsize)?;
    Ok(())
}

/// Drops what the work does not need: new privileges, the network, and (with a user namespace)
/// the host capabilities a root worker would pass on. Logs and carries on where the kernel refuses.
/// Must run while the process is single-threaded (a new user namespace requires it).
pub fn isolate() -> Isolation {
    let mut isolation = Isolation::default();
    let mut notes = Vec::new();
    match nix::sys::prctl::set_no_new_privs() {
        Ok(()) => isolation.no_new_privs = true,
        Err(e) => notes.push(format!("PR_SET_NO_NEW_PRIVS: {e}")),
    }
    match unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET) {
        Ok(()) => {
            isolation.network = true;
            isolation.user_namespace = true;
        }
        Err(user_err) => {
            notes.push(format!("unshare(CLONE_NEWUSER): {user_err}"));
            match unshare(CloneFlags::CLONE_NEWNET) {
                Ok(()) => isolation.network = true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot drop network access; continuing with it");
                    notes.push(format!("unshare(CLONE_NEWNET): {e}"));
                }
            }
        }
    }
    if !notes.is_empty() {
        isolation.note = Some(notes.join("; "));
    }
    isolation
}

/// What a request's work may open: its inputs, its job folder (the working directory) for
/// outputs, and onnxruntime's folder.
pub(super) fn access_for(request: &Request) -> Access {
    let mut access = Access {
        cuda: request.session.execution_provider == ExecutionProvider::Cuda,
        ..Access::default()
    };
    let uses_ort = !matches!(
        request.task,
        Task::Probe(_) | Task::Inspect(_) | Task::Unzip(_) | Task::Selftest(_)
    );
    if uses_ort {
        access.read_folder_of(&request.ort_lib);
        if request
            .ort_lib
            .parent()
            .is_none_or(|p| p.as_os_str().is_empty())
        {
            // A bare library name: the loader searches LD_LIBRARY_PATH.
            let dirs = std::env::var_os("LD_LIBRARY_PATH").unwrap_or_default();
            access.read.extend(std::env::split_paths(&dirs));
        }
    }
    match &request.task {
        Task::Prepare(t) => {
            access.read.extend([t.video.clone(), t.face_model.clone()]);
            for out in [&t.faces_out, &t.frames_out] {
                access.write.extend(out.parent().map(Path::to_path_buf));
            }
        }
        Task::Score(t) => {
            access.read.push(t.model.clone());
            access
                .read
                .extend(t.videos.iter().map(|v| v.images.clone()));
        }
        Task::Check(t) => access.read.push(t.model.clone()),
        Task::Probe(t) => access.read.push(t.video.clone()),
        Task::Inspect(t) => access.read.push(t.model.clone()),
        Task::Unzip(t) => {
            access.read.push(t.archive.clone());
            access.write.push(t.out_dir.clone());
        }
        // Its job folder, as a prepare child has it; `given` files as a score child's inputs.
        Task::Selftest(t) => {
            access.write.extend(std::env::current_dir().ok());
            access.read.extend(t.given.iter().cloned());
        }
    }
    access
}

/// CPU time this process has used (user + system), in milliseconds.
pub(super) fn cpu_used_ms() -> u64 {
    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return 0;
    };
    let ms = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1000
            + u64::try_from(t.tv_usec()).unwrap_or(0) / 1000
    };
    ms(usage.user_time()) + ms(usage.system_time())
}

pub(super) fn since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn io_error(what: &str, e: std::io::Error) -> JobError {
    JobError::infra("sandbox_io", format!("{what}: {e}"))
}
