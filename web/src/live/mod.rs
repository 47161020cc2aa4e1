//! Live updates: a poller of the `events` table feeds an in-process broadcast (so events
//! appended by out-of-process workers reach every SSE client), and invalidates the board cache.

pub mod cache;
pub mod cursor;
pub mod event;
pub mod poller;
pub mod sse;

use cache::BoardCache;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

pub use event::LiveEvent;

/// Timings of the live machinery.
#[derive(Debug, Clone, Copy)]
pub struct LiveConfig {
    /// How often the poller reads new events (one query for all competitions).
    pub poll_interval: Duration,
    /// How often an idle SSE stream sends a comment, so proxies and clients keep it open.
    pub keepalive: Duration,
    /// A cached board older than this is recomputed (served stale while that runs), for changes
    /// that append no event.
    pub max_age: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            poll_interval: Duration::from_millis(250),
            keepalive: Duration::from_secs(15),
            max_age: Duration::from_secs(5),
        }
    }
}

/// The process's live hub: the broadcast and the board cache. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    cache: BoardCache,
    config: LiveConfig,
    poller_started: AtomicBool,
    /// Wakes the poller at once (this process just appended an event).
    wake: Arc<Notify>,
}

/// Events buffered per slow client before it lags (and replays from the table).
const CHANNEL_CAPACITY: usize = 1024;

impl Live {
    pub fn new(config: LiveConfig) -> Live {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        Live {
            inner: Arc::new(Inner {
                tx,
                cache: BoardCache::new(config.max_age),
                config,
                poller_started: AtomicBool::new(false),
                wake: Arc::new(Notify::new()),
            }),
        }
    }

    pub fn config(&self) -> LiveConfig {
        self.inner.config
    }

    pub fn cache(&self) -> &BoardCache {
        &self.inner.cache
    }

    /// SSE clients subscribed now (`/metrics`).
    pub fn clients(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.inner.tx.subscribe()
    }

    /// Invalidates the competition's boards, then tells every subscriber (in that order, so a
    /// client refetching on the event gets the new board).
    pub fn publish(&self, event: LiveEvent) {
        poller::Hub::publish(self.inner.as_ref(), event);
    }

    /// Polls now instead of at the next tick: called after this process commits an event, so
    /// its own clients hear of it at once (other processes' events wait for the tick).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Starts the events poller on the current runtime, once per hub; later calls do nothing.
    pub fn start_poller(&self, db: sea_orm::DatabaseConnection) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("no async runtime: live updates are off");
            return;
        };
        if self.inner.poller_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let wake = self.inner.wake.clone();
        let interval = self.inner.config.poll_interval;
        runtime.spawn(poller::run(Arc::downgrade(&self.inner), interval, wake, db));
    }
}

impl poller::Hub for Inner {
    fn publish(&self, event: LiveEvent) {
        self.cache.invalidate(event.competition_id);
        // No subscriber is not an error.
        let _ = self.tx.send(Arc::new(event));
    }
}
