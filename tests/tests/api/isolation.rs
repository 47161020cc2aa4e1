//! Uploads are decoded and scored in `arena-sandbox` children. A detector whose child blows its
//! CPU-time limit on a real video is retried up to `max_attempts` with the reason as the job's
//! last error, its submission fails with that reason (and keeps counting against the quota), and
//! the same server and worker then finish the team's next, valid detector.
//!
//! The runaway detector loops ~10^12 times only on letterboxed frames (black top row), so it
//! passes the upload check on the square probe frames and runs away on the 4:3 `face_moving.mp4`.

use arena::entities::{jobs, submissions};
use arena_datasets::video;
use arena_tests::{AppOptions, TestApp, backends, spawn_app_with};
use arena_worker::test_models;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

async fn accepted(resp: reqwest::Response) -> i64 {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 202, "{body}");
    body["id"].as_i64().unwrap_or_default()
}

async fn runaway_then_valid(app: &TestApp) {
    app.competition("iso").await;
    let dana = app.team("dana", "detector").await;
    let real = accepted(app.post_real("iso", &video("face_moving.mp4")).await).await;
    let done = app.wait_submission(real, WAIT).await;
    assert_eq!(done["status"], "finished", "{done}");

    let bomb = accepted(
        app.post_detector_bytes(
            "iso",
            Some(&dana),
            test_models::letterbox_runaway_model(),
            test_models::FRAME_MANIFEST.as_bytes().to_vec(),
        )
        .await,
    )
    .await;
    let failed = app.wait_failed(bomb, WAIT).await;
    assert_eq!(failed["error"]["code"], "evaluation_failed", "{failed}");
    let reason = failed["error"]["message"].as_str().unwrap_or_default();
    let expected = "sandbox_cpu_limit: evaluation child exceeded its CPU-time limit of 2 s and \
                    was killed by signal 24 (SIGXCPU)";
    assert_eq!(reason, expected, "{failed}");

    // The score job ran its two attempts, each ending the same way.
    let dead: Vec<jobs::Model> = jobs::Entity::find()
        .filter(jobs::Column::State.eq("failed"))
        .all(app.ctx.db())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].kind, "score");
    assert_eq!((dead[0].attempts, dead[0].max_attempts), (2, 2));
    assert_eq!(dead[0].last_error.as_deref(), Some(expected));
    // Blowing a limit is the upload's doing: the submission still counts against the quota.
    let row = submissions::Entity::find_by_id(bomb)
        .one(app.ctx.db())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("submission {bomb} is gone"));
    assert!(row.counted_against_quota);

    // Server and worker live on: the next, valid detector is scored and finishes.
    let (status, _) = app.get_json("/healthz", None).await;
    assert_eq!(status, 200);
    let good = accepted(app.post_detector("iso", Some(&dana), "redblue").await).await;
    let done = app.wait_submission(good, WAIT).await;
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!(
        done["progress"]["done"], done["progress"]["total"],
        "{done}"
    );
    // The worker slot keeps its scoring child for the detector: it runs under the seccomp filter.
    let children = sandbox_children(&app.ctx.settings().data_dir);
    assert!(!children.is_empty(), "no arena-sandbox child is running");
    for status in children {
        assert!(status.contains("Seccomp:\t2\n"), "{status}");
        assert!(status.contains("NoNewPrivs:\t1\n"), "{status}");
    }
}

/// `/proc/<pid>/status` of every `arena-sandbox` child of this process or of its fork server
/// (docs/SANDBOX.md "The fork server") whose working directory is in `data_dir` (this app's
/// workers' children, not another test's).
fn sandbox_children(data_dir: &std::path::Path) -> Vec<String> {
    let parent = |status: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:\t"))
            .and_then(|p| p.parse::<u32>().ok())
    };
    let processes: Vec<(std::path::PathBuf, String)> = std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let status = std::fs::read_to_string(e.path().join("status")).ok()?;
                    Some((e.path(), status))
                })
                .collect()
        })
        .unwrap_or_default();
    let me = std::process::id();
    let fork_servers: Vec<u32> = processes
        .iter()
        .filter(|(path, status)| {
            parent(status) == Some(me)
                && std::fs::read(path.join("cmdline")).is_ok_and(|c| {
                    String::from_utf8_lossy(&c).contains(arena_worker::sandbox::FORK_SERVER_FLAG)
                })
        })
        .filter_map(|(path, _)| path.file_name()?.to_str()?.parse().ok())
        .collect();
    processes
        .into_iter()
        .filter(|(path, _)| {
            std::fs::read_link(path.join("cwd")).is_ok_and(|cwd| cwd.starts_with(data_dir))
        })
        .map(|(_, status)| status)
        .filter(|s| {
            s.starts_with("Name:\tarena-sandbox\n")
                && parent(s).is_some_and(|p| p == me || fork_servers.contains(&p))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_that_crashes_its_probe_costs_a_child_not_the_server() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        tweak: |s| s.evaluation.sandbox_test_faults = true,
        ..AppOptions::default()
    })
    .await;
    app.competition("crash").await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let crashing = dir.path().join("crash.mp4");
    std::fs::write(&crashing, b"ARENA-TEST-ABORT: the demuxer dies here")
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = app.post_real("crash", &crashing).await;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "sandbox_crashed", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert_eq!(
        message,
        "the video could not be probed: evaluation child killed by signal 6 (SIGABRT)"
    );
    // Nothing of it is kept, and the same server goes on probing uploads.
    let rows = submissions::Entity::find()
        .all(app.ctx.db())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(rows.is_empty(), "{rows:?}");
    let (status, _) = app.get_json("/healthz", None).await;
    assert_eq!(status, 200);
    accepted(app.post_real("crash", &video("real_1.mp4")).await).await;
    // The crashed child's folder is gone; the folder of the child kept for the team's next
    // upload holds nothing of the one it probed.
    // This process's scratch folder for the app's data dir (arena::scratch).
    let scratch =
        arena::scratch::dir(&app.ctx.settings().data_dir).unwrap_or_else(|e| panic!("{e}"));
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert_eq!(app.ctx.probe_children().len(), 1);
    assert_eq!(left.len(), 1, "probe folders left: {left:?}");
    let inside = std::fs::read_dir(&left[0]).map_or(usize::MAX, Iterator::count);
    assert_eq!(inside, 0, "files left in {}", left[0].display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_crashes_its_inspection_costs_a_child_not_the_server() {
    // The inspection runs in the detector's first job, after the upload: a worker is needed.
    let app = spawn_app_with(AppOptions {
        workers: 1,
        tweak: |s| s.evaluation.sandbox_test_faults = true,
        ..AppOptions::default()
    })
    .await;
    app.competition("crash").await;
    let dana = app.team("dana", "detector").await;
    let resp = app
        .post_detector_bytes(
            "crash",
            Some(&dana),
            b"ARENA-TEST-ABORT: the protobuf parser dies here".to_vec(),
            test_models::FRAME_MANIFEST.as_bytes().to_vec(),
        )
        .await;
    let failed = app.refused_by_checks(resp, "sandbox_crashed").await;
    assert_eq!(
        failed["error"]["message"].as_str().unwrap_or_default(),
        "the model could not be inspected: evaluation child killed by signal 6 (SIGABRT)"
    );
    // Nothing of it is kept but its failed submission: no object, no upload file, no scratch
    // folder.
    assert_eq!(app.submission_count().await, 1);
    let stored = app.stored_objects();
    assert!(stored.is_empty(), "objects stored: {stored:?}");
    let uploads = app.ctx.settings().upload_dir();
    let left = std::fs::read_dir(&uploads).map_or(0, Iterator::count);
    assert_eq!(left, 0, "uploads left in {}", uploads.display());
    let scratch =
        arena::scratch::dir(&app.ctx.settings().data_dir).unwrap_or_else(|e| panic!("{e}"));
    let left = std::fs::read_dir(&scratch).map_or(0, Iterator::count);
    assert_eq!(left, 0, "inspection folders left in {}", scratch.display());
    // The same server inspects, checks and stores the team's next, valid model.
    let (status, _) = app.get_json("/healthz", None).await;
    assert_eq!(status, 200);
    let id = accepted(app.post_detector("crash", Some(&dana), "redblue").await).await;
    assert!(id > 0);
    assert_eq!(app.submission_count().await, 2);
    assert_eq!(app.stored_objects().len(), 1, "{:?}", app.stored_objects());
}

/// A zip of `(name, file)` entries.
fn zip_of(dir: &std::path::Path, entries: &[(&str, &std::path::Path)]) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join(format!("c{}.zip", entries.len()));
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut zip = zip::ZipWriter::new(file);
    for (name, src) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(src).unwrap_or_else(|e| panic!("{e}"));
        zip.write_all(&bytes).unwrap_or_else(|e| panic!("{e}"));
    }
    zip.finish().unwrap_or_else(|e| panic!("{e}"));
    path
}

/// With and without `evaluation.isolate`, a model and a zip get the same answers (in children,
/// or in the server's and the worker's blocking threads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_and_zips_get_the_same_answers_with_or_without_isolation() {
    for isolate in [true, false] {
        let app = spawn_app_with(AppOptions {
            workers: 1,
            isolate,
            ..AppOptions::default()
        })
        .await;
        app.competition("same").await;
        let dana = app.team("dana", "detector").await;
        let carl = app.team("carl", "creator").await;
        let answer = |resp: reqwest::Response| async move {
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or_default();
            (status, body["code"].as_str().unwrap_or_default().to_owned())
        };
        let garbage = b"\xff\xff\xff\xff definitely not protobuf".to_vec();
        let manifest = test_models::FRAME_MANIFEST.as_bytes().to_vec();
        let resp = app
            .post_detector_bytes("same", Some(&dana), garbage, manifest)
            .await;
        app.refused_by_checks(resp, "invalid_model").await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let real = video("real_1.mp4");
        let slip = zip_of(dir.path(), &[("../t1.mp4", &real)]);
        let resp = app.post_creation("same", Some(&carl), &slip).await;
        let expected = (422, "archive_unsafe_path".to_owned());
        assert_eq!(answer(resp).await, expected, "{isolate}");
        // A sound zip is inflated and its entry probed; its task is not one of this competition.
        let sound = zip_of(dir.path(), &[("t1.mp4", &real), ("t2.mp4", &real)]);
        let resp = app.post_creation("same", Some(&carl), &sound).await;
        let expected = (422, "unknown_task".to_owned());
        assert_eq!(answer(resp).await, expected, "{isolate}");
        // The refused model's failed submission is the only row.
        assert_eq!(app.submission_count().await, 1);
        let uploads = app.ctx.settings().upload_dir();
        let left = std::fs::read_dir(&uploads).map_or(0, Iterator::count);
        assert_eq!(left, 0, "uploads left in {}", uploads.display());
        accepted(app.post_detector("same", Some(&dana), "redblue").await).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_over_its_cpu_limit_fails_its_job_after_retries_and_the_worker_lives_on() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            tweak: |s| {
                s.queue.max_attempts = 2;
                s.evaluation.child_cpu_seconds = 2;
                s.evaluation.child_timeout_s = 120;
            },
            ..AppOptions::default()
        })
        .await;
        runaway_then_valid(&app).await;
    }
}
