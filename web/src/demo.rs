//! Seeds the demo competition `demo` through the same ingest as HTTP uploads, so its boards are
//! produced by the real pipeline once the workers have run. Idempotent.
//!
//! Rounds mode, played through: synthetic reals and tasks (`arena_datasets::demo`, generated
//! once into `<data>/demo-dataset`), the organizers' trained baseline as D0, C1 (crude and
//! careful baseline swaps), D1 (trained, weak, constant and colour detectors), C2 (the same
//! creators plus a mixed one), then D2 opened with new detectors: round 1 is final, round 2's
//! detection phase is open for a week.

use crate::admin::{self, TeamSpec};
use crate::context::AppContext;
use crate::error::ApiError;
use crate::upload::UploadedFile;
use crate::{ingest, ingest_video};
use arena::domain::{CompetitionMode, Preset, Role};
use arena::entities::{competitions, teams};
use arena::repo;
use arena::rules::{CompetitionSettings, PhaseKind};
use arena_datasets::demo::DemoSet;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

pub const DEMO_SLUG: &str = "demo";
const HOUR_MS: i64 = 3_600_000;

/// The organizers' team that owns the hidden real videos (created on first use).
pub async fn organizer_team(ctx: &AppContext) -> Result<teams::Model, ApiError> {
    if let Some(t) = repo::teams::find_by_name(ctx.db(), "organizers").await? {
        return Ok(t);
    }
    let spec = TeamSpec {
        name: "organizers".to_owned(),
        role: Role::Both,
        admin: true,
        baseline: true,
    };
    Ok(admin::create_team(ctx, &spec).await?.0)
}

async fn upload(ctx: &AppContext, path: &Path, cap: u64) -> Result<UploadedFile, ApiError> {
    UploadedFile::from_path(path, &ctx.settings().upload_dir(), cap).await
}

/// A detector model of the demo: a trained baseline (`datasets/baselines`) or a fixture.
fn detector_files(model: &str) -> (PathBuf, PathBuf) {
    match model {
        "edges" | "edges-weak" => arena_datasets::baseline(model),
        other => arena_datasets::detector(other),
    }
}

/// Detector uploads: (team, baseline, phase round or 0 for D0, model).
const DETECTORS: &[(&str, bool, i32, &str)] = &[
    ("baseline-edges", true, 0, "edges"),
    ("edges-lab", false, 1, "edges"),
    ("weak-lab", false, 1, "edges-weak"),
    ("constant-lab", false, 1, "constant"),
    ("redblue-lab", false, 1, "redblue"),
    ("edges-lab", false, 2, "edges"),
    ("weak-lab", false, 2, "edges-weak"),
    ("greenish-lab", false, 2, "greenish"),
];

/// The teams of the demo, created on first use; their tokens go to `demo-tokens.txt`.
struct Teams {
    by_name: HashMap<String, i64>,
    tokens: String,
}

impl Teams {
    async fn get(
        &mut self,
        ctx: &AppContext,
        name: &str,
        role: Role,
        baseline: bool,
    ) -> Result<i64, ApiError> {
        if let Some(id) = self.by_name.get(name) {
            return Ok(*id);
        }
        let spec = TeamSpec {
            name: name.to_owned(),
            role,
            admin: false,
            baseline,
        };
        let (t, token) = admin::create_team(ctx, &spec).await?;
        let _ = writeln!(self.tokens, "{name} {token}");
        self.by_name.insert(name.to_owned(), t.id);
        Ok(t.id)
    }
}

/// Generates (or reuses) the demo's videos off the async executor.
async fn demo_videos(ctx: &AppContext) -> Result<DemoSet, ApiError> {
    let dir = ctx.settings().data_dir.join("demo-dataset");
    let face_model =
        arena_worker::faces::model_path(ctx.settings().evaluation.face_model.as_deref());
    let ort = ctx.ort().clone();
    let started = std::time::Instant::now();
    let set = actix_web::web::block(move || {
        std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
        let mut faces = arena_worker::FaceDetector::load(
            &ort,
            &face_model,
            &arena_worker::SessionOptions::default(),
        )
        .map_err(ApiError::internal)?;
        arena_datasets::demo::build(&dir, &mut faces).map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)??;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo videos ready"
    );
    Ok(set)
}

/// Creates `demo` and plays it to D2 (see the module comment).
pub async fn seed(ctx: &AppContext) -> Result<(), ApiError> {
    if repo::competitions::find_by_slug(ctx.db(), DEMO_SLUG)
        .await?
        .is_some()
    {
        tracing::info!("demo competition already seeded");
        return Ok(());
    }
    let set = demo_videos(ctx).await?;
    let comp = admin::create_competition(
        ctx,
        &admin::CompetitionSpec {
            slug: DEMO_SLUG.to_owned(),
            title: "Demo: creators vs detectors (rounds)".to_owned(),
            mode: CompetitionMode::Rounds,
            preset: Preset::Dfgc2021,
            settings: CompetitionSettings::default(),
        },
    )
    .await?;
    create_schedule(ctx, &comp).await?;
    let org = organizer_team(ctx).await?;
    let vcap = ctx.settings().limits.max_video_bytes;
    for path in &set.hidden_reals {
        ingest_video::ingest_real(ctx, &comp, org.id, upload(ctx, path, vcap).await?).await?;
    }
    for t in &set.tasks {
        let round = i32::try_from(t.round).map_err(ApiError::internal)?;
        let task = (t.task_id.as_str(), round, t.donor.as_str());
        let files = (upload(ctx, &t.target, vcap).await?, None);
        ingest_video::ingest_task(ctx, &comp, org.id, task, files).await?;
    }
    let mut teams = Teams {
        by_name: HashMap::new(),
        tokens: String::new(),
    };
    detectors_of(ctx, &comp, &mut teams, 0).await?;
    creations_of(ctx, &comp, &mut teams, &set, 1).await?;
    admin::advance_phase(ctx, &comp).await?; // C1 closes, D1 opens
    detectors_of(ctx, &comp, &mut teams, 1).await?;
    admin::advance_phase(ctx, &comp).await?; // D1 closes: round 1 is final; C2 opens
    creations_of(ctx, &comp, &mut teams, &set, 2).await?;
    admin::advance_phase(ctx, &comp).await?; // C2 closes, D2 opens
    detectors_of(ctx, &comp, &mut teams, 2).await?;

    let path = ctx.settings().data_dir.join("demo-tokens.txt");
    std::fs::write(&path, teams.tokens).map_err(ApiError::internal)?;
    tracing::info!(tokens = %path.display(), "demo competition seeded; team tokens written");
    Ok(())
}

/// C1 open now, then D1, C2 (an hour each) and D2 (until a week from now); the seed closes
/// them one after the other with [`admin::advance_phase`].
async fn create_schedule(ctx: &AppContext, comp: &competitions::Model) -> Result<(), ApiError> {
    let now = arena::time::now_ms();
    let schedule = [
        (PhaseKind::Creation, 1),
        (PhaseKind::Detection, 1),
        (PhaseKind::Creation, 2),
        (PhaseKind::Detection, 2),
    ];
    for (i, (kind, round)) in schedule.into_iter().enumerate() {
        let step = i as i64;
        let opens = if i == 0 {
            now - 1000
        } else {
            now + step * HOUR_MS
        };
        let closes = if i == 3 {
            now + 7 * 24 * HOUR_MS
        } else {
            now + (step + 1) * HOUR_MS
        };
        repo::phases::create(ctx.db(), comp.id, kind, round, (opens, closes)).await?;
    }
    Ok(())
}

async fn detectors_of(
    ctx: &AppContext,
    comp: &competitions::Model,
    teams: &mut Teams,
    round: i32,
) -> Result<(), ApiError> {
    for &(team, baseline, _, model) in DETECTORS.iter().filter(|d| d.2 == round) {
        let id = teams.get(ctx, team, Role::Detector, baseline).await?;
        let (model, manifest) = detector_files(model);
        let file = upload(ctx, &model, ctx.settings().limits.max_model_bytes).await?;
        let text = std::fs::read_to_string(&manifest).map_err(ApiError::internal)?;
        ingest::ingest_detector(ctx, comp, id, file, &text).await?;
    }
    Ok(())
}

async fn creations_of(
    ctx: &AppContext,
    comp: &competitions::Model,
    teams: &mut Teams,
    set: &DemoSet,
    round: u32,
) -> Result<(), ApiError> {
    let vcap = ctx.settings().limits.max_video_bytes;
    for c in set.creations.iter().filter(|c| c.round == round) {
        let id = teams.get(ctx, c.team, Role::Creator, false).await?;
        let mut items = Vec::new();
        for (task, path) in &c.videos {
            items.push((Some(task.clone()), upload(ctx, path, vcap).await?));
        }
        ingest_video::ingest_creation(ctx, comp, id, items).await?;
    }
    Ok(())
}
