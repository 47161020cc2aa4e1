//! The worker's side of the fork server (docs/SANDBOX.md "The fork server"): one
//! `arena-sandbox --fork-server` per worker process and binary, started with a child's cleared
//! environment, that has exec'd and bound its libraries once and forks each evaluation child
//! from there. A forked child runs the same `arena-sandbox` code from its arguments on as an
//! exec'd one (it limits and confines itself before it reads the request), so only the start
//! changes: no exec, no dynamic loader, no fresh copy of 136 libraries' relocated pages.
//!
//! Wire: a `SOCK_SEQPACKET` socket pair, one JSON message per packet ([`ToServer`],
//! [`FromServer`]); a spawn request carries the child's stdin, stdout and stderr as
//! `SCM_RIGHTS`. The fork server is the children's parent: it reaps them and sends each exit
//! status here, and it kills a child only on request and only while it has not reaped it (so a
//! kill never reaches a reused process id). When the worker's end closes, the fork server exits
//! and its children die with it (their parent-death signal).
//!
//! It is started with a [`Preload`]: before it answers, it loads onnxruntime and builds the face
//! detector's sessions (the bootstrap's BlazeFace, a trusted file, never an upload) once, so a
//! fresh decode child forked from it starts with them instead of building its own. When that
//! fails, or leaves the fork server with more than one thread, the worker starts it again
//! without (a warning): children then build their sessions themselves, as exec'd ones do.

use std::collections::HashMap;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, recv, sendmsg, socketpair,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::config::{SandboxConfig, child_env};

/// The argument that makes `arena-sandbox` a fork server.
pub const FORK_SERVER_FLAG: &str = "--fork-server";
/// The fork server's optional second argument, followed by a [`Preload`] as JSON.
pub(super) const PRELOAD_FLAG: &str = "--preload";

/// What the fork server loads once for all its children: onnxruntime from `ort_lib` and the face
/// detector at `face_model` with `session` (the worker's settings, so a child's prepare request
/// names the same and takes it; a request that names another builds its own).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Preload {
    pub ort_lib: PathBuf,
    pub face_model: PathBuf,
    pub session: crate::detector::SessionOptions,
}

impl Preload {
    fn of(config: &SandboxConfig) -> Option<Preload> {
        // A session with its own thread pool would leave the fork server unable to fork.
        (config.session.intra_threads <= 1).then(|| Preload {
            ort_lib: config.ort_lib.clone(),
            face_model: config.face_model.clone(),
            session: config.session.clone(),
        })
    }
}
/// How long a start may take before the worker gives up on the fork server.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// A raw wait status: killed by SIGKILL (what a child of a fork server that died became).
const KILLED_STATUS: i32 = 9;
/// Largest message either side sends (arguments and a folder path; statuses).
pub(super) const MAX_MESSAGE: usize = 64 << 10;

/// The worker's messages.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ToServer {
    /// Fork a child that runs `arena-sandbox <args>` in `cwd`; its stdin, stdout and stderr
    /// come with the message, in that order.
    Spawn {
        id: u64,
        args: Vec<String>,
        cwd: PathBuf,
    },
    /// SIGKILL `pid` if it is a child not reaped yet.
    Kill { pid: i32 },
}

/// The fork server's messages.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum FromServer {
    /// Single-threaded and listening.
    Ready,
    Started {
        id: u64,
        pid: i32,
    },
    Failed {
        id: u64,
        error: String,
    },
    /// `pid` ended and was reaped; `status` is its raw wait status.
    Exited {
        pid: i32,
        status: i32,
    },
}

type Started = Result<(i32, watch::Receiver<Option<i32>>), String>;

/// One running fork server.
pub(super) struct ForkServer {
    sock: OwnedFd,
    pending: Mutex<HashMap<u64, SyncSender<Started>>>,
    live: Mutex<HashMap<i32, watch::Sender<Option<i32>>>>,
    next: AtomicU64,
    alive: AtomicBool,
}

/// A child forked by a fork server.
pub(super) struct ForkedChild {
    pid: i32,
    status: watch::Receiver<Option<i32>>,
    server: Arc<ForkServer>,
}

/// The started fork servers by binary, and the binaries that could not be one.
static SERVERS: Mutex<Vec<(PathBuf, Option<Arc<ForkServer>>)>> = Mutex::new(Vec::new());

/// The fork server for `config`, started when there is none (or the last one ended); `None`
/// when it is off, when children need a per-slot environment (CUDA), or when `config.bin`
/// could not start one (a warning, once per binary: children are then exec'd).
pub(super) fn server_for(config: &SandboxConfig) -> Option<Arc<ForkServer>> {
    if !config.fork_server || config.session.execution_provider == crate::ExecutionProvider::Cuda {
        return None;
    }
    let mut servers = SERVERS.lock().ok()?;
    if let Some((_, held)) = servers.iter().find(|(bin, _)| *bin == config.bin) {
        match held {
            Some(server) if server.alive.load(Ordering::SeqCst) => return Some(Arc::clone(server)),
            Some(_) => {}
            None => return None,
        }
    }
    servers.retain(|(bin, _)| *bin != config.bin);
    let preloaded = Preload::of(config).map(|p| ForkServer::start(&config.bin, Some(&p)));
    let started = match preloaded {
        Some(Ok(server)) => Ok(server),
        Some(Err(e)) => {
            tracing::warn!(
                bin = %config.bin.display(),
                error = %e,
                "the fork server could not preload the face detector; children build their own"
            );
            ForkServer::start(&config.bin, None)
        }
        None => ForkServer::start(&config.bin, None),
    };
    let started = match started {
        Ok(server) => Some(server),
        Err(e) => {
            tracing::warn!(
                bin = %config.bin.display(),
                error = %e,
                "no fork server: evaluation children are exec'd"
            );
            None
        }
    };
    servers.push((config.bin.clone(), started.clone()));
    started
}

fn send(sock: &OwnedFd, message: &ToServer, fds: &[i32]) -> io::Result<()> {
    let body = serde_json::to_vec(message).map_err(io::Error::other)?;
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&body)],
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

/// Logs each line the fork server (or a forked child before it takes its own streams) writes
/// to its stderr as one of this process's events, at the line's level, so that the worker's log
/// keeps one format (one JSON object per line with `--log-format json`). The lines are
/// `arena-sandbox`'s text format, `<time> <LEVEL> <target>: <message>`; a line without a level
/// (a panic's, say) is logged as a warning. Ends at the pipe's end of file, when the fork server
/// and every child that inherited its stderr are gone.
fn relay_log(stderr: impl io::Read, pid: u32) {
    use std::io::BufRead;
    for line in io::BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let (level, message) = split_level(&line);
        if message.is_empty() {
            continue;
        }
        match level {
            tracing::Level::ERROR => tracing::error!(fork_server = pid, "{message}"),
            tracing::Level::WARN => tracing::warn!(fork_server = pid, "{message}"),
            tracing::Level::INFO => tracing::info!(fork_server = pid, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(fork_server = pid, "{message}"),
            tracing::Level::TRACE => tracing::trace!(fork_server = pid, "{message}"),
        }
    }
}

/// A text-format log line's level and what follows it (its time dropped: the worker's event
/// has its own); `WARN` and the whole line when the line has no level among its first two words.
fn split_level(line: &str) -> (tracing::Level, &str) {
    let line = line.trim();
    let mut rest = line;
    for _ in 0..2 {
        let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Ok(level) = word.parse::<tracing::Level>()
            && word.chars().all(|c| c.is_ascii_uppercase())
        {
            return (level, after.trim_start());
        }
        rest = after.trim_start();
    }
    (tracing::Level::WARN, line)
}

/// One message from the fork server (`None`: it is gone).
fn receive(sock: &OwnedFd, buf: &mut [u8]) -> Option<FromServer> {
    loop {
        match recv(sock.as_raw_fd(), buf, MsgFlags::empty()) {
            Ok(0) => return None,
            Ok(n) => return serde_json::from_slice(buf.get(..n)?).ok(),
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return None,
        }
    }
}

impl ForkServer {
    fn start(bin: &Path, preload: Option<&Preload>) -> io::Result<Arc<ForkServer>> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let mut command = std::process::Command::new(bin);
        command.arg(FORK_SERVER_FLAG);
        if let Some(preload) = preload {
            command
                .arg(PRELOAD_FLAG)
                .arg(serde_json::to_string(preload).map_err(io::Error::other)?);
        }
        let mut process = command
            .env_clear()
            .envs(child_env(&[]))
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        // The command holds the fork server's end of the socket: without it gone, a fork server
        // that ends before it answers leaves the socket open, and the wait below runs out.
        drop(command);
        if let Some(stderr) = process.stderr.take() {
            let pid = process.id();
            let dispatch = tracing::dispatcher::get_default(Clone::clone);
            std::thread::Builder::new()
                .name("fork-server-log".into())
                .spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || relay_log(stderr, pid));
                })?;
        }
        let mut buf = vec![0u8; MAX_MESSAGE];
        let ready = {
            let mut fds = [PollFd::new(ours.as_fd(), PollFlags::POLLIN)];
            let waited = poll(&mut fds, PollTimeout::from(10_000u16));
            matches!(waited, Ok(1..)) && matches!(receive(&ours, &mut buf), Some(FromServer::Ready))
        };
        if !ready {
            let _ = process.kill();
            let ended = match process.wait() {
                Ok(status) if status.signal() != Some(nix::sys::signal::Signal::SIGKILL as i32) => {
                    format!("ended before it answered ({status})")
                }
                _ => "did not answer".to_owned(),
            };
            return Err(io::Error::other(format!(
                "{} {FORK_SERVER_FLAG} {ended}",
                bin.display()
            )));
        }
        let server = Arc::new(ForkServer {
            sock: ours,
            pending: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            alive: AtomicBool::new(true),
        });
        let reader = Arc::clone(&server);
        std::thread::Builder::new()
            .name("fork-server".into())
            .spawn(move || {
                reader.read_answers(&mut buf);
                let _ = process.kill();
                let _ = process.wait();
            })?;
        tracing::debug!(bin = %bin.display(), "fork server started");
        Ok(server)
    }

    /// Routes the fork server's messages until it is gone; then every child it had counts as
    /// killed (they die with it) and every pending start fails.
    fn read_answers(&self, buf: &mut [u8]) {
        while let Some(message) = receive(&self.sock, buf) {
            match message {
                FromServer::Ready => {}
                FromServer::Started { id, pid } => {
                    let (tx, rx) = watch::channel(None);
                    if let Ok(mut live) = self.live.lock() {
                        live.insert(pid, tx);
                    }
                    let waiter = self.pending.lock().ok().and_then(|mut p| p.remove(&id));
                    match waiter {
                        Some(waiter) => {
                            if waiter.send(Ok((pid, rx))).is_err() {
                                let _ = self.kill(pid);
                            }
                        }
                        // Its requester gave up waiting: nobody will talk to it.
                        None => {
                            let _ = self.kill(pid);
                        }
                    }
                }
                FromServer::Failed { id, error } => {
                    let waiter = self.pending.lock().ok().and_then(|mut p| p.remove(&id));
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(Err(error));
                    }
                }
                FromServer::Exited { pid, status } => {
                    let held = self.live.lock().ok().and_then(|mut l| l.remove(&pid));
                    if let Some(tx) = held {
                        let _ = tx.send(Some(status));
                    }
                }
            }
        }
        self.alive.store(false, Ordering::SeqCst);
        tracing::warn!("the fork server ended; the next evaluation child starts a new one");
        if let Ok(mut live) = self.live.lock() {
            for (_, tx) in live.drain() {
                let _ = tx.send(Some(KILLED_STATUS));
            }
        }
        if let Ok(mut pending) = self.pending.lock() {
            for (_, waiter) in pending.drain() {
                let _ = waiter.send(Err("the fork server ended".into()));
            }
        }
    }

    fn kill(&self, pid: i32) -> io::Result<()> {
        send(&self.sock, &ToServer::Kill { pid }, &[])
    }

    /// Forks a child running `arena-sandbox <args>` in `cwd` with the three pipe ends as its
    /// standard streams; returns it with the worker's ends (stdin's write end, stdout's and
    /// stderr's read ends).
    pub(super) fn spawn(
        self: &Arc<Self>,
        args: Vec<String>,
        cwd: &Path,
    ) -> io::Result<(ForkedChild, [OwnedFd; 3])> {
        let (in_r, in_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = sync_channel(1);
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, tx);
        }
        let message = ToServer::Spawn {
            id,
            args,
            cwd: cwd.to_owned(),
        };
        let fds = [in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()];
        if let Err(e) = send(&self.sock, &message, &fds) {
            self.alive.store(false, Ordering::SeqCst);
            if let Ok(mut pending) = self.pending.lock() {
                pending.remove(&id);
            }
            return Err(e);
        }
        // The child holds its ends now (the fork server's copies close after the fork).
        drop((in_r, out_w, err_w));
        let answer = rx.recv_timeout(ANSWER_WAIT);
        if answer.is_err()
            && let Ok(mut pending) = self.pending.lock()
        {
            pending.remove(&id);
        }
        let (pid, status) = answer
            .map_err(|_| io::Error::other("the fork server did not answer"))?
            .map_err(io::Error::other)?;
        let child = ForkedChild {
            pid,
            status,
            server: Arc::clone(self),
        };
        Ok((child, [in_w, out_r, err_r]))
    }
}

impl ForkedChild {
    /// The process id while it runs (not after its status is known).
    pub(super) fn id(&self) -> Option<u32> {
        match *self.status.borrow() {
            Some(_) => None,
            None => u32::try_from(self.pid).ok(),
        }
    }

    pub(super) fn try_wait(&self) -> Option<ExitStatus> {
        self.status.borrow().map(ExitStatus::from_raw)
    }

    pub(super) async fn wait(&mut self) -> io::Result<ExitStatus> {
        let status = self
            .status
            .wait_for(Option::is_some)
            .await
            .map(|s| s.unwrap_or(KILLED_STATUS))
            .unwrap_or(KILLED_STATUS);
        Ok(ExitStatus::from_raw(status))
    }

    pub(super) async fn kill(&mut self) -> io::Result<()> {
        if self.status.borrow().is_none() {
            self.server.kill(self.pid)?;
        }
        self.wait().await.map(drop)
    }
}

impl Drop for ForkedChild {
    fn drop(&mut self) {
        if self.status.borrow().is_none() {
            let _ = self.server.kill(self.pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_level;
    use tracing::Level;

    #[test]
    fn a_relayed_line_keeps_its_level_and_drops_its_time() {
        let line = "2026-12-04T19:21:07.123456Z ERROR arena_worker::sandbox::child::fork_server: \
                    fork server error=recvmsg: ECONNRESET";
        assert_eq!(
            split_level(line),
            (
                Level::ERROR,
                "arena_worker::sandbox::child::fork_server: fork server error=recvmsg: ECONNRESET"
            )
        );
        assert_eq!(
            split_level("  2026-12-04T19:21:07Z  DEBUG x: y  "),
            (Level::DEBUG, "x: y")
        );
        // Without a level among its first two words (a panic's lines), the whole line, as a warning.
        let panic = "thread 'main' panicked at worker/src/x.rs:1:2:";
        assert_eq!(split_level(panic), (Level::WARN, panic));
        assert_eq!(split_level("note: warn me"), (Level::WARN, "note: warn me"));
        assert_eq!(split_level(""), (Level::WARN, ""));
    }
}
