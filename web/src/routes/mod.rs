//! Every route of the app, wired in one place.

use actix_web::web;

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
pub mod register;
pub mod session;
pub mod submissions;
pub mod tasks;
pub mod teams;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::get))
        .route("/readyz", web::get().to(health::ready))
        .route("/metrics", web::get().to(metrics::get))
        .route("/", web::get().to(pages::index::get))
        .route("/static/{name}", web::get().to(assets::get::get))
        .route("/c/{slug}", web::get().to(pages::competition::get))
        .route("/c/{slug}/matrix", web::get().to(pages::matrix::get))
        .route(
            "/c/{slug}/detectors/{submission}",
            web::get().to(pages::detector::get),
        )
        .route(
            "/c/{slug}/creations/{submission}",
            web::get().to(pages::creation::get),
        )
        .route(
            "/videos/{id}/crops/{n}",
            web::get().to(pages::creation::thumbnail),
        )
        .route("/submissions/{id}", web::get().to(pages::submission::get))
        .route("/teams/{name}", web::get().to(pages::team::get))
        .route("/login", web::get().to(session::login_get::get))
        .route("/login", web::post().to(session::login_post::post))
        .route("/logout", web::post().to(session::logout_post::post))
        .route("/register", web::get().to(register::get::get))
        .route("/register", web::post().to(register::post::post))
        .route("/admin", web::get().to(admin_forms::page::get))
        .route(
            "/admin/competitions",
            web::post().to(admin_forms::competitions_post::post),
        )
        .route(
            "/admin/phases",
            web::post().to(admin_forms::phases_post::post),
        )
        .route(
            "/admin/phases/advance",
            web::post().to(admin_forms::phases_advance_post::post),
        )
        .route(
            "/admin/teams",
            web::post().to(admin_forms::teams_post::post),
        )
        .route(
            "/admin/teams/{id}/approve",
            web::post().to(admin_forms::team_approve_post::post),
        )
        .route(
            "/admin/teams/{id}/reject",
            web::post().to(admin_forms::team_reject_post::post),
        )
        .route(
            "/admin/ratings",
            web::post().to(admin_forms::ratings_post::post),
        )
        .route(
            "/admin/submissions/{id}/rerun",
            web::post().to(admin_forms::submission_rerun_post::post),
        )
        .route(
            "/admin/submissions/{id}/disqualify",
            web::post().to(admin_forms::submission_disqualify_post::post),
        )
        .route(
            "/forms/detectors",
            web::post().to(forms::detectors_post::post),
        )
        .route(
            "/forms/creations",
            web::post().to(forms::creations_post::post),
        )
        .route("/api/openapi.json", web::get().to(docs::openapi_json::get))
        .route("/api/docs", web::get().to(docs::page::get))
        .route(
            "/api/admin/submissions/{id}/rerun",
            web::post().to(admin::submission_rerun_post::post),
        )
        .route(
            "/api/admin/submissions/{id}/disqualify",
            web::post().to(admin::submission_disqualify_post::post),
        )
        .route(
            "/api/admin/submissions/{id}/requalify",
            web::post().to(admin::submission_requalify_post::post),
        )
        .service(
            web::scope("/api/v1")
                .route("/teams", web::post().to(admin::teams_post::post))
                .route(
                    "/teams/{name}/token",
                    web::post().to(teams::token_post::post),
                )
                .route(
                    "/teams/{name}/token",
                    web::delete().to(teams::token_delete::delete),
                )
                .route("/competitions", web::get().to(competitions::list::get))
                .route("/competitions", web::post().to(competitions::post::post))
                .route(
                    "/competitions/{slug}",
                    web::get().to(competitions::get::get),
                )
                .route(
                    "/competitions/{slug}/leaderboard",
                    web::get().to(competitions::leaderboard::get),
                )
                .route(
                    "/competitions/{slug}/events",
                    web::get().to(competitions::events::get),
                )
                .route(
                    "/competitions/{slug}/matrix",
                    web::get().to(competitions::matrix::get),
                )
                .route(
                    "/competitions/{slug}/detectors/{submission}",
                    web::get().to(competitions::detector::get),
                )
                .route(
                    "/competitions/{slug}/scores.csv",
                    web::get().to(competitions::scores_csv::get),
                )
                .route(
                    "/competitions/{slug}/creations",
                    web::post().to(creations::post::post),
                )
                .route(
                    "/competitions/{slug}/detectors",
                    web::post().to(detectors::post::post),
                )
                .route(
                    "/competitions/{slug}/reals",
                    web::post().to(admin::reals_post::post),
                )
                .route(
                    "/competitions/{slug}/phases",
                    web::post().to(phases::post::post),
                )
                .route(
                    "/competitions/{slug}/phases/advance",
                    web::post().to(phases::advance::post),
                )
                .route(
                    "/competitions/{slug}/tasks",
                    web::get().to(tasks::list::get),
                )
                .route(
                    "/competitions/{slug}/tasks",
                    web::post().to(tasks::post::post),
                )
                .route(
                    "/competitions/{slug}/tasks/{task_id}/target",
                    web::get().to(tasks::target::get),
                )
                .route(
                    "/competitions/{slug}/ratings",
                    web::post().to(admin::ratings_post::post),
                )
                .route("/submissions/{id}", web::get().to(submissions::get::get))
                .route(
                    "/submissions/{id}",
                    web::delete().to(submissions::delete::delete),
                ),
        );
}
