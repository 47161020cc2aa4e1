//! Seeds the demo competition `demo` through the same ingest as HTTP uploads, so its boards are
//! produced by the real pipeline once the workers have run. Idempotent.

use crate::admin::{self, TeamSpec};
use crate::context::AppContext;
use crate::error::ApiError;
use crate::upload::UploadedFile;
use crate::{ingest, ingest_video};
use arena::domain::Role;
use arena::entities::teams;
use arena::repo;
use std::fmt::Write;

pub const DEMO_SLUG: &str = "demo";

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

fn upload(ctx: &AppContext, path: &std::path::Path, cap: u64) -> Result<UploadedFile, ApiError> {
    UploadedFile::from_path(path, &ctx.settings().upload_dir(), cap)
}

/// Creates `demo` with reals, two creator teams and three detector teams (one a baseline).
pub async fn seed(ctx: &AppContext) -> Result<(), ApiError> {
    if repo::competitions::find_by_slug(ctx.db(), DEMO_SLUG)
        .await?
        .is_some()
    {
        tracing::info!("demo competition already seeded");
        return Ok(());
    }
    let comp = admin::create_competition(
        ctx,
        &admin::CompetitionSpec::live(DEMO_SLUG, "Demo: creators vs detectors (live)"),
    )
    .await?;
    let org = organizer_team(ctx).await?;
    let vcap = ctx.settings().limits.max_video_bytes;
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        let file = upload(ctx, &arena_datasets::video(name), vcap)?;
        ingest_video::ingest_real(ctx, &comp, org.id, file).await?;
    }
    let mut tokens = String::new();
    for (team, role, baseline, what) in [
        ("crude-swaps", Role::Creator, false, "fake_1.mp4"),
        ("careful-swaps", Role::Creator, false, "fake_2.mp4"),
        ("redblue-lab", Role::Detector, false, "redblue"),
        ("greenish", Role::Detector, false, "greenish"),
        ("constant-baseline", Role::Detector, true, "constant"),
    ] {
        let spec = TeamSpec {
            name: team.to_owned(),
            role,
            admin: false,
            baseline,
        };
        let (t, token) = admin::create_team(ctx, &spec).await?;
        let _ = writeln!(tokens, "{team} {token}");
        if role == Role::Creator {
            let file = upload(ctx, &arena_datasets::video(what), vcap)?;
            ingest_video::ingest_creation(ctx, &comp, t.id, vec![(None, file)]).await?;
        } else {
            let (model, manifest) = arena_datasets::detector(what);
            let file = upload(ctx, &model, ctx.settings().limits.max_model_bytes)?;
            let text = std::fs::read_to_string(&manifest).map_err(ApiError::internal)?;
            ingest::ingest_detector(ctx, &comp, t.id, file, &text).await?;
        }
    }
    let path = ctx.settings().data_dir.join("demo-tokens.txt");
    std::fs::write(&path, tokens).map_err(ApiError::internal)?;
    tracing::info!(tokens = %path.display(), "demo competition seeded; team tokens written");
    Ok(())
}
