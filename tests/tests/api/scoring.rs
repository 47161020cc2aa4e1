//! Scores on the board: ratings with intervals, the matrix, CSV exports, the dfgc2022 preset
//! with imported human ratings, and the offline `arena score` CLI against the server's numbers.

use arena_datasets::video;
use arena_tests::{TestApp, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

async fn id_of(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    resp.json::<Value>().await.unwrap_or_default()["id"]
        .as_i64()
        .unwrap_or_default()
}

/// reals 1-3, alice = fake_1, bob = fake_2, dana = redblue, erin = constant.
pub(crate) async fn game(app: &TestApp, slug: &str, preset: &str) -> (i64, i64) {
    let (status, _) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": slug, "title": "t", "preset": preset }),
        )
        .await;
    assert_eq!(status, 201);
    let (alice, bob) = (
        app.team(&format!("{slug}-alice"), "creator").await,
        app.team(&format!("{slug}-bob"), "creator").await,
    );
    let (dana, erin) = (
        app.team(&format!("{slug}-dana"), "detector").await,
        app.team(&format!("{slug}-erin"), "detector").await,
    );
    let mut ids = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        ids.push(id_of(app.post_real(slug, &video(name)).await).await);
    }
    let a = id_of(
        app.post_creation(slug, Some(&alice), &video("fake_1.mp4"))
            .await,
    )
    .await;
    let b = id_of(
        app.post_creation(slug, Some(&bob), &video("fake_2.mp4"))
            .await,
    )
    .await;
    ids.extend([a, b]);
    ids.push(id_of(app.post_detector(slug, Some(&dana), "redblue").await).await);
    ids.push(id_of(app.post_detector(slug, Some(&erin), "constant").await).await);
    for id in ids {
        assert_eq!(app.wait_submission(id, WAIT).await["status"], "finished");
    }
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratings_matrix_and_exports() {
    let app = spawn_app().await;
    game(&app, "g", "dfgc2021").await;
    let (status, board) = app
        .get_json("/api/v1/competitions/g/leaderboard", None)
        .await;
    assert_eq!(status, 200);
    // dfgc2021 without tasks has no SSIM term: the board says its preset fell back (JSON, page).
    let why = board["preset_fallback"].as_str().unwrap_or_default();
    assert!(why.contains("anti-detection alone"), "{board}");
    for row in board["creation"].as_array().into_iter().flatten() {
        let (score, a) = (row["score"].as_f64(), row["anti_detection"].as_f64());
        assert!(score.is_some() && score == a, "ranked by A(c) alone: {row}");
    }
    let page = app
        .client
        .get(app.url("/c/g"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(page.contains("id=\"preset-fallback\""), "{page}");
    let ratings = board["ratings"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        ratings.len(),
        4,
        "two creator and two detector entries: {board}"
    );
    for r in &ratings {
        let (lo, x, hi) = (
            r["ci_low"].as_f64().unwrap_or(f64::NAN),
            r["rating"].as_f64().unwrap_or(f64::NAN),
            r["ci_high"].as_f64().unwrap_or(f64::NAN),
        );
        assert!(lo <= x && x <= hi, "{r}");
        assert!(
            matches!(r["role"].as_str(), Some("creator" | "detector")),
            "{r}"
        );
    }
    let mean: f64 = ratings
        .iter()
        .filter_map(|r| r["rating"].as_f64())
        .sum::<f64>()
        / 4.0;
    assert!(
        (mean - 1000.0).abs() < 1e-6,
        "ratings have mean 1000: {mean}"
    );
    // The detector τ at 5 % FPR on 3 reals is above the largest real score.
    let dana = board["detection"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["team"] == "g-dana")
        .cloned()
        .unwrap_or_default();
    assert!(dana["threshold"].as_f64().is_some(), "{dana}");

    let (status, matrix) = app.get_json("/api/v1/competitions/g/matrix", None).await;
    assert_eq!(status, 200);
    assert_eq!(matrix["auc"].as_array().map(Vec::len), Some(2));
    let dana_row = matrix["detectors"]
        .as_array()
        .into_iter()
        .flatten()
        .position(|d| d["team"] == "g-dana")
        .unwrap_or(9);
    let alice_col = matrix["creations"]
        .as_array()
        .into_iter()
        .flatten()
        .position(|c| c["team"] == "g-alice")
        .unwrap_or(9);
    assert!(
        (matrix["auc"][dana_row][alice_col].as_f64().unwrap_or(0.0) - 1.0 / 3.0).abs() < 1e-9,
        "{matrix}"
    );

    let csv = app
        .client
        .get(app.url("/api/v1/competitions/g/leaderboard?format=csv&board=ratings"))
        .send()
        .await;
    let csv = csv
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(
        csv.starts_with("rank,team,role,rating,ci_low,ci_high"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dfgc2022_scores_creations_with_imported_human_ratings() {
    let app = spawn_app().await;
    let (a, b) = game(&app, "h", "dfgc2022").await;
    let (_, board) = app
        .get_json("/api/v1/competitions/h/leaderboard", None)
        .await;
    assert_eq!(
        board["preset_fallback"],
        Value::Null,
        "dfgc2022 needs no tasks"
    );
    let post = |body: String, token: String| {
        let req = app
            .client
            .post(app.url("/api/v1/competitions/h/ratings"))
            .bearer_auth(token)
            .header("content-type", "text/csv");
        req.body(body).send()
    };
    let bad = post(
        format!("creation,axis,value\n{a},realism,7\n"),
        app.admin_token.clone(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status().as_u16(), 422);
    let body: Value = bad.json().await.unwrap_or_default();
    assert_eq!(body["code"], "invalid_ratings");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("line 2"),
        "{body}"
    );
    let alice_token = app.team("h-someone", "creator").await;
    let forbidden = post("creation,axis,value\n".into(), alice_token)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(forbidden.status().as_u16(), 403);

    // Two raters for alice's realism (mean 4); all five axes for both creations.
    let mut csv = String::from("creation,axis,value\n");
    for (sub, vals) in [
        (a, [3.0, 3.0, 5.0, 2.0, 4.0]),
        (b, [1.0, 1.0, 1.0, 1.0, 1.0]),
    ] {
        for (axis, v) in ["realism", "quality", "expression", "mouth", "identity"]
            .iter()
            .zip(vals)
        {
            csv.push_str(&format!("{sub},{axis},{v}\n"));
        }
    }
    csv.push_str(&format!("{a},realism,5\n"));
    let ok = post(csv, app.admin_token.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.status().as_u16(), 200);

    let (_, board) = app
        .get_json("/api/v1/competitions/h/leaderboard", None)
        .await;
    let row = |team: &str| {
        board["creation"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["team"] == team)
            .cloned()
            .unwrap_or_default()
    };
    // alice: s_r = 4, s_q = 3, s_e = 5, s_m = 2, s_id = 4 → 18; detectors redblue (AUC 1/3) and
    // constant (AUC 1/2) → s_d = 5/12, 5·(1 − s_d) = 35/12.
    let alice = row("h-alice");
    assert!(
        (alice["score"].as_f64().unwrap_or(0.0) - (18.0 + 35.0 / 12.0)).abs() < 1e-9,
        "{alice}"
    );
    // bob: 5 + 5·(1 − (1 + 1/2)/2) = 5 + 5/4.
    let bob = row("h-bob");
    assert!(
        (bob["score"].as_f64().unwrap_or(0.0) - 6.25).abs() < 1e-9,
        "{bob}"
    );
    assert_eq!(
        (alice["rank"].as_u64(), bob["rank"].as_u64()),
        (Some(1), Some(2))
    );
}

fn close(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-12,
        _ => a.is_null() && b.is_null(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_csv_lets_arena_score_reproduce_the_board() {
    let app = spawn_app().await;
    game(&app, "x", "dfgc2021").await;
    let get = |token: Option<String>, query: &'static str| {
        let mut req = app
            .client
            .get(app.url(&format!("/api/v1/competitions/x/scores.csv{query}")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let stranger = app.team("x-stranger", "detector").await;
    let refused = get(Some(stranger), "")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refused.status().as_u16(), 403, "teams cannot export scores");
    let anonymous = get(None, "").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(anonymous.status().as_u16(), 401);
    let bad = get(Some(app.admin_token.clone()), "?board=ratings")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status().as_u16(), 400);
    let resp = get(Some(app.admin_token.clone()), "")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 200);
    let csv = resp.text().await.unwrap_or_default();
    // 2 detectors × (3 reals + 2 fakes), and the header.
    assert_eq!(csv.lines().count(), 11, "{csv}");
    assert_eq!(
        csv.lines().next(),
        Some("detector,creation,video,label,score")
    );

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("scores.csv");
    std::fs::write(&path, &csv).unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(arena_tests::arena_bin())
        .args(["score", "--input"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let (_, board) = app
        .get_json("/api/v1/competitions/x/leaderboard", None)
        .await;
    let find = |rows: &Value, name: String| {
        rows.as_array()
            .into_iter()
            .flatten()
            .find(|r| r["team"] == name.as_str())
            .cloned()
            .unwrap_or_default()
    };
    let detection = board["detection"].as_array().cloned().unwrap_or_default();
    assert_eq!(detection.len(), 2, "{board}");
    for row in &detection {
        let name = format!(
            "{}#{}",
            row["team"].as_str().unwrap_or_default(),
            row["submission"]
        );
        let twin = find(&offline["detection"], name);
        for field in ["score", "pooled_auc", "worst_auc", "threshold"] {
            assert!(close(&row[field], &twin[field]), "{field}: {row} vs {twin}");
        }
        assert!(row["score"].as_f64().is_some(), "{row}");
    }
    let creation = board["creation"].as_array().cloned().unwrap_or_default();
    assert_eq!(creation.len(), 2, "{board}");
    for row in &creation {
        let name = format!(
            "{}#{}",
            row["team"].as_str().unwrap_or_default(),
            row["submission"]
        );
        let twin = find(&offline["creation"], name);
        assert!(
            close(&row["anti_detection"], &twin["anti_detection"]),
            "{row} vs {twin}"
        );
        assert!(row["anti_detection"].as_f64().is_some(), "{row}");
    }
    // Every pair AUC of the server's matrix, by names.
    let (_, matrix) = app.get_json("/api/v1/competitions/x/matrix", None).await;
    let names = |m: &Value, axis: &str, hash: bool| -> Vec<String> {
        m[axis]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                if hash {
                    format!(
                        "{}#{}",
                        e["team"].as_str().unwrap_or_default(),
                        e["submission"]
                    )
                } else {
                    e["team"].as_str().unwrap_or_default().to_owned()
                }
            })
            .collect()
    };
    let (sd, sc) = (
        names(&matrix, "detectors", true),
        names(&matrix, "creations", true),
    );
    let (od, oc) = (
        names(&offline["matrix"], "detectors", false),
        names(&offline["matrix"], "creations", false),
    );
    let mut compared = 0;
    for (i, d) in sd.iter().enumerate() {
        for (j, c) in sc.iter().enumerate() {
            let oi = od.iter().position(|x| x == d).unwrap_or(usize::MAX);
            let oj = oc.iter().position(|x| x == c).unwrap_or(usize::MAX);
            let server = &matrix["auc"][i][j];
            let again = &offline["matrix"]["auc"][oi][oj];
            assert!(
                server.as_f64().is_some() && close(server, again),
                "{d} × {c}: {server} vs {again}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 4);

    // The board CSVs carry every column of the JSON, at full precision.
    let server = &app;
    let header = |board: &'static str| async move {
        let csv = server
            .client
            .get(server.url(&format!(
                "/api/v1/competitions/x/leaderboard?format=csv&board={board}"
            )))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default();
        let first = csv.lines().next().unwrap_or_default().to_owned();
        first.split(',').map(str::to_owned).collect::<Vec<String>>()
    };
    let keys = |row: &Value| -> Vec<String> {
        row.as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect()
    };
    let det_header = header("detection").await;
    for key in keys(&detection[0]) {
        assert!(
            det_header.contains(&key),
            "{key} missing from {det_header:?}"
        );
    }
    let header = header("creation").await;
    for key in keys(&creation[0]) {
        if key != "human_ratings" {
            assert!(header.contains(&key), "{key} missing from {header:?}");
        }
    }
    for axis in ["realism", "quality", "expression", "mouth", "identity"] {
        assert!(
            header.iter().any(|h| h == axis),
            "{axis} missing from {header:?}"
        );
    }
}
