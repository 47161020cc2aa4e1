//! Connecting to SQLite or PostgreSQL and bringing the schema up to date.

use arena_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// Set (to anything) to log every SQL statement at `info` under the `sqlx::query` target: how
/// docs/BENCHMARKS.md counts the statements per job and per request.
pub const LOG_SQL_ENV: &str = "ARENA_LOG_SQL";

/// Opens the database at `url` (SQLite files are created; WAL and foreign keys on).
#[tracing::instrument(skip_all, err)]
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(std::env::var_os(LOG_SQL_ENV).is_some())
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        // Per-connection settings: WAL lets readers run beside the single writer, and
        // busy_timeout makes a second writer wait instead of failing.
        opts.max_connections(8)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    .pragma("journal_mode", "WAL")
                    .pragma("synchronous", "NORMAL")
            });
    } else {
        opts.max_connections(16);
    }
    Database::connect(opts).await
}

/// Applies every pending migration.
#[tracing::instrument(skip_all, err)]
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Migrations this binary knows that the database has not applied (`/readyz`: a replica of an
/// older schema is not ready).
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.len())
}

/// Readiness: the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(drop)
}

/// Writes a consistent online copy of a SQLite database to `target`, a path that must not exist
/// yet (`VACUUM INTO`; the backup command).
pub async fn sqlite_snapshot(
    db: &DatabaseConnection,
    target: &std::path::Path,
) -> Result<(), DbErr> {
    let target = target.to_string_lossy().replace('\'', "''");
    db.execute_unprepared(&format!("VACUUM INTO '{target}'"))
        .await
        .map(drop)
}

/// Connects and migrates.
pub async fn connect_and_migrate(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    migrate(&db).await?;
    Ok(db)
}

/// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`), so a transaction that reads before it writes cannot fail halfway: a deferred one
/// gets SQLITE_BUSY_SNAPSHOT, at once and without the busy timeout, when another connection
/// commits between its first read and its first write (a worker storing a score while an
/// organizer advances a phase was enough). Writers queue on the busy timeout instead. PostgreSQL
/// ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sea_orm::ConnectionTrait;

    #[tokio::test]
    async fn a_write_transaction_that_reads_first_survives_a_concurrent_writer() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = connect(&url).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        let count = "SELECT count(*) FROM t";

        // A deferred transaction reads, another connection commits, its write fails at once.
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared(count).await.unwrap();
        db.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let e = txn
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("locked"), "{e}");
        txn.rollback().await.unwrap();

        // `begin_write`: the other writer waits for the commit instead.
        let txn = begin_write(&db).await.unwrap();
        txn.execute_unprepared(count).await.unwrap();
        let other = {
            let db = db.clone();
            tokio::spawn(async move { db.execute_unprepared("INSERT INTO t VALUES (3)").await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        txn.execute_unprepared("INSERT INTO t VALUES (4)")
            .await
            .unwrap();
        txn.commit().await.unwrap();
        other.await.unwrap().unwrap();
        let rows = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                count,
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rows.try_get_by_index::<i64>(0).unwrap(), 3);
    }
}
