//! The release zip of a finished competition (`GET /api/v1/competitions/{slug}/release`,
//! `arena competition release`): `manifest.json` (see [`arena::release`]) and the published
//! videos under `fakes/` and `reals/`, each stored once, named by its sha256.

use arena::release::Release;
use arena::storage::{Storage, StorageError};
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseZipError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("manifest: {0}")]
    Json(#[from] serde_json::Error),
}

/// Writes the zip in memory: the manifest first, then every file, stored (videos are compressed
/// already), each streamed from the object store.
#[tracing::instrument(skip_all, fields(files = release.files.len()), err)]
pub async fn zip_release(storage: &Storage, release: &Release) -> Result<Vec<u8>, ReleaseZipError> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let packed = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("manifest.json", packed)?;
    zip.write_all(&serde_json::to_vec_pretty(&release.manifest)?)?;
    for f in &release.files {
        zip.start_file(f.path.as_str(), stored)?;
        storage.copy_to(&f.storage_key, &mut zip).await?;
    }
    Ok(zip.finish()?.into_inner())
}
