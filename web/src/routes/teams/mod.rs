//! A team: its own token (rotate, revoke), and its deletion by the organizers.

pub mod delete;
pub mod token_delete;
pub mod token_post;
pub mod webhook;

use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use arena::entities::teams;

/// The team named `name`, when the caller is that team or an organizer.
pub(crate) async fn own_team(
    ctx: &AppContext,
    caller: &AuthTeam,
    name: &str,
) -> Result<teams::Model, ApiError> {
    let team = arena::repo::teams::find_by_name(ctx.db(), name)
        .await?
        .ok_or_else(|| ApiError::of(Code::TeamNotFound, format!("no team {name:?}")))?;
    if team.id != caller.id() && !caller.is_admin() {
        return Err(ApiError::of(
            Code::NotYours,
            "only the team itself or an organizer can change its token",
        ));
    }
    Ok(team)
}
