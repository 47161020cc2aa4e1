//! One SSE client's stream: replay from the events table after `Last-Event-ID`, then the live
//! broadcast (falling back to the table when the client lags), with keep-alive comments.

use super::{Live, LiveEvent};
use actix_web::web::Bytes;
use arena::repo;
use futures::Stream;
use sea_orm::DatabaseConnection;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// Events replayed per query.
const REPLAY_PAGE: u64 = 500;
/// Ids remembered per client to skip what was already sent (replay and broadcast overlap).
const SENT_MEMORY: usize = 4096;
/// What a client is told to wait before reconnecting.
const RETRY_MS: u32 = 2000;

struct Client {
    rx: broadcast::Receiver<Arc<LiveEvent>>,
    db: DatabaseConnection,
    competition_id: i64,
    /// Replay from the table after this id before anything else (`Last-Event-ID`).
    replay_after: Option<i64>,
    pending: VecDeque<Bytes>,
    sent: BTreeSet<i64>,
    keepalive: Interval,
}

impl Client {
    fn remember(&mut self, id: i64) -> bool {
        let new = self.sent.insert(id);
        while self.sent.len() > SENT_MEMORY {
            self.sent.pop_first();
        }
        new
    }

    /// Queues the competition's events after `after` from the table.
    async fn replay(&mut self, mut after: i64) -> Result<(), arena::RepoError> {
        loop {
            let rows =
                repo::events::since(&self.db, self.competition_id, after, REPLAY_PAGE).await?;
            for row in &rows {
                after = after.max(row.id);
                if self.remember(row.id) {
                    self.pending.push_back(LiveEvent::from_model(row).frame);
                }
            }
            if (rows.len() as u64) < REPLAY_PAGE {
                return Ok(());
            }
        }
    }

    /// The next chunk to send, or None when the hub is gone.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(after) = self.replay_after.take()
                && let Err(e) = self.replay(after).await
            {
                tracing::warn!(error = %e, "SSE replay failed");
                return None;
            }
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            tokio::select! {
                received = self.rx.recv() => match received {
                    Ok(event) => {
                        if event.competition_id == self.competition_id && self.remember(event.id) {
                            self.pending.push_back(event.frame.clone());
                            self.keepalive.reset();
                        }
                    }
                    // Too slow for the broadcast: read what was missed from the table.
                    Err(RecvError::Lagged(_)) => self.replay_after = self.sent.last().copied(),
                    Err(RecvError::Closed) => return None,
                },
                _ = self.keepalive.tick() => return Some(Bytes::from_static(b": keep-alive\n\n")),
            }
        }
    }
}

/// The SSE body for one client of `competition_id`, resuming after `last_event_id` if given.
pub fn stream(
    live: &Live,
    db: DatabaseConnection,
    competition_id: i64,
    last_event_id: Option<i64>,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> + 'static {
    // Subscribed before the replay query: nothing committed in between is missed.
    let rx = live.subscribe();
    let period = live.config().keepalive;
    let mut keepalive = tokio::time::interval_at(Instant::now() + period, period);
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut pending = VecDeque::new();
    pending.push_back(Bytes::from(format!("retry: {RETRY_MS}\n: connected\n\n")));
    let client = Client {
        rx,
        db,
        competition_id,
        replay_after: last_event_id,
        pending,
        sent: BTreeSet::new(),
        keepalive,
    };
    futures::stream::unfold(client, |mut c| async move {
        let chunk = c.next_chunk().await?;
        Some((Ok(chunk), c))
    })
}
