//! Confinement of an evaluation child, after its rlimits and namespaces and before it touches an
//! upload: Landlock (it can open only its job's files, the libraries and a few system files) and
//! a seccomp allow-list (the system calls FFmpeg decoding and onnxruntime inference make; any
//! other kills the process with SIGSYS). Both are best-effort where the kernel lacks them, and
//! reported in the child's [`Isolation`]. See docs/SANDBOX.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access as _, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};
use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

use super::protocol::Isolation;

/// The newest Landlock ABI whose rights this allow-list was written and tested for (filesystem
/// rights incl. `IoctlDev`, signal and abstract-socket scoping). Older kernels enforce a subset.
const LANDLOCK_ABI: ABI = ABI::V6;

/// System files every child may read: the shared libraries (FFmpeg is linked at start,
/// onnxruntime's own dependencies are loaded with it), the loader's cache, the CPU topology
/// that onnxruntime (cpuinfo) and glibc read to size thread pools, and its own /proc entry.
const SYSTEM_READ: &[&str] = &[
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
    "/etc/ld.so.cache",
    "/proc/self",
    "/proc/cpuinfo",
    "/sys/devices/system/cpu",
    "/sys/fs/cgroup",
    "/dev/null",
    "/dev/urandom",
];

/// What CUDA needs besides: its device nodes (read, write, ioctl) and the driver's information.
const CUDA_DEVICES: &[&str] = &[
    "/dev/nvidiactl",
    "/dev/nvidia-uvm",
    "/dev/nvidia-uvm-tools",
    "/dev/nvidia-modeset",
];
const CUDA_READ: &[&str] = &["/proc/driver/nvidia", "/sys/bus/pci", "/sys/devices"];

/// The files of one child's work.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Files or folders it may read (its inputs, the onnxruntime library's folder).
    pub read: Vec<PathBuf>,
    /// Folders in which it may create, write and read files (its job folder).
    pub write: Vec<PathBuf>,
    /// CUDA execution: `/dev/nvidia*` is reachable.
    pub cuda: bool,
}

impl Access {
    /// `path`'s folder may be read (a library that loads siblings), also where a link points.
    pub fn read_folder_of(&mut self, path: &Path) {
        for p in [Some(path.to_owned()), std::fs::canonicalize(path).ok()]
            .into_iter()
            .flatten()
        {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                self.read.push(dir.to_owned());
            }
        }
    }
}

/// Restricts this process to `access` (Landlock) and to the system calls of [`allowed_syscalls`]
/// (seccomp), recording what held in `isolation`. Must run while the process is single-threaded:
/// both apply to the calling thread and the threads it starts afterwards.
pub fn confine(access: &Access, isolation: &mut Isolation) {
    let mut notes = Vec::new();
    match landlock(access) {
        Ok(RulesetStatus::FullyEnforced) => isolation.landlock = true,
        Ok(status) => notes.push(format!("landlock: {status:?} on this kernel")),
        Err(e) => notes.push(format!("landlock: {e}")),
    }
    match seccomp(access.cuda) {
        Ok(()) => isolation.seccomp = true,
        Err(e) => notes.push(format!("seccomp: {e}")),
    }
    if !notes.is_empty() {
        let note = notes.join("; ");
        tracing::warn!(%note, "evaluation child is not fully confined");
        isolation.note = Some(match isolation.note.take() {
            Some(n) => format!("{n}; {note}"),
            None => note,
        });
    }
}

fn landlock(access: &Access) -> Result<RulesetStatus, landlock::RulesetError> {
    let abi = LANDLOCK_ABI;
    let read = AccessFs::from_read(abi);
    let write = read | AccessFs::WriteFile | AccessFs::MakeReg | AccessFs::Truncate;
    let mut rules: Vec<(PathBuf, landlock::BitFlags<AccessFs>)> = Vec::new();
    rules.extend(SYSTEM_READ.iter().map(|p| (PathBuf::from(p), read)));
    rules.extend(access.read.iter().map(|p| (p.clone(), read)));
    rules.extend(access.write.iter().map(|p| (p.clone(), write)));
    if access.cuda {
        let device = read | AccessFs::WriteFile | AccessFs::IoctlDev;
        rules.extend(CUDA_READ.iter().map(|p| (PathBuf::from(p), read)));
        rules.extend(CUDA_DEVICES.iter().map(|p| (PathBuf::from(p), device)));
        rules.extend(nvidia_devices().into_iter().map(|p| (p, device)));
    }
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?
        .scope(Scope::from_all(abi))?
        .create()?;
    for (path, rights) in rules {
        // A path this machine lacks (no /lib64, no GPU) is simply not granted.
        let Ok(fd) = PathFd::new(&path) else {
            continue;
        };
        let rights = if std::fs::metadata(&path).is_ok_and(|m| !m.is_dir()) {
            rights & AccessFs::from_file(abi)
        } else {
            rights
        };
        ruleset = ruleset.add_rule(PathBeneath::new(fd, rights))?;
    }
    Ok(ruleset.restrict_self()?.ruleset)
}

/// `/dev/nvidia0`, `/dev/nvidia1`, …
fn nvidia_devices() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/dev") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix("nvidia")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path())
        .collect()
}

/// Errors of the seccomp set-up.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("this architecture ({0}) has no allow-list")]
    Arch(&'static str),
    #[error("{0}")]
    Filter(#[from] seccompiler::BackendError),
    #[error("{0}")]
    Apply(#[from] seccompiler::Error),
}

/// The system calls an evaluation child makes after its set-up, found by running the real
/// children (prepare, score, check, probe, a serving child) under `strace -f` (docs/SANDBOX.md).
/// Missing on purpose: `socket`, `connect`, `execve`, `fork` (a `clone` without `CLONE_THREAD`),
/// `ptrace`, `mount`, `unshare`, `setns`, `bpf`, `keyctl`, `io_uring_*`, `perf_event_open`.
pub fn allowed_syscalls() -> Vec<i64> {
    let mut calls = vec![
        // Files (Landlock decides which).
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_pread64,
        libc::SYS_pwrite64,
        libc::SYS_lseek,
        libc::SYS_openat,
        libc::SYS_close,
        libc::SYS_fstat,
        libc::SYS_newfstatat,
        libc::SYS_statx,
        libc::SYS_fstatfs,
        libc::SYS_statfs,
        libc::SYS_getdents64,
        libc::SYS_readlinkat,
        libc::SYS_faccessat,
        libc::SYS_faccessat2,
        libc::SYS_fcntl,
        libc::SYS_dup,
        libc::SYS_dup3,
        libc::SYS_ftruncate,
        libc::SYS_fsync,
        libc::SYS_fdatasync,
        libc::SYS_getcwd,
        libc::SYS_ppoll,
        libc::SYS_pselect6,
        // Memory.
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mprotect,
        libc::SYS_mremap,
        libc::SYS_madvise,
        libc::SYS_brk,
        libc::SYS_mincore,
        libc::SYS_membarrier,
        libc::SYS_get_mempolicy,
        // Threads and their synchronisation.
        libc::SYS_futex,
        libc::SYS_set_robust_list,
        libc::SYS_get_robust_list,
        libc::SYS_rseq,
        libc::SYS_set_tid_address,
        libc::SYS_sched_getaffinity,
        libc::SYS_sched_setaffinity,
        libc::SYS_sched_yield,
        libc::SYS_sched_getparam,
        libc::SYS_sched_getscheduler,
        libc::SYS_sched_get_priority_max,
        libc::SYS_sched_get_priority_min,
        libc::SYS_getpriority,
        libc::SYS_setpriority,
        libc::SYS_getcpu,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_prctl,
        // Signals (a library's abort; nothing outside the process: tgkill is checked below).
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        // Time, identity, limits (a serving child moves its own RLIMIT_CPU).
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        libc::SYS_getrandom,
        libc::SYS_getpid,
        libc::SYS_gettid,
        libc::SYS_getppid,
        libc::SYS_getuid,
        libc::SYS_geteuid,
        libc::SYS_getgid,
        libc::SYS_getegid,
        libc::SYS_prlimit64,
        libc::SYS_getrusage,
        libc::SYS_uname,
        libc::SYS_sysinfo,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        libc::SYS_open,
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_access,
        libc::SYS_readlink,
        libc::SYS_poll,
        libc::SYS_dup2,
        libc::SYS_arch_prctl,
        libc::SYS_time,
        libc::SYS_getdents,
    ]);
    calls
}

/// System calls allowed only with some arguments.
fn conditional_rules() -> Result<Vec<(i64, Vec<SeccompRule>)>, seccompiler::BackendError> {
    let thread = libc::CLONE_THREAD as u64;
    // Threads only: a clone without CLONE_THREAD would be a new process.
    let clone = SeccompRule::new(vec![SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(thread),
        thread,
    )?])?;
    // Signals to itself only (abort(), a thread's own signal): tgkill's first argument is the
    // thread group, which must be ours.
    let own = u64::from(std::process::id());
    let tgkill = SeccompRule::new(vec![SeccompCondition::new(
        0,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        own,
    )?])?;
    let kill = SeccompRule::new(vec![SeccompCondition::new(
        0,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        own,
    )?])?;
    Ok(vec![
        (libc::SYS_clone, vec![clone]),
        (libc::SYS_tgkill, vec![tgkill]),
        (libc::SYS_kill, vec![kill]),
    ])
}

/// The filter: the allow-list, anything else kills the process. `clone3`, whose flags a filter
/// cannot read, answers ENOSYS from a second filter so glibc falls back to `clone` (checked
/// above); the kernel takes the strictest answer of all filters.
fn seccomp(cuda: bool) -> Result<(), SeccompError> {
    let arch = std::env::consts::ARCH;
    let target = arch.try_into().map_err(|_| SeccompError::Arch(arch))?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = allowed_syscalls()
        .into_iter()
        .map(|nr| (nr, Vec::new()))
        .collect();
    rules.extend(conditional_rules()?);
    rules.insert(libc::SYS_clone3, Vec::new());
    if cuda {
        // The CUDA driver talks to the kernel module through ioctls on /dev/nvidia* (Landlock
        // allows those nodes), pins pages and waits on events (from NVIDIA's documentation and
        // common container profiles; not run here: no GPU).
        for nr in [
            libc::SYS_ioctl,
            libc::SYS_mlock,
            libc::SYS_munlock,
            libc::SYS_mbind,
            libc::SYS_eventfd2,
            libc::SYS_pipe2,
            libc::SYS_epoll_create1,
            libc::SYS_epoll_ctl,
            libc::SYS_epoll_pwait,
        ] {
            rules.insert(nr, Vec::new());
        }
    }
    let allow: BpfProgram = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        target,
    )?
    .try_into()?;
    let no_clone3: BpfProgram = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        target,
    )?
    .try_into()?;
    // The allow-list forbids `seccomp` itself: it goes last.
    seccompiler::apply_filter_all_threads(&no_clone3)?;
    seccompiler::apply_filter_all_threads(&allow)?;
    Ok(())
}
