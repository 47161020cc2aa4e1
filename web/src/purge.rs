//! `arena purge --competition S --out DIR`: exports a finished competition's boards (each
//! round's leaderboard JSON and the scores CSVs `arena score --input` reads), then erases every
//! upload of it (`arena::deletion::purge_competition`). Nothing is erased if the export fails.

use crate::console::say;
use crate::context::AppContext;
use anyhow::{Context, bail};
use arena::boards::{self, BoardScope};
use arena::domain::CompetitionMode;
use std::path::{Path, PathBuf};

/// Exports, then purges.
pub async fn run(ctx: &AppContext, slug: &str, out: &Path, force: bool) -> anyhow::Result<()> {
    let comp = arena::repo::competitions::find_by_slug(ctx.db(), slug)
        .await?
        .with_context(|| format!("no competition {slug:?}"))?;
    if !force && !arena::deletion::is_finished(ctx.db(), &comp).await? {
        bail!(
            "competition_not_finished: {slug} has a phase still open or to come (or runs live); \
             pass --force to purge it anyway"
        );
    }
    let written = export(ctx, &comp, out).await?;
    let done = arena::deletion::purge_competition(ctx.db(), ctx.storage(), &comp, true).await?;
    say(&format!(
        "exported {} files into {}; erased {} submissions ({} stored objects deleted)",
        written.len(),
        out.display(),
        done.submissions_erased,
        done.objects_deleted.len()
    ));
    Ok(())
}

/// Writes `<slug>[-round<k>]-leaderboard.json` and `-scores-detection.csv` /
/// `-scores-creation.csv` per round (live mode: one set, no round).
async fn export(
    ctx: &AppContext,
    comp: &arena::entities::competitions::Model,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let rounds: Vec<Option<i32>> =
        if CompetitionMode::parse(&comp.mode) == Some(CompetitionMode::Rounds) {
            let mut ks: Vec<i32> = arena::repo::phases::list(ctx.db(), comp.id)
                .await?
                .iter()
                .map(|p| p.round)
                .collect();
            ks.sort_unstable();
            ks.dedup();
            ks.into_iter().map(Some).collect()
        } else {
            vec![None]
        };
    let mut written = Vec::new();
    for round in rounds {
        let stem = match round {
            Some(k) => format!("{}-round{k}", comp.slug),
            None => comp.slug.clone(),
        };
        let board = boards::compute(ctx.db(), comp, round).await?;
        let path = out.join(format!("{stem}-leaderboard.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&board)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
        for (scope, name) in [
            (BoardScope::Detection, "detection"),
            (BoardScope::Creation, "creation"),
        ] {
            let csv = boards::pairs_csv(ctx.db(), comp, round, scope).await?;
            let path = out.join(format!("{stem}-scores-{name}.csv"));
            std::fs::write(&path, csv)
                .with_context(|| format!("cannot write {}", path.display()))?;
            written.push(path);
        }
    }
    Ok(written)
}
