//! Building and running the application: the HTTP server on a bound port, plus in-process
//! worker slots when asked (`arena up`).

use crate::context::AppContext;
use crate::error::{
    form_error_handler, json_error_handler, path_error_handler, query_error_handler,
};
use crate::routes;
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing_actix_web::TracingLogger;

/// A bound, not yet running server (port 0 in tests picks a free port).
pub struct Application {
    port: u16,
    server: Server,
    ctx: AppContext,
}

impl Application {
    pub fn build(ctx: AppContext) -> std::io::Result<Application> {
        let listener = TcpListener::bind(&ctx.settings().bind)?;
        let port = listener.local_addr()?.port();
        let data = web::Data::new(ctx.clone());
        // Events appended by any process (workers elsewhere included) reach this server's clients.
        ctx.live().start_poller(ctx.db().clone());
        crate::webhooks::start_sender(ctx.clone());
        let http_workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4);
        crate::metrics::install();
        let server = HttpServer::new(move || {
            App::new()
                // Inside the tracing span (wrapped first = runs innermost), so it sees the
                // request id.
                .wrap(actix_web::middleware::from_fn(crate::observe::observe))
                .wrap(crate::security_headers::headers())
                .wrap(TracingLogger::default())
                .app_data(data.clone())
                .app_data(web::Data::new(routes::docs::Document(
                    crate::openapi::json(),
                )))
                .app_data(
                    web::JsonConfig::default()
                        .limit(64 * 1024)
                        .error_handler(json_error_handler),
                )
                .app_data(web::PathConfig::default().error_handler(path_error_handler))
                .app_data(web::QueryConfig::default().error_handler(query_error_handler))
                .app_data(web::FormConfig::default().error_handler(form_error_handler))
                .configure(routes::config)
        })
        .workers(http_workers)
        .listen(listener)?
        .run();
        Ok(Application { port, server, ctx })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn context(&self) -> &AppContext {
        &self.ctx
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The small HTTP server of `arena worker --http ADDR`: `/healthz`, `/readyz` and `/metrics`
/// (this process's job metrics, then the fleet's) for probes and scrapers, and no API. It
/// leaves signals to the worker, which stops it after its slots.
pub fn ops_server(ctx: &AppContext, bind: &str) -> std::io::Result<(u16, Server)> {
    crate::metrics::install();
    let listener = TcpListener::bind(bind)?;
    let port = listener.local_addr()?.port();
    let data = web::Data::new(ctx.clone());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(crate::observe::observe))
            .wrap(TracingLogger::default())
            .app_data(data.clone())
            .route("/healthz", web::get().to(routes::health::get))
            .route("/readyz", web::get().to(routes::health::ready))
            .route("/metrics", web::get().to(routes::metrics::get))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((port, server))
}

/// In-process worker slots, stopped together.
pub struct WorkerPool {
    shutdown: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

/// Starts `n` worker slots on the current runtime; slot i gets the i-th of `[evaluation] gpus`
/// (round-robin) as its CUDA device.
pub fn spawn_workers(ctx: &AppContext, n: usize) -> WorkerPool {
    let (tx, rx) = watch::channel(false);
    // The id names this process's incarnation, so a successor on this machine can tell that
    // the slot is dead and take its jobs back without waiting its lease out.
    let me = arena::incarnation::Incarnation::current();
    let handles = (0..n)
        .map(|slot| {
            let id = me.holder(&format!("{slot}:{}", uuid::Uuid::new_v4().simple()));
            let mut worker = ctx.worker_context();
            worker.settings.evaluation = worker.settings.evaluation.for_slot(slot);
            let e = &worker.settings.evaluation;
            if e.execution_provider.eq_ignore_ascii_case("cuda") {
                tracing::info!(slot, device = e.cuda_device(), "worker slot on CUDA");
            }
            tokio::spawn(arena_worker::job_loop::run_slot(worker, id, rx.clone()))
        })
        .collect();
    WorkerPool {
        shutdown: tx,
        handles,
    }
}

impl WorkerPool {
    /// Asks every slot to stop after its current job and waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}
