//! A detector's page draws its ROC curve as server-rendered SVG whose polyline integrates (by the
//! trapezoid rule) to the AUC the board shows, pooled and per creation; the board and the matrix
//! link to it; unknown and non-detector submissions are 404s. `arena leaderboard` prints the same
//! board as aligned tables.

#![allow(
    clippy::expect_used,
    reason = "a test fails loudly where the app misbehaves"
)]

use arena_datasets::video;
use arena_tests::web::WebClient;
use arena_tests::{AppOptions, Backend, TestApp, spawn_app_with};
use serde_json::Value;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(120);

async fn accepted(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    let body: Value = resp.json().await.unwrap_or_default();
    body["id"].as_i64().unwrap_or_default()
}

/// The `points` attribute of the first `<polyline …>` whose tag contains `marker`, as (x, y).
fn polyline(html: &str, marker: &str) -> Vec<(f64, f64)> {
    let tag = html
        .split("<polyline")
        .skip(1)
        .map(|t| t.split('>').next().unwrap_or_default())
        .find(|t| t.contains(marker))
        .unwrap_or_else(|| panic!("no polyline with {marker} in {html}"));
    let points = tag
        .split("points=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("points attribute");
    points
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').expect("x,y");
            (x.parse().expect("x number"), y.parse().expect("y number"))
        })
        .collect()
}

/// Area under a polyline by the trapezoid rule.
fn trapezoid(points: &[(f64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum()
}

/// Polls the public leaderboard until the detector's pooled AUC is there (the boards cache is
/// rebuilt from events).
async fn board_with_pooled_auc(app: &TestApp, detector: i64) -> Value {
    let start = Instant::now();
    loop {
        let (status, board) = app
            .get_json("/api/v1/competitions/game/leaderboard", None)
            .await;
        assert_eq!(status, 200);
        let ready = board["detection"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["submission"] == detector && r["pooled_auc"].is_f64());
        if ready {
            return board;
        }
        assert!(start.elapsed() < WAIT, "board never complete: {board}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detector_page_curve_integrates_to_the_boards_auc_and_cli_prints_aligned_tables() {
    let app = spawn_app_with(AppOptions {
        backend: Backend::Sqlite,
        workers: 2,
        ..AppOptions::default()
    })
    .await;
    app.competition("game").await;
    let alice = app.team("alice", "creator").await;
    let bob = app.team("bob", "creator").await;
    let dana = app.team("dana", "detector").await;
    let mut subs = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        subs.push(accepted(app.post_real("game", &video(name)).await).await);
    }
    let a = accepted(
        app.post_creation("game", Some(&alice), &video("fake_1.mp4"))
            .await,
    )
    .await;
    let b = accepted(
        app.post_creation("game", Some(&bob), &video("fake_2.mp4"))
            .await,
    )
    .await;
    let d = accepted(app.post_detector("game", Some(&dana), "redblue").await).await;
    subs.extend([a, b, d]);
    for id in &subs {
        let done = app.wait_submission(*id, WAIT).await;
        assert_eq!(done["status"], "finished", "{done}");
    }
    let board = board_with_pooled_auc(&app, d).await;
    let row = board["detection"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["submission"] == d)
        .cloned()
        .unwrap_or_default();
    let pooled = row["pooled_auc"].as_f64().expect("pooled AUC");

    // The board and the matrix link the detector to its page.
    let mut anon = WebClient::new(&app.address);
    let page_path = format!("/c/game/detectors/{d}");
    let board_page = anon.get("/c/game").await;
    assert!(
        board_page.body.contains(&format!("href=\"{page_path}\"")),
        "{}",
        board_page.body
    );
    let matrix = anon.get("/c/game/matrix").await;
    assert!(
        matrix.body.contains(&format!("href=\"{page_path}\"")),
        "{}",
        matrix.body
    );

    // The page is public; its pooled curve integrates to the board's pooled AUC.
    let page = anon.get(&page_path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // Server-rendered, nothing inline for the CSP to refuse.
    assert!(!page.body.contains(" style=") && !page.body.contains("<script"));
    let curve = polyline(&page.body, "id=\"roc-pooled\"");
    assert_eq!(curve.first(), Some(&(0.0, 0.0)));
    assert_eq!(curve.last(), Some(&(1.0, 1.0)));
    assert!(
        curve
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1),
        "{curve:?}"
    );
    let area = trapezoid(&curve);
    assert!(
        (area - pooled).abs() < 1e-9,
        "curve area {area} vs board {pooled}"
    );
    assert!(page.body.contains(&format!("{pooled:.4}")));
    // The accessible table holds every point of the curve (caption + header + rows).
    let table = page
        .body
        .split("<table id=\"roc-points\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("points table");
    assert_eq!(table.matches("<tr>").count(), curve.len() + 1);

    // One curve per creation, each integrating to the matrix's pair AUC.
    let (_, m) = app.get_json("/api/v1/competitions/game/matrix", None).await;
    let row_of_d = m["detectors"]
        .as_array()
        .into_iter()
        .flatten()
        .position(|x| x["submission"] == d)
        .expect("detector in the matrix");
    for (j, c) in m["creations"].as_array().into_iter().flatten().enumerate() {
        let auc = m["auc"][row_of_d][j].as_f64().expect("pair AUC");
        let sub = c["submission"].as_i64().unwrap_or_default();
        let curve = polyline(&page.body, &format!("data-creation=\"{sub}\""));
        assert!((trapezoid(&curve) - auc).abs() < 1e-9, "creation {sub}");
        assert!(page.body.contains(&format!("{auc:.4}")));
    }
    // The threshold the board publishes, and the worst misses by video id only.
    let tau = row["threshold"].as_f64().expect("threshold");
    assert!(page.body.contains(&format!("id=\"threshold\">{tau:.4}<")));
    assert!(page.body.contains("id=\"missed-reals\"") && page.body.contains("id=\"missed-fakes\""));
    assert!(
        !page.body.contains("real_1") && !page.body.contains("fake_1"),
        "no file names"
    );

    // The JSON behind it agrees.
    let (status, json) = app
        .get_json(&format!("/api/v1/competitions/game/detectors/{d}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(json["report"]["pooled"]["auc"].as_f64(), Some(pooled));

    // Unknown submissions, creations and junk are 404s, as pages and as JSON.
    for bad in [format!("{}", d + 1000), format!("{a}"), "x".to_owned()] {
        let page = anon.get(&format!("/c/game/detectors/{bad}")).await;
        assert_eq!(page.status, 404, "{bad}");
        assert!(
            page.body.contains("data-code=\"detector_not_found\""),
            "{}",
            page.body
        );
        let (status, json) = app
            .get_json(&format!("/api/v1/competitions/game/detectors/{bad}"), None)
            .await;
        assert_eq!(
            (status, json["code"].as_str()),
            (404, Some("detector_not_found"))
        );
    }
    assert_eq!(
        anon.get(&format!("/c/nope/detectors/{d}")).await.status,
        404
    );

    // `arena leaderboard` (the real binary, against this server): aligned tables, every row.
    let out = tokio::process::Command::new(arena_tests::arena_bin())
        .args(["leaderboard", "game", "--server", &app.address])
        .output()
        .await
        .expect("run arena");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let tables: Vec<Vec<&str>> = text
        .split("\n\n")
        .map(|t| t.lines().skip(1).collect())
        .collect();
    assert_eq!(tables.len(), 3, "{text}");
    let teams = |key: &str| -> Vec<String> {
        board[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["team"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(teams("detection").contains(&"dana".to_owned()));
    assert!(
        teams("creation").contains(&"alice".to_owned())
            && teams("creation").contains(&"bob".to_owned())
    );
    for (t, key) in tables.iter().zip(["detection", "creation", "ratings"]) {
        // Same width on every line, and the column separators at the same places.
        let bars = |l: &str| -> Vec<usize> {
            l.chars()
                .enumerate()
                .filter(|(_, c)| matches!(c, '│' | '┆' | '|'))
                .map(|(i, _)| i)
                .collect()
        };
        let content: Vec<&&str> = t.iter().filter(|l| l.starts_with('│')).collect();
        let rows = board[key].as_array().map_or(0, Vec::len);
        // The header and one line per row.
        assert_eq!(content.len(), rows + 1, "{key}: {text}");
        let width = t[0].chars().count();
        assert!(
            t.iter().all(|l| l.chars().count() == width),
            "{key}: {text}"
        );
        assert!(
            content.iter().all(|l| bars(l) == bars(content[0])),
            "{key}: {text}"
        );
        for n in teams(key) {
            assert!(
                content.iter().any(|l| l.contains(&n)),
                "{key} lacks {n}: {text}"
            );
        }
    }
    assert!(
        tables[0]
            .iter()
            .any(|l| l.contains(&format!("{pooled:.4}"))),
        "{text}"
    );

    // Uploads stream through the CLI (its bar is hidden: stderr is no terminal here), and
    // `status --watch` follows the new submission to its end with plain lines.
    let cli = |args: Vec<String>| async move {
        let out = tokio::process::Command::new(arena_tests::arena_bin())
            .args(&args)
            .output()
            .await
            .expect("run arena");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {stdout} {stderr}");
        assert!(
            !stderr.contains("uploading"),
            "no bar off a terminal: {stderr}"
        );
        stdout
    };
    let server = app.address.clone();
    let said = cli(vec![
        "submit".into(),
        "creation".into(),
        video("fake_2.mp4").display().to_string(),
        "--competition".into(),
        "game".into(),
        "--server".into(),
        server.clone(),
        "--token".into(),
        alice.clone(),
    ])
    .await;
    let id: i64 = said
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no id in {said}"));
    let (model, manifest) = arena_datasets::detector("redblue");
    let said = cli(vec![
        "submit".into(),
        "detector".into(),
        model.display().to_string(),
        manifest.display().to_string(),
        "--competition".into(),
        "game".into(),
        "--server".into(),
        server.clone(),
        "--token".into(),
        dana.clone(),
    ])
    .await;
    assert!(said.starts_with("submission "), "{said}");
    let watched = cli(vec![
        "status".into(),
        id.to_string(),
        "--watch".into(),
        "--server".into(),
        server,
        "--token".into(),
        alice.clone(),
    ])
    .await;
    let last = watched.lines().last().unwrap_or_default();
    assert!(last.starts_with(&format!("#{id} finished")), "{watched}");
    let stored = app.wait_submission(id, WAIT).await;
    assert_eq!(stored["status"], "finished", "{stored}");
}

/// The `data-key` of the first row of the table `id`.
fn first_key(html: &str, id: &str) -> i64 {
    html.split(&format!("<table id=\"{id}\">"))
        .nth(1)
        .and_then(|t| t.split("<tr data-key=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("no row in #{id}: {html}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_page_thumbnails_load_for_the_team_and_are_refused_to_others() {
    let app = spawn_app_with(AppOptions {
        backend: Backend::Sqlite,
        workers: 2,
        ..AppOptions::default()
    })
    .await;
    app.competition("game").await;
    let alice = app.team("alice", "creator").await;
    let bob = app.team("bob", "creator").await;
    let dana = app.team("dana", "detector").await;
    let mut subs = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        subs.push(accepted(app.post_real("game", &video(name)).await).await);
    }
    let a = accepted(
        app.post_creation("game", Some(&alice), &video("fake_1.mp4"))
            .await,
    )
    .await;
    let b = accepted(
        app.post_creation("game", Some(&bob), &video("fake_2.mp4"))
            .await,
    )
    .await;
    let d = accepted(app.post_detector("game", Some(&dana), "redblue").await).await;
    subs.extend([a, b, d]);
    for id in &subs {
        let done = app.wait_submission(*id, WAIT).await;
        assert_eq!(done["status"], "finished", "{done}");
    }
    board_with_pooled_auc(&app, d).await;

    // The board links every creation and lists the fakes that fooled a detector: alice's fake
    // scores below dana's threshold (their pair AUC is 1/3), bob's above every real (AUC 1).
    let mut anon = WebClient::new(&app.address);
    let board = anon.get("/c/game").await;
    for c in [a, b] {
        assert!(
            board
                .body
                .contains(&format!("href=\"/c/game/creations/{c}\"")),
            "{}",
            board.body
        );
    }
    let hardest = board
        .body
        .split("<table id=\"hardest\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_else(|| panic!("no hardest fakes: {}", board.body));
    assert!(hardest.contains(&format!("alice #{a}")) && !hardest.contains(&format!("bob #{b}")));
    assert!(hardest.contains("1/1"), "{hardest}");
    let matrix = anon.get("/c/game/matrix").await;
    assert!(
        matrix
            .body
            .contains(&format!("href=\"/c/game/creations/{a}\""))
    );

    // The page is public, its crops are not.
    let public = anon.get(&format!("/c/game/creations/{a}")).await;
    assert_eq!(public.status, 200, "{}", public.body);
    assert!(
        public.body.contains(&format!("dana #{d}")),
        "{}",
        public.body
    );
    assert!(!public.body.contains("<img"));
    let fake = first_key(&public.body, "fakes");
    let mut team = WebClient::new(&app.address);
    team.login(&alice).await;
    let own = team.get(&format!("/c/game/creations/{a}")).await;
    let src = format!("src=\"/videos/{fake}/crops/0\"");
    assert!(own.body.contains(&src), "{}", own.body);
    let thumb_path = format!("/videos/{fake}/crops/0");
    let thumb = team.get(&thumb_path).await;
    assert_eq!(thumb.status, 200, "{}", thumb.body);
    assert_eq!(thumb.content_type, "image/jpeg");
    // Served again from the stored thumbnail, byte for byte.
    let again = team.get(&thumb_path).await;
    assert_eq!((again.status, again.body.len()), (200, thumb.body.len()));
    assert!(
        app.stored_objects()
            .iter()
            .any(|k| k.ends_with(".thumb-0.jpg"))
    );
    let raw = app
        .client
        .get(app.url(&thumb_path))
        .header(
            reqwest::header::COOKIE,
            format!(
                "arena_session={}",
                team.cookie("arena_session").unwrap_or_default()
            ),
        )
        .send()
        .await
        .expect("thumbnail");
    let bytes = raw.bytes().await.unwrap_or_default();
    assert_eq!(bytes.get(..3), Some(&[0xFF, 0xD8, 0xFF][..]), "a JPEG");

    // Another team: 403 JSON; nobody logged in: 401 JSON; an organizer: the image.
    let mut other = WebClient::new(&app.address);
    other.login(&bob).await;
    let refused = other.get(&thumb_path).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["code"], "not_yours");
    let theirs = other.get(&format!("/c/game/creations/{a}")).await;
    assert!(!theirs.body.contains("<img"));
    let anon_thumb = anon.get(&thumb_path).await;
    assert_eq!(
        (anon_thumb.status, anon_thumb.json()["code"].as_str()),
        (401, Some("login_required"))
    );
    let mut admin = WebClient::new(&app.address);
    admin.login(&app.admin_token).await;
    assert_eq!(admin.get(&thumb_path).await.status, 200);
    // Past the last crop, and junk ids: 404.
    assert_eq!(
        team.get(&format!("/videos/{fake}/crops/9999")).await.status,
        404
    );
    assert_eq!(team.get("/videos/999999/crops/0").await.status, 404);

    // Unknown creations and detectors are 404 pages.
    for bad in [format!("{}", a + 1000), format!("{d}"), "x".to_owned()] {
        let page = anon.get(&format!("/c/game/creations/{bad}")).await;
        assert_eq!(page.status, 404, "{bad}");
        assert!(page.body.contains("data-code=\"creation_not_found\""));
    }
}
