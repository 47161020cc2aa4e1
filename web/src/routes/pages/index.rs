//! `GET /`: the competitions.

use super::{Nav, PageError, render};
use crate::context::AppContext;
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use askama::Template;

struct CompetitionLink {
    slug: String,
    title: String,
    mode: String,
    preset: String,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    nav: Nav,
    competitions: Vec<CompetitionLink>,
}

pub async fn get(ctx: web::Data<AppContext>, browser: Browser) -> Result<HttpResponse, PageError> {
    let competitions = arena::repo::competitions::list(ctx.db())
        .await?
        .into_iter()
        .map(|c| CompetitionLink {
            slug: c.slug,
            title: c.title,
            mode: c.mode,
            preset: c.preset,
        })
        .collect();
    render(
        &IndexPage {
            nav: Nav::of(&browser),
            competitions,
        },
        &browser,
    )
}
