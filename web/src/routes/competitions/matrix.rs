//! `GET /api/v1/competitions/{slug}/matrix`: detectors × creations AUC matrix.

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};

pub async fn get(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let comp = competition(&ctx, &slug).await?;
    Ok(HttpResponse::Ok().json(arena::boards::matrix(ctx.db(), &comp, None).await?))
}
