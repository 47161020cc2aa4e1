//! Team webhooks: a real HTTP receiver on 127.0.0.1 records what the arena sends when a
//! submission finishes; the test checks the HMAC-SHA256 signature with the team's secret, the
//! retries with backoff, the refusal of private addresses and who may see or set a webhook.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use arena_tests::{AppOptions, TestApp, backends, spawn_app_with};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(120);

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    signature: String,
    delivery: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<Received>>,
    /// Statuses to answer, in order; 200 once they run out.
    script: Mutex<VecDeque<u16>>,
}

/// Starts a receiver on 127.0.0.1:0; returns its URL and state.
async fn receiver(script: &[u16]) -> (String, Arc<Receiver>) {
    let state = Arc::new(Receiver {
        got: Mutex::new(Vec::new()),
        script: Mutex::new(script.iter().copied().collect()),
    });
    let data = web::Data::from(state.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(record))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap_or_else(|e| panic!("{e}"))
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), state)
}

async fn record(req: HttpRequest, body: web::Bytes, state: web::Data<Receiver>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    state
        .got
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Received {
            signature: header("x-arena-signature"),
            delivery: header("x-arena-delivery"),
            body: body.to_vec(),
        });
    let code = state
        .script
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop_front()
        .unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap_or_default()).finish()
}

fn got(r: &Receiver) -> Vec<Received> {
    r.got.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

async fn wait_for(r: &Receiver, n: usize, timeout: Duration) -> Vec<Received> {
    let start = Instant::now();
    loop {
        let all = got(r);
        if all.len() >= n {
            return all;
        }
        assert!(
            start.elapsed() < timeout,
            "only {} of {n} requests came",
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    team: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, app.url(&format!("/api/v1/teams/{team}/webhook")))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn accepted(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    resp.json::<Value>().await.unwrap_or_default()["id"]
        .as_i64()
        .unwrap_or_default()
}

fn fast(s: &mut arena::config::Settings) {
    s.webhooks.allow_private = true;
    s.webhooks.backoff_s = vec![0.2, 0.2, 0.2];
    s.webhooks.poll_ms = 50;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_detector_notifies_its_team_with_a_signed_request() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            tweak: fast,
            ..AppOptions::default()
        })
        .await;
        let (url, rx) = receiver(&[]).await;
        app.competition("w").await;
        let dana = app.team("dana", "detector").await;
        let (status, body) = call(
            &app,
            reqwest::Method::PUT,
            "dana",
            &dana,
            Some(json!({ "url": url })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let secret = body["secret"].as_str().unwrap_or_default().to_owned();
        assert!(secret.len() >= 32, "{body}");
        // The secret is shown once: GET has the URL only.
        let (status, shown) = call(&app, reqwest::Method::GET, "dana", &dana, None).await;
        assert_eq!(
            (status, shown["url"].as_str()),
            (200, Some(url.as_str())),
            "{shown}"
        );
        assert!(!shown.to_string().contains(&secret), "{shown}");

        let d = accepted(app.post_detector("w", Some(&dana), "redblue").await).await;
        let sub = app.wait_submission(d, WAIT).await;
        assert_eq!(sub["status"], "finished", "{sub}");
        let all = wait_for(&rx, 1, Duration::from_secs(20)).await;
        // Exactly one request: nothing more comes after a while.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let all = if got(&rx).len() == all.len() {
            all
        } else {
            got(&rx)
        };
        assert_eq!(all.len(), 1, "{all:?}");
        let r = &all[0];
        assert_eq!(
            r.signature,
            format!("sha256={}", hmac_hex(&secret, &r.body))
        );
        assert_ne!(
            r.signature,
            format!("sha256={}", hmac_hex("wrong secret!!!!", &r.body))
        );
        let payload: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        assert_eq!(payload["event"], "submission.finished", "{payload}");
        assert_eq!(payload["submission"], d);
        assert_eq!(payload["competition"], "w");
        assert_eq!(payload["team"], "dana");
        assert_eq!(payload["status"], "finished");
        assert!(
            payload["at_ms"].as_i64().unwrap_or_default() > 0,
            "{payload}"
        );
        let (_, shown) = call(&app, reqwest::Method::GET, "dana", &dana, None).await;
        let delivery = &shown["deliveries"][0];
        assert_eq!(delivery["id"].to_string(), r.delivery, "{shown}");
        assert_eq!(
            (
                delivery["attempts"].as_i64(),
                delivery["last_status"].as_i64()
            ),
            (Some(1), Some(200)),
            "{shown}"
        );
        assert!(delivery["delivered_at_ms"].as_i64().is_some(), "{shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_delivery_again_with_backoff() {
    let app = spawn_app_with(AppOptions {
        tweak: fast,
        ..AppOptions::default()
    })
    .await;
    let (url, rx) = receiver(&[500, 500]).await;
    app.competition("w").await;
    let dana = app.team("dana", "detector").await;
    let secret = "a shared secret of ours";
    let (status, body) = call(
        &app,
        reqwest::Method::PUT,
        "dana",
        &dana,
        Some(json!({ "url": url, "secret": secret })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("secret").is_none(),
        "a given secret is not echoed: {body}"
    );
    let d = accepted(app.post_detector("w", Some(&dana), "redblue").await).await;
    app.wait_submission(d, WAIT).await;
    let all = wait_for(&rx, 3, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let all = if got(&rx).len() == all.len() {
        all
    } else {
        got(&rx)
    };
    assert_eq!(all.len(), 3, "500, 500, then 200 and no more: {all:?}");
    // The same delivery each time, with the same signed body.
    for r in &all {
        assert_eq!(r.delivery, all[0].delivery);
        assert_eq!(r.body, all[0].body);
        assert_eq!(r.signature, format!("sha256={}", hmac_hex(secret, &r.body)));
    }
    let (_, shown) = call(&app, reqwest::Method::GET, "dana", &dana, None).await;
    let delivery = &shown["deliveries"][0];
    assert_eq!(delivery["attempts"], 3, "{shown}");
    assert_eq!(delivery["last_status"], 200, "{shown}");
    assert!(delivery["next_at_ms"].is_null(), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_ok_is_given_up() {
    let app = spawn_app_with(AppOptions {
        tweak: fast,
        ..AppOptions::default()
    })
    .await;
    let (url, rx) = receiver(&[503; 10]).await;
    app.competition("w").await;
    let dana = app.team("dana", "detector").await;
    let (status, _) = call(
        &app,
        reqwest::Method::PUT,
        "dana",
        &dana,
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(status, 200);
    let d = accepted(app.post_detector("w", Some(&dana), "redblue").await).await;
    app.wait_submission(d, WAIT).await;
    // backoff_s has three steps: four attempts in all, then it is given up.
    wait_for(&rx, 4, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(got(&rx).len(), 4);
    let (_, shown) = call(&app, reqwest::Method::GET, "dana", &dana, None).await;
    let delivery = &shown["deliveries"][0];
    assert_eq!(delivery["attempts"], 4, "{shown}");
    assert_eq!(delivery["last_status"], 503, "{shown}");
    assert!(delivery["gave_up_at_ms"].as_i64().is_some(), "{shown}");
    assert!(delivery["delivered_at_ms"].is_null(), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_and_other_teams_are_kept_out() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    let dana = app.team("dana", "detector").await;
    let carl = app.team("carl", "creator").await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
    ] {
        let (status, body) = call(
            &app,
            reqwest::Method::PUT,
            "dana",
            &dana,
            Some(json!({ "url": url })),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("webhook_address_refused")),
            "{url}: {body}"
        );
    }
    for url in [
        "ftp://example.com/x",
        "not a url",
        "http://user:pw@example.com/",
    ] {
        let (status, body) = call(
            &app,
            reqwest::Method::PUT,
            "dana",
            &dana,
            Some(json!({ "url": url })),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("invalid_webhook_url")),
            "{url}: {body}"
        );
    }
    // Nothing was stored by the refusals.
    let (status, body) = call(&app, reqwest::Method::GET, "dana", &dana, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("webhook_not_found")),
        "{body}"
    );

    // An organizer sets it for dana (still refused for a private host: the setting is per server).
    let admin = app.admin_token.clone();
    let (status, _) = call(
        &app,
        reqwest::Method::PUT,
        "dana",
        &admin,
        Some(json!({ "url": "http://127.0.0.1/x" })),
    )
    .await;
    assert_eq!(status, 422);
    // Another team can neither set, read nor remove dana's webhook.
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::GET,
        reqwest::Method::DELETE,
    ] {
        let body =
            (method == reqwest::Method::PUT).then(|| json!({ "url": "https://example.com/x" }));
        let (status, resp) = call(&app, method.clone(), "dana", &carl, body).await;
        assert_eq!(
            (status, resp["code"].as_str()),
            (403, Some("not_yours")),
            "{method}: {resp}"
        );
    }
    // Nor can anyone without a token.
    let resp = app
        .client
        .get(app.url("/api/v1/teams/dana/webhook"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 401);
    // Removing a webhook that is not there is no error (idempotent).
    let (status, body) = call(&app, reqwest::Method::DELETE, "dana", &dana, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = call(&app, reqwest::Method::POST, "dana", &dana, None).await;
    assert_eq!(status, 405, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_webhook_is_not_called() {
    let app = spawn_app_with(AppOptions {
        tweak: fast,
        ..AppOptions::default()
    })
    .await;
    let (url, rx) = receiver(&[]).await;
    app.competition("w").await;
    let dana = app.team("dana", "detector").await;
    let admin = app.admin_token.clone();
    let (status, _) = call(
        &app,
        reqwest::Method::PUT,
        "dana",
        &admin,
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&app, reqwest::Method::DELETE, "dana", &dana, None).await;
    assert_eq!(status, 204);
    let d = accepted(app.post_detector("w", Some(&dana), "redblue").await).await;
    app.wait_submission(d, WAIT).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(got(&rx).is_empty());
    // A deleted team takes its webhook with it.
    let (status, _) = call(
        &app,
        reqwest::Method::PUT,
        "dana",
        &dana,
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(status, 200);
    let resp = app
        .client
        .delete(app.url("/api/v1/teams/dana"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(resp.status().is_success(), "{}", resp.status());
    use sea_orm::{EntityTrait, PaginatorTrait};
    let hooks = arena::entities::team_webhooks::Entity::find()
        .count(app.ctx.db())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hooks, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_creation_notifies_its_team() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            workers: 0,
            tweak: |s| {
                fast(s);
                s.queue.max_attempts = 1;
            },
            ..AppOptions::default()
        })
        .await;
        let (url, rx) = receiver(&[]).await;
        app.competition("w").await;
        let alice = app.team("alice", "creator").await;
        let (status, body) = call(
            &app,
            reqwest::Method::PUT,
            "alice",
            &alice,
            Some(json!({ "url": url })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let secret = body["secret"].as_str().unwrap_or_default().to_owned();
        let a = accepted(
            app.post_creation("w", Some(&alice), &arena_datasets::video("fake_1.mp4"))
                .await,
        )
        .await;
        // Its stored video goes missing before any worker runs: preparing it fails.
        let videos = arena::repo::videos::list_for_submission(app.ctx.db(), a)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let key = &videos
            .first()
            .unwrap_or_else(|| panic!("a video"))
            .storage_key;
        std::fs::remove_file(app.dir.path().join("objects").join(key))
            .unwrap_or_else(|e| panic!("{e}"));
        let pool = arena_web::spawn_workers(&app.ctx, 1);
        let failed = app.wait_submission(a, WAIT).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        let all = wait_for(&rx, 1, Duration::from_secs(20)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(got(&rx).len(), 1, "{all:?}");
        let r = &all[0];
        assert_eq!(
            r.signature,
            format!("sha256={}", hmac_hex(&secret, &r.body))
        );
        let payload: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        assert_eq!(payload["event"], "submission.failed", "{payload}");
        assert_eq!(payload["status"], "failed", "{payload}");
        assert_eq!(payload["submission"], a);
        assert_eq!(payload["team"], "alice");
        pool.stop().await;
    }
}
