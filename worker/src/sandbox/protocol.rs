//! What the worker and `arena-sandbox` say to each other: the limits (the child's arguments, applied
//! before it reads anything), one JSON [`Request`] on its stdin and one JSON [`Response`] on its
//! stdout; its exit status is [`EXIT_OK`], [`EXIT_JOB_ERROR`] or [`EXIT_BAD_REQUEST`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::archive::{ArchiveLimits, Entry};
use crate::detector::{ExecutionProvider, SessionOptions};
use crate::manifest::Manifest;
use crate::media::{ProbeFacts, ProbeLimits};
use crate::onnx_model::ModelInfo;
use crate::prepare::PreparePlan;
use crate::scoring::VideoScore;

/// Bumped whenever a message changes; a child from another build refuses the request.
pub const PROTOCOL_VERSION: u32 = 7;

/// The work was done; the response is [`Response::Ok`].
pub const EXIT_OK: u8 = 0;
/// The work failed (bad upload or our error); the response is [`Response::Error`].
pub const EXIT_JOB_ERROR: u8 = 1;
/// The arguments or the request could not be used; the response is [`Response::Error`].
pub const EXIT_BAD_REQUEST: u8 = 2;

/// First argument of a long-lived scoring child (`arena-sandbox --serve <limits>`): it answers one
/// [`Request`] per line of stdin, one [`Response`] per line of stdout, until stdin closes or a
/// request fails.
pub const SERVE_FLAG: &str = "--serve";
/// A serving child's hard RLIMIT_CPU is this many per-job budgets (`cpu_seconds`); each request
/// gets `cpu_seconds` more on its soft limit, and the worker retires the child before the hard
/// limit could cut a job short.
pub const SERVE_CPU_BUDGETS: u64 = 8;

/// Resource limits the child sets on itself (`setrlimit`) before it reads its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// RLIMIT_AS in MiB; 0 leaves the address space unlimited (CUDA reserves huge ranges).
    pub memory_mb: u64,
    /// RLIMIT_CPU in seconds (SIGXCPU at the limit, SIGKILL two seconds later).
    pub cpu_seconds: u64,
    /// RLIMIT_NOFILE.
    pub open_files: u64,
    /// RLIMIT_FSIZE in MiB: the largest file the child may write.
    pub file_size_mb: u64,
}

impl Limits {
    const FLAGS: [&'static str; 4] = [
        "--memory-mb",
        "--cpu-seconds",
        "--open-files",
        "--file-size-mb",
    ];

    /// The child's command-line arguments.
    pub fn to_args(&self) -> Vec<String> {
        let values = [
            self.memory_mb,
            self.cpu_seconds,
            self.open_files,
            self.file_size_mb,
        ];
        Self::FLAGS
            .iter()
            .zip(values)
            .flat_map(|(flag, v)| [(*flag).to_owned(), v.to_string()])
            .collect()
    }

    /// Parses [`Limits::to_args`]; every flag is required.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Limits, String> {
        let mut values: [Option<u64>; 4] = [None; 4];
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let slot = Self::FLAGS
                .iter()
                .position(|f| *f == flag)
                .ok_or_else(|| format!("unknown argument {flag:?}"))?;
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            values[slot] = Some(
                value
                    .parse()
                    .map_err(|_| format!("{flag}: {value:?} is not a whole number"))?,
            );
        }
        let get = |i: usize| values[i].ok_or_else(|| format!("{} is required", Self::FLAGS[i]));
        Ok(Limits {
            memory_mb: get(0)?,
            cpu_seconds: get(1)?,
            open_files: get(2)?,
            file_size_mb: get(3)?,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    /// `libonnxruntime.so` to load.
    pub ort_lib: PathBuf,
    pub session: SessionOptions,
    /// Confine the child (Landlock, seccomp) before the work; `false` only for measuring.
    #[serde(default = "yes")]
    pub confine: bool,
    pub task: Task,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// Decode one video, find its faces, write its face crops and whole frames.
    Prepare(PrepareTask),
    /// Score videos' cached images with one detector.
    Score(ScoreTask),
    /// Run a new detector's upload checks ([`crate::checks::check_detector`]).
    Check(CheckTask),
    /// Probe an uploaded video at ingest ([`crate::media::probe_video`]).
    Probe(ProbeTask),
    /// Inspect an uploaded ONNX model at ingest ([`crate::onnx_model::inspect_model`]): the
    /// protobuf parse happens here, not in the web server.
    Inspect(InspectTask),
    /// List and inflate a creation zip at ingest ([`crate::archive::extract_zip_from`]).
    Unzip(UnzipTask),
    /// Try what the confinement must refuse (or allow), for the tests and for operators checking
    /// a host: the worker is trusted, so this request gives an upload nothing.
    Selftest(SelftestTask),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeTask {
    pub video: PathBuf,
    pub limits: ProbeLimits,
    /// Tests only (`evaluation.sandbox_test_faults`): a file that begins with [`ABORT_MARKER`]
    /// makes the child abort mid-probe, as a demuxer crash would.
    #[serde(default)]
    pub test_faults: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InspectTask {
    /// The uploaded `model.onnx`.
    pub model: PathBuf,
    /// A larger file is refused (`model_too_large`) without being read.
    pub max_bytes: u64,
    /// Tests only (`evaluation.sandbox_test_faults`): a file that begins with [`ABORT_MARKER`]
    /// makes the child abort mid-inspection, as a parser crash would.
    #[serde(default)]
    pub test_faults: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnzipTask {
    /// The uploaded zip.
    pub archive: PathBuf,
    /// Where the entries go (`entry-<n>`): the child's job folder.
    pub out_dir: PathBuf,
    pub limits: ArchiveLimits,
}

/// See [`ProbeTask::test_faults`] and [`InspectTask::test_faults`].
pub const ABORT_MARKER: &[u8] = b"ARENA-TEST-ABORT";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SelftestTask {
    /// Files to open for reading.
    #[serde(default)]
    pub read: Vec<PathBuf>,
    /// Files to create and write.
    #[serde(default)]
    pub create: Vec<PathBuf>,
    /// Files granted read-only, as a score child's inputs in a local store are: each is read,
    /// then the child tries to change it (opened for writing, truncated through a read-only
    /// descriptor, opened for writing through `/proc/self/fd`).
    #[serde(default)]
    pub given: Vec<PathBuf>,
    /// A file to `chmod` (forbidden by the filter: the child is killed).
    #[serde(default)]
    pub chmod: Option<PathBuf>,
    /// Programs to start (`execve`; forbidden by the filter: the child is killed).
    #[serde(default)]
    pub exec: Option<PathBuf>,
    /// Open a UDP socket (forbidden by the filter: the child is killed).
    #[serde(default)]
    pub socket: bool,
    /// Abort (SIGABRT), as a crashing library would.
    #[serde(default)]
    pub abort: bool,
}

/// One try of a [`SelftestTask`]: `error` is the OS's refusal, `None` when it worked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub what: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepareTask {
    pub video: PathBuf,
    pub plan: PreparePlan,
    /// The BlazeFace model file.
    pub face_model: PathBuf,
    /// Where the face crops go (the crop cache format of [`crate::crops`]).
    pub faces_out: PathBuf,
    /// Where the whole frames go (same format).
    pub frames_out: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreTask {
    /// The detector's `model.onnx`.
    pub model: PathBuf,
    /// Identifies the model (detector id and content key): a serving child that already holds a
    /// session for this key reuses it and does not read `model`.
    #[serde(default)]
    pub key: Option<String>,
    pub manifest: Manifest,
    pub videos: Vec<ScoreInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckTask {
    /// The uploaded `model.onnx`.
    pub model: PathBuf,
    pub manifest: Manifest,
    /// Wall-clock limit of the probe runs (enforced in the child with `RunOptions::terminate`).
    pub time_limit_ms: u64,
    /// A slot's scoring child ([`super::serve::check_serving`]): the session that passed is kept
    /// under this key, the detector's, for its score jobs. None in a child for this check alone.
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreInput {
    pub video_id: i64,
    /// The video's cached images (face crops or whole frames, per the manifest).
    pub images: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Response {
    Ok {
        isolation: Isolation,
        timings: Timings,
        output: Output,
    },
    Error {
        /// Absent when the child failed before it could isolate itself.
        isolation: Option<Isolation>,
        error: ChildError,
    },
}

/// What the child managed to do to itself before the work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// The child runs in a new, empty network namespace.
    pub network: bool,
    /// The child runs in a new user namespace (no capabilities on the host).
    pub user_namespace: bool,
    /// `PR_SET_NO_NEW_PRIVS` is set.
    pub no_new_privs: bool,
    /// Landlock is fully enforced: the child opens only its job's files and the libraries.
    #[serde(default)]
    pub landlock: bool,
    /// The seccomp allow-list is in force (`Seccomp: 2`); another system call kills the child.
    #[serde(default)]
    pub seccomp: bool,
    /// Why something above is missing.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// onnxruntime and the sessions.
    pub load_ms: u64,
    /// Decoding or scoring.
    pub work_ms: u64,
    /// CPU time the child has used so far (user + system), for a serving child's budget.
    #[serde(default)]
    pub cpu_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Output {
    Prepared {
        frames: usize,
        face_frames: usize,
        /// Videos the child decoded (one), added to the worker's [`crate::media::decode_count`].
        decodes: u64,
    },
    Scored {
        scores: Vec<ScoredVideo>,
    },
    Checked(CheckOutcome),
    Probed(ProbeFacts),
    Inspected(ModelInfo),
    Unzipped {
        entries: Vec<Entry>,
    },
    Selftested {
        attempts: Vec<Attempt>,
    },
}

/// A passing [`crate::CheckReport`], as sent over the pipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub scores: Vec<f32>,
    pub batch_sizes: [usize; 2],
    pub max_diff: f32,
    pub execution_provider: ExecutionProvider,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredVideo {
    pub video_id: i64,
    #[serde(flatten)]
    pub score: VideoScore,
}

/// A failed job as the child saw it: the [`crate::job_error::JobError`] fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildError {
    pub code: String,
    pub message: String,
    /// The upload is at fault (not retried).
    pub client_error: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_round_trip_through_arguments() {
        let limits = Limits {
            memory_mb: 4096,
            cpu_seconds: 600,
            open_files: 256,
            file_size_mb: 40,
        };
        assert_eq!(Limits::from_args(limits.to_args()).unwrap(), limits);
        let missing = Limits::from_args(["--memory-mb".to_owned(), "1".to_owned()]);
        assert!(missing.unwrap_err().contains("--cpu-seconds"));
        let bad = Limits::from_args(["--bogus".to_owned()]);
        assert!(bad.unwrap_err().contains("--bogus"));
    }
}
