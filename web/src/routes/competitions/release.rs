//! `GET /api/v1/competitions/{slug}/release` (organizers): the competition released as a
//! research dataset, a zip of `manifest.json` and the published videos, once it has finished.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::release::{RealsChoice, ReleaseError, ReleaseOptions};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Query {
    reals: Option<String>,
    anonymise: Option<bool>,
    force: Option<bool>,
}

/// Releases a finished competition as a dataset zip (organizers).
#[utoipa::path(get, path = "/api/v1/competitions/{slug}/release", tag = "organizers",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "competition slug"),
        ("reals" = Option<String>, Query, description = "which real videos (hidden reals, task targets) to publish: `none` (default), `all`, or a comma-separated list of video ids (`17` or `video-17`) and sha256 digests"),
        ("anonymise" = Option<bool>, Query, description = "replace team names by `team-N` and submissions by `creation-N` / `detector-N` (default false)"),
        ("force" = Option<bool>, Query, description = "release a competition that has not finished (a live one never finishes by itself)")),
    responses((status = 200, description = "a zip: `manifest.json` (format `arena-release/1`: competition, phases, tasks, creations, detectors, videos with label, sha256 and every detector's score) and the videos under `fakes/` and `reals/`, named `<sha256>.<ext>`", body = Vec<u8>, content_type = "application/zip"),
        (status = 400, description = "`bad_query`, `unknown_real`", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`competition_not_finished`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let opts = ReleaseOptions {
        reals: RealsChoice::parse(q.reals.as_deref().unwrap_or("none")),
        anonymise: q.anonymise.unwrap_or(false),
        force: q.force.unwrap_or(false),
    };
    let release = arena::release::build(ctx.db(), &comp, &opts)
        .await
        .map_err(|e| match e {
            ReleaseError::NotFinished(_) => {
                ApiError::of(Code::CompetitionNotFinished, e.to_string())
            }
            ReleaseError::UnknownReal(_) => ApiError::of(Code::UnknownReal, e.to_string()),
            ReleaseError::Repo(r) => r.into(),
        })?;
    let bytes = crate::release::zip_release(ctx.storage(), &release)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{}-release.zip\"", comp.slug),
        ))
        .body(bytes))
}
