//! Who may do what: missing/bad tokens, wrong roles, other teams' submissions.

use arena_datasets::video;
use arena_tests::spawn_app;

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
