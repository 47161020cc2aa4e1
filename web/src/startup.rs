//! Building and running the application: the HTTP server on a bound port, plus in-process
//! worker slots when asked (`arena up`).

use crate::context::AppContext;
use crate::error::json_error_handler;
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
        let http_workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(data.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(64 * 1024)
                        .error_handler(json_error_handler),
                )
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

/// In-process worker slots, stopped together.
pub struct WorkerPool {
    shutdown: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

/// Starts `n` worker slots on the current runtime.
pub fn spawn_workers(ctx: &AppContext, n: usize) -> WorkerPool {
    let (tx, rx) = watch::channel(false);
    // The id names this process's incarnation, so a successor on this machine can tell that
    // the slot is dead and take its jobs back without waiting its lease out.
    let me = arena::incarnation::Incarnation::current();
    let handles = (0..n)
        .map(|slot| {
            let id = me.holder(&format!("{slot}:{}", uuid::Uuid::new_v4().simple()));
            tokio::spawn(arena_worker::job_loop::run_slot(
                ctx.worker_context(),
                id,
                rx.clone(),
            ))
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
