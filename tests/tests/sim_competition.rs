//! The scale bench's own measurements, small: `sim-competition --processes` with 4 videos × 3
//! detectors through `arena up` on SQLite and `arena serve` + two `arena worker` processes on
//! PostgreSQL (when `ARENA_TEST_POSTGRES_URL` is set; a loud skip otherwise, a failure under
//! `ARENA_REQUIRE_POSTGRES=1`). The tool must exit 0 (its own checks: decodes = videos, pairs =
//! videos × detectors, every detector on the board) and its JSON must hold a consistent
//! upload→board time per detector.

use arena_tests::{Backend, backends};
use serde_json::Value;
use std::process::Command;

#[test]
fn sim_competition_through_processes_measures_upload_to_board_and_decodes() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let json = dir.path().join("out.json");
        let (target, workers) = match &backend {
            Backend::Sqlite => ("sqlite".to_owned(), "1"),
            Backend::Postgres(url) => (url.clone(), "2"),
        };
        let out = Command::new(env!("CARGO_BIN_EXE_sim-competition"))
            .args(["--processes", &target, "--reals", "2", "--creations", "2"])
            .args(["--videos", "1", "--detectors", "3", "--workers", workers])
            .args(["--poll-ms", "20", "--arena"])
            .arg(arena_tests::arena_bin())
            .arg("--json")
            .arg(&json)
            .env("ORT_DISABLE_TELEMETRY", "1")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{backend:?}: {stderr}");
        let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{e}"));
        let runs: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        let run = &runs[0];
        assert_eq!(run["videos"], 4, "{run}");
        assert_eq!(run["detectors"], 3, "{run}");
        assert_eq!(run["decodes"], 4, "one decode per video: {run}");
        assert_eq!(run["pairs"], 12, "{run}");
        let times: Vec<f64> = run["upload_to_board_s"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        assert_eq!(times.len(), 3, "{run}");
        let f = |k: &str| run[k].as_f64().unwrap_or(f64::NAN);
        let sorted = {
            let mut t = times.clone();
            t.sort_by(f64::total_cmp);
            t
        };
        // Nearest rank: with 3 samples the median is the 2nd, p99 and max the 3rd.
        assert_eq!(f("p50_s"), sorted[1], "{run}");
        assert_eq!(f("p99_s"), sorted[2], "{run}");
        assert_eq!(f("max_s"), sorted[2], "{run}");
        assert!(sorted[0] > 0.0, "{run}");
        // Every detector's time starts at or after the first upload and ends by the last row.
        assert!(f("max_s") <= f("score_s") + 1e-9, "{run}");
        assert!(f("score_s") < f("wall_s"), "{run}");
        assert!(
            (f("pairs_per_s") - 12.0 / f("score_s")).abs() < 1e-6,
            "{run}"
        );
    }
}
