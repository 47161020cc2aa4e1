//! `arena backup` and `arena restore`: one zip holding a consistent copy of the SQLite database
//! (`VACUUM INTO`, taken while the server runs), every object of the object store (local or
//! S3, streamed), and the session key; restore writes them into a fresh data dir (and its
//! object store, local or S3). PostgreSQL deployments back their database up with `pg_dump`
//! (README, "Backups"): this command refuses them with that advice.
//!
//! The database is copied first, then the objects: objects are immutable and keyed by content,
//! so every object the copied rows name is in the archive (objects uploaded meanwhile are
//! extra and harmless). The zip crate (already used for creation zips) writes and reads the
//! archive; entries are read back through `enclosed_name`, so an archive cannot write outside
//! the data dir.

use anyhow::{Context, bail, ensure};
use arena::Settings;
use arena::storage::Storage;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;

const MANIFEST: &str = "MANIFEST.json";
const DATABASE: &str = "arena.db";
const SESSION_KEY: &str = "session.key";
const OBJECTS: &str = "objects/";
const FORMAT: &str = "deepfake-arena-backup";

/// What an archive holds (its `MANIFEST.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub created_at_ms: i64,
    pub database_bytes: u64,
    pub objects: u64,
    pub object_bytes: u64,
}

/// Writes a backup of the arena named by `settings` to `out`.
pub async fn backup(settings: &Settings, out: &Path) -> anyhow::Result<Manifest> {
    let url = settings.database_url();
    if !url.starts_with("sqlite:") {
        bail!(
            "`arena backup` copies SQLite databases; for PostgreSQL run \
             `pg_dump --format=custom --file=arena.dump \"$ARENA_DATABASE_URL\"` (and \
             `pg_restore --clean --dbname=…` to restore) and back the bucket up with its own \
             tooling (versioning or replication); see docs/OPERATIONS.md, \"Backups\""
        );
    }
    let storage = Storage::open(
        settings.storage.as_deref(),
        &settings.data_dir.join("objects"),
        &settings.s3,
    )?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let snapshot = tempfile::Builder::new()
        .prefix(".arena-backup-")
        .suffix(".db")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?
        .into_temp_path();
    // VACUUM INTO wants a path that does not exist yet.
    std::fs::remove_file(&snapshot)?;
    let db = arena::db::connect(&url).await?;
    arena::db::sqlite_snapshot(&db, &snapshot)
        .await
        .context("the SQLite online copy (VACUUM INTO) failed")?;
    db.close().await?;

    let partial = out.with_extension("partial");
    let mut zip = zip::ZipWriter::new(BufWriter::new(File::create(&partial)?));
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let packed = stored.compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(DATABASE, packed)?;
    let database_bytes = std::io::copy(&mut File::open(&snapshot)?, &mut zip)?;
    drop(snapshot);
    let key = settings.data_dir.join(SESSION_KEY);
    if key.is_file() {
        zip.start_file(SESSION_KEY, stored)?;
        std::io::copy(&mut File::open(&key)?, &mut zip)?;
    }
    let (mut objects, mut object_bytes) = (0, 0);
    for (name, _) in storage.list().await? {
        // Videos and crops are compressed already: stored, not deflated.
        zip.start_file(format!("{OBJECTS}{name}"), stored)?;
        object_bytes += storage.copy_to(&name, &mut zip).await?;
        objects += 1;
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: 1,
        created_at_ms: arena::time::now_ms(),
        database_bytes,
        objects,
        object_bytes,
    };
    zip.start_file(MANIFEST, packed)?;
    zip.write_all(&serde_json::to_vec_pretty(&manifest)?)?;
    zip.finish()?.flush()?;
    std::fs::rename(&partial, out)?;
    Ok(manifest)
}

/// Restores `archive` into the data dir and object store named by `settings` (which must not
/// hold a database yet, unless `force`). The server then opens it as usual (and migrates it if
/// the archive came from an older release).
pub async fn restore(settings: &Settings, archive: &Path, force: bool) -> anyhow::Result<Manifest> {
    if settings.database_url.is_some() {
        bail!(
            "`arena restore` writes the default SQLite file of the data dir; unset --database-url"
        );
    }
    let db_path = settings.data_dir.join(DATABASE);
    if db_path.exists() && !force {
        bail!(
            "{} already holds a database; restore into an empty data dir (or pass --force)",
            settings.data_dir.display()
        );
    }
    let mut zip = zip::ZipArchive::new(File::open(archive)?)
        .with_context(|| format!("{} is not a zip archive", archive.display()))?;
    let manifest: Manifest = {
        let entry = zip
            .by_name(MANIFEST)
            .context("not an arena backup (no MANIFEST.json)")?;
        serde_json::from_reader(entry)?
    };
    ensure!(
        manifest.format == FORMAT && manifest.version == 1,
        "unsupported backup format {} v{}",
        manifest.format,
        manifest.version
    );
    std::fs::create_dir_all(&settings.data_dir)?;
    let storage = Storage::open(
        settings.storage.as_deref(),
        &settings.data_dir.join("objects"),
        &settings.s3,
    )?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let Some(name) = entry.enclosed_name() else {
            bail!("the archive has an unsafe path {:?}", entry.name());
        };
        let name = name.to_string_lossy().replace('\\', "/");
        if let Some(key) = name.strip_prefix(OBJECTS) {
            let mut tmp = tempfile::NamedTempFile::new_in(&settings.data_dir)?;
            std::io::copy(&mut entry, &mut tmp)?;
            storage.put_file(key, tmp.path()).await?;
        } else if name == DATABASE || name == SESSION_KEY {
            let dest: PathBuf = settings.data_dir.join(&name);
            let mut tmp = tempfile::NamedTempFile::new_in(&settings.data_dir)?;
            std::io::copy(&mut entry, &mut tmp)?;
            tmp.persist(&dest)?;
        }
    }
    // A WAL left by a previous database would be replayed over the restored file.
    for side in ["arena.db-wal", "arena.db-shm"] {
        let _ = std::fs::remove_file(settings.data_dir.join(side));
    }
    Ok(manifest)
}
