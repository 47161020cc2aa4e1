//! `arena competition import`: a competition from an organizer's own real videos and a dataset
//! manifest (`datasets/README.md`), through the same ingest as HTTP uploads.

use std::path::Path;

use arena::domain::{CompetitionMode, Preset};
use arena::entities::competitions;
use arena::repo;
use arena::rules::{CompetitionSettings, PhaseKind};

use crate::admin::{self, CompetitionSpec};
use crate::context::AppContext;
use crate::demo::organizer_team;
use crate::ingest_video;
use crate::upload::UploadedFile;

const HOUR_MS: i64 = 3_600_000;

/// What an import created.
#[derive(Debug, Clone)]
pub struct Imported {
    pub competition: competitions::Model,
    pub hidden_reals: usize,
    pub tasks: usize,
    pub phases: usize,
}

/// Creates competition `slug` from the dataset at `manifest`: its hidden real clips become the
/// hidden reals (label 0), and with rounds in the manifest the competition is in rounds mode,
/// each task's target clip is published to creators, and the phases C1, D1, C2, … are scheduled
/// back to back from now, `phase_hours` each (C1 open at once). Without rounds it is a live
/// competition. The whole manifest is checked (files exist, references resolve) before anything
/// is stored, and an existing slug is refused; a clip the ingest then refuses (its probe) stops
/// the import with an error naming it, leaving what was imported before it.
pub async fn import_dataset(
    ctx: &AppContext,
    slug: &str,
    title: &str,
    manifest: &Path,
    phase_hours: u32,
) -> anyhow::Result<Imported> {
    let ds = arena_datasets::load(manifest)?;
    if ds.hidden_real.is_empty() {
        anyhow::bail!(
            "{}: hidden_real lists no clip: a competition needs hidden real videos",
            manifest.display()
        );
    }
    if repo::competitions::find_by_slug(ctx.db(), slug)
        .await?
        .is_some()
    {
        anyhow::bail!("competition {slug} already exists");
    }
    let mode = if ds.rounds.is_empty() {
        CompetitionMode::Live
    } else {
        CompetitionMode::Rounds
    };
    let competition = admin::create_competition(
        ctx,
        &CompetitionSpec {
            slug: slug.to_owned(),
            title: title.to_owned(),
            mode,
            preset: Preset::Dfgc2021,
            settings: CompetitionSettings::default(),
        },
    )
    .await?;
    let mut rounds: Vec<_> = ds.rounds.iter().collect();
    rounds.sort_by_key(|r| r.number);
    let now = arena::time::now_ms();
    let step = i64::from(phase_hours.max(1)) * HOUR_MS;
    let mut phases = 0;
    for r in &rounds {
        for kind in [PhaseKind::Creation, PhaseKind::Detection] {
            let i = phases as i64;
            let opens = if i == 0 { now - 1000 } else { now + i * step };
            let round = i32::try_from(r.number)?;
            repo::phases::create(
                ctx.db(),
                competition.id,
                kind,
                round,
                (opens, now + (i + 1) * step),
            )
            .await?;
            phases += 1;
        }
    }
    let org = organizer_team(ctx).await?;
    let cap = ctx.settings().limits.max_video_bytes;
    let upload =
        async |path: &Path| UploadedFile::from_path(path, &ctx.settings().upload_dir(), cap).await;
    let mut hidden_reals = 0;
    for clip in ds.hidden_clips() {
        ingest_video::ingest_real(ctx, &competition, org.id, upload(&clip.path).await?).await?;
        hidden_reals += 1;
    }
    let mut tasks = 0;
    // The ID term's reference: one clip of each donor (a non-hidden one where it has any), given
    // with the donor's first task.
    let mut referenced = std::collections::HashSet::new();
    for r in &rounds {
        let round = i32::try_from(r.number)?;
        for t in &r.tasks {
            let Some(target) = ds.clip(&t.target) else {
                anyhow::bail!("task {}: unknown target clip {}", t.task_id, t.target);
            };
            let task = (t.task_id.as_str(), round, t.donor.as_str());
            let reference = if referenced.insert(t.donor.clone()) {
                let hidden: Vec<&str> = ds.hidden_clips().map(|c| c.id.as_str()).collect();
                let mut clips: Vec<_> = ds.clips_of(&t.donor).collect();
                clips.sort_by_key(|c| hidden.contains(&c.id.as_str()));
                match clips.first() {
                    Some(c) => Some(upload(&c.path).await?),
                    None => None,
                }
            } else {
                None
            };
            let files = (upload(&target.path).await?, reference);
            ingest_video::ingest_task(ctx, &competition, org.id, task, files).await?;
            tasks += 1;
        }
    }
    Ok(Imported {
        competition,
        hidden_reals,
        tasks,
        phases,
    })
}
