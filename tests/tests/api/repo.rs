//! Repositories on SQLite and PostgreSQL.

use arena::domain::{Role, TeamName};
use arena::repo;
use arena_tests::{backends, fresh_database_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_names_are_unique_and_scores_are_stored_once() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = fresh_database_url(&backend, dir.path())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let db = arena::db::connect_and_migrate(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
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
    }
}
