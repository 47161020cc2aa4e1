//! The events poller: one query for all competitions every ~250 ms; each new event invalidates
//! its competition's boards and is broadcast to the SSE clients of this process.

use super::cursor::Cursor;
use super::{Inner, Live, LiveEvent};
use arena::error::RepoError;
use arena::repo::events::{latest_id, since_all};
use sea_orm::DatabaseConnection;
use std::sync::{Arc, Weak};
use std::time::Instant;
use tokio::sync::Notify;

/// Events read per query; a full page is followed by another read at once.
const PAGE: u64 = 500;

/// Reads everything new since the cursor, page by page, and publishes it.
async fn poll_once(
    live: &Live,
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
pub(super) async fn run(hub: Weak<Inner>, wake: Arc<Notify>, db: DatabaseConnection) {
    let Some(interval) = hub.upgrade().map(|h| h.config.poll_interval) else {
        return;
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cursor: Option<Cursor> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = wake.notified() => {}
        }
        let Some(inner) = hub.upgrade() else {
            return;
        };
        let live = Live::from_inner(inner);
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
        if let Err(e) = poll_once(&live, &db, c).await {
            tracing::warn!(error = %e, "events poll failed");
        }
    }
}
