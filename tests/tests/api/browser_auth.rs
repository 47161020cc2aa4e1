//! Browser login: a token form gives a signed session cookie (HttpOnly, SameSite=Strict);
//! every form needs the CSRF token of its own browser; the upload forms share the API's ingest
//! and answer errors in plain words; logout ends the session.

#![allow(
    clippy::expect_used,
    reason = "a test fails loudly where the app misbehaves"
)]

use arena_datasets::video;
use arena_tests::spawn_app_with;
use arena_tests::web::WebClient;
use arena_tests::{AppOptions, Backend};
use reqwest::multipart::Form;

fn creation_form(csrf: &str, file: &std::path::Path) -> Form {
    Form::new()
        .text("csrf", csrf.to_owned())
        .text("competition", "c")
        .part("file", arena_tests::part(file))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_logout_and_csrf() {
    let app = spawn_app_with(AppOptions {
        backend: Backend::Sqlite,
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    app.competition("c").await;
    let alice = app.team("alice", "creator").await;
    let _bob = app.team("bob", "creator").await;
    let mut browser = WebClient::new(&app.address);

    // The form sets the CSRF cookie; a post without its token is refused.
    let form = browser.get("/login").await;
    assert_eq!(form.status, 200);
    let csrf = form.csrf().unwrap_or_default();
    assert!(browser.cookie("arena_csrf").is_some());
    let refused = browser.post_form("/login", &[("token", &alice)]).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("csrf_failed"));
    let mut other = WebClient::new(&app.address);
    let foreign = other.csrf("/login").await;
    let refused = browser
        .post_form("/login", &[("token", &alice), ("csrf", &foreign)])
        .await;
    assert_eq!(refused.status, 403, "another browser's token is refused");
    assert!(browser.cookie("arena_session").is_none());

    // A wrong token shows the form again.
    let wrong = browser
        .post_form("/login", &[("token", "arena_1_nope"), ("csrf", &csrf)])
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("id=\"login-error\""));

    // The right one: a session cookie, then the team's own page.
    let ok = browser
        .post_form(
            "/login",
            &[
                ("token", &alice),
                ("csrf", &csrf),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303);
    assert_eq!(
        ok.location.as_deref(),
        Some("/teams/alice"),
        "never off-site"
    );
    let cookie = ok
        .set_cookies
        .iter()
        .find(|c| c.starts_with("arena_session="))
        .cloned()
        .unwrap_or_default();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(&alice),
        "the token itself is not in the cookie"
    );
    let page = browser.get("/teams/alice").await;
    assert!(page.body.contains("Log out") && page.body.contains("id=\"creation-form\""));
    let session = browser
        .cookie("arena_session")
        .unwrap_or_default()
        .to_owned();

    // A tampered session is no session.
    let mut forger = WebClient::new(&app.address);
    let bob_id = session.replacen(".2.", ".3.", 1);
    forger.set_cookie("arena_session", Some(&bob_id));
    let page = forger.get("/teams/bob").await;
    assert!(!page.body.contains("Log out") && !page.body.contains("id=\"creation-form\""));

    // Uploads: the same ingest, CSRF first, errors in plain words.
    let before = app.submission_count().await;
    let bad_csrf = browser
        .post_multipart(
            "/forms/creations",
            creation_form(&foreign, &video("fake_1.mp4")),
            false,
        )
        .await;
    assert_eq!(bad_csrf.status, 403);
    assert_eq!(app.submission_count().await, before, "nothing accepted");
    let junk = browser
        .post_multipart(
            "/forms/creations",
            creation_form(&csrf, &video("not_a_video.mp4")),
            false,
        )
        .await;
    assert!(matches!(junk.status, 415 | 422), "{}", junk.status);
    assert!(
        junk.body.contains("id=\"creation-error\""),
        "the team page, with the error"
    );
    let as_json = browser
        .post_multipart(
            "/forms/creations",
            creation_form(&csrf, &video("not_a_video.mp4")),
            true,
        )
        .await;
    assert_eq!(as_json.status, junk.status);
    assert!(
        as_json.json()["plain"]
            .as_str()
            .is_some_and(|p| p.len() > 20)
    );
    assert_eq!(app.submission_count().await, before);
    let sent = browser
        .post_multipart(
            "/forms/creations",
            creation_form(&csrf, &video("fake_1.mp4")),
            false,
        )
        .await;
    assert_eq!(sent.status, 303);
    let at = sent.location.clone().unwrap_or_default();
    assert!(at.starts_with("/submissions/"), "{at}");
    assert_eq!(browser.get(&at).await.status, 200);
    assert_eq!(app.submission_count().await, before + 1);

    // Logout needs the token too, and clears the cookie.
    assert_eq!(browser.post_form("/logout", &[]).await.status, 403);
    let out = browser.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location.as_deref()), (303, Some("/")));
    assert!(browser.cookie("arena_session").is_none());
    let page = browser.get("/teams/alice").await;
    assert!(!page.body.contains("Log out") && page.body.contains("href=\"/login\""));
    assert_eq!(browser.get(&at).await.status, 303, "back to the login page");
}
