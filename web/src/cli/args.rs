//! The `arena` command line's arguments (clap): global flags, the GPU and client flags, and one
//! enum per command group. `super` (cli.rs) dispatches them to one function per command.

use anyhow::Context;
use arena::Settings;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "arena",
    version,
    about = "Deepfake Arena: creators vs detectors, scored live"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Args, Clone)]
pub(crate) struct GlobalArgs {
    /// Data directory (SQLite file, local objects, uploads in flight).
    #[arg(long = "data", env = "ARENA_DATA_DIR", global = true)]
    pub(crate) data: Option<PathBuf>,
    /// Address the web server listens on.
    #[arg(long, env = "ARENA_BIND", global = true)]
    pub(crate) bind: Option<String>,
    /// Database URL (sqlite://… or postgres://…); default SQLite in the data dir.
    #[arg(long = "database-url", env = "ARENA_DATABASE_URL", global = true)]
    pub(crate) database_url: Option<String>,
    /// Object store URL (file:///abs/dir); default <data>/objects.
    #[arg(long, env = "ARENA_STORAGE", global = true)]
    pub(crate) storage: Option<String>,
    /// Optional arena.toml; flags and env override it.
    #[arg(long, env = "ARENA_CONFIG", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Log lines on stderr: text, or one JSON object per line with the request, job and
    /// submission ids.
    #[arg(
        long,
        env = "ARENA_LOG_FORMAT",
        global = true,
        value_enum,
        default_value_t
    )]
    pub(crate) log_format: crate::telemetry::LogFormat,
}

/// Where sessions run (`[evaluation] execution_provider`, `gpus`).
#[derive(Args, Clone)]
pub(crate) struct GpuArgs {
    /// onnxruntime execution provider: cpu or cuda (CUDA falls back to the CPU, with a warning
    /// naming the reason, where it cannot start).
    #[arg(long, env = "ARENA_EXECUTION_PROVIDER")]
    pub(crate) execution_provider: Option<String>,
    /// CUDA devices, e.g. 0,1: worker slots get them round-robin and each evaluation child sees
    /// only its own (`arena eval` uses the first). Implies --execution-provider cuda.
    #[arg(long, env = "ARENA_GPUS")]
    pub(crate) gpus: Option<String>,
}

impl GpuArgs {
    /// The global flags' settings with these flags applied.
    pub(crate) fn settings(&self, global: &GlobalArgs) -> anyhow::Result<Settings> {
        let mut settings = global.settings()?;
        self.apply(&mut settings)?;
        Ok(settings)
    }

    /// Writes the flags into `settings` (a bad value is an error, not a silent CPU run).
    pub(crate) fn apply(&self, settings: &mut Settings) -> anyhow::Result<()> {
        if let Some(list) = &self.gpus {
            settings.evaluation.gpus =
                arena::config::parse_gpus(list).map_err(|e| anyhow::anyhow!("--gpus: {e}"))?;
            settings.evaluation.execution_provider = "cuda".to_owned();
        }
        if let Some(name) = &self.execution_provider {
            let provider = arena_worker::ExecutionProvider::parse(name).with_context(|| {
                format!("--execution-provider must be cpu or cuda, not {name:?}")
            })?;
            settings.evaluation.execution_provider = provider.as_str().to_owned();
        }
        Ok(())
    }
}

#[derive(Args, Clone)]
pub(crate) struct ClientArgs {
    /// Server base URL.
    #[arg(long, env = "ARENA_SERVER", default_value = "http://127.0.0.1:8080")]
    pub(crate) server: String,
    /// Team token (printed by `arena team add`).
    #[arg(long, env = "ARENA_TOKEN")]
    pub(crate) token: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Migrate, then serve the web app with in-process workers (one machine).
    Up {
        /// Seed the demo competition `demo` first.
        #[arg(long)]
        demo: bool,
        /// Worker slots (default, or 0: `workers` of arena.toml, else one per core).
        #[arg(long, env = "ARENA_WORKERS")]
        workers: Option<usize>,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Serve the web app only (scale-out: workers run elsewhere).
    Serve,
    /// Run worker slots only (scale-out).
    Worker {
        /// Worker slots (default, or 0: `workers` of arena.toml, else one per core).
        #[arg(long, env = "ARENA_WORKERS")]
        workers: Option<usize>,
        /// Also serve /healthz, /readyz and /metrics on this address (probes, scrapers).
        #[arg(long, env = "ARENA_WORKER_HTTP")]
        http: Option<String>,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Write a backup zip: an online copy of the SQLite database, every stored object and the
    /// session key (PostgreSQL: use pg_dump, see README).
    Backup {
        /// The zip to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup zip into the data dir (and its object store); the server then serves
    /// the same boards.
    Restore {
        /// The zip `arena backup` wrote.
        archive: PathBuf,
        /// Overwrite a database already in the data dir.
        #[arg(long)]
        force: bool,
    },
    /// Manage teams.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Rater accounts for human rating in the browser (`/rate/{slug}`).
    #[command(subcommand)]
    Rater(RaterCommand),
    /// Manage competitions.
    #[command(subcommand)]
    Competition(CompetitionCommand),
    /// Erase a finished competition's uploads after exporting its boards: writes each round's
    /// leaderboard JSON and scores CSVs into --out, then erases every submission's stored bytes
    /// (kept where another competition's submission holds the same content).
    Purge {
        #[arg(long)]
        competition: String,
        /// Folder for the export (created; written before anything is erased).
        #[arg(long)]
        out: PathBuf,
        /// Purge even if a phase is still open or to come (a live competition has none).
        #[arg(long)]
        force: bool,
    },
    /// Submit to a running server.
    #[command(subcommand)]
    Submit(SubmitCommand),
    /// A competition's creation tasks on a running server (creator teams, organizers).
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Show a submission's status and progress.
    Status {
        id: i64,
        /// Poll until the submission is finished, failed or rejected.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Recompute every score offline from a CSV of `detector,creation,video,label,score` and
    /// print JSON (the same code the server uses).
    Score {
        /// The pairs CSV.
        #[arg(long)]
        input: PathBuf,
        /// Creation-score preset: dfgc2021 or dfgc2022 (default: anti-detection only).
        #[arg(long)]
        preset: Option<String>,
        /// Human ratings CSV `creation,axis,value`.
        #[arg(long)]
        ratings: Option<PathBuf>,
        /// Bootstrap resamples for the rating intervals (at least 200).
        #[arg(long, default_value_t = 200)]
        bootstrap: usize,
        /// Seed of the bootstrap.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Run the worker pipeline offline (no server, no database) on video files with one or more
    /// detectors; prints per-video scores and per-stage timings as JSON.
    Eval {
        /// Video files.
        #[arg(required = true)]
        videos: Vec<PathBuf>,
        /// A detector as MODEL.onnx:MANIFEST.toml (repeatable).
        #[arg(long = "detector", required = true)]
        detectors: Vec<String>,
        /// Also write the JSON report here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Videos evaluated at once, each on its own thread with its own sessions (0: one per
        /// core, at most one per video).
        #[arg(long, default_value_t = 0)]
        parallel: usize,
        /// onnxruntime intra-op threads per session (0: the cores divided among the videos
        /// evaluated at once).
        #[arg(long, default_value_t = 0)]
        intra_threads: usize,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Datasets: synthetic real clips and the baseline face-swap creator.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Print a competition's leaderboard.
    Leaderboard {
        slug: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
pub(crate) enum TeamCommand {
    /// Create a team; its token is printed as the last line.
    Add {
        name: String,
        #[arg(long, default_value = "creator")]
        role: String,
        /// Organizer rights.
        #[arg(long)]
        admin: bool,
        /// An organizer's baseline entry (shown, not ranked).
        #[arg(long)]
        baseline: bool,
    },
    /// Rotate or revoke a team's token on a running server (the team itself or an organizer).
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
pub(crate) enum RaterCommand {
    /// Create a rater account enrolled in a competition; its token is printed as the last line.
    Add {
        name: String,
        /// The competition's slug.
        #[arg(long)]
        competition: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Issue a new token (printed as the last line, once); the old one stops working.
    Rotate {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke the token: no request with it is accepted any more.
    Revoke {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
pub(crate) enum CompetitionCommand {
    /// Create a live competition.
    Add {
        slug: String,
        #[arg(long)]
        title: String,
        /// Public / private: the fraction of the hidden reals and of each creation's fakes kept
        /// for the private part, shown only after `arena competition reveal` (0 = no split).
        #[arg(long, default_value_t = 0.0)]
        private_fraction: f64,
        /// The split's salt (keep it secret).
        #[arg(long, default_value = "")]
        private_salt: String,
    },
    /// Reveal a competition's private part: the boards then show the private numbers (once; a
    /// second reveal changes nothing).
    Reveal { slug: String },
    /// Add hidden real videos (label 0) to a competition.
    AddReal { slug: String, files: Vec<PathBuf> },
    /// Create a competition from a dataset manifest (datasets/README.md): its hidden real clips,
    /// and with rounds, rounds mode with each task's target clip and phases C1, D1, C2, ….
    Import {
        slug: String,
        /// The dataset's manifest.toml.
        #[arg(long)]
        dataset: PathBuf,
        #[arg(long)]
        title: String,
        /// Length of each phase in hours (the first opens now).
        #[arg(long, default_value_t = 168)]
        phase_hours: u32,
    },
    /// Release a finished competition as a research dataset (organizers, on a running server):
    /// writes DIR/<slug>-release.zip with manifest.json, the fakes and the chosen reals.
    Release {
        slug: String,
        /// Folder the zip is written into (created).
        #[arg(long)]
        out: PathBuf,
        /// Reals to publish: none, all, or a comma-separated list of video ids / sha256 digests.
        #[arg(long, default_value = "none")]
        reals: String,
        /// Replace team names and submission ids (team-N, creation-N, detector-N).
        #[arg(long)]
        anonymise: bool,
        /// Release a competition that has not finished (a live one never does by itself).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
pub(crate) enum DatasetCommand {
    /// Generate deterministic real clips (a moving, blinking, talking face per identity) and
    /// their manifest.
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        identities: usize,
        #[arg(long, default_value_t = 2)]
        clips: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Write a round's creation zip with the baseline face swap.
    Swap {
        /// The dataset's manifest.toml.
        #[arg(long)]
        dataset: PathBuf,
        #[arg(long, default_value_t = 1)]
        round: u32,
        /// crude or careful.
        #[arg(long, default_value = "careful")]
        strength: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the inputs a detector with MANIFEST is fed for each video (the worker's sampler,
    /// BlazeFace crops, the detector's resize and normalisation) as a float32 .npy, plus a .json
    /// index of each video's rows: what the baseline detectors are trained on.
    Inputs {
        /// The detector's manifest.toml.
        #[arg(long)]
        manifest: PathBuf,
        /// The .npy to write (the index goes beside it, extension .json).
        #[arg(long)]
        out: PathBuf,
        /// K: frames sampled per video before the manifest's `frames` are picked.
        #[arg(long, default_value_t = 32)]
        sampler_frames: usize,
        #[arg(required = true)]
        videos: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum TasksCommand {
    /// Print the tasks of the creation rounds that have opened: id, round, donor identity.
    List {
        #[arg(long)]
        competition: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Download each task's target clip into DIR as `<task_id>.mp4`, with `tasks.json` (the list).
    Download {
        #[arg(long)]
        competition: String,
        #[arg(long)]
        out: PathBuf,
        /// Only this task.
        #[arg(long)]
        task: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
pub(crate) enum SubmitCommand {
    /// Upload a fake video.
    Creation {
        file: PathBuf,
        #[arg(long)]
        competition: String,
        #[arg(long)]
        task: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Upload a detector: model.onnx and manifest.toml.
    Detector {
        model: PathBuf,
        manifest: PathBuf,
        #[arg(long)]
        competition: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

impl GlobalArgs {
    pub(crate) fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = Settings::load(self.config.as_deref())?;
        if let Some(d) = &self.data {
            s.data_dir = d.clone();
        }
        if let Some(b) = &self.bind {
            s.bind = b.clone();
        }
        if let Some(u) = &self.database_url {
            s.database_url = Some(u.clone());
        }
        if let Some(st) = &self.storage {
            s.storage = Some(st.clone());
        }
        if let Ok(lib) = std::env::var("ARENA_ORT_LIB") {
            s.ort_lib = Some(PathBuf::from(lib));
        }
        if let Ok(token) = std::env::var("ARENA_METRICS_TOKEN") {
            s.metrics.token = Some(token).filter(|t| !t.is_empty());
        }
        if let Ok(on) = std::env::var("ARENA_METRICS") {
            s.metrics.enabled = !matches!(on.as_str(), "off" | "false" | "0");
        }
        Ok(s)
    }
}
