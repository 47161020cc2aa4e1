//! The whole web flow in real headless Chromium (Debian's chromium + chromedriver, driven over
//! WebDriver by fantoccini): a spectator opens the board; a detector team logs in, uploads a
//! model through the form, watches its submission page reach `finished`; the spectator's board
//! gets the new row over SSE without a reload. A rater logs in, rates the fake it is shown and
//! the creation score on the board moves. At phone width (375 CSS px) the pages do not scroll
//! sideways. Every page visited is saved as a screenshot under `target/screenshots/`
//! (`$CARGO_TARGET_DIR/screenshots/` when that is set), named `<test>-<step>.png`.
//!
//! Without chromium or chromedriver the test fails with instructions, unless
//! `ARENA_SKIP_BROWSER=1`, where it prints SKIPPED.

use arena_datasets::video;
use arena_tests::{AppOptions, Backend, spawn_app_with};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(120);

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The browser and its driver, or why not.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let browser = which(&["chromium", "chromium-browser", "google-chrome"])
        .ok_or("no chromium binary on PATH")?;
    let driver = which(&["chromedriver"]).ok_or("no chromedriver on PATH")?;
    Ok((browser, driver))
}

/// Where screenshots go: the workspace's `target/screenshots/` (or `$CARGO_TARGET_DIR`'s).
fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("screenshots");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

async fn shot(c: &Client, name: &str) {
    match c.screenshot().await {
        Ok(png) => {
            let _ = std::fs::write(screenshots().join(name), png);
        }
        Err(e) => eprintln!("screenshot {name}: {e}"),
    }
}

/// Starts chromedriver on a free port; it is killed when the handle drops.
#[allow(clippy::expect_used)]
async fn start_driver(driver: &Path) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let child = tokio::process::Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        let ready = reqwest::get(format!("{url}/status"))
            .await
            .ok()
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ready {
            return (child, url);
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[allow(clippy::expect_used)]
async fn open_browser(driver_url: &str, binary: &Path, profile: &Path) -> Client {
    open_browser_sized(driver_url, binary, profile, None).await
}

/// A Chromium session; with `phone`, emulating a phone screen that many CSS px wide.
#[allow(clippy::expect_used)]
async fn open_browser_sized(
    driver_url: &str,
    binary: &Path,
    profile: &Path,
    phone: Option<u32>,
) -> Client {
    let mut caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": binary,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    if let Some(width) = phone {
        caps["goog:chromeOptions"]["mobileEmulation"] = json!({
            "deviceMetrics": { "width": width, "height": 800, "pixelRatio": 2.0, "touch": true }
        });
    }
    let Value::Object(caps) = caps else {
        unreachable!("a JSON object")
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("a Chromium session")
}

/// Polls `selector`'s text until `pred` holds.
async fn wait_text(
    c: &Client,
    selector: &str,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let start = Instant::now();
    loop {
        let text = match c.find(Locator::Css(selector)).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if pred(&text) {
            return text;
        }
        if start.elapsed() > timeout {
            shot(c, "timeout.png").await;
            panic!("{selector}: still {text:?} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn accepted(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    resp.json::<Value>().await.unwrap_or_default()["id"]
        .as_i64()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::expect_used)]
async fn login_upload_and_watch_the_board_in_chromium() {
    let (binary, driver) = match tools() {
        Ok(t) => t,
        Err(why) if std::env::var("ARENA_SKIP_BROWSER").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: browser test ({why}; ARENA_SKIP_BROWSER=1)");
            return;
        }
        Err(why) => panic!(
            "the browser test needs Debian's chromium and chromium-driver ({why}): \
             run scripts/bootstrap or `apt-get install chromium chromium-driver`; \
             ARENA_SKIP_BROWSER=1 skips it"
        ),
    };
    let app = spawn_app_with(AppOptions {
        backend: Backend::Sqlite,
        workers: 2,
        ..AppOptions::default()
    })
    .await;
    app.competition("web").await;
    let alice = app.team("alice", "creator").await;
    let dana = app.team("dana", "detector").await;
    let mut subs = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        subs.push(accepted(app.post_real("web", &video(name)).await).await);
    }
    subs.push(
        accepted(
            app.post_creation("web", Some(&alice), &video("fake_1.mp4"))
                .await,
        )
        .await,
    );
    for id in subs {
        app.wait_submission(id, WAIT).await;
    }

    let (_driver, driver_url) = start_driver(&driver).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let c = open_browser(&driver_url, &binary, profile.path()).await;

    // A spectator's window on the board: no detector yet.
    c.goto(&app.url("/c/web")).await.expect("board");
    let board = c.window().await.expect("window");
    let rows = c
        .find_all(Locator::Css("#detection tbody tr"))
        .await
        .expect("rows");
    assert!(rows.is_empty(), "no detector yet");
    c.execute("window.arenaMarker = 'same page'; return true;", vec![])
        .await
        .expect("marker");
    wait_text(&c, "#live-status", Duration::from_secs(10), |t| {
        t.starts_with("live")
    })
    .await;
    shot(&c, "upload-01-board-before.png").await;

    // The detector team, in another window: log in, upload through the form.
    let other = c.new_window(false).await.expect("new window");
    c.switch_to_window(other.handle).await.expect("switch");
    c.goto(&app.url("/login")).await.expect("login page");
    shot(&c, "upload-01b-login.png").await;
    c.find(Locator::Css("input[name=token]"))
        .await
        .expect("token field")
        .send_keys(&dana)
        .await
        .expect("type token");
    c.find(Locator::Css("#login-form button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("log in");
    wait_text(&c, "nav .who", Duration::from_secs(10), |t| {
        t.contains("dana")
    })
    .await;
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/teams/dana")
    );
    let (model, manifest) = arena_datasets::detector("redblue");
    let abs = |p: PathBuf| {
        std::fs::canonicalize(p)
            .expect("fixture")
            .display()
            .to_string()
    };
    c.find(Locator::Css("#detector-form input[name=model]"))
        .await
        .expect("model field")
        .send_keys(&abs(model))
        .await
        .expect("choose model");
    c.find(Locator::Css("#detector-form input[name=manifest]"))
        .await
        .expect("manifest field")
        .send_keys(&abs(manifest))
        .await
        .expect("choose manifest");
    shot(&c, "upload-02-team-page-upload-form.png").await;
    c.find(Locator::Css("#detector-form button"))
        .await
        .expect("upload button")
        .click()
        .await
        .expect("upload");

    // The upload script lands on the submission page, which refreshes itself to `finished`.
    let start = Instant::now();
    while !c
        .current_url()
        .await
        .expect("url")
        .path()
        .starts_with("/submissions/")
    {
        assert!(start.elapsed() < WAIT, "never reached the submission page");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shot(&c, "upload-03-submission-running.png").await;
    wait_text(&c, "#status", WAIT, |t| t == "finished").await;
    let progress = wait_text(&c, "#progress-text", Duration::from_secs(5), |t| {
        !t.is_empty()
    })
    .await;
    assert_eq!(progress, "4/4 pairs scored");
    shot(&c, "upload-04-submission-finished.png").await;

    // Back on the spectator's board: the row came over SSE, and the page never reloaded.
    c.switch_to_window(board).await.expect("switch back");
    let row = wait_text(&c, "#detection tbody tr", Duration::from_secs(20), |t| {
        t.contains("dana") && t.contains("0.3333")
    })
    .await;
    assert!(row.contains("4/4"), "{row}");
    let marker = c
        .execute("return window.arenaMarker || null;", vec![])
        .await
        .expect("marker");
    assert_eq!(marker, json!("same page"), "the board was not reloaded");
    let updates = c
        .execute(
            "return document.getElementById('board').dataset.updates || '0';",
            vec![],
        )
        .await
        .expect("updates");
    assert!(
        updates
            .as_str()
            .and_then(|u| u.parse::<u32>().ok())
            .unwrap_or(0)
            >= 1
    );
    shot(&c, "upload-05-board-after-live-update.png").await;
    let _ = c.close().await;
}

/// The browser and its driver, or None (with SKIPPED printed) under `ARENA_SKIP_BROWSER=1`.
fn browser_or_skip() -> Option<(PathBuf, PathBuf)> {
    match tools() {
        Ok(t) => Some(t),
        Err(why) if std::env::var("ARENA_SKIP_BROWSER").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: browser test ({why}; ARENA_SKIP_BROWSER=1)");
            None
        }
        Err(why) => panic!(
            "the browser test needs Debian's chromium and chromium-driver ({why}): \
             run scripts/bootstrap or `apt-get install chromium chromium-driver`; \
             ARENA_SKIP_BROWSER=1 skips it"
        ),
    }
}

async fn click(c: &Client, selector: &str) {
    c.find(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

async fn wait_path(c: &Client, path: &str) {
    let start = Instant::now();
    loop {
        let now = c.current_url().await.map(|u| u.path().to_owned()).ok();
        if now.as_deref() == Some(path) {
            return;
        }
        if start.elapsed() > Duration::from_secs(10) {
            shot(c, "timeout.png").await;
            panic!("never reached {path}: at {now:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::expect_used)]
async fn a_rater_rates_in_chromium_and_the_creation_score_moves() {
    let Some((binary, driver)) = browser_or_skip() else {
        return;
    };
    let app = arena_tests::spawn_app().await;
    let (alice_sub, _) = crate::scoring::game(&app, "rc", "dfgc2022").await;
    let (status, rater) = app
        .admin_post("/api/v1/competitions/rc/raters", json!({ "name": "rhea" }))
        .await;
    assert_eq!(status, 201, "{rater}");
    let token = rater["token"].as_str().expect("token").to_owned();

    let (_driver, driver_url) = start_driver(&driver).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let c = open_browser(&driver_url, &binary, profile.path()).await;
    let cell = format!("#creation tbody tr[data-key=\"{alice_sub}\"] td:nth-child(4)");
    c.goto(&app.url("/c/rc")).await.expect("board");
    let before = wait_text(&c, &cell, Duration::from_secs(10), |_| true).await;
    assert!(
        before.trim().parse::<f64>().is_err(),
        "no dfgc2022 score without ratings: {before:?}"
    );
    shot(&c, "rating-01-board-before.png").await;

    // The rater logs in and lands on its rating page.
    c.goto(&app.url("/login")).await.expect("login page");
    shot(&c, "rating-02-login.png").await;
    c.find(Locator::Css("input[name=token]"))
        .await
        .expect("token field")
        .send_keys(&token)
        .await
        .expect("type token");
    click(&c, "#login-form button").await;
    wait_path(&c, "/rate/rc").await;
    // The fake plays: Chromium fetches it from the rater's video route (with Range requests).
    let start = Instant::now();
    loop {
        let state = c
            .execute(
                "const v = document.getElementById('fake'); \
                 return [v.readyState, v.error ? v.error.code : 0, v.duration || 0];",
                vec![],
            )
            .await
            .expect("video state");
        if state[0].as_u64().unwrap_or(0) >= 1 {
            assert!(state[2].as_f64().unwrap_or(0.0) > 0.0, "{state}");
            break;
        }
        assert!(
            state[1].as_u64() == Some(0) && start.elapsed() < Duration::from_secs(15),
            "the fake never loaded: [readyState, error, duration] = {state}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let html = c.source().await.expect("source");
    assert!(
        !html.contains("rc-alice") && !html.contains("rc-bob"),
        "blind"
    );
    shot(&c, "rating-03-rate-page.png").await;

    // Four on every axis, through the form.
    for axis in ["realism", "quality", "expression", "mouth", "identity"] {
        click(&c, &format!("#axis-{axis} input[value=\"4\"]")).await;
    }
    click(&c, "#rate-form button").await;
    wait_text(&c, "#rated-count", Duration::from_secs(10), |t| t == "1").await;
    shot(&c, "rating-04-rated-one.png").await;

    // The board: alice's creation now scores 5·4 + 5·(1 − 5/12).
    c.goto(&app.url("/c/rc")).await.expect("board");
    let after = wait_text(&c, &cell, Duration::from_secs(10), |t| {
        t.trim().parse::<f64>().is_ok()
    })
    .await;
    let score: f64 = after.trim().parse().unwrap_or(f64::NAN);
    assert!((score - (20.0 + 35.0 / 12.0)).abs() < 1e-3, "{after}");
    shot(&c, "rating-05-board-after.png").await;
    let _ = c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::expect_used)]
async fn the_pages_fit_a_phone_screen_in_chromium() {
    let Some((binary, driver)) = browser_or_skip() else {
        return;
    };
    let app = arena_tests::spawn_app().await;
    let (creation, _) = crate::scoring::game(&app, "phone", "dfgc2021").await;
    let (_, board) = app
        .get_json("/api/v1/competitions/phone/leaderboard", None)
        .await;
    let detector = board["detection"][0]["submission"]
        .as_i64()
        .expect("a detector");

    let (_driver, driver_url) = start_driver(&driver).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let c = open_browser_sized(&driver_url, &binary, profile.path(), Some(375)).await;
    let pages = [
        ("/", "index"),
        ("/c/phone", "board"),
        ("/c/phone/matrix", "matrix"),
        (&*format!("/c/phone/detectors/{detector}"), "detector"),
        (&*format!("/c/phone/creations/{creation}"), "creation"),
        ("/login", "login"),
        ("/register", "register"),
    ];
    let mut wide = Vec::new();
    for (path, name) in pages {
        c.goto(&app.url(path)).await.expect("page");
        let sizes = c
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .expect("sizes");
        let (scroll, inner) = (sizes[0].as_u64(), sizes[1].as_u64());
        shot(&c, &format!("phone-{name}.png")).await;
        // A phone browser widens its layout viewport (innerWidth) to fit content wider than
        // the screen, so both numbers are checked against the screen's 375 px.
        if inner != Some(375) || scroll > inner {
            wide.push(format!(
                "{path}: scrollWidth {scroll:?}, innerWidth {inner:?}"
            ));
        }
    }
    assert!(wide.is_empty(), "pages scroll sideways at 375 px: {wide:?}");
    let _ = c.close().await;
}
