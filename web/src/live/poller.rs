//! The events poller: one query for all competitions every ~250 ms; each new event invalidates
//! its competition's boards and is broadcast to the SSE clients of this process.

use super::cursor::Cursor;
use super::event::LiveEvent;
use arena::error::RepoError;
use arena::repo::events::{latest_id, since_all};
use sea_orm::DatabaseConnection;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What the poller feeds: the process's live hub (`super::Live`'s state), named by a trait so the
/// poller does not import the hub that starts it.
pub trait Hub: Send + Sync + 'static {
    /// Invalidates the event's boards and broadcasts it.
    fn publish(&self, event: LiveEvent);
}

/// Events read per query; a full page is followed by another read at once.
const PAGE: u64 = 500;

/// Reads everything new since the cursor, page by page, and publishes it.
async fn poll_once(
    live: &impl Hub,
    db: &DatabaseConnection,
    cursor: &mut Cursor,
) -> Result<(), RepoError> {
    let now = Instant::now();
    cursor.expire(now);
    let mut from = cursor.low();
    loop {
        let rows = since_all(db, from, PAGE).await?;
        for row in &rows {
            if cursor.accept(row.id, now) {
                live.publish(LiveEvent::from_model(row));
            }
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == PAGE => from = last.id,
            _ => return Ok(()),
        }
    }
}

/// Runs until the hub is dropped.
pub(super) async fn run<H: Hub>(
    hub: Weak<H>,
    interval: Duration,
    wake: Arc<Notify>,
    db: DatabaseConnection,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cursor: Option<Cursor> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = wake.notified() => {}
        }
        let Some(live) = hub.upgrade() else {
            return;
        };
        let c = match cursor.as_mut() {
            Some(c) => c,
            None => match latest_id(&db).await {
                Ok(id) => cursor.insert(Cursor::new(id)),
                Err(e) => {
                    tracing::warn!(error = %e, "events poller cannot read the log yet");
                    continue;
                }
            },
        };
        if let Err(e) = poll_once(live.as_ref(), &db, c).await {
            tracing::warn!(error = %e, "events poll failed");
        }
    }
}
