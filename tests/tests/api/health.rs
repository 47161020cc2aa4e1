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
