//! The `arena` command line: one binary for the server, the workers, organizer chores and the
//! teams' client. Global flags have `ARENA_*` env equivalents.

use crate::admin::{self, TeamSpec};
use crate::context::AppContext;
use crate::startup::{Application, spawn_workers};
use crate::upload::UploadedFile;
use crate::{client, demo, ingest_video};
use anyhow::Context;
use arena::Settings;
use arena::domain::Role;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "arena",
    version,
    about = "Deepfake Arena: creators vs detectors, scored live"
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct GlobalArgs {
    /// Data directory (SQLite file, local objects, uploads in flight).
    #[arg(long = "data", env = "ARENA_DATA_DIR", global = true)]
    data: Option<PathBuf>,
    /// Address the web server listens on.
    #[arg(long, env = "ARENA_BIND", global = true)]
    bind: Option<String>,
    /// Database URL (sqlite://… or postgres://…); default SQLite in the data dir.
    #[arg(long = "database-url", env = "ARENA_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Object store URL (file:///abs/dir); default <data>/objects.
    #[arg(long, env = "ARENA_STORAGE", global = true)]
    storage: Option<String>,
    /// Optional arena.toml; flags and env override it.
    #[arg(long, env = "ARENA_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log lines on stderr: text, or one JSON object per line with the request, job and
    /// submission ids.
    #[arg(
        long,
        env = "ARENA_LOG_FORMAT",
        global = true,
        value_enum,
        default_value_t
    )]
    log_format: crate::telemetry::LogFormat,
}

/// Where sessions run (`[evaluation] execution_provider`, `gpus`).
#[derive(Args, Clone)]
struct GpuArgs {
    /// onnxruntime execution provider: cpu or cuda (CUDA falls back to the CPU, with a warning
    /// naming the reason, where it cannot start).
    #[arg(long, env = "ARENA_EXECUTION_PROVIDER")]
    execution_provider: Option<String>,
    /// CUDA devices, e.g. 0,1: worker slots get them round-robin and each evaluation child sees
    /// only its own (`arena eval` uses the first). Implies --execution-provider cuda.
    #[arg(long, env = "ARENA_GPUS")]
    gpus: Option<String>,
}

impl GpuArgs {
    /// Writes the flags into `settings` (a bad value is an error, not a silent CPU run).
    fn apply(&self, settings: &mut Settings) -> anyhow::Result<()> {
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
struct ClientArgs {
    /// Server base URL.
    #[arg(long, env = "ARENA_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Team token (printed by `arena team add`).
    #[arg(long, env = "ARENA_TOKEN")]
    token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, then serve the web app with in-process workers (one machine).
    Up {
        /// Seed the demo competition `demo` first.
        #[arg(long)]
        demo: bool,
        /// Worker slots (default: one per core).
        #[arg(long, env = "ARENA_WORKERS")]
        workers: Option<usize>,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Serve the web app only (scale-out: workers run elsewhere).
    Serve,
    /// Run worker slots only (scale-out).
    Worker {
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
enum TeamCommand {
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
enum RaterCommand {
    /// Create a rater account enrolled in a competition; its token is printed as the last line.
    Add {
        name: String,
        /// The competition's slug.
        #[arg(long)]
        competition: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
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
enum CompetitionCommand {
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
enum DatasetCommand {
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
enum TasksCommand {
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
enum SubmitCommand {
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
    fn settings(&self) -> anyhow::Result<Settings> {
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

/// Parses the command line, runs it, and turns errors into a message and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open(global: &GlobalArgs) -> anyhow::Result<AppContext> {
    open_settings(global.settings()?).await
}

/// [`open`] with settings the command has adjusted (e.g. by [`GpuArgs`]).
async fn open_settings(settings: Settings) -> anyhow::Result<AppContext> {
    tracing::info!(
        data = %settings.data_dir.display(),
        database = %arena::config::redact_url(&settings.database_url()),
        "opening"
    );
    AppContext::open(settings)
        .await
        .context("cannot open the arena")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let g = cli.global;
    match cli.command {
        Command::Up {
            demo: seed,
            workers,
            gpu,
        } => {
            let mut settings = g.settings()?;
            gpu.apply(&mut settings)?;
            let ctx = open_settings(settings).await?;
            if seed {
                demo::seed(&ctx).await?;
            }
            let n = workers.unwrap_or_else(|| ctx.settings().worker_count());
            serve(ctx, n).await
        }
        Command::Serve => serve(open(&g).await?, 0).await,
        Command::Worker { workers, http, gpu } => {
            let mut settings = g.settings()?;
            gpu.apply(&mut settings)?;
            let ctx = open_settings(settings).await?;
            let n = workers.unwrap_or_else(|| ctx.settings().worker_count());
            let ops = match &http {
                Some(bind) => {
                    let (port, server) = crate::startup::ops_server(&ctx, bind)?;
                    tracing::info!(port, "worker probes and metrics on http://{bind}");
                    let handle = server.handle();
                    tokio::spawn(server);
                    Some(handle)
                }
                None => None,
            };
            let stop = shutdown_signal();
            let pool = spawn_workers(&ctx, n);
            tracing::info!(slots = n, "workers running; Ctrl-C or SIGTERM to stop");
            stop.await;
            pool.stop().await;
            if let Some(handle) = ops {
                handle.stop(true).await;
            }
            Ok(())
        }
        Command::Backup { out } => {
            let m = crate::backup::backup(&g.settings()?, &out).await?;
            say(&format!(
                "backup written to {}: database {} bytes, {} objects ({} bytes)",
                out.display(),
                m.database_bytes,
                m.objects,
                m.object_bytes
            ));
            Ok(())
        }
        Command::Restore { archive, force } => {
            let settings = g.settings()?;
            let m = crate::backup::restore(&settings, &archive, force).await?;
            say(&format!(
                "restored into {}: {} objects; `arena up` or `arena serve` opens it",
                settings.data_dir.display(),
                m.objects
            ));
            Ok(())
        }
        Command::Migrate => {
            open(&g).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Team(TeamCommand::Add {
            name,
            role,
            admin,
            baseline,
        }) => {
            let ctx = open(&g).await?;
            let role = Role::parse_team(&role).context("role must be creator, detector or both")?;
            let spec = TeamSpec {
                name,
                role,
                admin,
                baseline,
            };
            let (team, token) = admin::create_team(&ctx, &spec).await?;
            eprintln!(
                "team {} created (id {}, role {})",
                team.name, team.id, team.role
            );
            say(&token);
            Ok(())
        }
        Command::Rater(RaterCommand::Add { name, competition }) => {
            let ctx = open(&g).await?;
            let comp = admin::competition(&ctx, &competition).await?;
            let (team, token) = admin::create_rater(&ctx, &comp, &name).await?;
            eprintln!(
                "rater {} created for {} (id {}); it rates at /rate/{}",
                team.name, comp.slug, team.id, comp.slug
            );
            say(&token);
            Ok(())
        }
        Command::Team(TeamCommand::Token(TokenCommand::Rotate { name, client })) => {
            client::rotate_token(&client.server, client.token.as_deref(), &name).await
        }
        Command::Team(TeamCommand::Token(TokenCommand::Revoke { name, client })) => {
            client::revoke_token(&client.server, client.token.as_deref(), &name).await
        }
        Command::Tasks(TasksCommand::List {
            competition,
            client,
        }) => client::tasks_list(&client.server, client.token.as_deref(), &competition).await,
        Command::Tasks(TasksCommand::Download {
            competition,
            out,
            task,
            client,
        }) => {
            let tok = client.token.as_deref();
            client::tasks_download(&client.server, tok, &competition, &out, task.as_deref()).await
        }
        Command::Purge {
            competition,
            out,
            force,
        } => crate::purge::run(&open(&g).await?, &competition, &out, force).await,
        Command::Competition(CompetitionCommand::Add {
            slug,
            title,
            private_fraction,
            private_salt,
        }) => {
            let ctx = open(&g).await?;
            let mut spec = admin::CompetitionSpec::live(&slug, &title);
            spec.settings.private_fraction = private_fraction;
            spec.settings.private_salt = private_salt;
            let comp = admin::create_competition(&ctx, &spec).await?;
            say(&format!("competition {} created", comp.slug));
            Ok(())
        }
        Command::Competition(CompetitionCommand::Reveal { slug }) => {
            let ctx = open(&g).await?;
            let comp = admin::competition(&ctx, &slug).await?;
            let done = arena::split::reveal(ctx.db(), comp.id).await?;
            let at = crate::views::time(done.revealed_at_ms);
            if done.changed {
                say(&format!("{slug}: private part revealed at {at}"));
            } else {
                say(&format!("{slug}: already revealed at {at}"));
            }
            Ok(())
        }
        Command::Competition(CompetitionCommand::AddReal { slug, files }) => {
            let ctx = open(&g).await?;
            add_reals(&ctx, &slug, &files).await
        }
        Command::Competition(CompetitionCommand::Import {
            slug,
            dataset,
            title,
            phase_hours,
        }) => {
            let ctx = open(&g).await?;
            let done =
                crate::import::import_dataset(&ctx, &slug, &title, &dataset, phase_hours).await?;
            say(&format!(
                "competition {} created ({} mode): {} hidden reals, {} tasks, {} phases",
                done.competition.slug,
                done.competition.mode,
                done.hidden_reals,
                done.tasks,
                done.phases
            ));
            Ok(())
        }
        Command::Competition(CompetitionCommand::Release {
            slug,
            out,
            reals,
            anonymise,
            force,
            client,
        }) => {
            let opts = client::ReleaseArgs {
                reals,
                anonymise,
                force,
            };
            client::release(&client.server, client.token.as_deref(), &slug, &out, &opts).await
        }
        Command::Submit(SubmitCommand::Creation {
            file,
            competition,
            task,
            client,
        }) => {
            client::submit_creation(
                &client.server,
                client.token.as_deref(),
                &competition,
                &file,
                task.as_deref(),
            )
            .await
        }
        Command::Submit(SubmitCommand::Detector {
            model,
            manifest,
            competition,
            client,
        }) => {
            client::submit_detector(
                &client.server,
                client.token.as_deref(),
                &competition,
                &model,
                &manifest,
            )
            .await
        }
        Command::Status { id, watch, client } => {
            client::status(&client.server, client.token.as_deref(), id, watch).await
        }
        Command::Leaderboard { slug, client } => client::leaderboard(&client.server, &slug).await,
        Command::Dataset(cmd) => tokio::task::spawn_blocking(move || dataset(cmd)).await?,
        Command::Eval {
            videos,
            detectors,
            out,
            parallel,
            intra_threads,
            gpu,
        } => {
            let threads = (parallel, intra_threads);
            let mut settings = g.settings()?;
            gpu.apply(&mut settings)?;
            eval(settings, videos, &detectors, out.as_deref(), threads).await
        }
        Command::Score {
            input,
            preset,
            ratings,
            bootstrap,
            seed,
        } => score(
            &input,
            preset.as_deref(),
            ratings.as_deref(),
            bootstrap,
            seed,
        ),
    }
}

/// `arena dataset …`: blocking work (FFmpeg, onnxruntime), run off the executor.
fn dataset(cmd: DatasetCommand) -> anyhow::Result<()> {
    match cmd {
        DatasetCommand::Synth {
            out,
            identities,
            clips,
            seed,
        } => {
            let ds = arena_datasets::synth::generate(&out, identities, clips, seed)?;
            say(&format!(
                "{} clips, manifest {}",
                ds.clips.len(),
                ds.manifest_path.display()
            ));
        }
        DatasetCommand::Swap {
            dataset,
            round,
            strength,
            out,
        } => {
            let strength = match strength.as_str() {
                "crude" => arena_datasets::swap::Strength::Crude,
                "careful" => arena_datasets::swap::Strength::Careful,
                other => anyhow::bail!("--strength must be crude or careful, not {other:?}"),
            };
            let ds = arena_datasets::load(&dataset)?;
            let rt = arena_worker::OrtRuntime::init(&arena_worker::OrtRuntime::default_lib_path())?;
            let mut faces = arena_worker::FaceDetector::load(
                &rt,
                &arena_worker::faces::model_path(None),
                &arena_worker::SessionOptions::default(),
            )?;
            let n = arena_datasets::swap::swap_round(&mut faces, &ds, round, strength, &out)?;
            say(&format!("{n} videos written to {}", out.display()));
        }
        DatasetCommand::Inputs {
            manifest,
            out,
            sampler_frames,
            videos,
        } => dataset_inputs(&manifest, &out, sampler_frames, &videos)?,
    }
    Ok(())
}

/// `arena dataset inputs`: the server's default sizes, K frames, one decode per video.
fn dataset_inputs(
    manifest: &std::path::Path,
    out: &std::path::Path,
    sampler_frames: usize,
    videos: &[PathBuf],
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let manifest = arena_worker::Manifest::parse(&text)?;
    let mut eval = arena::Settings::default().evaluation;
    eval.sampler_frames = sampler_frames;
    let plan = arena_worker::pipeline::PreparePlan::from_settings(&eval);
    let rt = arena_worker::OrtRuntime::init(&arena_worker::OrtRuntime::default_lib_path())?;
    let mut faces = arena_worker::FaceDetector::load(
        &rt,
        &arena_worker::faces::model_path(None),
        &arena_worker::SessionOptions::default(),
    )?;
    let done = arena_datasets::model_inputs::export(&mut faces, &plan, &manifest, videos, out)?;
    say(&format!(
        "{} inputs of {} videos written to {}",
        done.rows,
        done.videos.len(),
        out.display()
    ));
    Ok(())
}

/// `arena eval`: the pipeline offline; exit status 1 when any video or pair failed.
async fn eval(
    settings: Settings,
    videos: Vec<PathBuf>,
    detectors: &[String],
    out: Option<&std::path::Path>,
    (parallel, intra_threads): (usize, usize),
) -> anyhow::Result<()> {
    let pairs = detectors
        .iter()
        .map(|d| {
            d.rsplit_once(':')
                .map(|(m, t)| (PathBuf::from(m), PathBuf::from(t)))
                .with_context(|| format!("--detector {d:?} must be MODEL.onnx:MANIFEST.toml"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opts = arena_worker::eval::EvalOptions {
        parallel,
        intra_threads,
        ..arena_worker::eval::EvalOptions::from_settings(&settings)
    };
    let report = tokio::task::spawn_blocking(move || {
        arena_worker::eval::evaluate_offline(&videos, &pairs, &opts)
    })
    .await??;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = out {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    say(&json);
    let failed = report
        .videos
        .iter()
        .any(|v| v.error.is_some() || v.scores.iter().any(|s| s.error.is_some()));
    anyhow::ensure!(!failed, "some videos or pairs failed (see the report)");
    Ok(())
}

/// `arena score`: the offline scorer over a pairs CSV.
fn score(
    input: &std::path::Path,
    preset: Option<&str>,
    ratings: Option<&std::path::Path>,
    bootstrap: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let pairs = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let ratings_csv = match ratings {
        Some(p) => Some(
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        None => None,
    };
    let opts = arena::scoring::OfflineOptions {
        preset: preset.map(str::parse).transpose()?,
        ratings_csv,
        bootstrap,
        seed,
        ..arena::scoring::OfflineOptions::default()
    };
    let report = arena::scoring::score_pairs_csv(&pairs, &opts)?;
    say(&serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Adds real videos as the organizer team `organizers` (created if missing).
async fn add_reals(ctx: &AppContext, slug: &str, files: &[PathBuf]) -> anyhow::Result<()> {
    let comp = admin::competition(ctx, slug).await?;
    let team = demo::organizer_team(ctx).await?;
    for f in files {
        let upload = UploadedFile::from_path(
            f,
            &ctx.settings().upload_dir(),
            ctx.settings().limits.max_video_bytes,
        )?;
        let sub = ingest_video::ingest_real(ctx, &comp, team.id, upload).await?;
        say(&format!("{} → submission {}", f.display(), sub.id));
    }
    Ok(())
}

async fn serve(ctx: AppContext, workers: usize) -> anyhow::Result<()> {
    clean_uploads(&ctx.settings().upload_dir());
    let app = Application::build(ctx.clone())?;
    tracing::info!(
        port = app.port(),
        workers,
        "serving http://{}",
        ctx.settings().bind
    );
    let pool = spawn_workers(&ctx, workers);
    let result = app.run_until_stopped().await;
    pool.stop().await;
    Ok(result?)
}

/// Removes uploads a previous server process was receiving when it died: they were never
/// validated, so no row or object refers to them. The upload dir belongs to the web server.
fn clean_uploads(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => tracing::info!(path = %path.display(), "removed an upload left by a crash"),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not remove a stale upload")
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when the
/// future is first polled: a SIGTERM that arrives while the workers start must not kill the
/// process with a job half done.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate()).and_then(|t| Ok((t, signal(SignalKind::interrupt())?)))
    };
    async move {
        #[cfg(unix)]
        if let Ok((mut term, mut int)) = handlers {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Prints a result line on stdout (the CLI's output, as opposed to logs on stderr).
#[expect(clippy::print_stdout, reason = "the CLI's output")]
pub fn say(line: &str) {
    println!("{line}");
}
