//! `arena-sandbox --fork-server`: forks evaluation children for one worker process
//! ([`crate::sandbox::fork`] is the worker's side, docs/SANDBOX.md "The fork server").
//!
//! It stays single-threaded (checked before every fork: a fork copies only the calling thread,
//! and a lock another thread held would stay held in the child forever) and does nothing but
//! fork, reap and relay: it reads no upload and runs no model. With `--preload` (the worker's
//! [`Preload`]) it first loads onnxruntime and builds the face detector's sessions from the
//! bootstrap's BlazeFace file ([`super::preload`]), once, and refuses to serve if that left it
//! with a second thread. A forked child
//! takes its standard streams from the request, closes every other descriptor, moves to its
//! folder and runs the child's main (`child::main_code`) with its arguments, exactly what an exec'd
//! `arena-sandbox` runs: it limits and confines itself there before it reads its request.

use std::collections::HashSet;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::sandbox::fork::{FromServer, MAX_MESSAGE, PRELOAD_FLAG, Preload, ToServer};
use crate::sandbox::protocol::EXIT_BAD_REQUEST;

/// What a forked child runs: `arena-sandbox`'s main for its arguments, giving its exit code.
pub type ChildMain = fn(Vec<String>) -> u8;

/// A forked child's exit code when its main panicked (what Rust's runtime gives an exec'd one).
const PANICKED: u8 = 101;

/// Runs the fork server on stdin (the worker's socket) until the worker's end closes; `args` are
/// those after `--fork-server`: none, or `--preload` and a [`Preload`] as JSON.
pub fn serve(child_main: ChildMain, args: &[String]) -> u8 {
    let preloaded = match args {
        [] => Ok(()),
        [flag, spec] if flag == PRELOAD_FLAG => serde_json::from_str::<Preload>(spec)
            .map_err(|e| format!("--preload: {e}"))
            .and_then(super::preload::preload),
        _ => Err(format!("unexpected arguments {args:?}")),
    };
    if let Err(e) = preloaded {
        tracing::error!(error = %e, "fork server");
        return 1;
    }
    match run(child_main) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = %e, "fork server");
            1
        }
    }
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

fn send(sock: &OwnedFd, message: &FromServer) {
    if let Ok(body) = serde_json::to_vec(message) {
        let _ = nix::sys::socket::send(sock.as_raw_fd(), &body, MsgFlags::MSG_NOSIGNAL);
    }
}

fn run(child_main: ChildMain) -> Result<(), String> {
    match threads() {
        1 => {}
        n => return Err(format!("not single-threaded ({n} threads)")),
    }
    let sock = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("the worker's socket: {e}"))?;
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block().map_err(|e| format!("SIGCHLD: {e}"))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))?;
    send(&sock, &FromServer::Ready);
    let mut live = HashSet::new();
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let mut fds = [
            PollFd::new(sock.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let (request, reaped) = (ready(&fds[0]), ready(&fds[1]));
        if reaped {
            while let Ok(Some(_)) = signals.read_signal() {}
            reap(&sock, &mut live);
        }
        if request {
            let mut cmsg = nix::cmsg_space!([RawFd; 3]);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let (bytes, passed) = match recvmsg::<()>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    let mut passed: Vec<OwnedFd> = Vec::new();
                    for c in msg.cmsgs().into_iter().flatten() {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            passed.extend(fds.into_iter().map(owned));
                        }
                    }
                    (msg.bytes, passed)
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // The worker closed its end with messages of ours unread (it exited just after
                // one of its children did, before reading that status): gone, as below.
                Err(nix::errno::Errno::ECONNRESET) => return Ok(()),
                Err(e) => return Err(format!("recvmsg: {e}")),
            };
            // The worker is gone: so are we, and our children with us (their death signal).
            if bytes == 0 {
                return Ok(());
            }
            match serde_json::from_slice::<ToServer>(&buf[..bytes]) {
                Ok(ToServer::Spawn { id, args, cwd }) => {
                    let answer = fork_child(child_main, &mask, args, &cwd, passed, &mut live)
                        .map_or_else(
                            |error| FromServer::Failed { id, error },
                            |pid| FromServer::Started { id, pid },
                        );
                    send(&sock, &answer);
                }
                Ok(ToServer::Kill { pid }) => {
                    // Only a child not reaped yet: its id cannot have been reused.
                    if live.contains(&pid) {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "fork server: a message it does not know"),
            }
        }
    }
}

#[expect(
    unsafe_code,
    reason = "the kernel just installed this descriptor for us, see SAFETY"
)]
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` came in an SCM_RIGHTS message just received: the kernel installed it in our
    // table for this message alone, so nothing else owns or closes it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Reaps every ended child and tells the worker how each ended (its raw wait status).
fn reap(sock: &OwnedFd, live: &mut HashSet<i32>) {
    loop {
        let (pid, status) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, (code & 0xff) << 8),
            Ok(WaitStatus::Signaled(pid, signal, core)) => {
                (pid, signal as i32 | if core { 0x80 } else { 0 })
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        };
        live.remove(&pid.as_raw());
        send(
            sock,
            &FromServer::Exited {
                pid: pid.as_raw(),
                status,
            },
        );
    }
}

fn fork_child(
    child_main: ChildMain,
    mask: &SigSet,
    args: Vec<String>,
    cwd: &std::path::Path,
    streams: Vec<OwnedFd>,
    live: &mut HashSet<i32>,
) -> Result<i32, String> {
    let [stdin, stdout, stderr] = <[OwnedFd; 3]>::try_from(streams)
        .map_err(|s| format!("{} standard streams, not 3", s.len()))?;
    if threads() != 1 {
        return Err("the fork server is not single-threaded".into());
    }
    match fork() {
        Ok(ForkResult::Child) => {
            // Never back into the fork server's loop, not even by a panic.
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                in_child(child_main, mask, args, cwd, [stdin, stdout, stderr])
            }))
            .unwrap_or(PANICKED);
            std::process::exit(i32::from(code))
        }
        Ok(ForkResult::Parent { child }) => {
            live.insert(child.as_raw());
            Ok(child.as_raw())
        }
        Err(e) => Err(format!("fork: {e}")),
    }
}

#[expect(
    unsafe_code,
    reason = "fork in a process checked to be single-threaded, see SAFETY"
)]
fn fork() -> nix::Result<ForkResult> {
    // SAFETY: the caller checked that this process has one thread, so the child is a consistent
    // copy of it: no lock is held by a thread that does not exist in the child.
    unsafe { nix::unistd::fork() }
}

/// The forked child: its streams, nothing else open, its folder, then `arena-sandbox`'s main.
fn in_child(
    child_main: ChildMain,
    mask: &SigSet,
    args: Vec<String>,
    cwd: &std::path::Path,
    streams: [OwnedFd; 3],
) -> u8 {
    let [stdin, stdout, stderr] = &streams;
    let set_up = nix::unistd::dup2_stdin(stdin)
        .and_then(|()| nix::unistd::dup2_stdout(stdout))
        .and_then(|()| nix::unistd::dup2_stderr(stderr))
        .and_then(|()| mask.thread_unblock());
    if let Err(e) = set_up {
        tracing::error!(error = %e, "forked child: standard streams");
        return EXIT_BAD_REQUEST;
    }
    drop(streams);
    // The worker's socket, the signalfd and anything else the fork server held.
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in open.into_iter().filter(|&fd| fd > 2) {
        let _ = nix::unistd::close(fd);
    }
    if let Err(e) = nix::unistd::chdir(cwd) {
        tracing::error!(error = %e, "forked child: its folder");
        return EXIT_BAD_REQUEST;
    }
    child_main(args)
}
