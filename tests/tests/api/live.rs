//! The live board over real HTTP: SSE with `Last-Event-ID` resume (replayed from the events
//! table), events appended by another process reaching clients, and the leaderboard cache
//! rebuilt on events (and only then).

#![allow(
    clippy::expect_used,
    reason = "a test fails loudly where the app misbehaves"
)]

use arena_datasets::video;
use arena_tests::web::EventStream;
use arena_tests::{AppOptions, Backend, TestApp, backends, spawn_app_with};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use std::time::Duration;

const EVENT_WAIT: Duration = Duration::from_secs(10);
const WAIT: Duration = Duration::from_secs(120);

async fn accepted(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    let body: Value = resp.json().await.unwrap_or_default();
    body["id"].as_i64().unwrap_or_default()
}

fn about(e: &arena_tests::web::SseEvent, submission: i64) -> bool {
    e.data["kind"] == "submission" && e.data["payload"]["submission"] == submission
}

async fn resume(app: &TestApp) {
    app.competition("live").await;
    app.competition("other").await;
    let alice = app.team("alice", "creator").await;
    let events = app.url("/api/v1/competitions/live/events");

    let mut stream = EventStream::connect(&app.client, &events, None).await;
    let first = accepted(app.post_real("live", &video("real_1.mp4")).await).await;
    let seen = stream
        .until(EVENT_WAIT, |e| about(e, first))
        .await
        .expect("the new submission's event arrives live");
    let e1 = seen.last().and_then(|e| e.id).unwrap_or_default();
    assert_eq!(seen.last().map(|e| e.data["id"].clone()), Some(e1.into()));

    let second = accepted(
        app.post_creation("live", Some(&alice), &video("fake_1.mp4"))
            .await,
    )
    .await;
    let e2 = stream
        .until(EVENT_WAIT, |e| about(e, second))
        .await
        .and_then(|s| s.last().and_then(|e| e.id))
        .unwrap_or_default();
    assert!(e2 > e1, "ids grow: {e1} then {e2}");
    drop(stream);

    // While no one listens: another competition's event, and one of ours.
    accepted(app.post_real("other", &video("real_2.mp4")).await).await;
    let third = accepted(app.post_real("live", &video("real_3.mp4")).await).await;

    let mut resumed = EventStream::connect(&app.client, &events, Some(e1)).await;
    let replay = resumed
        .until(EVENT_WAIT, |e| about(e, third))
        .await
        .expect("the missed events are replayed");
    let ids: Vec<i64> = replay.iter().filter_map(|e| e.id).collect();
    assert_eq!(
        ids.first(),
        Some(&e2),
        "replay starts right after {e1}: {ids:?}"
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    assert!(
        replay
            .iter()
            .all(|e| e.data["competition_id"] == replay[0].data["competition_id"]),
        "only this competition's events: {replay:?}"
    );
    assert_eq!(replay.len(), 2, "exactly the two missed events: {replay:?}");

    // An event appended by another process (a worker) reaches the open stream through the poller.
    let comp = arena::repo::competitions::find_by_slug(app.ctx.db(), "live")
        .await
        .ok()
        .flatten()
        .map(|c| c.id)
        .unwrap_or_default();
    let outside = arena::repo::events::append(
        app.ctx.db(),
        comp,
        "scores",
        &serde_json::json!({ "detector_submission": 0, "creation_submissions": [] }),
    )
    .await
    .map(|e| e.id)
    .unwrap_or_default();
    let got = resumed
        .until(EVENT_WAIT, |e| e.id == Some(outside))
        .await
        .expect("an event written straight into the table is pushed");
    assert_eq!(
        got.last().map(|e| e.data["kind"].clone()),
        Some("scores".into())
    );

    // A bad Last-Event-ID and an unknown competition are refused in the API's shape.
    let resp = app
        .client
        .get(&events)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], "bad_last_event_id");
    let (status, body) = app.get_json("/api/v1/competitions/nope/events", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("competition_not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_after_last_event_id_on_every_backend() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            workers: 0,
            ..AppOptions::default()
        })
        .await;
        resume(&app).await;
    }
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

/// Redblue orders the fixtures real_1 < fake_1 < real_2 < real_3 (see game.rs): AUC 1/3. With
/// real_3's score forced to 0, fake_1 beats real_1 and real_3: AUC 2/3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaderboard_is_cached_until_an_event_says_otherwise() {
    let mut app = spawn_app_with(AppOptions {
        backend: Backend::Sqlite,
        workers: 2,
        ..AppOptions::default()
    })
    .await;
    app.competition("cache").await;
    let alice = app.team("alice", "creator").await;
    let dana = app.team("dana", "detector").await;
    let mut subs = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        subs.push(accepted(app.post_real("cache", &video(name)).await).await);
    }
    let real_3 = subs[2];
    subs.push(
        accepted(
            app.post_creation("cache", Some(&alice), &video("fake_1.mp4"))
                .await,
        )
        .await,
    );
    subs.push(accepted(app.post_detector("cache", Some(&dana), "redblue").await).await);
    for id in &subs {
        let done = app.wait_submission(*id, WAIT).await;
        assert_eq!(done["status"], "finished", "{done}");
    }
    app.wait_idle(WAIT).await;
    app.stop_workers().await;

    let events = app.url("/api/v1/competitions/cache/events");
    let mut stream = EventStream::connect(&app.client, &events, None).await;
    // Let the last events of the game pass, then read the board.
    while stream
        .next_event(Duration::from_millis(800))
        .await
        .is_some()
    {}
    let (_, before) = app
        .get_json("/api/v1/competitions/cache/leaderboard", None)
        .await;
    assert!(
        close(&before["detection"][0]["score"], 1.0 / 3.0),
        "{before}"
    );

    // A score changes behind the server's back, with no event: the cached board stays.
    let video_id = arena::repo::videos::list_for_submission(app.ctx.db(), real_3)
        .await
        .ok()
        .and_then(|v| v.first().map(|v| v.id))
        .unwrap_or_default();
    let changed = arena::entities::scores::Entity::update_many()
        .col_expr(arena::entities::scores::Column::Score, Expr::value(0.0))
        .filter(arena::entities::scores::Column::VideoId.eq(video_id))
        .exec(app.ctx.db())
        .await
        .map(|r| r.rows_affected)
        .unwrap_or_default();
    assert_eq!(changed, 1);
    let (_, cached) = app
        .get_json("/api/v1/competitions/cache/leaderboard", None)
        .await;
    assert_eq!(cached, before, "served from the cache");

    // A worker's `scores` event: once it is seen on the stream, the board has the new number.
    let comp = before["competition"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let comp_id = arena::repo::competitions::find_by_slug(app.ctx.db(), &comp)
        .await
        .ok()
        .flatten()
        .map(|c| c.id)
        .unwrap_or_default();
    let id = arena::repo::events::append(
        app.ctx.db(),
        comp_id,
        "scores",
        &serde_json::json!({ "detector_submission": subs[4], "creation_submissions": [subs[3]] }),
    )
    .await
    .map(|e| e.id)
    .unwrap_or_default();
    stream
        .until(EVENT_WAIT, |e| e.id == Some(id))
        .await
        .expect("the scores event is pushed");
    let (_, after) = app
        .get_json("/api/v1/competitions/cache/leaderboard", None)
        .await;
    assert!(close(&after["detection"][0]["score"], 2.0 / 3.0), "{after}");
    let page = app
        .client
        .get(app.url("/c/cache"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    assert!(page.contains("0.6667"), "the page is rebuilt too");
}
