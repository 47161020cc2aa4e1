//! `arena competition import`: a competition from an organizer's own videos and a dataset
//! manifest, through the real ingest (FFmpeg probe, storage, queue).
#![allow(clippy::unwrap_used)]

use arena_tests::spawn_app;
use std::path::Path;

fn write_dataset(dir: &Path, rounds: bool) -> std::path::PathBuf {
    let videos = dir.join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    // Celeb-DF-style names: <identity>_<clip>.mp4.
    for (name, fixture) in [
        ("id0_0000.mp4", "real_1.mp4"),
        ("id0_0001.mp4", "real_2.mp4"),
        ("id1_0000.mp4", "real_3.mp4"),
        ("id1_0001.mp4", "face_moving.mp4"),
    ] {
        std::fs::copy(arena_datasets::video(fixture), videos.join(name)).unwrap();
    }
    let mut text = String::from("hidden_real = [\"id0_0001\", \"id1_0001\"]\n");
    for (id, identity) in [
        ("id0_0000", "id0"),
        ("id0_0001", "id0"),
        ("id1_0000", "id1"),
        ("id1_0001", "id1"),
    ] {
        text.push_str(&format!(
            "[[clips]]\nid = \"{id}\"\npath = \"videos/{id}.mp4\"\nidentity = \"{identity}\"\ngroup = \"g01\"\n"
        ));
    }
    if rounds {
        text.push_str(
            "[[rounds]]\nnumber = 1\n[[rounds.tasks]]\ntask_id = \"t1\"\ntarget = \"id1_0000\"\ndonor = \"id0\"\n\
             [[rounds]]\nnumber = 2\n[[rounds.tasks]]\ntask_id = \"t2\"\ntarget = \"id0_0000\"\ndonor = \"id1\"\n",
        );
    }
    let path = dir.join("manifest.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_dataset_manifest_becomes_a_rounds_competition() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_dataset(dir.path(), true);
    let done = arena_web::import::import_dataset(&app.ctx, "celeb", "Celeb rounds", &manifest, 24)
        .await
        .unwrap();
    assert_eq!((done.hidden_reals, done.tasks, done.phases), (2, 2, 4));
    let (status, comp) = app.get_json("/api/v1/competitions/celeb", None).await;
    assert_eq!(status, 200, "{comp}");
    assert_eq!(comp["mode"], "rounds");
    assert_eq!(comp["real_videos"], 2);
    assert_eq!(comp["phases"].as_array().map(Vec::len), Some(4));
    let creator = app.team("alice", "creator").await;
    let (status, tasks) = app
        .get_json("/api/v1/competitions/celeb/tasks", Some(&creator))
        .await;
    assert_eq!(status, 200, "{tasks}");
    // Only the open round's task is published.
    let ids: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["task_id"].as_str())
        .collect();
    assert_eq!(ids, ["t1"]);
    // The same slug twice is refused, and nothing more is stored.
    let before = app.submission_count().await;
    let again = arena_web::import::import_dataset(&app.ctx, "celeb", "Celeb", &manifest, 24).await;
    assert!(again.unwrap_err().to_string().contains("already exists"));
    assert_eq!(app.submission_count().await, before);
}

#[tokio::test]
async fn a_manifest_without_rounds_gives_a_live_competition_and_a_bad_one_stores_nothing() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_dataset(dir.path(), false);
    let done = arena_web::import::import_dataset(&app.ctx, "live", "Live", &manifest, 24)
        .await
        .unwrap();
    assert_eq!((done.hidden_reals, done.tasks, done.phases), (2, 0, 0));
    let (_, comp) = app.get_json("/api/v1/competitions/live", None).await;
    assert_eq!(comp["mode"], "live");

    // A manifest naming a missing file is refused before anything is created.
    std::fs::remove_file(dir.path().join("videos/id1_0001.mp4")).unwrap();
    let e = arena_web::import::import_dataset(&app.ctx, "broken", "Broken", &manifest, 24)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("id1_0001"), "{e}");
    let (status, _) = app.get_json("/api/v1/competitions/broken", None).await;
    assert_eq!(status, 404);
}
