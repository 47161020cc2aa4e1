//! The boards cache: one computed snapshot per competition (its default round), rebuilt on
//! demand after an event invalidates it. Requests after an event wait for the new snapshot;
//! a snapshot that only aged (changes that append no event, a phase boundary passing) is
//! served stale to everyone but the one request recomputing it.

use crate::error::ApiError;
use actix_web::web::Bytes;
use arena::boards::Boards;
use arena::entities::{competitions, phases};
use arena::time::now_ms;
use sea_orm::ConnectionTrait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A competition's boards as served: the JSON bytes, and what the page needs beside them.
#[derive(Debug)]
pub struct BoardSnapshot {
    pub boards: Boards,
    /// `boards` serialized, served as is by the API.
    pub json: Bytes,
    /// Hidden real videos in scope.
    pub real_videos: usize,
    pub phases: Vec<phases::Model>,
    pub computed_at_ms: i64,
    /// The next phase opening or closing: the current round may change then.
    next_boundary_ms: Option<i64>,
}

impl BoardSnapshot {
    /// Computes the boards from the database (`arena::boards::compute`).
    #[tracing::instrument(skip_all, fields(competition = %comp.slug), err)]
    pub async fn compute<C: ConnectionTrait>(
        db: &C,
        comp: &competitions::Model,
    ) -> Result<BoardSnapshot, ApiError> {
        let now = now_ms();
        let boards = arena::boards::compute(db, comp, None).await?;
        let json = Bytes::from(serde_json::to_vec(&boards).map_err(ApiError::internal)?);
        let real_videos = arena::evaluation::board_input(db, comp.id)
            .await?
            .real_video_ids
            .len();
        let phases = arena::repo::phases::list(db, comp.id).await?;
        let next_boundary_ms = phases
            .iter()
            .flat_map(|p| [p.opens_at_ms, p.closes_at_ms])
            .filter(|t| *t > now)
            .min();
        Ok(BoardSnapshot {
            boards,
            json,
            real_videos,
            phases,
            computed_at_ms: now,
            next_boundary_ms,
        })
    }
}

struct Slot {
    generation: u64,
    computed: Instant,
    snapshot: Arc<BoardSnapshot>,
}

#[derive(Default)]
struct State {
    /// Bumped by every event of the competition.
    generations: HashMap<i64, u64>,
    slots: HashMap<i64, Slot>,
    /// One computation at a time per competition.
    locks: HashMap<i64, Arc<tokio::sync::Mutex<()>>>,
}

enum Lookup {
    Fresh(Arc<BoardSnapshot>),
    Aged(Arc<BoardSnapshot>),
    Missing,
}

pub struct BoardCache {
    max_age: Duration,
    state: Mutex<State>,
}

impl BoardCache {
    pub fn new(max_age: Duration) -> BoardCache {
        BoardCache {
            max_age,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain maps behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the competition's snapshot out of date.
    pub fn invalidate(&self, competition_id: i64) {
        *self.state().generations.entry(competition_id).or_default() += 1;
    }

    fn lookup(&self, id: i64) -> Lookup {
        let st = self.state();
        let generation = st.generations.get(&id).copied().unwrap_or_default();
        match st.slots.get(&id) {
            Some(slot) if slot.generation == generation => {
                let aged = slot.computed.elapsed() >= self.max_age
                    || slot
                        .snapshot
                        .next_boundary_ms
                        .is_some_and(|t| now_ms() >= t);
                if aged {
                    Lookup::Aged(slot.snapshot.clone())
                } else {
                    Lookup::Fresh(slot.snapshot.clone())
                }
            }
            _ => Lookup::Missing,
        }
    }

    fn lock(&self, id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.state().locks.entry(id).or_default().clone()
    }

    /// The competition's current snapshot, computed when missing or invalidated.
    pub async fn get<C: ConnectionTrait>(
        &self,
        db: &C,
        comp: &competitions::Model,
    ) -> Result<Arc<BoardSnapshot>, ApiError> {
        match self.lookup(comp.id) {
            Lookup::Fresh(s) => return Ok(s),
            Lookup::Aged(stale) => {
                let lock = self.lock(comp.id);
                return match lock.try_lock() {
                    Ok(_guard) => self.refresh(db, comp).await,
                    Err(_) => Ok(stale),
                };
            }
            Lookup::Missing => {}
        }
        let lock = self.lock(comp.id);
        let _guard = lock.lock().await;
        if let Lookup::Fresh(s) = self.lookup(comp.id) {
            return Ok(s);
        }
        self.refresh(db, comp).await
    }

    async fn refresh<C: ConnectionTrait>(
        &self,
        db: &C,
        comp: &competitions::Model,
    ) -> Result<Arc<BoardSnapshot>, ApiError> {
        let generation = self
            .state()
            .generations
            .get(&comp.id)
            .copied()
            .unwrap_or_default();
        let snapshot = Arc::new(BoardSnapshot::compute(db, comp).await?);
        let mut st = self.state();
        // An event during the computation makes it stale already: serve it once, keep none.
        if st.generations.get(&comp.id).copied().unwrap_or_default() == generation {
            st.slots.insert(
                comp.id,
                Slot {
                    generation,
                    computed: Instant::now(),
                    snapshot: snapshot.clone(),
                },
            );
        }
        Ok(snapshot)
    }
}
