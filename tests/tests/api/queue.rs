//! The job queue on SQLite and PostgreSQL: leases, heartbeats, holder-only completion,
//! bounded retries with the last error, expired leases reclaimed, no double claims.

use arena::queue::{FailOutcome, JobPayload, Queue, QueueConfig, QueueError};
use arena_tests::{backends, fresh_database_url};
use std::collections::HashSet;
use std::time::Duration;

async fn queue(lease_ms: i64, max_attempts: i32) -> Vec<(tempfile::TempDir, Queue)> {
    let mut out = Vec::new();
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = fresh_database_url(&backend, dir.path())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let db = arena::db::connect_and_migrate(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let config = QueueConfig {
            lease_ms,
            max_attempts,
            retry_backoff_ms: 0,
        };
        out.push((dir, Queue::new(db, config)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_never_claim_the_same_job() {
    for (_dir, q) in queue(60_000, 3).await {
        for n in 0..200 {
            q.enqueue(&JobPayload::Noop { n }, None)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut tasks = Vec::new();
        for w in 0..4 {
            let q = q.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let jobs = q
                        .claim(&format!("w{w}"), 7)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    if jobs.is_empty() {
                        return mine;
                    }
                    for j in jobs {
                        q.complete(j.id, &format!("w{w}"))
                            .await
                            .unwrap_or_else(|e| panic!("{e}"));
                        mine.push(j.id);
                    }
                }
            }));
        }
        let mut seen = HashSet::new();
        let mut total = 0;
        for t in tasks {
            for id in t.await.unwrap_or_default() {
                total += 1;
                assert!(seen.insert(id), "job {id} claimed twice");
            }
        }
        assert_eq!(total, 200);
        let counts = q.state_counts().await.unwrap_or_default();
        assert_eq!(counts, vec![("done".to_owned(), 200)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_completes_and_duplicates_are_not_queued() {
    for (_dir, q) in queue(60_000, 3).await {
        let first = q
            .enqueue(&JobPayload::Noop { n: 1 }, Some(9))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let again = q
            .enqueue(&JobPayload::Noop { n: 1 }, Some(9))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(first.is_some());
        assert_eq!(again, None, "same dedupe key must not be queued twice");
        let jobs = q.claim("a", 10).await.unwrap_or_default();
        assert_eq!(jobs.len(), 1);
        assert_eq!((jobs[0].attempt, jobs[0].submission_id), (1, Some(9)));
        assert!(q.claim("b", 10).await.unwrap_or_default().is_empty());
        assert!(matches!(
            q.complete(jobs[0].id, "b").await,
            Err(QueueError::LeaseLost(_))
        ));
        assert!(q.heartbeat(jobs[0].id, "a").await.unwrap_or(false));
        assert!(!q.heartbeat(jobs[0].id, "b").await.unwrap_or(true));
        q.complete(jobs[0].id, "a")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            q.complete(jobs[0].id, "a").await,
            Err(QueueError::LeaseLost(_))
        ));
    }
}

/// A batch completed at once (`complete_many`) completes only the jobs still leased to the
/// worker; `done_by` names them, so the worker can log the others' lost leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_completes_only_the_jobs_still_held() {
    for (_dir, q) in queue(60_000, 3).await {
        for n in 0..3 {
            q.enqueue(&JobPayload::Noop { n }, None)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let ids: Vec<i64> = q
            .claim("a", 3)
            .await
            .unwrap_or_default()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(ids.len(), 3);
        // The second job goes back to the queue and another worker takes it.
        q.fail(ids[1], "a", "boom", false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let taken = q.claim("b", 3).await.unwrap_or_default();
        assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), [ids[1]]);
        let completed = q
            .complete_many(&ids, "a")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(completed, 2);
        let done = q.done_by(&ids, "a").await.unwrap_or_default();
        assert_eq!(done, HashSet::from([ids[0], ids[2]]));
        assert!(q.done_by(&ids, "b").await.unwrap_or_default().is_empty());
        q.complete(ids[1], "b")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            q.done_by(&ids, "b").await.unwrap_or_default(),
            HashSet::from([ids[1]])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_retry_up_to_max_attempts_keeping_the_last_error() {
    for (_dir, q) in queue(60_000, 3).await {
        let id = q
            .enqueue(&JobPayload::Noop { n: 2 }, None)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        for attempt in 1..=3 {
            let jobs = q.claim("w", 1).await.unwrap_or_default();
            assert_eq!(jobs.len(), 1, "attempt {attempt}");
            assert_eq!(jobs[0].attempt, attempt);
            let outcome = q
                .fail(id, "w", &format!("boom {attempt}"), false)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let expected = if attempt < 3 {
                FailOutcome::Retried
            } else {
                FailOutcome::Dead
            };
            assert_eq!(outcome, expected);
        }
        assert!(q.claim("w", 1).await.unwrap_or_default().is_empty());
        let row = arena::entities::jobs::Entity::find_by_id(id)
            .one(q.db())
            .await
            .ok()
            .flatten();
        let row = row.unwrap_or_else(|| panic!("job row"));
        assert_eq!(row.state, "failed");
        assert_eq!(row.last_error.as_deref(), Some("boom 3"));

        // A permanent failure is dead at once.
        let id = q
            .enqueue(&JobPayload::Noop { n: 3 }, None)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        q.claim("w", 1).await.unwrap_or_default();
        assert_eq!(
            q.fail(id, "w", "bad input", true).await.ok(),
            Some(FailOutcome::Dead)
        );
    }
}

use sea_orm::EntityTrait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leases_are_reclaimed_then_reaped() {
    for (_dir, q) in queue(100, 2).await {
        let id = q
            .enqueue(&JobPayload::Noop { n: 4 }, None)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let first = q.claim("dead-worker", 1).await.unwrap_or_default();
        assert_eq!(first.len(), 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        let second = q.claim("live-worker", 1).await.unwrap_or_default();
        assert_eq!(second.len(), 1, "an expired lease must be claimable");
        assert_eq!((second[0].id, second[0].attempt), (id, 2));
        // The dead worker's late completion is refused.
        assert!(matches!(
            q.complete(id, "dead-worker").await,
            Err(QueueError::LeaseLost(_))
        ));
        // The second holder dies too: out of attempts, the reaper fails it with a reason.
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(q.claim("third", 1).await.unwrap_or_default().is_empty());
        let reaped = q.reap().await.unwrap_or_default();
        assert_eq!(reaped.len(), 1);
        assert_eq!(reaped[0].state, "failed");
        assert!(
            reaped[0]
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains("worker lost")
        );
    }
}

/// With polling effectively off, idle workers still pick up new jobs on PostgreSQL: every enqueue
/// NOTIFYs and the workers LISTEN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_workers_wake_on_notify_without_polling() {
    let Some(backend) = backends()
        .into_iter()
        .find(|b| matches!(b, arena_tests::Backend::Postgres(_)))
    else {
        arena_tests::skip(
            arena_tests::Needs::Postgres,
            "postgres_workers_wake_on_notify_without_polling (ARENA_TEST_POSTGRES_URL not set)",
        );
        return;
    };
    let app = arena_tests::spawn_app_with(arena_tests::AppOptions {
        backend,
        tweak: |s| s.queue.poll_ms = 3_600_000,
        ..arena_tests::AppOptions::default()
    })
    .await;
    // Let the slot go idle (it waits on the notification, not on a short poll).
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.competition("w").await;
    let resp = app
        .post_real("w", &arena_datasets::video("real_1.mp4"))
        .await;
    assert_eq!(resp.status().as_u16(), 202);
    let id = resp.json::<serde_json::Value>().await.unwrap_or_default()["id"]
        .as_i64()
        .unwrap_or_default();
    // Without the wake-up the prepare job would wait an hour for the next poll.
    let done = app.wait_submission(id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "finished", "{done}");
    let video = arena::repo::videos::list_for_submission(app.ctx.db(), id)
        .await
        .unwrap_or_default();
    assert_eq!(
        video.first().map(|v| v.prepare_state.as_str()),
        Some("ready")
    );
}
