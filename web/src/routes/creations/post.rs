//! `POST /api/v1/competitions/{slug}/creations`: a creator team uploads a fake video (with its
//! `task`), or a zip of `<task_id>.<ext>` videos.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use crate::ingest_video::{creation_items, ingest_creation};
use crate::upload::{FormSpec, read_form};
use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};

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
    let task = form.texts.remove("task").filter(|t| !t.trim().is_empty());
    let items = creation_items(&ctx, file, task)?;
    let sub = ingest_creation(&ctx, &comp, caller.id(), items).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "id": sub.id, "status": sub.status })))
}
