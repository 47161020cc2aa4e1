//! Repositories on SQLite and PostgreSQL.

use arena::domain::{Role, TeamName};
use arena::repo;
use arena_tests::{backends, fresh_database_url};

/// A fresh migrated database per backend (SQLite, and PostgreSQL when configured), with the
/// folder that holds it.
async fn databases() -> Vec<(String, tempfile::TempDir, sea_orm::DatabaseConnection)> {
    let mut out = Vec::new();
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = fresh_database_url(&backend, dir.path())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let db = arena::db::connect_and_migrate(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        out.push((format!("{backend:?}"), dir, db));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_names_are_unique_and_scores_are_stored_once() {
    for (_backend, _dir, db) in databases().await {
        let name = TeamName::parse("alpha").unwrap_or_else(|e| panic!("{e}"));
        let new = |name| repo::teams::NewTeam {
            name,
            role: Role::Creator,
            token_hash: "h".into(),
            is_admin: false,
            is_baseline: false,
        };
        let team = repo::teams::create(&db, new(&name))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            repo::teams::create(&db, new(&name)).await,
            Err(arena::RepoError::Conflict(_))
        ));
        assert_eq!(
            repo::teams::find_by_name(&db, "alpha")
                .await
                .ok()
                .flatten()
                .map(|t| t.id),
            Some(team.id)
        );

        let score = |s| repo::scores::NewScore {
            detector_id: 1,
            video_id: 2,
            score: s,
            failed: false,
            per_frame: vec![0.25, 0.75],
            elapsed_ms: 3,
            ort_version: "1.31.1".into(),
            sampler_version: 1,
        };
        assert!(
            repo::scores::insert_once(&db, score(0.5))
                .await
                .unwrap_or(false)
        );
        assert!(
            !repo::scores::insert_once(&db, score(0.9))
                .await
                .unwrap_or(true),
            "a retry must not count twice"
        );
        let stored = repo::scores::for_detectors(&db, &[1])
            .await
            .unwrap_or_default();
        assert_eq!(stored, vec![(1, 2, 0.5)]);
        // A batch in one statement: the pair already scored keeps its score, the others go in.
        let batch = [(2, 0.9), (3, 0.25), (4, 0.75)]
            .map(|(video_id, s)| repo::scores::NewScore {
                video_id,
                ..score(s)
            })
            .to_vec();
        assert_eq!(
            repo::scores::insert_many_once(&db, batch)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            2
        );
        assert_eq!(
            repo::scores::insert_many_once(&db, Vec::new())
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            0
        );
        let stored = repo::scores::for_detectors(&db, &[1])
            .await
            .unwrap_or_default();
        assert_eq!(stored, vec![(1, 2, 0.5), (1, 3, 0.25), (1, 4, 0.75)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_log_lines_are_capped_per_job_and_cut_to_length() {
    use arena::entities::job_logs;
    use arena::queue::JobPayload;
    use repo::job_logs::{Level, MAX_LINES_PER_JOB, MAX_MESSAGE_BYTES, NewJobLog};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    for (backend, _dir, db) in databases().await {
        let mut jobs = Vec::new();
        for n in 0..3 {
            let id = arena::queue::enqueue(&db, &JobPayload::Noop { n }, None, 3)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("job {n} not queued"));
            jobs.push(id);
        }
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        fn line(job_id: i64, submission_id: Option<i64>, message: &str) -> NewJobLog<'_> {
            NewJobLog {
                job_id,
                submission_id,
                worker: "w1",
                level: Level::Warn,
                message,
            }
        }
        let mut stored = 0;
        for n in 0..MAX_LINES_PER_JOB + 5 {
            let text = format!("  line {n}  ");
            let message = if n == 0 { long.as_str() } else { text.as_str() };
            if repo::job_logs::append(&db, line(jobs[0], Some(7), message))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
            {
                stored += 1;
            }
        }
        assert_eq!(stored, MAX_LINES_PER_JOB, "{backend}: lines past the cap");
        assert!(
            repo::job_logs::append(&db, line(jobs[1], None, "other job"))
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            "another job's lines are counted apart"
        );
        let rows = job_logs::Entity::find()
            .filter(job_logs::Column::JobId.eq(jobs[0]))
            .order_by_asc(job_logs::Column::Id)
            .all(&db)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows.len() as u64, MAX_LINES_PER_JOB);
        assert_eq!(rows[0].message.len(), MAX_MESSAGE_BYTES + '…'.len_utf8());
        assert!(rows[0].message.ends_with('…'));
        assert_eq!(rows[1].message, "line 1");
        assert_eq!(rows[1].level, "warn");
        assert_eq!(rows[1].worker, "w1");
        assert_eq!(rows[1].submission_id, Some(7));
        assert!(rows[1].created_at_ms > 0);
        let latest = repo::job_logs::latest_for_submission(&db, 7, 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let texts: Vec<_> = latest.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(texts, ["line 37", "line 38", "line 39"]);
        // Several jobs' lines in one statement: each against its own job's cap.
        let many = [
            line(jobs[0], Some(7), "past the cap"),
            line(jobs[1], None, " second "),
            line(jobs[2], Some(8), &long),
        ];
        assert_eq!(
            repo::job_logs::append_many(&db, &many)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            2,
            "{backend}: the capped job's line is dropped, the others stored"
        );
        assert_eq!(
            repo::job_logs::append_many(&db, &[])
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            0
        );
        let rows = job_logs::Entity::find()
            .filter(job_logs::Column::JobId.is_in([jobs[1], jobs[2]]))
            .order_by_asc(job_logs::Column::Id)
            .all(&db)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.job_id, r.submission_id, r.message.len(), r.level.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (jobs[1], None, "other job".len(), "warn"),
                (jobs[1], None, "second".len(), "warn"),
                (jobs[2], Some(8), MAX_MESSAGE_BYTES + '…'.len_utf8(), "warn"),
            ]
        );
    }
}

/// A live competition `slug` (DFGC 2021 rules) and one team in it.
async fn competition_and_team(
    db: &sea_orm::DatabaseConnection,
    slug: &str,
    team: &str,
    role: Role,
) -> (
    arena::entities::competitions::Model,
    arena::entities::teams::Model,
) {
    use arena::domain::{CompetitionMode, Preset, Slug};
    let slug = Slug::parse(slug).unwrap_or_else(|e| panic!("{e}"));
    let settings = serde_json::to_string(&arena::rules::CompetitionSettings::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let comp = repo::competitions::create(
        db,
        repo::competitions::NewCompetition {
            slug: &slug,
            title: slug.as_str(),
            mode: CompetitionMode::Live,
            preset: Preset::Dfgc2021,
            settings,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let team = repo::teams::create(
        db,
        repo::teams::NewTeam {
            name: &TeamName::parse(team).unwrap_or_else(|e| panic!("{e}")),
            role,
            token_hash: "h".into(),
            is_admin: false,
            is_baseline: false,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    (comp, team)
}

/// A creation whose video fails for good is never seen `finished` on its way to `failed`: a
/// status refresh racing the failure finds either the video still pending or the submission
/// failed (once, a refresh between the video turning failed and its submission failing found
/// nothing left to do, stored `finished` and notified it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_racing_a_failed_video_never_reports_finished() {
    use arena::domain::{SubmissionKind, SubmissionStatus};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    for (backend, _dir, db) in databases().await {
        let (comp, team) = competition_and_team(&db, "race", "alpha", Role::Creator).await;
        let mut polls = 0u64;
        for n in 0..40 {
            let new = repo::submissions::NewSubmission {
                competition_id: comp.id,
                team_id: team.id,
                kind: SubmissionKind::Creation,
                status: SubmissionStatus::Running,
                phase_id: None,
            };
            let video = repo::videos::NewVideo {
                competition_id: comp.id,
                submission_id: None,
                role: arena::domain::VideoRole::Fake,
                sha256: format!("{n:064x}"),
                storage_key: format!("videos/{n}"),
                container: "mp4".into(),
                codec: "h264".into(),
                width: 64,
                height: 64,
                display_width: 64,
                display_height: 64,
                fps: 25.0,
                frames: 50,
                duration_s: 2.0,
                task_id: None,
            };
            let sub = arena::intake::create_videos(&db, new, vec![video], 1)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let videos = repo::videos::list_for_competition(&db, comp.id)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let video_id = videos
                .iter()
                .find(|v| v.submission_id == Some(sub.id))
                .map(|v| v.id)
                .unwrap_or_else(|| panic!("no video for submission {}", sub.id));

            // Refresh back to back while the video fails.
            let stop = Arc::new(AtomicBool::new(false));
            let refresher = {
                let (db, sub, stop) = (db.clone(), sub.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let r = arena::evaluation::refresh_status(&db, &sub)
                            .await
                            .unwrap_or_else(|e| panic!("{e}"));
                        seen.push(r.status);
                    }
                    seen
                })
            };
            tokio::time::sleep(std::time::Duration::from_millis(n % 5)).await;
            arena::evaluation::on_video_failed(&db, video_id, "storage (on our side)", true)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            // A few refreshes after the failure too.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            stop.store(true, Ordering::Relaxed);
            let seen = refresher.await.unwrap_or_else(|e| panic!("{e}"));
            polls += seen.len() as u64;
            assert!(
                !seen.contains(&SubmissionStatus::Finished),
                "{backend}: submission {} refreshed as {seen:?}",
                sub.id
            );
            let stored = repo::submissions::find(&db, sub.id)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("submission {} is gone", sub.id));
            assert_eq!(stored.status, "failed", "{backend}");
            assert_eq!(stored.error_code.as_deref(), Some("video_prepare_failed"));
            assert!(
                !stored.counted_against_quota,
                "{backend}: our failure is refunded"
            );
        }
        assert!(polls >= 40, "{backend}: the refreshes ran ({polls})");
    }
}

/// A detector whose activation ran out of attempts fails with its reason, and is refunded only
/// when our side failed; failure and refund land in one write transaction
/// (`evaluation::on_activation_dead`).
#[tokio::test]
async fn a_dead_activation_fails_its_detector_and_refunds_only_our_failures() {
    use arena::domain::{SubmissionKind, SubmissionStatus};
    for (backend, _dir, db) in databases().await {
        let (comp, team) = competition_and_team(&db, "dead", "dana", Role::Detector).await;
        for (n, refund) in [(0, true), (1, false)] {
            let sub = repo::submissions::create(
                &db,
                repo::submissions::NewSubmission {
                    competition_id: comp.id,
                    team_id: team.id,
                    kind: SubmissionKind::Detector,
                    status: SubmissionStatus::Running,
                    phase_id: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            let det = repo::detectors::create(
                &db,
                repo::detectors::NewDetector {
                    submission_id: sub.id,
                    competition_id: comp.id,
                    model_sha256: format!("{n:064x}"),
                    model_key: format!("models/{n}"),
                    manifest_json: "{}".into(),
                    ort_version: "1.31.1".into(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            arena::evaluation::on_activation_dead(&db, det.id, "infra: boom", refund)
                .await
                .unwrap_or_else(|e| panic!("{backend}: {e}"));
            let row = repo::submissions::find(&db, sub.id)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("{backend}: submission {} is gone", sub.id));
            assert_eq!(row.status, "failed", "{backend}");
            assert_eq!(
                row.error_code.as_deref(),
                Some("evaluation_failed"),
                "{backend}"
            );
            assert_eq!(
                row.error_message.as_deref(),
                Some("infra: boom"),
                "{backend}"
            );
            assert_eq!(
                row.counted_against_quota, !refund,
                "{backend}: refund {refund}"
            );
        }
    }
}
