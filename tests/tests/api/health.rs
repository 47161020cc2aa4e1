use arena_tests::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/healthz", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_competition_is_404_with_code() {
    let app = spawn_app().await;
    let (status, body) = app
        .get_json("/api/v1/competitions/nope/leaderboard", None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "competition_not_found");
}

/// Every error is `{"code","message"}` JSON: unknown routes, wrong methods (with `Allow`) and
/// what actix's extractors refuse (a path id past i64, a bad query, bad JSON).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_and_extractor_errors_are_json_with_codes() {
    let app = spawn_app().await;
    app.competition("c").await;
    for (path, code) in [
        ("/api/v1/nope", "not_found"),
        ("/nope/at/all", "not_found"),
        ("/api/v1/submissions/9223372036854775808", "not_found"),
        ("/api/v1/submissions/abc", "not_found"),
        (
            "/api/v1/competitions/c/leaderboard?round=99999999999",
            "invalid_query",
        ),
    ] {
        let (status, body) = app.get_json(path, Some(&app.admin_token)).await;
        let want = if code == "not_found" { 404 } else { 400 };
        assert_eq!(status, want, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A method the path does not have: 405 with the ones it has.
    let resp = app
        .client
        .put(app.url("/api/v1/competitions"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 405);
    let allow = resp
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(allow, "GET, POST");
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], "method_not_allowed");
    // Malformed JSON in a body.
    let resp = app
        .client
        .post(app.url("/api/v1/competitions"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], "bad_request");
}
