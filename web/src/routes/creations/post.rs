//! `POST /api/v1/competitions/{slug}/creations`: a creator team uploads a fake video.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use crate::ingest::ingest_video;
use crate::upload::{FormSpec, read_form};
use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};
use arena::domain::VideoRole;

pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    if !caller.role.may_create() {
        return Err(ApiError::forbidden(
            "wrong_role",
            "only creator teams submit creations",
        ));
    }
    let comp = competition(&ctx, &slug).await?;
    let cap = ctx.settings().limits.max_video_bytes;
    let spec = FormSpec {
        files: &[("file", cap)],
        texts: &["task"],
    };
    let mut form = read_form(payload, &spec, &ctx.settings().upload_dir()).await?;
    let file = form.take_file("file")?;
    let sub = ingest_video(&ctx, &comp, caller.id(), VideoRole::Fake, file).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "id": sub.id, "status": sub.status })))
}
