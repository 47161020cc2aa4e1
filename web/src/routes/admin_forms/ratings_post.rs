//! `POST /admin/ratings` (multipart: `csrf`, `competition`, and the CSV `creation,axis,value`
//! as a `file` or pasted into `csv`): import human ratings, replacing the previous import.

use super::{Done, organizer, respond};
use crate::admin::{competition, import_ratings};
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::pages::PageError;
use crate::session::Browser;
use crate::upload::{FormSpec, read_form};
use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};

/// Largest ratings file accepted.
const MAX_CSV_BYTES: u64 = 4 << 20;

async fn csv_text(form: &mut crate::upload::Form) -> Result<String, ApiError> {
    let bad = |m: &str| ApiError::of(Code::InvalidRatings, m);
    match form.files.remove("file").filter(|f| f.len > 0) {
        Some(file) => {
            let bytes = tokio::fs::read(file.path())
                .await
                .map_err(ApiError::internal)?;
            String::from_utf8(bytes).map_err(|_| bad("the CSV is not UTF-8"))
        }
        None => match form.texts.remove("csv").filter(|t| !t.trim().is_empty()) {
            Some(text) => Ok(text),
            None => Err(bad("choose a CSV file or paste its lines")),
        },
    }
}

async fn accept(ctx: &AppContext, browser: &Browser, payload: Multipart) -> Result<Done, ApiError> {
    browser.require_team()?;
    let spec = FormSpec {
        files: &[("file", MAX_CSV_BYTES)],
        texts: &["csrf", "competition", "csv"],
    };
    let mut form = read_form(payload, &spec, &ctx.settings().upload_dir()).await?;
    organizer(browser, form.texts.get("csrf").map_or("", String::as_str))?;
    let slug = form.texts.get("competition").cloned().unwrap_or_default();
    let comp = competition(ctx, slug.trim()).await?;
    let text = csv_text(&mut form).await?;
    let n = import_ratings(ctx, &comp, &text).await?;
    Ok(Done::said(format!(
        "{n} rating{} imported into {}.",
        if n == 1 { "" } else { "s" },
        comp.slug
    )))
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    payload: Multipart,
) -> Result<HttpResponse, PageError> {
    let result = accept(&ctx, &browser, payload).await;
    respond(&ctx, &browser, result).await
}
