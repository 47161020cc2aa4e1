//! `GET /c/{slug}/matrix`: the detectors × creations AUC heatmap (SVG; the AUC of a cell is in
//! its `<title>`, shown on hover).

use super::{Nav, PageError, render};
use crate::admin::competition;
use crate::context::AppContext;
use crate::session::Browser;
use crate::views::{self, Heatmap};
use actix_web::{HttpResponse, web};
use askama::Template;

#[derive(Template)]
#[template(path = "matrix.html")]
struct MatrixPage {
    nav: Nav,
    slug: String,
    title: String,
    map: Heatmap,
}

pub async fn get(
    ctx: web::Data<AppContext>,
    browser: Browser,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let comp = competition(&ctx, &slug).await?;
    let matrix = arena::boards::matrix(ctx.db(), &comp, None).await?;
    let page = MatrixPage {
        nav: Nav::of(&browser),
        slug: comp.slug.clone(),
        title: comp.title.clone(),
        map: views::heatmap(&matrix),
    };
    render(&page, &browser)
}
