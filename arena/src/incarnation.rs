//! Which process holds a lease: every job lease and decode claim names the holder's process
//! incarnation (host, pid namespace, pid, process start time), so a restarted worker can tell
//! at once that a lease's holder on its own machine is dead and take the work back, instead of
//! waiting the lease out. Holders on other machines (or in other pid namespaces) stay under the
//! lease rule: their liveness cannot be checked from here.

use crate::entities::{decode_claims, jobs};
use crate::error::RepoError;
use crate::queue::JobState;
use crate::time::now_ms;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use sha2::{Digest, Sha256};

/// One run of one process: a pid alone is reused, a pid plus its start time is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incarnation {
    /// Host name plus a digest of the boot id and pid namespace: the space in which `pid` and
    /// `start` mean something. Never contains `:`.
    space: String,
    pid: u32,
    /// Field 22 of `/proc/<pid>/stat` (clock ticks after boot); 0 where there is no `/proc`.
    start: u64,
}

/// Whether a lease holder's process runs, as far as this process can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Dead,
    /// Another machine or pid namespace, an id from before incarnations, or no `/proc`.
    Unknown,
}

impl Incarnation {
    /// This process (read from `/proc` once).
    pub fn current() -> &'static Incarnation {
        static CURRENT: std::sync::OnceLock<Incarnation> = std::sync::OnceLock::new();
        CURRENT.get_or_init(|| {
            let pid = std::process::id();
            Incarnation {
                space: local_space(),
                pid,
                start: start_time(pid).unwrap_or(0),
            }
        })
    }

    /// The prefix every holder id of this incarnation starts with (`space:pid:start`).
    pub fn id(&self) -> String {
        format!("{}:{}:{}", self.space, self.pid, self.start)
    }

    /// A holder id for one of this process's leases: the incarnation, then `suffix`.
    pub fn holder(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.id())
    }

    /// Reads the incarnation back from a holder id made by [`Incarnation::holder`].
    pub fn parse(holder: &str) -> Option<Incarnation> {
        let mut parts = holder.split(':');
        let space = parts.next()?.to_owned();
        let pid = parts.next()?.parse().ok()?;
        let start = parts.next()?.parse().ok()?;
        Some(Incarnation { space, pid, start })
    }

    /// Whether the holder `holder` is alive, judged from this process's machine.
    pub fn liveness_of(&self, holder: &str) -> Liveness {
        let Some(other) = Incarnation::parse(holder) else {
            return Liveness::Unknown;
        };
        if other.space != self.space || self.start == 0 {
            return Liveness::Unknown;
        }
        if other == *self {
            return Liveness::Alive;
        }
        match std::fs::read_to_string(format!("/proc/{}/stat", other.pid)) {
            Ok(stat) if parse_start(&stat) == Some(other.start) => Liveness::Alive,
            // Gone, or the pid now belongs to a later process.
            Ok(_) => Liveness::Dead,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Liveness::Dead,
            Err(_) => Liveness::Unknown,
        }
    }

    /// The `LIKE` pattern matching the holder ids of this incarnation's space.
    fn space_pattern(&self) -> String {
        format!("{}:%", self.space)
    }
}

/// What [`reclaim_dead`] took back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Running jobs whose lease was expired now (the queue claims them again, or reaps those
    /// on their last attempt).
    pub jobs: u64,
    /// Decode claims deleted.
    pub decode_claims: u64,
}

/// Expires at once every running job lease and deletes every decode claim whose holder is a
/// dead process of this machine (`me`'s space). Cheap: one indexed read of the running jobs of
/// this space and one of the (small) decode claims table.
#[tracing::instrument(skip_all, err)]
pub async fn reclaim_dead<C: ConnectionTrait>(
    db: &C,
    me: &Incarnation,
) -> Result<Reclaimed, RepoError> {
    Ok(Reclaimed {
        jobs: expire_dead_leases(db, me).await?,
        decode_claims: release_dead_decode_claims(db, me).await?,
    })
}

/// Expires now the leases of running jobs held by dead processes of `me`'s space; the queue
/// claims them again at once (or reaps those on their last attempt). Returns how many.
pub async fn expire_dead_leases<C: ConnectionTrait>(
    db: &C,
    me: &Incarnation,
) -> Result<u64, RepoError> {
    let running: Vec<(i64, Option<String>)> = jobs::Entity::find()
        .select_only()
        .column(jobs::Column::Id)
        .column(jobs::Column::LockedBy)
        .filter(jobs::Column::State.eq(JobState::Running.as_str()))
        .filter(jobs::Column::LockedBy.like(me.space_pattern()))
        .into_tuple()
        .all(db)
        .await?;
    let mut expired = 0;
    for (id, holder) in running {
        let Some(holder) = holder else { continue };
        if me.liveness_of(&holder) != Liveness::Dead {
            continue;
        }
        let res = jobs::Entity::update_many()
            .col_expr(jobs::Column::LeaseExpiresAtMs, Expr::value(0i64))
            .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now_ms()))
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::State.eq(JobState::Running.as_str()))
            .filter(jobs::Column::LockedBy.eq(holder.as_str()))
            .exec(db)
            .await?;
        if res.rows_affected == 1 {
            tracing::info!(job_id = id, holder, "took back a job its dead worker held");
            expired += 1;
        }
    }
    Ok(expired)
}

/// Deletes the decode claims held by dead processes of `me`'s space. Returns how many.
pub async fn release_dead_decode_claims<C: ConnectionTrait>(
    db: &C,
    me: &Incarnation,
) -> Result<u64, RepoError> {
    let claims: Vec<(String, String)> = decode_claims::Entity::find()
        .select_only()
        .column(decode_claims::Column::ContentKey)
        .column(decode_claims::Column::Holder)
        .filter(decode_claims::Column::Holder.like(me.space_pattern()))
        .into_tuple()
        .all(db)
        .await?;
    let mut released = 0;
    for (key, holder) in claims {
        if me.liveness_of(&holder) != Liveness::Dead {
            continue;
        }
        let res = decode_claims::Entity::delete_many()
            .filter(decode_claims::Column::ContentKey.eq(key.as_str()))
            .filter(decode_claims::Column::Holder.eq(holder.as_str()))
            .exec(db)
            .await?;
        if res.rows_affected == 1 {
            tracing::info!(key, holder, "released a decode claim its dead worker held");
            released += 1;
        }
    }
    Ok(released)
}

/// Host name (made safe for ids and `LIKE`), then a digest of the boot id and the pid
/// namespace: two containers or two boots never share a space, so a pid is only compared
/// within the namespace it belongs to.
fn local_space() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "local".to_owned());
    let host: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let pid_ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let digest = hex::encode(Sha256::digest(format!("{}|{pid_ns}", boot.trim())));
    format!("{host}.{}", &digest[..10])
}

fn start_time(pid: u32) -> Option<u64> {
    parse_start(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Field 22 (`starttime`) of a `/proc/<pid>/stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_start(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_counted_after_the_command_name() {
        let stat = "4242 (a b) c)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21";
        assert_eq!(parse_start(stat), Some(987_654));
    }

    #[test]
    fn this_process_is_alive_and_a_restarted_or_gone_one_is_dead() {
        let me = Incarnation::current().clone();
        assert!(me.start > 0, "/proc is there on Linux");
        assert_eq!(Incarnation::parse(&me.holder("0:abc")), Some(me.clone()));
        assert_eq!(me.liveness_of(&me.holder("x")), Liveness::Alive);
        // The same pid with another start time: the pid was reused by a later process.
        let reused = Incarnation {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(me.liveness_of(&reused.holder("x")), Liveness::Dead);
        // A child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let child_inc = Incarnation {
            pid,
            start: start_time(pid).unwrap_or(1),
            ..me.clone()
        };
        child.wait().unwrap();
        assert_eq!(me.liveness_of(&child_inc.holder("x")), Liveness::Dead);
        // Another machine, and an id from before incarnations: left to the lease rule.
        let elsewhere = Incarnation {
            space: "other.0123456789".to_owned(),
            ..child_inc
        };
        assert_eq!(me.liveness_of(&elsewhere.holder("x")), Liveness::Unknown);
        assert_eq!(me.liveness_of("host:123:0:uuid"), Liveness::Unknown);
        assert_eq!(me.liveness_of("4242-abcdef"), Liveness::Unknown);
    }
}
