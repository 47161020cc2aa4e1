//! Rate limits: sign-in attempts and token failures per client IP, uploads per team. Over the
//! limit a request gets 429 `rate_limited` with `Retry-After` (not the daily `quota_exceeded`),
//! and another address or team is not affected. Other client addresses come from 127.0.0.2.

use arena::config::RateLimits;
use arena_datasets::video;
use arena_tests::web::WebClient;
use arena_tests::{AppOptions, TestApp, spawn_app_with};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};

const OTHER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn client_from(ip: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `GET /api/v1/submissions/1` with `token` from `client`: (status, code, Retry-After).
async fn api_call(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
) -> (u16, String, Option<String>) {
    let resp = client
        .get(app.url("/api/v1/submissions/1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = resp.json().await.unwrap_or_default();
    let code = body["code"].as_str().unwrap_or_default().to_owned();
    (status, code, retry)
}

/// An app without workers (these tests only talk to the server), limits set by `tweak`.
async fn app_without_workers(tweak: fn(&mut arena::Settings)) -> TestApp {
    spawn_app_with(AppOptions {
        workers: 0,
        tweak,
        ..AppOptions::default()
    })
    .await
}

fn assert_retry_after(value: Option<&str>) {
    let secs: u64 = value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After missing or not seconds: {value:?}"));
    assert!((1..=3600).contains(&secs), "Retry-After {secs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_address() {
    let app = app_without_workers(|s| {
        s.rate_limits.auth = RateLimits {
            burst: 3,
            per_minute: 1,
        }
    })
    .await;
    let alice = app.team("alice", "creator").await;
    let mut browser = WebClient::new(&app.address);
    let csrf = browser.csrf("/login").await;
    for _ in 0..3 {
        let page = browser
            .post_form("/login", &[("token", "arena_1_nope"), ("csrf", &csrf)])
            .await;
        assert_eq!(page.status, 401, "{}", page.body);
    }
    // The fourth attempt is refused before the token is even looked at: a valid one too.
    let page = browser
        .post_form("/login", &[("token", &alice), ("csrf", &csrf)])
        .await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.body.contains("rate_limited"), "{}", page.body);
    assert_retry_after(page.retry_after.as_deref());
    assert!(browser.cookie("arena_session").is_none());

    // Another address signs in as usual.
    let mut elsewhere = WebClient::from_address(&app.address, Some(OTHER_IP));
    let page = elsewhere.login(&alice).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_failures_are_limited_per_address() {
    let app = app_without_workers(|s| {
        s.rate_limits.auth = RateLimits {
            burst: 3,
            per_minute: 1,
        }
    })
    .await;
    let bob = app.team("bob", "creator").await;
    let carol = app.team("carol", "creator").await;
    let here = reqwest::Client::new();
    // Bob's token is verified (and remembered) before the address runs out of attempts.
    assert_eq!(api_call(&app, &here, &bob).await.1, "submission_not_found");
    let wrong = format!("arena_1_{}", "0".repeat(64));
    for _ in 0..3 {
        let (status, code, _) = api_call(&app, &here, &wrong).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"));
    }
    let (status, code, retry) = api_call(&app, &here, &wrong).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    assert_retry_after(retry.as_deref());
    // A token not yet verified from this address waits too; one already verified does not.
    let (status, code, _) = api_call(&app, &here, &carol).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    let (status, _, _) = api_call(&app, &here, &bob).await;
    assert_ne!(status, 429);
    // Missing tokens cost no argon2 check and are not limited.
    let resp = here
        .get(app.url("/api/v1/submissions/1"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 401);

    // Another address is unaffected: its failures are its own, and Carol gets in from there.
    let there = client_from(OTHER_IP);
    let (status, code, _) = api_call(&app, &there, &wrong).await;
    assert_eq!((status, code.as_str()), (401, "invalid_token"));
    let (status, _, _) = api_call(&app, &there, &carol).await;
    assert_ne!(status, 429);
    assert_ne!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_limited_per_team() {
    let app = app_without_workers(|s| {
        s.rate_limits.uploads = RateLimits {
            burst: 2,
            per_minute: 1,
        }
    })
    .await;
    app.competition("c").await;
    let dan = app.team("dan", "creator").await;
    let eve = app.team("eve", "both").await;
    // Every upload counts, refused ones included (they cost a probe too).
    let text = video("not_a_video.mp4");
    for _ in 0..2 {
        let resp = app.post_creation("c", Some(&dan), &text).await;
        assert_eq!(resp.status().as_u16(), 415);
    }
    let resp = app
        .post_creation("c", Some(&dan), &video("fake_1.mp4"))
        .await;
    assert_eq!(resp.status().as_u16(), 429);
    let retry = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_retry_after(retry.as_deref());
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(app.submission_count().await, 0);

    // Another team has its own allowance, for creations and detectors alike.
    let resp = app
        .post_creation("c", Some(&eve), &video("fake_1.mp4"))
        .await;
    assert_eq!(resp.status().as_u16(), 202);
    let resp = app.post_detector("c", Some(&eve), "redblue").await;
    assert_eq!(resp.status().as_u16(), 202);
    let resp = app.post_detector("c", Some(&eve), "redblue").await;
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], "rate_limited", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizers_uploads_of_reals_are_limited_too() {
    let app = app_without_workers(|s| {
        s.rate_limits.uploads = RateLimits {
            burst: 1,
            per_minute: 1,
        }
    })
    .await;
    app.competition("c").await;
    let resp = app.post_real("c", &video("real_1.mp4")).await;
    assert_eq!(resp.status().as_u16(), 202);
    let resp = app.post_real("c", &video("real_2.mp4")).await;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!((status, &body["code"]), (429, &Value::from("rate_limited")));
}
