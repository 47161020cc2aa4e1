//! The whole web flow in real headless Chromium (Debian's chromium + chromedriver, driven over
//! WebDriver by fantoccini): a spectator opens the board; a detector team logs in, uploads a
//! model through the form, watches its submission page reach `finished`; the spectator's board
//! gets the new row over SSE without a reload. Screenshots land in `tests/artifacts/`.
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

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

async fn shot(c: &Client, name: &str) {
    match c.screenshot().await {
        Ok(png) => {
            let _ = std::fs::write(artifacts().join(name), png);
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
    let caps = json!({
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
    shot(&c, "01-board-before.png").await;

    // The detector team, in another window: log in, upload through the form.
    let other = c.new_window(false).await.expect("new window");
    c.switch_to_window(other.handle).await.expect("switch");
    c.goto(&app.url("/login")).await.expect("login page");
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
    shot(&c, "02-team-page-upload-form.png").await;
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
    shot(&c, "03-submission-running.png").await;
    wait_text(&c, "#status", WAIT, |t| t == "finished").await;
    let progress = wait_text(&c, "#progress-text", Duration::from_secs(5), |t| {
        !t.is_empty()
    })
    .await;
    assert_eq!(progress, "4/4 pairs scored");
    shot(&c, "04-submission-finished.png").await;

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
    shot(&c, "05-board-after-live-update.png").await;
    let _ = c.close().await;
}
