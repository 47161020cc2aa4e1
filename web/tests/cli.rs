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
