//! Public / private (Kaggle style). With `settings.private_fraction = f` (0 < f < 1) the hidden
//! reals and each creation's fakes are split into a public and a private part, deterministically
//! and salted by `settings.private_salt`:
//!
//! - a video's key is `h = u64::from_be_bytes(sha256(salt ‖ sha256_hex(video))[..8]) / 2⁶⁴`
//!   (the salt's UTF-8 bytes, then the video's lowercase hex sha256 as ASCII); the video is
//!   private when `h < f`;
//! - the reals form one group and each creation's fakes another; a group of two or more videos
//!   keeps at least one video in each part: when all fell private, the one with the largest `h`
//!   becomes public, when all fell public, the one with the smallest `h` becomes private (ties
//!   by video id);
//! - a group of a single video counts it in both parts (one fake cannot be split; its public
//!   and private numbers still differ through the reals).
//!
//! Until the organizers reveal the competition (`POST …/reveal`, [`reveal`]) every board, page
//! and export is computed on the public part only; afterwards on the private part. See
//! [`crate::boards`] for how the revealed ranking picks each team's entry.

use crate::entities::competitions;
use crate::error::RepoError;
use crate::repo;
use crate::rules::CompetitionSettings;
use crate::scoring::BoardInput;
use crate::time::now_ms;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, IntoActiveModel};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// Which videos a board is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// No split (`private_fraction` 0): every video.
    All,
    /// The public part: the competition is not revealed yet.
    Public,
    /// The private part: the competition was revealed.
    Private,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::All => "all",
            Part::Public => "public",
            Part::Private => "private",
        }
    }
}

/// Whether the competition splits its videos at all.
pub fn active(s: &CompetitionSettings) -> bool {
    s.private_fraction > 0.0
}

/// The part the boards show now.
pub fn part_in_view(comp: &competitions::Model, s: &CompetitionSettings) -> Part {
    if !active(s) {
        Part::All
    } else if comp.revealed_at_ms.is_some() {
        Part::Private
    } else {
        Part::Public
    }
}

/// The key `h ∈ [0, 1)` of a video (see the module docs).
pub fn key(salt: &str, sha256_hex: &str) -> f64 {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(sha256_hex.to_ascii_lowercase().as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) as f64 / 18_446_744_073_709_551_616.0
}

/// The private videos of one group, given each video's key (see the module docs): the videos
/// counted in the private part and those counted in the public part.
pub fn split_group(videos: &[(i64, f64)], fraction: f64) -> (HashSet<i64>, HashSet<i64>) {
    if videos.len() < 2 {
        let all: HashSet<i64> = videos.iter().map(|(v, _)| *v).collect();
        return (all.clone(), all);
    }
    let mut private: HashSet<i64> = (videos.iter())
        .filter(|(_, h)| *h < fraction)
        .map(|(v, _)| *v)
        .collect();
    let order = |a: &&(i64, f64), b: &&(i64, f64)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
    if private.len() == videos.len() {
        if let Some((v, _)) = videos.iter().max_by(order) {
            private.remove(v);
        }
    } else if private.is_empty()
        && let Some((v, _)) = videos.iter().min_by(order)
    {
        private.insert(*v);
    }
    let public = (videos.iter())
        .map(|(v, _)| *v)
        .filter(|v| !private.contains(v))
        .collect();
    (private, public)
}

/// `input` cut to `part` (`keys`: each video's key): the reals and each creation's fakes of that
/// part, and only their scores. [`Part::All`] returns it whole.
pub fn cut(input: &BoardInput, keys: &HashMap<i64, f64>, fraction: f64, part: Part) -> BoardInput {
    if part == Part::All {
        return input.clone();
    }
    let keep = |ids: &[i64]| -> Vec<i64> {
        let group: Vec<(i64, f64)> = (ids.iter())
            .map(|v| (*v, keys.get(v).copied().unwrap_or(1.0)))
            .collect();
        let (private, public) = split_group(&group, fraction);
        let chosen = if part == Part::Private {
            private
        } else {
            public
        };
        ids.iter().copied().filter(|v| chosen.contains(v)).collect()
    };
    let mut out = input.clone();
    out.real_video_ids = keep(&input.real_video_ids);
    for c in &mut out.creations {
        c.video_ids = keep(&c.video_ids);
    }
    let videos: HashSet<i64> = (out.real_video_ids.iter())
        .chain(out.creations.iter().flat_map(|c| c.video_ids.iter()))
        .copied()
        .collect();
    out.scores.retain(|(_, v), _| videos.contains(v));
    out
}

/// The keys of every video of `input` (from their stored sha256).
pub async fn keys<C: sea_orm::ConnectionTrait>(
    db: &C,
    input: &BoardInput,
    salt: &str,
) -> Result<HashMap<i64, f64>, RepoError> {
    let ids: Vec<i64> = (input.real_video_ids.iter())
        .chain(input.creations.iter().flat_map(|c| c.video_ids.iter()))
        .copied()
        .collect();
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        for v in repo::videos::find_many(db, chunk).await? {
            out.insert(v.id, key(salt, &v.sha256));
        }
    }
    Ok(out)
}

/// The outcome of a reveal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Revealed {
    pub competition: String,
    /// When the private part was revealed (the first call's time; later calls change nothing).
    pub revealed_at_ms: i64,
    /// False when the competition had been revealed already.
    pub changed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RevealError {
    /// The competition has no private part (`private_fraction` is 0).
    #[error("{0} has no private part (settings.private_fraction is 0)")]
    NoPrivatePart(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<sea_orm::DbErr> for RevealError {
    fn from(e: sea_orm::DbErr) -> Self {
        RevealError::Repo(RepoError::Db(e))
    }
}

/// Reveals the private part of competition `id`: stored once (idempotent), with a `revealed`
/// event so the boards recompute.
#[tracing::instrument(skip(db), err)]
pub async fn reveal(db: &DatabaseConnection, id: i64) -> Result<Revealed, RevealError> {
    let txn = crate::db::begin_write(db).await?;
    let comp = repo::competitions::find(&txn, id)
        .await?
        .ok_or(RepoError::NotFound("competition"))?;
    if !active(&crate::rules::settings(&comp)?) {
        return Err(RevealError::NoPrivatePart(comp.slug));
    }
    if let Some(at) = comp.revealed_at_ms {
        return Ok(Revealed {
            competition: comp.slug,
            revealed_at_ms: at,
            changed: false,
        });
    }
    let at = now_ms();
    let slug = comp.slug.clone();
    let mut model = comp.into_active_model();
    model.revealed_at_ms = Set(Some(at));
    model.update(&txn).await?;
    repo::events::append(
        &txn,
        id,
        "revealed",
        &serde_json::json!({ "competition": slug, "revealed_at_ms": at }),
    )
    .await?;
    txn.commit().await?;
    Ok(Revealed {
        competition: slug,
        revealed_at_ms: at,
        changed: true,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_salted_deterministic_and_uniform_enough() {
        let a = key("s", &"ab".repeat(32));
        assert_eq!(a, key("s", &"AB".repeat(32)));
        assert_ne!(a, key("t", &"ab".repeat(32)));
        assert!((0.0..1.0).contains(&a));
        let private = (0..1000)
            .filter(|i| key("salt", &format!("{i:064x}")) < 0.3)
            .count();
        assert!((240..360).contains(&private), "{private}");
    }

    #[test]
    fn groups_keep_a_video_in_each_part() {
        let set = |v: &[i64]| v.iter().copied().collect::<HashSet<i64>>();
        // One video: both parts.
        assert_eq!(split_group(&[(7, 0.1)], 0.5), (set(&[7]), set(&[7])));
        // Plain split.
        let g = [(1, 0.1), (2, 0.7), (3, 0.4)];
        assert_eq!(split_group(&g, 0.5), (set(&[1, 3]), set(&[2])));
        // All private: the largest key goes public.
        assert_eq!(split_group(&g, 0.9), (set(&[1, 3]), set(&[2])));
        // All public: the smallest key goes private.
        assert_eq!(split_group(&g, 0.05), (set(&[1]), set(&[2, 3])));
    }

    #[test]
    fn cut_keeps_only_the_parts_videos_and_scores() {
        let input = BoardInput {
            detectors: Vec::new(),
            creations: vec![crate::scoring::CreationEntry {
                submission_id: 10,
                team: "a".into(),
                baseline: false,
                video_ids: vec![4, 5],
            }],
            real_video_ids: vec![1, 2, 3],
            scores: HashMap::from([((1, 1), 0.1), ((1, 2), 0.2), ((1, 4), 0.4), ((1, 5), 0.5)]),
        };
        let keys = HashMap::from([(1, 0.1), (2, 0.8), (3, 0.9), (4, 0.2), (5, 0.6)]);
        let public = cut(&input, &keys, 0.5, Part::Public);
        assert_eq!(public.real_video_ids, vec![2, 3]);
        assert_eq!(public.creations[0].video_ids, vec![5]);
        let mut s: Vec<_> = public.scores.keys().copied().collect();
        s.sort_unstable();
        assert_eq!(s, vec![(1, 2), (1, 5)]);
        let private = cut(&input, &keys, 0.5, Part::Private);
        assert_eq!(private.real_video_ids, vec![1]);
        assert_eq!(private.creations[0].video_ids, vec![4]);
        assert_eq!(cut(&input, &keys, 0.5, Part::All).real_video_ids.len(), 3);
    }
}
