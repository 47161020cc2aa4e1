//! `POST /submissions/{id}/final` (`csrf`, `final` = `true|false`) and `POST /submissions/{id}/note`
//! (`csrf`, `note`): the submission page's forms for its team's final pick and note (the rules of
//! `PUT /api/v1/submissions/{id}/final` and `/note`). Success returns to the submission page; a
//! refusal shows the error page in plain words.

use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::pages::{Nav, PageError, error_page};
use crate::routes::submissions::final_put::finals_error;
use crate::session::Browser;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use arena::finals::{self, Caller};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct FinalForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "final")]
    final_pick: String,
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

fn caller(browser: &Browser, csrf: &str) -> Result<Caller, ApiError> {
    let me = browser.require_team()?;
    browser.check_csrf(Some(csrf))?;
    Ok(Caller {
        team_id: me.id(),
        is_admin: me.is_admin(),
    })
}

fn back(id: i64, browser: &Browser, result: Result<(), ApiError>) -> HttpResponse {
    match result {
        Ok(()) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/submissions/{id}")))
            .finish(),
        Err(e) => error_page(&e, Nav::of(browser)),
    }
}

pub async fn final_post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    id: web::Path<i64>,
    form: web::Form<FinalForm>,
) -> Result<HttpResponse, PageError> {
    let result = async {
        let who = caller(&browser, &form.csrf)?;
        let pick = match form.final_pick.as_str() {
            "true" => true,
            "false" => false,
            other => {
                return Err(ApiError::of(
                    Code::InvalidForm,
                    format!("final must be true or false, not {other:?}"),
                ));
            }
        };
        let done = finals::set_final(ctx.db(), *id, pick, who)
            .await
            .map_err(finals_error)?;
        crate::admin::announce(&ctx, done.competition_id);
        Ok(())
    }
    .await;
    Ok(back(*id, &browser, result))
}

pub async fn note_post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    id: web::Path<i64>,
    form: web::Form<NoteForm>,
) -> Result<HttpResponse, PageError> {
    let result = async {
        let who = caller(&browser, &form.csrf)?;
        finals::set_note(ctx.db(), *id, &form.note, who)
            .await
            .map_err(finals_error)?;
        Ok(())
    }
    .await;
    Ok(back(*id, &browser, result))
}
