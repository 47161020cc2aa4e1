//! Where the poller stands in the events table. Ids come from a sequence, and on PostgreSQL a
//! transaction holding a lower id can commit after a higher one is visible: ids skipped over are
//! kept as gaps for a while and read again, so a late event is still delivered once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a skipped id is waited for (then it was a rolled-back transaction).
pub const GAP_TTL: Duration = Duration::from_secs(10);
/// At most this many gaps are tracked (a huge jump is not worth tracking id by id).
pub const MAX_GAPS: usize = 1024;

#[derive(Debug, Clone)]
pub struct Cursor {
    high: i64,
    gaps: BTreeMap<i64, Instant>,
}

impl Cursor {
    /// Starts after `high` (the newest id at startup: history is replayed per client instead).
    pub fn new(high: i64) -> Cursor {
        Cursor {
            high,
            gaps: BTreeMap::new(),
        }
    }

    /// The newest id delivered.
    pub fn high(&self) -> i64 {
        self.high
    }

    /// Read ids strictly above this.
    pub fn low(&self) -> i64 {
        self.gaps.keys().next().map_or(self.high, |first| first - 1)
    }

    /// Whether `id` is new (to deliver); records the ids it skips as gaps.
    pub fn accept(&mut self, id: i64, now: Instant) -> bool {
        if id > self.high {
            let skipped = (self.high + 1..id).rev().take(MAX_GAPS);
            for g in skipped {
                self.gaps.insert(g, now);
            }
            self.high = id;
            while self.gaps.len() > MAX_GAPS {
                self.gaps.pop_first();
            }
            return true;
        }
        self.gaps.remove(&id).is_some()
    }

    /// Forgets gaps waited for longer than [`GAP_TTL`].
    pub fn expire(&mut self, now: Instant) {
        self.gaps
            .retain(|_, since| now.saturating_duration_since(*since) < GAP_TTL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_ids_are_delivered_once() {
        let now = Instant::now();
        let mut c = Cursor::new(5);
        assert!(c.accept(6, now));
        assert!(c.accept(7, now));
        assert!(!c.accept(7, now));
        assert!(!c.accept(3, now));
        assert_eq!((c.low(), c.high()), (7, 7));
    }

    #[test]
    fn a_late_commit_fills_its_gap_once() {
        let now = Instant::now();
        let mut c = Cursor::new(5);
        assert!(c.accept(8, now));
        // 6 and 7 are read again until they arrive or expire.
        assert_eq!(c.low(), 5);
        assert!(c.accept(7, now));
        assert!(!c.accept(7, now));
        assert!(!c.accept(8, now));
        assert_eq!(c.low(), 5);
        c.expire(now + GAP_TTL);
        assert_eq!(c.low(), 8);
        assert!(!c.accept(6, now + GAP_TTL));
    }

    #[test]
    fn huge_jumps_track_a_bounded_number_of_gaps() {
        let now = Instant::now();
        let mut c = Cursor::new(0);
        assert!(c.accept(1_000_000, now));
        assert_eq!(c.low(), 1_000_000 - MAX_GAPS as i64 - 1);
    }
}
