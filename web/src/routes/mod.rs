//! Every route of the app, wired in one place.

use crate::error::{ApiError, Code};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{
    FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, ResponseError, Route, web,
};

pub mod admin;
pub mod admin_forms;
pub mod assets;
pub mod competitions;
pub mod creations;
pub mod detectors;
pub mod docs;
pub mod forms;
pub mod health;
pub mod metrics;
pub mod pages;
pub mod phases;
pub mod rate;
pub mod raters;
pub mod register;
pub mod session;
pub mod submissions;
pub mod tasks;
pub mod teams;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", [get(health::get)]))
        .service(resource("/readyz", [get(health::ready)]))
        .service(resource("/metrics", [get(metrics::get)]))
        .service(resource("/", [get(pages::index::get)]))
        .service(resource("/static/{name}", [get(assets::get::get)]))
        .service(resource("/c/{slug}", [get(pages::competition::get)]))
        .service(resource("/c/{slug}/matrix", [get(pages::matrix::get)]))
        .service(resource(
            "/c/{slug}/detectors/{submission}",
            [get(pages::detector::get)],
        ))
        .service(resource(
            "/c/{slug}/creations/{submission}",
            [get(pages::creation::get)],
        ))
        .service(resource(
            "/videos/{id}/crops/{n}",
            [get(pages::creation::thumbnail)],
        ))
        .service(resource(
            "/c/{slug}/tasks/{task_id}/target",
            [get(pages::team::task_target)],
        ))
        .service(resource(
            "/rate/{slug}",
            [get(rate::get::get), post(rate::post::post)],
        ))
        .service(resource("/rate/{slug}/video", [get(rate::video::get)]))
        .service(resource("/submissions/{id}", [get(pages::submission::get)]))
        .service(resource(
            "/submissions/{id}/final",
            [post(forms::finals_post::final_post)],
        ))
        .service(resource(
            "/submissions/{id}/note",
            [post(forms::finals_post::note_post)],
        ))
        .service(resource("/teams/{name}", [get(pages::team::get)]))
        .service(resource(
            "/teams/{name}/token/rotate",
            [post(forms::token_post::rotate)],
        ))
        .service(resource(
            "/teams/{name}/token/revoke",
            [post(forms::token_post::revoke)],
        ))
        .service(resource(
            "/login",
            [
                get(session::login_get::get),
                post(session::login_post::post),
            ],
        ))
        .service(resource("/logout", [post(session::logout_post::post)]))
        .service(resource(
            "/register",
            [get(register::get::get), post(register::post::post)],
        ))
        .service(resource("/admin", [get(admin_forms::page::get)]))
        .service(resource(
            "/admin/competitions",
            [post(admin_forms::competitions_post::post)],
        ))
        .service(resource(
            "/admin/phases",
            [post(admin_forms::phases_post::post)],
        ))
        .service(resource(
            "/admin/phases/advance",
            [post(admin_forms::phases_advance_post::post)],
        ))
        .service(resource(
            "/admin/teams",
            [post(admin_forms::teams_post::post)],
        ))
        .service(resource(
            "/admin/teams/{id}/approve",
            [post(admin_forms::team_approve_post::post)],
        ))
        .service(resource(
            "/admin/teams/{id}/reject",
            [post(admin_forms::team_reject_post::post)],
        ))
        .service(resource(
            "/admin/ratings",
            [post(admin_forms::ratings_post::post)],
        ))
        .service(resource(
            "/admin/submissions/{id}/rerun",
            [post(admin_forms::submission_rerun_post::post)],
        ))
        .service(resource(
            "/admin/submissions/{id}/disqualify",
            [post(admin_forms::submission_disqualify_post::post)],
        ))
        .service(resource(
            "/forms/detectors",
            [post(forms::detectors_post::post)],
        ))
        .service(resource(
            "/forms/creations",
            [post(forms::creations_post::post)],
        ))
        .service(resource(
            "/api/openapi.json",
            [get(docs::openapi_json::get)],
        ))
        .service(resource("/api/docs", [get(docs::page::get)]))
        .service(resource(
            "/api/admin/submissions/{id}/rerun",
            [post(admin::submission_rerun_post::post)],
        ))
        .service(resource(
            "/api/admin/submissions/{id}/disqualify",
            [post(admin::submission_disqualify_post::post)],
        ))
        .service(resource(
            "/api/admin/submissions/{id}/requalify",
            [post(admin::submission_requalify_post::post)],
        ))
        .service(
            web::scope("/api/v1")
                .service(resource("/teams", [post(admin::teams_post::post)]))
                .service(resource("/teams/{name}", [delete(teams::delete::delete)]))
                .service(resource(
                    "/teams/{name}/webhook",
                    [
                        get(teams::webhook::get),
                        put(teams::webhook::put),
                        delete(teams::webhook::delete),
                    ],
                ))
                .service(resource(
                    "/teams/{name}/token",
                    [
                        post(teams::token_post::post),
                        delete(teams::token_delete::delete),
                    ],
                ))
                .service(resource(
                    "/competitions",
                    [get(competitions::list::get), post(competitions::post::post)],
                ))
                .service(resource(
                    "/competitions/{slug}",
                    [
                        get(competitions::get::get),
                        delete(competitions::delete::delete),
                    ],
                ))
                .service(resource(
                    "/competitions/{slug}/detectors/{submission}",
                    [get(competitions::detector::get)],
                ))
                .service(resource(
                    "/competitions/{slug}/leaderboard",
                    [get(competitions::leaderboard::get)],
                ))
                .service(resource(
                    "/competitions/{slug}/events",
                    [get(competitions::events::get)],
                ))
                .service(resource(
                    "/competitions/{slug}/matrix",
                    [get(competitions::matrix::get)],
                ))
                .service(resource(
                    "/competitions/{slug}/scores.csv",
                    [get(competitions::scores_csv::get)],
                ))
                .service(resource(
                    "/competitions/{slug}/reveal",
                    [post(competitions::reveal::post)],
                ))
                .service(resource(
                    "/competitions/{slug}/release",
                    [get(competitions::release::get)],
                ))
                .service(resource(
                    "/competitions/{slug}/creations",
                    [post(creations::post::post)],
                ))
                .service(resource(
                    "/competitions/{slug}/detectors",
                    [post(detectors::post::post)],
                ))
                .service(resource(
                    "/competitions/{slug}/reals",
                    [post(admin::reals_post::post)],
                ))
                .service(resource(
                    "/competitions/{slug}/phases",
                    [post(phases::post::post)],
                ))
                .service(resource(
                    "/competitions/{slug}/phases/advance",
                    [post(phases::advance::post)],
                ))
                .service(resource(
                    "/competitions/{slug}/tasks",
                    [get(tasks::list::get), post(tasks::post::post)],
                ))
                .service(resource(
                    "/competitions/{slug}/tasks/{task_id}/target",
                    [get(tasks::target::get)],
                ))
                .service(resource(
                    "/competitions/{slug}/ratings",
                    [post(admin::ratings_post::post)],
                ))
                .service(resource(
                    "/competitions/{slug}/ratings/agreement",
                    [get(raters::agreement::get)],
                ))
                .service(resource(
                    "/competitions/{slug}/raters",
                    [post(raters::post::post)],
                ))
                .service(resource(
                    "/submissions/{id}",
                    [
                        get(submissions::get::get),
                        delete(submissions::delete::delete),
                    ],
                ))
                .service(resource(
                    "/submissions/{id}/final",
                    [put(submissions::final_put::put)],
                ))
                .service(resource(
                    "/submissions/{id}/note",
                    [put(submissions::note_put::put)],
                ))
                .default_service(web::to(not_found)),
        )
        .default_service(web::to(not_found));
}

/// One path with its methods: any other method answers 405 `method_not_allowed` with `Allow`.
fn resource<const N: usize>(path: &str, routes: [(Method, Route); N]) -> Resource {
    let allow: Vec<Method> = routes.iter().map(|(m, _)| m.clone()).collect();
    let mut res = web::resource(path);
    for (_, route) in routes {
        res = res.route(route);
    }
    res.default_service(web::to(move || {
        let allow = allow.clone();
        async move { method_not_allowed(&allow) }
    }))
}

fn method_not_allowed(allow: &[Method]) -> HttpResponse {
    let list: Vec<&str> = allow.iter().map(Method::as_str).collect();
    let mut resp = ApiError::of(
        Code::MethodNotAllowed,
        format!("this path answers {}", list.join(", ")),
    )
    .error_response();
    if let Ok(value) = HeaderValue::from_str(&list.join(", ")) {
        resp.headers_mut().insert(header::ALLOW, value);
    }
    resp
}

/// Any path no route has.
async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::of(Code::NotFound, format!("no route for {}", req.path())).error_response()
}

fn get<F, Args>(handler: F) -> (Method, Route)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    (Method::GET, web::get().to(handler))
}

fn post<F, Args>(handler: F) -> (Method, Route)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    (Method::POST, web::post().to(handler))
}

fn put<F, Args>(handler: F) -> (Method, Route)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    (Method::PUT, web::put().to(handler))
}

fn delete<F, Args>(handler: F) -> (Method, Route)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    (Method::DELETE, web::delete().to(handler))
}
