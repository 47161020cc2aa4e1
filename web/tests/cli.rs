//! The `arena` binary itself: help on every subcommand, `team add` printing the token last, and
//! `arena score` recomputing hand-checked numbers from a pairs CSV.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::process::Command;

fn arena() -> Command {
    Command::new(env!("CARGO_BIN_EXE_arena"))
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["up", "--help"],
        vec!["serve", "--help"],
        vec!["worker", "--help"],
        vec!["migrate", "--help"],
        vec!["team", "add", "--help"],
        vec!["submit", "creation", "--help"],
        vec!["submit", "detector", "--help"],
        vec!["status", "--help"],
        vec!["leaderboard", "--help"],
        vec!["score", "--help"],
        vec!["competition", "import", "--help"],
        vec!["competition", "reveal", "--help"],
        vec!["backup", "--help"],
        vec!["restore", "--help"],
        vec!["purge", "--help"],
        vec!["team", "token", "rotate", "--help"],
        vec!["team", "token", "revoke", "--help"],
        vec!["tasks", "list", "--help"],
        vec!["tasks", "download", "--help"],
    ] {
        let out = arena().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
    let out = arena().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--data",
        "--bind",
        "--database-url",
        "ARENA_DATA_DIR",
        "ARENA_DATABASE_URL",
    ] {
        assert!(text.contains(flag), "global flag {flag} missing: {text}");
    }
}

#[test]
fn team_add_prints_the_token_last() {
    let dir = tempfile::tempdir().unwrap();
    let out = arena()
        .args([
            "--data",
            dir.path().to_str().unwrap(),
            "team",
            "add",
            "alpha",
            "--role",
            "detector",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("arena_1_") && last.len() == "arena_1_".len() + 64,
        "{stdout}"
    );
    let again = arena()
        .args([
            "--data",
            dir.path().to_str().unwrap(),
            "team",
            "add",
            "alpha",
            "--role",
            "detector",
        ])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "a second team with the same name is refused"
    );
}

#[test]
fn score_recomputes_the_boards_offline() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("pairs.csv");
    // reals 0.2 0.5 0.8; creation A = 0.3, creation B = 0.9 → AUC 1/3 and 1 (as in the game test).
    std::fs::write(
        &csv,
        "detector,creation,video,label,score\n\
         d,,r1,0,0.2\nd,,r2,0,0.5\nd,,r3,0,0.8\nd,A,a1,1,0.3\nd,B,b1,1,0.9\n",
    )
    .unwrap();
    let out = arena()
        .args(["score", "--input", csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let det = &report["detection"][0];
    assert!(
        (det["score"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12,
        "{report}"
    );
    assert!(
        (det["pooled_auc"].as_f64().unwrap() - 4.0 / 6.0).abs() < 1e-12,
        "{report}"
    );
    let anti: Vec<f64> = report["creation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["anti_detection"].as_f64().unwrap())
        .collect();
    assert!(
        anti.contains(&(2.0 / 3.0)) || anti.iter().any(|a| (a - 2.0 / 3.0).abs() < 1e-12),
        "{report}"
    );
    assert!(!report["ratings"].as_array().unwrap().is_empty());

    std::fs::write(&csv, "detector,creation,video,label,score\nd,,r1,0,abc\n").unwrap();
    let out = arena()
        .args(["score", "--input", csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

/// `arena competition add --private-fraction` and `arena competition reveal`: the reveal is
/// stored once; a competition without a split, or a bad fraction, is refused.
#[test]
fn competition_reveal_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(
        d,
        &[
            "competition",
            "add",
            "pp",
            "--title",
            "P",
            "--private-fraction",
            "0.3",
            "--private-salt",
            "s",
        ],
    );
    run_ok(d, &["competition", "add", "plain", "--title", "Plain"]);
    let first = run_ok(d, &["competition", "reveal", "pp"]);
    assert!(first.contains("private part revealed at"), "{first}");
    let again = run_ok(d, &["competition", "reveal", "pp"]);
    let at = |s: &str| {
        s.rsplit(" at ")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    assert!(again.contains("already revealed at"), "{again}");
    assert_eq!(at(&first), at(&again));
    for args in [
        vec!["competition", "reveal", "plain"],
        vec!["competition", "reveal", "nope"],
        vec![
            "competition",
            "add",
            "bad",
            "--title",
            "B",
            "--private-fraction",
            "1.5",
        ],
    ] {
        let out = arena().arg("--data").arg(d).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
    }
}

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let out = arena().arg("--data").arg(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The client commands against a real `arena up`: submit, `status --watch` with its progress
/// bar, and `leaderboard` printing the three boards, ratings included.
#[test]
fn client_submits_watches_and_prints_the_boards() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token = |out: String| out.lines().last().unwrap_or_default().to_owned();
    let alice = token(run_ok(d, &["team", "add", "alice", "--role", "creator"]));
    let dana = token(run_ok(d, &["team", "add", "dana", "--role", "detector"]));
    run_ok(d, &["competition", "add", "cli", "--title", "CLI"]);
    let reals: Vec<String> = ["real_1.mp4", "real_2.mp4", "real_3.mp4"]
        .iter()
        .map(|n| arena_datasets::video(n).display().to_string())
        .collect();
    let mut args = vec!["competition", "add-real", "cli"];
    args.extend(reals.iter().map(String::as_str));
    run_ok(d, &args);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let bind = format!("127.0.0.1:{port}");
    let server_url = format!("http://{bind}");
    let _server = Server(
        arena()
            .arg("--data")
            .arg(d)
            .args(["--bind", &bind, "up", "--workers", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(&bind).is_err() {
        assert!(start.elapsed().as_secs() < 60, "the server never listened");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let client = |token: &str, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", &server_url, "--token", token]);
        run_ok(d, &all)
    };
    let fake = arena_datasets::video("fake_1.mp4").display().to_string();
    let sent = client(
        &alice,
        &["submit", "creation", &fake, "--competition", "cli"],
    );
    assert!(sent.starts_with("submission "), "{sent}");
    let (model, manifest) = arena_datasets::detector("redblue");
    let (model, manifest) = (model.display().to_string(), manifest.display().to_string());
    let sent = client(
        &dana,
        &[
            "submit",
            "detector",
            &model,
            &manifest,
            "--competition",
            "cli",
        ],
    );
    let id = sent
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let watched = client(&dana, &["status", &id, "--watch"]);
    let last = watched.lines().last().unwrap_or_default();
    assert!(
        last.contains("finished") && last.contains("[##############################] 4/4"),
        "{watched}"
    );

    let board = run_ok(d, &["leaderboard", "cli", "--server", &server_url]);
    // Three aligned tables (comfy-table), each titled with its row count.
    for needle in [
        "Detection (1 rows)",
        "Creation (1 rows)",
        "Game ratings (2 rows)",
        "95 % low",
    ] {
        assert!(board.contains(needle), "{needle} missing:\n{board}");
    }
    let ratings: Vec<&str> = board
        .split("Game ratings")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .skip(4)
        .collect();
    assert!(
        ratings
            .iter()
            .any(|l| l.contains("alice") && l.contains("creator"))
            && ratings
                .iter()
                .any(|l| l.contains("dana") && l.contains("detector")),
        "{board}"
    );
    assert!(
        board.contains("0.3333"),
        "dana's AUC on alice's fake:\n{board}"
    );
}

#[test]
fn eval_scores_videos_offline_with_stage_timings() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures");
    let videos = fixtures.join("videos");
    let models = fixtures.join("models");
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("scores.json");
    let out = arena()
        .args(["--data", dir.path().to_str().unwrap(), "eval"])
        .arg(videos.join("real_1.mp4"))
        .arg(videos.join("fake_2.mp4"))
        .arg("--detector")
        .arg(format!(
            "{}:{}",
            models.join("redblue.onnx").display(),
            models.join("redblue.toml").display()
        ))
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(report["decodes"], 2, "one decode per video");
    let score = |i: usize| report["videos"][i]["scores"][0]["score"].as_f64().unwrap();
    // redblue: sigmoid(4·(R−B)/255): real_1 (−140) ≈ 0.10, fake_2 (+200) ≈ 0.96.
    assert!(score(0) < 0.2 && score(1) > 0.9, "{report}");
    assert!(
        report["videos"][0]["timings"]["decode_ms"]
            .as_f64()
            .is_some()
    );
}

#[test]
fn dataset_synth_then_swap_writes_a_round_zip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ds");
    let out = arena()
        .args([
            "dataset",
            "synth",
            "--identities",
            "2",
            "--clips",
            "1",
            "--seed",
            "3",
            "--out",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zip = dir.path().join("c1.zip");
    let out = arena()
        .args([
            "dataset",
            "swap",
            "--round",
            "1",
            "--strength",
            "careful",
            "--dataset",
        ])
        .arg(data.join("manifest.toml"))
        .arg("--out")
        .arg(&zip)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut names: Vec<&str> = archive.file_names().collect();
    names.sort_unstable();
    assert_eq!(names, vec!["g01_id0_0000.mp4", "g01_id1_0000.mp4"]);
}
