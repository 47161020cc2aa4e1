//! `GET /api/v1/competitions/{slug}/detectors/{submission}`: what the detector page draws, as
//! JSON: its pooled and per-creation ROC curves, threshold, operating point and worst misses.

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};

/// A detector on the detection board: its ROC curves and the videos it missed most.
#[utoipa::path(get, path = "/api/v1/competitions/{slug}/detectors/{submission}", tag = "boards",
    params(("slug" = String, Path, description = "competition slug"),
        ("submission" = i64, Path, description = "the detector's submission id")),
    responses((status = 200, description = "`{submission, team, baseline, round, fpr, report: {pooled, creations, threshold, operating_point, missed_reals, missed_fakes}}`; a curve is `{auc, points: [{fpr, tpr}]}`, `null` while pending", body = arena::boards::DetectorPage),
        (status = 404, description = "`competition_not_found`, `detector_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, submission) = path.into_inner();
    let comp = competition(&ctx, &slug).await?;
    let page = match submission.parse::<i64>() {
        Ok(id) => arena::boards::detector_page(ctx.db(), &comp, id).await?,
        Err(_) => None,
    };
    let page = page.ok_or_else(|| {
        ApiError::of(
            Code::DetectorNotFound,
            format!("no detector {submission:?} on the board of {slug:?}"),
        )
    })?;
    Ok(HttpResponse::Ok().json(page))
}
