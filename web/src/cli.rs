//! The `arena` command line: one binary for the server, the workers, organizer chores and the
//! teams' client. Global flags have `ARENA_*` env equivalents.

mod args;

use crate::admin::{self, TeamSpec};
use crate::context::AppContext;
use crate::startup::{Application, spawn_workers};
use crate::upload::UploadedFile;
use crate::{client, demo, ingest_video};
use anyhow::Context;
use arena::Settings;
use arena::domain::Role;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

use args::*;

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
    let opts = arena::offline::OfflineOptions {
        preset: preset.map(str::parse).transpose()?,
        ratings_csv,
        bootstrap,
        seed,
        ..arena::offline::OfflineOptions::default()
    };
    let report = arena::offline::score_pairs_csv(&pairs, &opts)?;
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

pub use crate::output::say;
