//! `GET /api/v1/competitions/{slug}/matrix`: detectors × creations AUC matrix.

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};

/// The detectors × creations pair-AUC matrix.
#[utoipa::path(get, path = "/api/v1/competitions/{slug}/matrix", tag = "boards",
    params(("slug" = String, Path, description = "competition slug")),
    responses((status = 200, description = "`{detectors, creations, auc, incomplete}`", body = arena::scoring::Matrix),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let comp = competition(&ctx, &slug).await?;
    Ok(HttpResponse::Ok().json(arena::boards::matrix(ctx.db(), &comp, None).await?))
}
