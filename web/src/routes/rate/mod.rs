//! `/rate/{slug}`: raters score fakes one at a time on the five DFGC-2022 axes, blind to the
//! team (the page names neither the team nor the submission; the video is served from
//! `/rate/{slug}/video`, which streams only the fake assigned to the logged-in rater).

pub mod get;
pub mod post;
pub mod video;

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::session::Browser;
use arena::domain::Role;
use arena::entities::{competitions, raters};

/// The competition and the logged-in rater's enrolment in it: 401 `login_required` without a
/// session, 403 `not_a_rater` for any other account (teams, organizers, raters of other
/// competitions).
pub(crate) async fn rater_of(
    ctx: &AppContext,
    browser: &Browser,
    slug: &str,
) -> Result<(competitions::Model, raters::Model), ApiError> {
    let me = browser.require_team()?;
    let comp = competition(ctx, slug).await?;
    let enrolled = if me.role == Role::Rater {
        arena::repo::video_ratings::find_rater(ctx.db(), comp.id, me.id()).await?
    } else {
        None
    };
    let rater = enrolled.ok_or_else(|| {
        ApiError::of(
            Code::NotARater,
            format!("this account is not a rater of {slug:?}"),
        )
    })?;
    Ok((comp, rater))
}
