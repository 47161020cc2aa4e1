//! Connecting to SQLite or PostgreSQL and bringing the schema up to date.

use arena_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use std::time::Duration;

/// Opens the database at `url` (SQLite files are created; WAL and foreign keys on).
#[tracing::instrument(skip_all, err)]
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
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

/// Connects and migrates.
pub async fn connect_and_migrate(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    migrate(&db).await?;
    Ok(db)
}
