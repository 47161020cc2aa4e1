//! Waking idle workers when jobs arrive: on PostgreSQL every enqueue sends `NOTIFY arena_jobs`
//! (delivered at commit) and each worker process LISTENs; on SQLite (one machine) workers poll.
//! Polling stays on as the fallback either way (a lost connection re-LISTENs after a pause).

use sea_orm::{DatabaseConnection, DbBackend};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The channel enqueues notify on.
pub const CHANNEL: &str = "arena_jobs";

/// Wakes this process's idle worker slots.
#[derive(Clone, Default)]
pub struct Wakeup {
    notify: Arc<Notify>,
}

impl Wakeup {
    /// Starts listening (PostgreSQL) in the background; a no-op listener on SQLite.
    pub fn start(db: &DatabaseConnection) -> Wakeup {
        let wakeup = Wakeup::default();
        if db.get_database_backend() == DbBackend::Postgres {
            let pool = db.get_postgres_connection_pool().clone();
            let notify = wakeup.notify.clone();
            tokio::spawn(async move { listen(pool, notify).await });
        }
        wakeup
    }

    /// Resolves when a job may have arrived after this call: the future registers at once, so a
    /// slot that takes it before looking for work cannot miss a ping sent while it looks (a
    /// `notify_waiters` reaches only futures that exist when it is sent).
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// Wakes the local slots (e.g. after an in-process enqueue).
    pub fn ping(&self) {
        self.notify.notify_waiters();
    }
}

async fn listen(pool: sea_orm::sqlx::PgPool, notify: Arc<Notify>) {
    loop {
        match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed; polling only");
                } else {
                    while listener.recv().await.is_ok() {
                        notify.notify_waiters();
                    }
                    tracing::warn!("job notifications lost; reconnecting");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for jobs; polling only"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
