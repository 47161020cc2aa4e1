//! Starting a child under its limits with a cleared environment, and collecting how it ended.

use super::config::{DRAIN_GRACE, STDERR_TAIL, STDOUT_CAP, SandboxConfig, absolute, child_env};
use super::judge::{ChildExit, judge, ms, tail_lines, warn_once_if_exposed};
use super::protocol::{Isolation, Limits, Output, PROTOCOL_VERSION, Request, Task, Timings};
use crate::detector::SessionOptions;
use crate::job_error::{CRASHED, JobError, PROTOCOL, UNAVAILABLE};
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::process::Command;

/// Starts a child: forked by the fork server ([`super::fork`]) when there is one for `config`,
/// else exec'd with [`child_command`]; a child that cannot start is an infrastructure error.
/// The fork server's part (starting it when there is none, which waits for its preload, and
/// waiting for its answer to a fork) runs on a blocking thread, not on the executor's.
pub(super) async fn spawn_child(
    config: &SandboxConfig,
    extra: &[&str],
    limits: &Limits,
    dir: &Path,
) -> Result<SandboxChild, JobError> {
    let forked = {
        let config = config.clone();
        let args: Vec<String> = extra
            .iter()
            .map(|a| (*a).to_owned())
            .chain(limits.to_args())
            .collect();
        let dir = dir.to_owned();
        // A start given up on (its job ended first) drops the forked child here: it is killed.
        tokio::task::spawn_blocking(move || {
            super::fork::server_for(&config).map(|server| server.spawn(args, &dir))
        })
        .await
        .map_err(|e| JobError::infra(UNAVAILABLE, format!("starting a child: {e}")))?
    };
    if let Some(started) = forked {
        match started {
            Ok((child, [stdin, stdout, stderr])) => {
                let pipes = (|| {
                    Ok::<_, std::io::Error>(SandboxChild {
                        stdin: Some(Box::new(pipe::Sender::from_owned_fd(stdin)?)),
                        stdout: Some(Box::new(pipe::Receiver::from_owned_fd(stdout)?)),
                        stderr: Some(Box::new(pipe::Receiver::from_owned_fd(stderr)?)),
                        process: Process::Forked(child),
                    })
                })();
                return pipes
                    .map_err(|e| JobError::infra(UNAVAILABLE, format!("child pipes: {e}")));
            }
            Err(e) => {
                tracing::warn!(error = %e, "the fork server could not start a child; exec'ing it")
            }
        }
    }
    let mut child = child_command(config, extra, limits, dir)
        .spawn()
        .map_err(|e| {
            JobError::infra(
                UNAVAILABLE,
                format!("cannot start {}: {e}", config.bin.display()),
            )
        })?;
    Ok(SandboxChild {
        stdin: child.stdin.take().map(|s| Box::new(s) as ChildIn),
        stdout: child.stdout.take().map(|s| Box::new(s) as ChildOut),
        stderr: child.stderr.take().map(|s| Box::new(s) as ChildOut),
        process: Process::Exec(child),
    })
}

/// Starts the fork server for `config` now, when it is on and none runs, rather than for the
/// first child: a fresh worker's first upload then does not wait for its start and its preload
/// of the face detector. On a blocking thread; a server that cannot start is left to the first
/// child, as before (a warning, and children exec'd).
pub async fn start_fork_server(config: &SandboxConfig) {
    let config = config.clone();
    let _ = tokio::task::spawn_blocking(move || super::fork::server_for(&config)).await;
}

/// The worker's end of a child's stdin.
pub(super) type ChildIn = Box<dyn AsyncWrite + Unpin + Send>;
/// The worker's end of a child's stdout or stderr.
pub(super) type ChildOut = Box<dyn AsyncRead + Unpin + Send>;

/// An evaluation child, exec'd or forked, with the worker's ends of its standard streams (taken
/// by whoever reads or writes them). Dropping it kills the child.
pub(super) struct SandboxChild {
    pub stdin: Option<ChildIn>,
    pub stdout: Option<ChildOut>,
    pub stderr: Option<ChildOut>,
    process: Process,
}

enum Process {
    Exec(tokio::process::Child),
    Forked(super::fork::ForkedChild),
}

impl SandboxChild {
    /// The process id while it runs.
    pub fn id(&self) -> Option<u32> {
        match &self.process {
            Process::Exec(c) => c.id(),
            Process::Forked(c) => c.id(),
        }
    }

    /// How it ended, when it has.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match &mut self.process {
            Process::Exec(c) => c.try_wait(),
            Process::Forked(c) => Ok(c.try_wait()),
        }
    }

    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        match &mut self.process {
            Process::Exec(c) => c.wait().await,
            Process::Forked(c) => c.wait().await,
        }
    }

    /// SIGKILL, then waits for it.
    pub async fn kill(&mut self) -> std::io::Result<()> {
        match &mut self.process {
            Process::Exec(c) => c.kill().await,
            Process::Forked(c) => c.kill().await,
        }
    }
}

/// The command that starts a child (`extra` before its limits, e.g. `--serve`) in `dir` with a
/// cleared environment ([`child_env`]) and piped standard streams; killed when dropped.
fn child_command(config: &SandboxConfig, extra: &[&str], limits: &Limits, dir: &Path) -> Command {
    let mut cmd = Command::new(&config.bin);
    cmd.args(extra)
        .args(limits.to_args())
        .current_dir(dir)
        .env_clear()
        .envs(child_env(&gpu_env(config, |k| std::env::var_os(k))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs one task in a child under `config`'s limits and judges how it ended.
pub async fn run(
    config: &SandboxConfig,
    task: Task,
    work_dir: &Path,
) -> Result<(Isolation, Timings, Output), JobError> {
    let limits = config.limits_for(&task);
    let label = match &task {
        Task::Prepare(_) => "prepare",
        Task::Score(_) => "score",
        Task::Check(_) => "check",
        Task::Probe(_) => "probe",
        Task::Inspect(_) => "inspect",
        Task::Unzip(_) => "unzip",
        Task::Selftest(_) => "selftest",
    };
    metrics::counter!(crate::child_metrics::CHILD_STARTS, "task" => label).increment(1);
    let request = Request {
        version: PROTOCOL_VERSION,
        ort_lib: config.ort_lib.clone(),
        session: child_session(&config.session),
        confine: config.confine,
        task,
    };
    let body = serde_json::to_vec(&request).map_err(|e| JobError::infra(PROTOCOL, e))?;
    let started = Instant::now();
    let exit = run_child(config, &limits, &body, &absolute(work_dir)).await?;
    let verdict = judge(&limits, config.timeout, &exit);
    let tail = tail_lines(&exit.stderr, 20);
    match &verdict {
        Ok((isolation, timings, _)) => {
            tracing::debug!(
                task = label,
                cpu_ms = timings.cpu_ms,
                elapsed_ms = ms(started),
                stderr = %tail,
                "evaluation child done"
            );
            warn_once_if_exposed(isolation);
        }
        Err(e) => tracing::warn!(
            code = e.code,
            elapsed_ms = ms(started),
            stderr = %tail,
            "evaluation child failed"
        ),
    }
    verdict
}

pub(super) async fn run_child(
    config: &SandboxConfig,
    limits: &Limits,
    body: &[u8],
    work_dir: &Path,
) -> Result<ChildExit, JobError> {
    let mut child = spawn_child(config, &[], limits, work_dir).await?;
    let stdout = tokio::spawn(read_head(child.stdout.take(), STDOUT_CAP));
    let stderr = tokio::spawn(read_tail(child.stderr.take(), STDERR_TAIL));
    let stdin = child.stdin.take();
    let waited = tokio::time::timeout(config.timeout, async {
        if let Some(mut stdin) = stdin {
            // A child that dies before reading is judged by its exit status, not by this write.
            let _ = stdin.write_all(body).await;
        }
        child.wait().await
    })
    .await;
    let mut exit = ChildExit::default();
    match waited {
        Ok(Ok(status)) => {
            exit.code = status.code();
            exit.signal = status.signal();
        }
        Ok(Err(e)) => {
            let _ = child.kill().await;
            return Err(JobError::infra(
                CRASHED,
                format!("waiting for the child: {e}"),
            ));
        }
        Err(_) => {
            exit.timed_out = true;
            if let Err(e) = child.kill().await {
                tracing::error!(error = %e, "could not kill a timed-out evaluation child");
            }
        }
    }
    exit.stdout = drain(stdout).await;
    exit.stderr = String::from_utf8_lossy(&drain(stderr).await).into_owned();
    Ok(exit)
}

pub(super) async fn drain(task: tokio::task::JoinHandle<Vec<u8>>) -> Vec<u8> {
    let abort = task.abort_handle();
    match tokio::time::timeout(DRAIN_GRACE, task).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => Vec::new(),
        Err(_) => {
            abort.abort();
            Vec::new()
        }
    }
}

/// The first `cap` bytes; the rest is read and dropped so the child never blocks on a full pipe.
pub(super) async fn read_head<R: AsyncRead + Unpin>(reader: Option<R>, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut reader) = reader else {
        return kept;
    };
    let mut buf = vec![0u8; 16 << 10];
    while let Ok(n @ 1..) = reader.read(&mut buf).await {
        let room = cap.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}

/// The last `cap` bytes.
pub(super) async fn read_tail<R: AsyncRead + Unpin>(reader: Option<R>, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut reader) = reader else {
        return kept;
    };
    let mut buf = vec![0u8; 16 << 10];
    while let Ok(n @ 1..) = reader.read(&mut buf).await {
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * cap {
            kept.drain(..kept.len() - cap);
        }
    }
    if kept.len() > cap {
        kept.drain(..kept.len() - cap);
    }
    kept
}

/// What a CUDA child gets on top of the kept environment: `CUDA_VISIBLE_DEVICES` naming only its
/// slot's device (mapped through the worker's own list, when it has one), and the folder of
/// onnxruntime's library first in `LD_LIBRARY_PATH`, where `scripts/bootstrap --gpu` puts the
/// CUDA libraries that the provider and cuDNN open by name. Nothing for a CPU child. `var` reads
/// the worker's environment.
pub fn gpu_env(
    config: &SandboxConfig,
    var: impl Fn(&str) -> Option<OsString>,
) -> Vec<(OsString, OsString)> {
    if config.session.execution_provider != crate::ExecutionProvider::Cuda {
        return Vec::new();
    }
    let device = config.session.cuda.device_id;
    let inherited = var("CUDA_VISIBLE_DEVICES").map(|v| v.to_string_lossy().into_owned());
    let visible = inherited
        .as_deref()
        .and_then(|list| list.split(',').map(str::trim).nth(device as usize))
        .map_or_else(|| device.to_string(), str::to_owned);
    let mut env = vec![("CUDA_VISIBLE_DEVICES".into(), visible.into())];
    if let Some(dir) = config.ort_lib.parent().filter(|d| d.is_absolute()) {
        let mut path = dir.as_os_str().to_owned();
        if let Some(old) = var("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
            path.push(":");
            path.push(old);
        }
        env.push(("LD_LIBRARY_PATH".into(), path));
    }
    env
}

/// The session options sent to a child: on CUDA it sees only its device, as ordinal 0.
pub(super) fn child_session(session: &SessionOptions) -> SessionOptions {
    let mut session = session.clone();
    if session.execution_provider == crate::ExecutionProvider::Cuda {
        session.cuda.device_id = 0;
    }
    session
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::config::{ENV_KEPT, ENV_PREFIXES_KEPT};
    use super::*;

    #[tokio::test]
    async fn a_child_starts_with_a_cleared_environment_and_the_kept_names() {
        // A shell in the child's place prints the environment it was given.
        let config = SandboxConfig {
            bin: "/bin/sh".into(),
            memory_mb: 0,
            cpu_seconds: 1,
            timeout: std::time::Duration::from_secs(5),
            ort_lib: "libonnxruntime.so".into(),
            face_model: "face.onnx".into(),
            session: SessionOptions::default(),
            confine: false,
            fork_server: false,
        };
        let limits = Limits {
            memory_mb: 0,
            cpu_seconds: 1,
            open_files: 64,
            file_size_mb: 1,
        };
        let dir = tempfile::tempdir().unwrap();
        let out = child_command(&config, &["-c", "env"], &limits, dir.path())
            .output()
            .await
            .unwrap();
        let env = String::from_utf8(out.stdout).unwrap();
        let has = |line: &str| env.lines().any(|l| l == line);
        assert!(
            has("MALLOC_ARENA_MAX=2") && has("ORT_DISABLE_TELEMETRY=1"),
            "{env}"
        );
        // Kept names pass; the rest of the worker's environment stays behind.
        assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if !ENV_KEPT.contains(&key.as_ref())
                && !ENV_PREFIXES_KEPT.iter().any(|p| key.starts_with(p))
                // Set here, or by the shell itself.
                && ![
                    "MALLOC_ARENA_MAX",
                    "ORT_DISABLE_TELEMETRY",
                    "PWD",
                    "OLDPWD",
                    "SHLVL",
                    "_",
                ]
                .contains(&key.as_ref())
            {
                let leaked = format!("{key}=");
                assert!(!env.lines().any(|l| l.starts_with(&leaked)), "{env}");
            }
        }
    }
}
