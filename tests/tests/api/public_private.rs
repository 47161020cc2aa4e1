//! Public / private (`settings.private_fraction`, `POST …/reveal`) on SQLite and PostgreSQL:
//! before the reveal the API JSON, the board and detector pages, the CSVs and the events hold
//! only numbers of the public part of the videos; after it, those of the private part.
//!
//! The split is recomputed here from the documented rule (README "Public and private"): a video is
//! private when the first 8 bytes of sha256(salt ‖ hex sha256 of the file), big-endian, over 2⁶⁴
//! are below the fraction; a group (the reals; one creation's fakes) of two or more keeps a video
//! in each part. The expected AUCs are computed by hand from the per-video scores the server
//! stored.

#![allow(
    clippy::expect_used,
    reason = "a test fails loudly where the app misbehaves"
)]

use arena::storage::sha256_hex;
use arena_datasets::video;
use arena_tests::web::{EventStream, WebClient};
use arena_tests::{AppOptions, TestApp, backends, part, spawn_app_with};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(120);
const FRACTION: f64 = 0.5;
const REALS: [&str; 3] = ["real_1.mp4", "real_2.mp4", "real_3.mp4"];
const FAKES: [&str; 2] = ["fake_1.mp4", "fake_2.mp4"];

async fn accepted(resp: reqwest::Response) -> i64 {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 202, "{body}");
    body["id"].as_i64().unwrap_or_default()
}

fn sha_of(fixture: &str) -> String {
    sha256_hex(&std::fs::read(video(fixture)).expect("fixture"))
}

/// The documented key of a file's sha256 under `salt`.
fn key(salt: &str, sha: &str) -> f64 {
    let digest = sha256_hex(format!("{salt}{sha}").as_bytes());
    u64::from_str_radix(&digest[..16], 16).expect("hex") as f64 / 2f64.powi(64)
}

/// The documented group rule: (private, public) names of `group`.
fn split(salt: &str, group: &[&str]) -> (HashSet<String>, HashSet<String>) {
    let keyed: Vec<(String, f64)> = group
        .iter()
        .map(|f| ((*f).to_owned(), key(salt, &sha_of(f))))
        .collect();
    let mut private: HashSet<String> = keyed
        .iter()
        .filter(|(_, h)| *h < FRACTION)
        .map(|(f, _)| f.clone())
        .collect();
    let by_key = |a: &&(String, f64), b: &&(String, f64)| a.1.total_cmp(&b.1);
    if private.len() == keyed.len() {
        let top = keyed.iter().max_by(by_key).expect("group").0.clone();
        private.remove(&top);
    } else if private.is_empty() {
        private.insert(keyed.iter().min_by(by_key).expect("group").0.clone());
    }
    let public = keyed
        .iter()
        .map(|(f, _)| f.clone())
        .filter(|f| !private.contains(f))
        .collect();
    (private, public)
}

/// A salt whose public part shows redblue missing fake_1 against some real, while the private
/// part (fake_2, above every real for redblue) is perfect: the two parts' numbers differ.
fn pick_salt() -> String {
    (0..1000)
        .map(|i| format!("salt-{i}"))
        .find(|salt| {
            let (_, public_fakes) = split(salt, &FAKES);
            let (_, public_reals) = split(salt, &REALS);
            public_fakes.contains("fake_1.mp4")
                && (public_reals.contains("real_2.mp4") || public_reals.contains("real_3.mp4"))
        })
        .expect("a salt")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boards_pages_csvs_and_events_show_only_the_public_part_until_the_reveal() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            workers: 2,
            ..AppOptions::default()
        })
        .await;
        public_private(&app).await;
    }
}

async fn add_task(app: &TestApp, slug: &str, task_id: &str, target: &str) {
    let form = reqwest::multipart::Form::new()
        .part("target", part(&video(target)))
        .text("task_id", task_id.to_owned())
        .text("round", "1".to_owned())
        .text("donor", "id1".to_owned());
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/competitions/{slug}/tasks")))
        .bearer_auth(&app.admin_token)
        .multipart(form)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 201);
}

/// A zip of `(entry name, fixture video)` in `dir`.
fn zip_of(dir: &Path, entries: &[(&str, &str)]) -> std::path::PathBuf {
    let path = dir.join("fakes.zip");
    let file = std::fs::File::create(&path).expect("zip file");
    let mut zip = zip::ZipWriter::new(file);
    for (name, fixture) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        let bytes = std::fs::read(video(fixture)).expect("fixture");
        std::io::Write::write_all(&mut zip, &bytes).expect("zip write");
    }
    zip.finish().expect("zip finish");
    path
}

async fn post_admin(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app.client.post(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn text(app: &TestApp, path: &str, token: Option<&str>) -> String {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    resp.text().await.expect("body")
}

/// What one part should show: per detector submission its AUC over the part's fakes and reals,
/// and the part's video ids.
struct Expected {
    auc: HashMap<i64, f64>,
    videos: HashSet<i64>,
    fake_videos: HashSet<i64>,
    fakes: usize,
    reals: usize,
}

fn expected(
    scores: &HashMap<(i64, String), f64>,
    detectors: &[i64],
    fakes: &HashSet<String>,
    reals: &HashSet<String>,
    ids: &HashMap<String, i64>,
) -> Expected {
    let mut auc = HashMap::new();
    for d in detectors {
        let s = |f: &String| scores[&(*d, f.clone())];
        let mut sum = 0.0;
        for f in fakes {
            for r in reals {
                sum += match s(f).total_cmp(&s(r)) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                };
            }
        }
        auc.insert(*d, sum / (fakes.len() * reals.len()) as f64);
    }
    Expected {
        auc,
        videos: fakes.iter().chain(reals).map(|f| ids[f]).collect(),
        fake_videos: fakes.iter().map(|f| ids[f]).collect(),
        fakes: fakes.len(),
        reals: reals.len(),
    }
}

/// The `data-key` values of the `<tr>` rows in `html` (after `from`, when given).
fn row_keys(html: &str, from: &str) -> HashSet<i64> {
    let part = html.split(from).nth(1).unwrap_or_default();
    let part = part.split("</table>").next().unwrap_or_default();
    part.split("<tr data-key=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .map(|k| k.parse().expect("video id"))
        .collect()
}

fn close(v: &Value, x: f64) -> bool {
    v.as_f64().is_some_and(|v| (v - x).abs() < 1e-12)
}

/// Every column of the CSV row whose `submission` column is `sub`, by header name.
fn csv_row(csv: &str, sub: i64) -> HashMap<String, String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let row = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|cells| {
            header
                .iter()
                .zip(cells)
                .any(|(h, c)| *h == "submission" && *c == sub.to_string())
        })
        .unwrap_or_else(|| panic!("no row {sub} in {csv}"));
    header
        .iter()
        .zip(row)
        .map(|(h, c)| ((*h).to_owned(), c.to_owned()))
        .collect()
}

/// Checks that the API, pages and CSVs show `want` (the part named `part`).
async fn check(app: &TestApp, part: &str, want: &Expected, creation: i64) {
    // The leaderboard JSON (polled: the boards cache is rebuilt from events).
    let start = Instant::now();
    let board = loop {
        let (status, board) = app
            .get_json("/api/v1/competitions/pp/leaderboard", None)
            .await;
        assert_eq!(status, 200);
        let ready = board["part"] == part
            && want.auc.iter().all(|(d, auc)| {
                board["detection"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| r["submission"] == *d && close(&r["score"], *auc))
            });
        if ready {
            break board;
        }
        assert!(
            start.elapsed() < WAIT,
            "the {part} board never showed: {board}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (d, auc) in &want.auc {
        let row = board["detection"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["submission"] == *d)
            .cloned()
            .unwrap_or_default();
        // One creation: its pair AUC is the mean, the pooled and the worst AUC.
        for field in ["score", "pooled_auc", "worst_auc"] {
            assert!(close(&row[field], *auc), "{part} {field}: {row} vs {auc}");
        }
        assert_eq!(row["videos_total"], want.fakes + want.reals, "{row}");
    }
    let anti = want.auc.values().map(|a| 1.0 - a).sum::<f64>() / want.auc.len() as f64;
    let crow = board["creation"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["submission"] == creation)
        .cloned()
        .unwrap_or_default();
    assert!(close(&crow["anti_detection"], anti), "{crow} vs {anti}");
    assert_eq!(crow["videos"], want.fakes, "{crow}");

    // The matrix.
    let (_, m) = app.get_json("/api/v1/competitions/pp/matrix", None).await;
    for (i, d) in m["detectors"].as_array().into_iter().flatten().enumerate() {
        let auc = want.auc[&d["submission"].as_i64().unwrap_or_default()];
        assert!(close(&m["auc"][i][0], auc), "{part} matrix {m}");
    }

    // The detector pages (JSON and HTML): the AUC, and only this part's videos among the misses.
    let mut anon = WebClient::new(&app.address);
    for (d, auc) in &want.auc {
        let (status, page) = app
            .get_json(&format!("/api/v1/competitions/pp/detectors/{d}"), None)
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["part"], part);
        assert!(close(&page["report"]["pooled"]["auc"], *auc), "{page}");
        for list in ["missed_reals", "missed_fakes"] {
            for miss in page["report"][list].as_array().into_iter().flatten() {
                let v = miss["video"].as_i64().expect("video id");
                assert!(want.videos.contains(&v), "{part}: {list} shows video {v}");
            }
        }
        let html = anon.get(&format!("/c/pp/detectors/{d}")).await;
        assert!(
            html.body.contains(&format!("id=\"pooled-auc\">{auc:.4}<")),
            "{part} detector page of {d} lacks {auc:.4}"
        );
        assert!(html.body.contains(&format!("{part} part")), "{}", html.body);
    }
    // The board page: each detector's row shows this part's AUC; the part is named.
    let html = anon.get("/c/pp").await;
    assert!(
        html.body.contains(&format!("id=\"part\">{part} part<")),
        "{}",
        html.body
    );
    for (d, auc) in &want.auc {
        let row = html
            .body
            .split(&format!("<tr data-key=\"{d}\""))
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_else(|| panic!("no row {d} on the board page"));
        assert!(
            row.contains(&format!("{auc:.4}")),
            "{part}: {row} lacks {auc:.4}"
        );
    }

    // The creation page lists exactly this part's fakes; the hardest fakes are among them.
    let page = anon.get(&format!("/c/pp/creations/{creation}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        row_keys(&page.body, "<tbody>"),
        want.fake_videos,
        "{part} creation page"
    );
    let hardest = row_keys(&html.body, "<table id=\"hardest\">");
    assert!(
        hardest.is_subset(&want.fake_videos),
        "{part} hardest fakes {hardest:?}"
    );

    // The board CSVs.
    let csv = text(app, "/api/v1/competitions/pp/leaderboard?format=csv", None).await;
    for (d, auc) in &want.auc {
        let row = csv_row(&csv, *d);
        let got: f64 = row["pooled_auc"].parse().expect("number");
        assert!((got - auc).abs() < 1e-12, "{part} csv {csv}");
    }
    let csv = text(
        app,
        "/api/v1/competitions/pp/leaderboard?format=csv&board=creation",
        None,
    )
    .await;
    let got: f64 = csv_row(&csv, creation)["anti_detection"]
        .parse()
        .expect("number");
    assert!((got - anti).abs() < 1e-12, "{part} csv {csv}");

    // The organizers' pairs export: exactly this part's videos.
    let token = app.admin_token.clone();
    let csv = text(app, "/api/v1/competitions/pp/scores.csv", Some(&token)).await;
    let videos: HashSet<i64> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(2))
        .map(|v| v.trim_start_matches("video-").parse().expect("video id"))
        .collect();
    assert_eq!(videos, want.videos, "{part} scores.csv: {csv}");
}

async fn public_private(app: &TestApp) {
    let salt = pick_salt();
    let settings = json!({ "private_fraction": FRACTION, "private_salt": salt });
    let (status, body) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "pp", "title": "public private", "settings": settings }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Bad fractions are refused, nothing is created.
    for bad in [1.0, -0.1, 1.5] {
        let (status, body) = app
            .admin_post(
                "/api/v1/competitions",
                json!({ "slug": "bad", "title": "bad", "settings": { "private_fraction": bad } }),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_settings"))
        );
    }
    let (status, _) = app.get_json("/api/v1/competitions/bad", None).await;
    assert_eq!(status, 404);
    app.competition("plain").await;

    add_task(app, "pp", "t1", "real_1.mp4").await;
    add_task(app, "pp", "t2", "real_2.mp4").await;
    let alice = app.team("pp-alice", "creator").await;
    let dana = app.team("pp-dana", "detector").await;
    let erin = app.team("pp-erin", "detector").await;
    let mut subs = Vec::new();
    for name in REALS {
        subs.push(accepted(app.post_real("pp", &video(name)).await).await);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let zip = zip_of(dir.path(), &[("t1.mp4", FAKES[0]), ("t2.mp4", FAKES[1])]);
    let creation = accepted(app.post_creation("pp", Some(&alice), &zip).await).await;
    let redblue = accepted(app.post_detector("pp", Some(&dana), "redblue").await).await;
    let greenish = accepted(app.post_detector("pp", Some(&erin), "greenish").await).await;
    subs.extend([creation, redblue, greenish]);
    for id in subs {
        let done = app.wait_submission(id, WAIT).await;
        assert_eq!(done["status"], "finished", "{done}");
    }

    // The per-video scores the server stored, by detector submission and fixture.
    let db = app.ctx.db();
    let comp = arena::repo::competitions::find_by_slug(db, "pp")
        .await
        .expect("db")
        .expect("pp");
    let input = arena::evaluation::board_input(db, comp.id)
        .await
        .expect("input");
    let all_ids: Vec<i64> = input
        .real_video_ids
        .iter()
        .chain(input.creations.iter().flat_map(|c| c.video_ids.iter()))
        .copied()
        .collect();
    let by_sha: HashMap<String, &str> = REALS
        .iter()
        .chain(&FAKES)
        .map(|f| (sha_of(f), *f))
        .collect();
    let mut ids: HashMap<String, i64> = HashMap::new();
    for v in arena::repo::videos::find_many(db, &all_ids)
        .await
        .expect("videos")
    {
        ids.insert(by_sha[&v.sha256].to_owned(), v.id);
    }
    assert_eq!(ids.len(), 5, "three reals and two fakes: {ids:?}");
    let mut scores = HashMap::new();
    for d in &input.detectors {
        for (name, v) in &ids {
            let s = input.scores[&(d.detector_id, *v)];
            scores.insert((d.submission_id, name.clone()), s);
        }
    }
    let detectors = [redblue, greenish];
    let (private_fakes, public_fakes) = split(&salt, &FAKES);
    let (private_reals, public_reals) = split(&salt, &REALS);
    let public = expected(&scores, &detectors, &public_fakes, &public_reals, &ids);
    let private = expected(&scores, &detectors, &private_fakes, &private_reals, &ids);
    assert_ne!(
        public.auc[&redblue], private.auc[&redblue],
        "the salt was picked for different parts"
    );

    check(app, "public", &public, creation).await;

    // The endpoint is documented.
    let (_, doc) = app.get_json("/api/openapi.json", None).await;
    let op = &doc["paths"]["/api/v1/competitions/{slug}/reveal"]["post"];
    for status in ["200", "401", "403", "404", "409"] {
        assert!(op["responses"][status].is_object(), "{status}: {op}");
    }
    assert!(doc["components"]["schemas"]["Revealed"].is_object());

    // Reveal: organizers only, 404 for an unknown competition, 409 without a split.
    let (status, body) = post_admin(app, "/api/v1/competitions/pp/reveal", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("missing_token"))
    );
    let (status, body) = post_admin(app, "/api/v1/competitions/pp/reveal", Some(&dana)).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("admin_only")));
    let admin = app.admin_token.clone();
    let (status, body) = post_admin(app, "/api/v1/competitions/nope/reveal", Some(&admin)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("competition_not_found"))
    );
    let (status, body) = post_admin(app, "/api/v1/competitions/plain/reveal", Some(&admin)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("no_private_part"))
    );
    // Still the public part after the refusals.
    let (_, board) = app
        .get_json("/api/v1/competitions/pp/leaderboard", None)
        .await;
    assert_eq!(board["part"], "public");

    let mut events = EventStream::connect(
        &app.client,
        &app.url("/api/v1/competitions/pp/events"),
        Some(0),
    )
    .await;
    let (status, first) = post_admin(app, "/api/v1/competitions/pp/reveal", Some(&admin)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (&first["competition"], &first["changed"]),
        (&json!("pp"), &json!(true))
    );
    let (status, again) = post_admin(app, "/api/v1/competitions/pp/reveal", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(again["changed"], false);
    assert_eq!(again["revealed_at_ms"], first["revealed_at_ms"]);

    // The events tell the boards of the reveal, once; no event ever carries a score.
    let seen = events
        .until(WAIT, |e| e.data["kind"] == "revealed")
        .await
        .expect("the revealed event");
    for e in &seen {
        fn no_floats(v: &Value) -> bool {
            match v {
                Value::Number(n) => n.is_i64() || n.is_u64(),
                Value::Array(a) => a.iter().all(no_floats),
                Value::Object(o) => o.values().all(no_floats),
                _ => true,
            }
        }
        assert!(no_floats(&e.data), "an event carries a number: {}", e.data);
    }

    check(app, "private", &private, creation).await;

    finals_after_the_reveal(app, &salt).await;
}

/// The detection row of `team` on `slug`'s board once `done` holds for it.
async fn team_row(app: &TestApp, slug: &str, team: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (_, board) = app
            .get_json(&format!("/api/v1/competitions/{slug}/leaderboard"), None)
            .await;
        let row = board["detection"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["team"] == team)
            .cloned()
            .unwrap_or(Value::Null);
        if done(&row) {
            return row;
        }
        assert!(start.elapsed() < WAIT, "never: {board}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After the reveal a team without final picks ranks by the entry its public row showed (best
/// public), not by its best private score; with picks, by the best private score among them.
/// redblue: public AUC ≤ 0.5 (fake_1 below some public real), private 1 (fake_2 above every
/// real); constant: 0.5 everywhere, so it is the team's public row (later wins a tie).
async fn finals_after_the_reveal(app: &TestApp, salt: &str) {
    let settings = json!({ "private_fraction": FRACTION, "private_salt": salt, "final_picks": 2 });
    let (status, body) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "pf", "title": "finals", "settings": settings }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    add_task(app, "pf", "t1", "real_1.mp4").await;
    add_task(app, "pf", "t2", "real_2.mp4").await;
    let alice = app.team("pf-alice", "creator").await;
    let dana = app.team("pf-dana", "detector").await;
    let mut subs = Vec::new();
    for name in REALS {
        subs.push(accepted(app.post_real("pf", &video(name)).await).await);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let zip = zip_of(dir.path(), &[("t1.mp4", FAKES[0]), ("t2.mp4", FAKES[1])]);
    subs.push(accepted(app.post_creation("pf", Some(&alice), &zip).await).await);
    let redblue = accepted(app.post_detector("pf", Some(&dana), "redblue").await).await;
    let constant = accepted(app.post_detector("pf", Some(&dana), "constant").await).await;
    subs.extend([redblue, constant]);
    for id in subs {
        assert_eq!(app.wait_submission(id, WAIT).await["status"], "finished");
    }
    let public = team_row(app, "pf", "pf-dana", |r| r["score"].is_number()).await;
    assert_eq!(public["submission"], constant, "{public}");
    assert!(close(&public["score"], 0.5), "{public}");

    let admin = app.admin_token.clone();
    let (status, _) = post_admin(app, "/api/v1/competitions/pf/reveal", Some(&admin)).await;
    assert_eq!(status, 200);
    // The matrix shows redblue's private AUC of 1, yet dana ranks by constant's 0.5.
    let start = Instant::now();
    loop {
        let (_, m) = app.get_json("/api/v1/competitions/pf/matrix", None).await;
        let i = m["detectors"]
            .as_array()
            .into_iter()
            .flatten()
            .position(|d| d["submission"] == redblue);
        if i.is_some_and(|i| close(&m["auc"][i][0], 1.0)) {
            break;
        }
        assert!(start.elapsed() < WAIT, "no private matrix: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let revealed = team_row(app, "pf", "pf-dana", |r| r["score"].is_number()).await;
    assert_eq!(revealed["submission"], constant, "best public: {revealed}");
    assert!(close(&revealed["score"], 0.5), "{revealed}");

    // With both picked, the best private of the picks ranks it.
    for id in [redblue, constant] {
        let resp = app
            .client
            .put(app.url(&format!("/api/v1/submissions/{id}/final")))
            .bearer_auth(&dana)
            .json(&json!({ "final": true }))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 200);
    }
    let picked = team_row(app, "pf", "pf-dana", |r| r["submission"] == redblue).await;
    assert!(close(&picked["score"], 1.0), "{picked}");
    assert_eq!(picked["final"], true);
}
