//! `arena team add` and `arena rater add`: accounts created on the database directly (the
//! token commands talk to a running server through [`crate::client`]).

use super::args::GlobalArgs;
use super::open::open;
use crate::admin::{self, TeamSpec};
use crate::output::say;
use anyhow::Context;
use arena::domain::Role;

/// `arena team add NAME`: its token is printed as the last line.
pub(super) async fn add(
    g: &GlobalArgs,
    name: String,
    role: &str,
    is_admin: bool,
    baseline: bool,
) -> anyhow::Result<()> {
    let ctx = open(g).await?;
    let role = Role::parse_team(role).context("role must be creator, detector or both")?;
    let spec = TeamSpec {
        name,
        role,
        admin: is_admin,
        baseline,
    };
    let (team, token) = admin::create_team(&ctx, &spec).await?;
    eprintln!(
        "team {} created (id {}, role {})",
        team.name, team.id, team.role
    );
    say(&token);
    Ok(())
}

/// `arena rater add NAME --competition SLUG`: its token is printed as the last line.
pub(super) async fn add_rater(g: &GlobalArgs, name: &str, competition: &str) -> anyhow::Result<()> {
    let ctx = open(g).await?;
    let comp = admin::competition(&ctx, competition).await?;
    let (team, token) = admin::create_rater(&ctx, &comp, name).await?;
    eprintln!(
        "rater {} created for {} (id {}); it rates at /rate/{}",
        team.name, comp.slug, team.id, comp.slug
    );
    say(&token);
    Ok(())
}
