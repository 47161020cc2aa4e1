//! Who may do what: missing/bad tokens, wrong roles, other teams' submissions.

use arena_datasets::video;
use arena_tests::spawn_app;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_need_a_valid_token_and_the_right_role() {
    let app = spawn_app().await;
    app.competition("c").await;
    let creator = app.team("carol", "creator").await;
    let detector = app.team("dave", "detector").await;
    let before = app.submission_count().await;

    let resp = app.post_creation("c", None, &video("fake_1.mp4")).await;
    assert_eq!(resp.status().as_u16(), 401);
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], "missing_token");

    let last = if creator.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &creator[..creator.len() - 1]);
    let resp = app
        .post_creation("c", Some(&forged), &video("fake_1.mp4"))
        .await;
    assert_eq!(resp.status().as_u16(), 401);
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], "invalid_token");

    let resp = app
        .post_creation("c", Some("garbage"), &video("fake_1.mp4"))
        .await;
    assert_eq!(resp.status().as_u16(), 401);

    let resp = app
        .post_creation("c", Some(&detector), &video("fake_1.mp4"))
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], "wrong_role");

    let resp = app.post_detector("c", Some(&creator), "redblue").await;
    assert_eq!(resp.status().as_u16(), 403);
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], "wrong_role");

    let resp = app.post_real("nope", &video("real_1.mp4")).await;
    assert_eq!(resp.status().as_u16(), 404);

    // Organizer endpoints refuse teams.
    let resp = app
        .client
        .post(app.url("/api/v1/teams"))
        .bearer_auth(&creator)
        .json(&serde_json::json!({ "name": "x", "role": "creator" }))
        .send()
        .await;
    assert_eq!(resp.map(|r| r.status().as_u16()).unwrap_or_default(), 403);

    assert_eq!(
        app.submission_count().await,
        before,
        "refused uploads must leave no submission"
    );
    assert!(
        app.stored_objects().is_empty(),
        "refused uploads must store nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_rotate_and_revoke_at_once() {
    let app = spawn_app().await;
    app.competition("rot").await;
    let alice = app.team("rot-alice", "creator").await;
    let bob = app.team("rot-bob", "creator").await;
    let call = |method: reqwest::Method, path: &str, token: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(token)
            .send()
    };
    let status = |resp: reqwest::Result<reqwest::Response>| {
        resp.map(|r| r.status().as_u16()).unwrap_or_default()
    };
    // The old token works (and is now in the server's verified-token cache).
    assert_eq!(
        status(call(reqwest::Method::GET, "/api/v1/submissions/1", &alice).await),
        404
    );
    // Another team cannot touch alice's token.
    let path = "/api/v1/teams/rot-alice/token";
    assert_eq!(status(call(reqwest::Method::POST, path, &bob).await), 403);
    assert_eq!(status(call(reqwest::Method::DELETE, path, &bob).await), 403);
    assert_eq!(
        status(call(reqwest::Method::POST, "/api/v1/teams/nobody/token", &alice).await),
        404
    );
    let rotated: Value = call(reqwest::Method::POST, path, &alice)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    let fresh = rotated["token"].as_str().unwrap_or_default().to_owned();
    assert!(!fresh.is_empty() && fresh != alice, "{rotated}");
    // The old token is dead at once, cached or not; the new one works.
    let (code, body) = app.get_json("/api/v1/submissions/1", Some(&alice)).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
    assert_eq!(
        status(call(reqwest::Method::GET, "/api/v1/submissions/1", &fresh).await),
        404
    );
    // Revoked: nothing works until an organizer rotates it.
    assert_eq!(
        status(call(reqwest::Method::DELETE, path, &fresh).await),
        200
    );
    assert_eq!(
        status(call(reqwest::Method::GET, "/api/v1/submissions/1", &fresh).await),
        401
    );
    let again: Value = call(reqwest::Method::POST, path, &app.admin_token)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    let third = again["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        status(call(reqwest::Method::GET, "/api/v1/submissions/1", &third).await),
        404
    );
}
