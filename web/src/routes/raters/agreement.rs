//! `GET /api/v1/competitions/{slug}/ratings/agreement` (admin): how far the in-platform raters
//! agree, per axis: Krippendorff's alpha with the interval metric over the fakes rated at least
//! twice (1 = perfect agreement, 0 = no better than chance, null = not computable yet), with the
//! mean rating per axis and the counts behind them. Imported CSV ratings carry no rater, so they
//! are not part of it.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::human_rating::{AXES, agreement};
use arena::repo;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Serialize, utoipa::ToSchema)]
pub struct AxisAgreement {
    /// `realism`, `quality`, `expression`, `mouth` or `identity`.
    pub axis: String,
    /// Krippendorff's alpha (interval metric); null with fewer than two ratings of one fake or
    /// no spread at all.
    pub alpha: Option<f64>,
    /// Mean of every in-platform rating on this axis (1–5).
    pub mean: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RatingAgreement {
    pub competition: String,
    /// `settings.ratings_per_video`: ratings each fake is to get.
    pub ratings_per_video: u32,
    /// In-platform ratings stored.
    pub ratings: usize,
    /// Raters enrolled and having rated at least once.
    pub raters: usize,
    /// Fakes rated at least once, and at least twice (those alpha is computed over).
    pub videos_rated: usize,
    pub videos_pairable: usize,
    pub axes: Vec<AxisAgreement>,
}

/// Inter-rater agreement of in-platform ratings (organizers).
#[utoipa::path(get, path = "/api/v1/competitions/{slug}/ratings/agreement", tag = "organizers",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    responses((status = 200, description = "agreement per axis", body = RatingAgreement),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    Ok(HttpResponse::Ok().json(summary(&ctx, &comp).await?))
}

/// The agreement summary (also shown on the admin page).
pub async fn summary(
    ctx: &AppContext,
    comp: &arena::entities::competitions::Model,
) -> Result<RatingAgreement, ApiError> {
    let ratings = repo::video_ratings::list(ctx.db(), comp.id).await?;
    let rows: Vec<(i64, [f64; 5])> = ratings
        .iter()
        .map(|r| (r.video_id, r.values().map(|(_, v)| v)))
        .collect();
    let alphas = agreement(&rows);
    let mut per_video: HashMap<i64, usize> = HashMap::new();
    for (v, _) in &rows {
        *per_video.entry(*v).or_default() += 1;
    }
    let n = rows.len();
    let axes = AXES
        .iter()
        .zip(alphas)
        .enumerate()
        .map(|(i, (axis, alpha))| AxisAgreement {
            axis: (*axis).to_owned(),
            alpha,
            mean: (n > 0).then(|| rows.iter().map(|(_, vs)| vs[i]).sum::<f64>() / n as f64),
        })
        .collect();
    Ok(RatingAgreement {
        competition: comp.slug.clone(),
        ratings_per_video: arena::boards::settings(comp)?.ratings_per_video.max(1),
        ratings: n,
        raters: ratings
            .iter()
            .map(|r| r.rater_id)
            .collect::<HashSet<_>>()
            .len(),
        videos_rated: per_video.len(),
        videos_pairable: per_video.values().filter(|&&c| c >= 2).count(),
        axes,
    })
}
