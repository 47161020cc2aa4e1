//! `arena up`, `serve`, `worker`, `migrate`, `backup` and `restore`: running the platform and
//! keeping its data.

use super::args::{GlobalArgs, GpuArgs};
use super::open::{open, open_settings};
use crate::context::AppContext;
use crate::demo;
use crate::output::say;
use crate::startup::{Application, spawn_workers};
use std::path::Path;

/// `arena up`: migrate, optionally seed the demo, serve with `workers` in-process slots.
pub(super) async fn up(
    g: &GlobalArgs,
    seed: bool,
    workers: Option<usize>,
    gpu: &GpuArgs,
) -> anyhow::Result<()> {
    let ctx = open_settings(gpu.settings(g)?).await?;
    if seed {
        demo::seed(&ctx).await?;
    }
    let n = slots(workers, ctx.settings());
    serve_with(ctx, n).await
}

/// The worker slots for `--workers` (`ARENA_WORKERS`): as many as given, or one per core when
/// not given or 0, as `workers = 0` means in `arena.toml`. (Until 2026-12-05 a 0 here started
/// no slot at all: a server or worker that took uploads and never evaluated them. A server
/// without slots is `arena serve`.)
fn slots(flag: Option<usize>, settings: &arena::Settings) -> usize {
    flag.filter(|&n| n > 0)
        .unwrap_or_else(|| settings.worker_count())
}

/// `arena serve`: the web app without worker slots.
pub(super) async fn serve(g: &GlobalArgs) -> anyhow::Result<()> {
    serve_with(open(g).await?, 0).await
}

/// `arena worker`: worker slots only, plus the probes and metrics server with `--http`; stops
/// after the running jobs on SIGTERM or Ctrl-C.
pub(super) async fn worker(
    g: &GlobalArgs,
    workers: Option<usize>,
    http: Option<String>,
    gpu: &GpuArgs,
) -> anyhow::Result<()> {
    let ctx = open_settings(gpu.settings(g)?).await?;
    let n = slots(workers, ctx.settings());
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
    claim_scratch(&ctx);
    let pool = spawn_workers(&ctx, n);
    tracing::info!(slots = n, "workers running; Ctrl-C or SIGTERM to stop");
    stop.await;
    pool.stop().await;
    if let Some(handle) = ops {
        handle.stop(true).await;
    }
    Ok(())
}

/// `arena migrate`: opening the arena applies the migrations.
pub(super) async fn migrate(g: &GlobalArgs) -> anyhow::Result<()> {
    open(g).await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// `arena backup --out ZIP`.
pub(super) async fn backup(g: &GlobalArgs, out: &Path) -> anyhow::Result<()> {
    let m = crate::backup::backup(&g.settings()?, out).await?;
    say(&format!(
        "backup written to {}: database {} bytes, {} objects ({} bytes)",
        out.display(),
        m.database_bytes,
        m.objects,
        m.object_bytes
    ));
    Ok(())
}

/// `arena restore ZIP [--force]`.
pub(super) async fn restore(g: &GlobalArgs, archive: &Path, force: bool) -> anyhow::Result<()> {
    let settings = g.settings()?;
    let m = crate::backup::restore(&settings, archive, force).await?;
    say(&format!(
        "restored into {}: {} objects; `arena up` or `arena serve` opens it",
        settings.data_dir.display(),
        m.objects
    ));
    Ok(())
}

async fn serve_with(ctx: AppContext, workers: usize) -> anyhow::Result<()> {
    clean_uploads(&ctx.settings().upload_dir());
    claim_scratch(&ctx);
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
fn clean_uploads(dir: &Path) {
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

/// Takes this process's scratch folder now, which removes those of ended processes (a killed
/// server's job folders, children's folders and handed caches: `arena::scratch`); a running
/// process's folder is left alone.
fn claim_scratch(ctx: &AppContext) {
    if let Err(e) = arena::scratch::dir(&ctx.settings().data_dir) {
        tracing::warn!(error = %e, "cannot make this process's scratch folder");
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

#[cfg(test)]
mod tests {
    use super::slots;

    #[test]
    fn zero_workers_means_one_per_core_as_in_the_settings() {
        let settings = arena::Settings::default();
        let per_core = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(slots(None, &settings), per_core);
        assert_eq!(slots(Some(0), &settings), per_core);
        assert_eq!(slots(Some(3), &settings), 3);
        let three = arena::Settings {
            workers: 3,
            ..arena::Settings::default()
        };
        assert_eq!(slots(Some(0), &three), 3);
        assert_eq!(slots(Some(1), &three), 1);
    }
}
