//! `POST /api/v1/competitions` (admin): create a competition (`live` or `rounds`).

use crate::admin::{CompetitionSpec, create_competition, parse_mode, parse_preset};
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::rules::CompetitionSettings;
use serde::{Deserialize, Serialize};

/// The competition created.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CompetitionCreated {
    pub slug: String,
    pub title: String,
    /// `live` or `rounds`.
    pub mode: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CompetitionCreate)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// 1–64 lowercase letters, digits and '-', not starting with '-'.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,63}$", min_length = 1, max_length = 64)]
    slug: String,
    /// 1–200 characters once trimmed.
    #[schema(pattern = "\\S", min_length = 1, max_length = 200)]
    title: String,
    /// `live` (default) or `rounds`.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(live|rounds)?$")]
    mode: Option<String>,
    /// `dfgc2021` (default) or `dfgc2022`.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(dfgc2021|dfgc2022)?$")]
    preset: Option<String>,
    #[serde(default)]
    settings: Option<CompetitionSettings>,
}

/// Creates a competition (organizers).
#[utoipa::path(post, path = "/api/v1/competitions", tag = "organizers", security(("bearer" = [])),
    request_body = Body,
    responses((status = 201, description = "created", body = CompetitionCreated),
        (status = 400, description = "`invalid_slug`, `invalid_title`, `invalid_mode`, `invalid_preset`, `invalid_settings` (`private_fraction` outside 0 or (0, 1), `private_salt` over 200 characters)", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`conflict`: the slug is taken", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body = body.into_inner();
    let mode = parse_mode(body.mode.as_deref())?;
    let preset = parse_preset(body.preset.as_deref())?;
    let spec = CompetitionSpec {
        slug: body.slug,
        title: body.title,
        mode,
        preset,
        settings: body.settings.unwrap_or_default(),
    };
    let comp = create_competition(&ctx, &spec).await?;
    Ok(HttpResponse::Created().json(CompetitionCreated {
        slug: comp.slug,
        title: comp.title,
        mode: comp.mode,
    }))
}
