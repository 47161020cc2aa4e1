//! One event of the `events` table as the live machinery passes it on: its SSE frame rendered once.

use actix_web::web::Bytes;
use arena::entities::events;

/// One event of the log, with its SSE frame rendered once for every client.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub id: i64,
    pub competition_id: i64,
    pub kind: String,
    /// `id: …\ndata: {json}\n\n`.
    pub frame: Bytes,
}

impl LiveEvent {
    pub fn from_model(e: &events::Model) -> LiveEvent {
        // The payload was written as JSON; anything else is passed on as a string.
        let payload = serde_json::from_str::<serde_json::Value>(&e.payload)
            .unwrap_or_else(|_| serde_json::Value::String(e.payload.clone()));
        let data = serde_json::json!({
            "id": e.id,
            "kind": e.kind,
            "competition_id": e.competition_id,
            "payload": payload,
            "at_ms": e.created_at_ms,
        });
        LiveEvent {
            id: e.id,
            competition_id: e.competition_id,
            kind: e.kind.clone(),
            frame: Bytes::from(format!("id: {}\ndata: {data}\n\n", e.id)),
        }
    }
}
