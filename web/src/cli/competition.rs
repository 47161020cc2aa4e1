//! `arena competition add|reveal|add-real|import` and `arena purge` (`release` talks to a
//! running server through [`crate::client`]).

use super::args::GlobalArgs;
use super::open::open;
use crate::admin;
use crate::output::say;
use crate::upload::UploadedFile;
use crate::{demo, ingest_video};
use std::path::{Path, PathBuf};

/// `arena competition add SLUG --title T`: a live competition.
pub(super) async fn add(
    g: &GlobalArgs,
    slug: &str,
    title: &str,
    private_fraction: f64,
    private_salt: String,
) -> anyhow::Result<()> {
    let ctx = open(g).await?;
    let mut spec = admin::CompetitionSpec::live(slug, title);
    spec.settings.private_fraction = private_fraction;
    spec.settings.private_salt = private_salt;
    let comp = admin::create_competition(&ctx, &spec).await?;
    say(&format!("competition {} created", comp.slug));
    Ok(())
}

/// `arena competition reveal SLUG`: once; a second reveal says when the first one was.
pub(super) async fn reveal(g: &GlobalArgs, slug: &str) -> anyhow::Result<()> {
    let ctx = open(g).await?;
    let comp = admin::competition(&ctx, slug).await?;
    let done = arena::split::reveal(ctx.db(), comp.id).await?;
    let at = crate::views::time(done.revealed_at_ms);
    if done.changed {
        say(&format!("{slug}: private part revealed at {at}"));
    } else {
        say(&format!("{slug}: already revealed at {at}"));
    }
    Ok(())
}

/// `arena competition add-real SLUG FILES…`: real videos added as the organizer team
/// `organizers` (created if missing), through the same ingest as an HTTP upload.
pub(super) async fn add_reals(g: &GlobalArgs, slug: &str, files: &[PathBuf]) -> anyhow::Result<()> {
    let ctx = open(g).await?;
    let comp = admin::competition(&ctx, slug).await?;
    let team = demo::organizer_team(&ctx).await?;
    for f in files {
        let upload = UploadedFile::from_path(
            f,
            &ctx.settings().upload_dir(),
            ctx.settings().limits.max_video_bytes,
        )
        .await?;
        let sub = ingest_video::ingest_real(&ctx, &comp, team.id, upload).await?;
        say(&format!("{} → submission {}", f.display(), sub.id));
    }
    Ok(())
}

/// `arena competition import SLUG --dataset MANIFEST --title T`.
pub(super) async fn import(
    g: &GlobalArgs,
    slug: &str,
    title: &str,
    dataset: &Path,
    phase_hours: u32,
) -> anyhow::Result<()> {
    let ctx = open(g).await?;
    let done = crate::import::import_dataset(&ctx, slug, title, dataset, phase_hours).await?;
    say(&format!(
        "competition {} created ({} mode): {} hidden reals, {} tasks, {} phases",
        done.competition.slug, done.competition.mode, done.hidden_reals, done.tasks, done.phases
    ));
    Ok(())
}

/// `arena purge --competition SLUG --out DIR`.
pub(super) async fn purge(
    g: &GlobalArgs,
    competition: &str,
    out: &Path,
    force: bool,
) -> anyhow::Result<()> {
    crate::purge::run(&open(g).await?, competition, out, force).await
}
