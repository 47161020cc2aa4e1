//! Object storage through the `object_store` crate, files keyed by content sha256.

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::prefix::PrefixStore;
use object_store::{
    ObjectStore, PutPayload, WriteMultipart, local::LocalFileSystem, path::Path as ObjectPath,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported storage url {0:?} (expected file:///abs/dir or s3://bucket[/prefix])")]
    UnsupportedUrl(String),
    #[error("unknown S3 option {0:?}")]
    UnknownOption(String),
    #[error("object {0} not found")]
    NotFound(String),
    #[error("storage i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("object store: {0}")]
    Store(object_store::Error),
}

impl From<object_store::Error> for StorageError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { path, .. } => StorageError::NotFound(path),
            other => StorageError::Store(other),
        }
    }
}

/// Largest piece a file is written in: [`Storage::put`] hands a local store its payload in pieces
/// of at most this many bytes, the worker's decode children write their caches so
/// (`worker/src/crops.rs`), and so does [`write_file`] (a worker staging an object from S3). On
/// the guests this was measured on (docs/BENCHMARKS.md, "Writes in pieces"), one `write` of 2 MB
/// or more into a new file cost ~8-10x the system CPU of the same bytes in pieces of 256-768 KB
/// (the kernel takes a large page-cache folio for a large write, and those cost far more there);
/// on other machines a piece this size costs nothing measurable (a system call per 256 KB).
pub const WRITE_PIECE: usize = 256 * 1024;

/// Writes `bytes` to `out` in pieces of at most [`WRITE_PIECE`].
pub fn write_in_pieces(out: &mut impl std::io::Write, bytes: &[u8]) -> std::io::Result<()> {
    bytes
        .chunks(WRITE_PIECE)
        .try_for_each(|piece| out.write_all(piece))
}

/// Writes `bytes` to a new file at `path` (replacing one there) in [`WRITE_PIECE`]s, on a
/// blocking thread (`tokio::fs::write` hands the kernel the whole buffer in one `write`).
pub async fn write_file(path: &Path, bytes: Bytes) -> std::io::Result<()> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::create(&path)?;
        write_in_pieces(&mut file, &bytes)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// `bytes` as a payload of [`WRITE_PIECE`]-sized pieces of the same buffer (no copy).
fn in_pieces(bytes: Bytes) -> PutPayload {
    (0..bytes.len())
        .step_by(WRITE_PIECE)
        .map(|at| bytes.slice(at..bytes.len().min(at + WRITE_PIECE)))
        .collect()
}

/// The arena's bucket: videos, models and crop caches.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The folder of a local store (`None` for S3 and wrapped stores): see [`Storage::local_path`].
    local_root: Option<PathBuf>,
}

/// Key of an uploaded video.
pub fn video_key(sha256: &str) -> String {
    format!("videos/{sha256}")
}

/// Key of an uploaded ONNX model.
pub fn model_key(sha256: &str) -> String {
    format!("models/{sha256}.onnx")
}

/// Key of a video's cached crops for one sampler and face-detector version.
pub fn crops_key(video_sha256: &str, sampler_version: i32, face_detector_version: i32) -> String {
    format!("crops/{video_sha256}/s{sampler_version}-f{face_detector_version}.bin")
}

/// Key of a video's cached whole frames (for `crop = "frame"` detectors) for one sampler version.
pub fn frames_key(video_sha256: &str, sampler_version: i32) -> String {
    format!("frames/{video_sha256}/s{sampler_version}.bin")
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The bytes of the file at `path`, mapped read-only (populated at once) instead of copied
/// into this process's memory; an empty file as empty bytes. Only for files nothing changes in
/// place: the store's objects (written to a temporary name and renamed, removed by unlinking) and
/// files a child handed over (`worker/src/sandbox/handoff.rs`). A mapping outlives a rename or
/// an unlink of its file.
pub fn map_file(path: &Path) -> std::io::Result<Bytes> {
    map(path, true)
}

/// [`map_file`] without populating the mapping: a page is read in when it is first touched. For
/// bytes of which only a few pages are read, such as a decode child's caches the server checks
/// (the worker's `Crops::parse_current` reads each image's header, not its pixels): populating
/// a short clip's ~25 MB of caches cost the server ~1.2 ms a video, for pages it never read (until
/// 2026-12-06; docs/BENCHMARKS.md, item 36). Same rules as [`map_file`].
pub fn map_file_lazily(path: &Path) -> std::io::Result<Bytes> {
    map(path, false)
}

fn map(path: &Path, populate: bool) -> std::io::Result<Bytes> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the file is never truncated or written in place while mapped (see above), so the
    // mapping's bytes do not change under the `Bytes` that owns it.
    #[expect(
        unsafe_code,
        reason = "a file mapping; callers pass only files nothing changes in place, see SAFETY"
    )]
    let map = unsafe {
        let mut options = memmap2::MmapOptions::new();
        if populate {
            options.populate();
        }
        options.map(&file)?
    };
    Ok(Bytes::from_owner(map))
}

/// Whether every segment of `key` is plain (`[A-Za-z0-9._-]`, not starting with a dot), as
/// every key this crate makes: such a key is the same path in a local store's folder.
fn plain_key(key: &str) -> bool {
    key.split('/').all(|s| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    })
}

impl Storage {
    /// Opens the store named by `url`: `file:///abs/dir`, `s3://bucket[/prefix]` (endpoint and
    /// credentials from the `AWS_*` environment, overridden by `s3_options`, e.g.
    /// `aws_endpoint`, `aws_allow_http`), or the local folder `default_dir` when `url` is None.
    pub fn open(
        url: Option<&str>,
        default_dir: &Path,
        s3_options: &BTreeMap<String, String>,
    ) -> Result<Storage, StorageError> {
        let Some(u) = url else {
            return Storage::local(default_dir);
        };
        if let Some(path) = u.strip_prefix("file://") {
            return Storage::local(Path::new(path));
        }
        let Some(rest) = u.strip_prefix("s3://") else {
            return Err(StorageError::UnsupportedUrl(u.to_owned()));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::UnsupportedUrl(u.to_owned()));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (k, v) in s3_options {
            let key = AmazonS3ConfigKey::from_str(k)
                .map_err(|_| StorageError::UnknownOption(k.clone()))?;
            builder = builder.with_config(key, v);
        }
        let s3 = builder.build()?;
        let store: Arc<dyn ObjectStore> = match prefix.trim_matches('/') {
            "" => Arc::new(s3),
            p => Arc::new(PrefixStore::new(s3, p)),
        };
        Ok(Storage {
            store,
            local_root: None,
        })
    }

    fn local(dir: &Path) -> Result<Storage, StorageError> {
        std::fs::create_dir_all(dir)?;
        Ok(Storage {
            // Empty folders go with their last object (a withdrawn content leaves no `crops/<sha>/`).
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true)),
            local_root: Some(std::fs::canonicalize(dir)?),
        })
    }

    /// Wraps any object store (tests, S3).
    pub fn from_store(store: Arc<dyn ObjectStore>) -> Storage {
        Storage {
            store,
            local_root: None,
        }
    }

    /// Where the object `key` lies on this machine's disk when the store is a local folder and
    /// the object is there; `None` for S3 and wrapped stores, a missing object, or a key whose
    /// segments are not plain (`[A-Za-z0-9._-]`, as every key this crate makes). A reader may
    /// then open the file in place, read-only, instead of copying it out (the worker's decode
    /// child reads an uploaded video so).
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        let root = self.local_root.as_ref()?;
        let plain = plain_key(key);
        let path = root.join(key);
        (plain && path.is_file()).then_some(path)
    }

    /// Stores the file at `path` under `key` and takes it: on a local store on the same file
    /// system, a rename (the bytes are not written again; the worker's decode caches, whose
    /// files only the worker can reach by then), else as [`Storage::put_file`] (the file stays).
    /// The caller must be the only one able to change the file.
    #[tracing::instrument(skip(self, path), err)]
    pub async fn adopt(&self, key: &str, path: &Path) -> Result<(), StorageError> {
        if let Some(root) = self.local_root.as_ref().filter(|_| plain_key(key)) {
            let dest = root.join(key);
            if let Some(parent) = dest.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            if tokio::fs::rename(path, &dest).await.is_ok() {
                return Ok(());
            }
        }
        self.put_file(key, path).await
    }

    /// Stores `bytes` under `key`; a local store writes them in [`WRITE_PIECE`]s.
    #[tracing::instrument(skip(self, bytes), fields(len = bytes.len()), err)]
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&ObjectPath::from(key), in_pieces(bytes))
            .await?;
        Ok(())
    }

    /// Stores the file at `path` under `key`, streaming it in parts: a large upload is never
    /// held in memory whole.
    #[tracing::instrument(skip(self, path), err)]
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<(), StorageError> {
        use tokio::io::AsyncReadExt;
        const PART: usize = 8 * 1024 * 1024;
        let mut file = tokio::fs::File::open(path).await?;
        if file.metadata().await?.len() <= PART as u64 {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).await?;
            return self.put(key, Bytes::from(bytes)).await;
        }
        let upload = self.store.put_multipart(&ObjectPath::from(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; WRITE_PIECE];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(4).await?;
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    /// The object's bytes. A local store's file is mapped ([`map_file`]), not read: the worker
    /// reads ~25 MB of cached images per video and scoring job, and a copy of them cost more
    /// than the scoring of a small detector (docs/BENCHMARKS.md, "The platform path").
    #[tracing::instrument(skip(self), err)]
    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        if let Some(path) = self.local_path(key) {
            let mapped = tokio::task::spawn_blocking(move || map_file(&path))
                .await
                .map_err(std::io::Error::other)?;
            match mapped {
                Ok(bytes) => return Ok(bytes),
                // Deleted between the look and the open: as the store would answer.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self
            .store
            .get(&ObjectPath::from(key))
            .await?
            .bytes()
            .await?)
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every object under `prefix` (a folder such as `crops/<sha256>`); returns the keys.
    #[tracing::instrument(skip(self), err)]
    pub async fn delete_prefix(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        use futures::TryStreamExt as _;
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&ObjectPath::from(prefix)))
            .try_collect()
            .await?;
        let mut out = Vec::with_capacity(listed.len());
        for meta in listed {
            self.delete(meta.location.as_ref()).await?;
            out.push(meta.location.to_string());
        }
        Ok(out)
    }

    /// Every object's key and size (backups).
    pub async fn list(&self) -> Result<Vec<(String, u64)>, StorageError> {
        use futures::TryStreamExt;
        let metas: Vec<object_store::ObjectMeta> = self.store.list(None).try_collect().await?;
        Ok(metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect())
    }

    /// Streams an object into `sink` chunk by chunk (a large video is never held whole);
    /// returns the bytes written.
    pub async fn copy_to(
        &self,
        key: &str,
        sink: &mut impl std::io::Write,
    ) -> Result<u64, StorageError> {
        use futures::TryStreamExt;
        let mut stream = self.store.get(&ObjectPath::from(key)).await?.into_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.try_next().await? {
            sink.write_all(&chunk)?;
            n += chunk.len() as u64;
        }
        Ok(n)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_exists_delete() {
        let dir = std::env::temp_dir().join(format!("arena-store-{}", std::process::id()));
        let store = Storage::open(None, &dir, &BTreeMap::new()).unwrap();
        let bytes = Bytes::from_static(b"hello");
        let key = video_key(&sha256_hex(&bytes));
        assert!(!store.exists(&key).await.unwrap());
        store.put(&key, bytes.clone()).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap(), bytes);
        assert!(store.exists(&key).await.unwrap());
        let on_disk = store.local_path(&key).unwrap();
        assert_eq!(std::fs::read(&on_disk).unwrap(), b"hello");
        assert!(on_disk.starts_with(std::fs::canonicalize(&dir).unwrap()));
        assert_eq!(store.local_path("../videos/x"), None);
        store.delete(&key).await.unwrap();
        assert_eq!(store.local_path(&key), None);
        assert!(matches!(
            store.get(&key).await,
            Err(StorageError::NotFound(_))
        ));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_payload_is_cut_into_pieces_of_the_same_buffer() {
        let bytes = Bytes::from(
            (0..WRITE_PIECE * 2 + 5)
                .map(|i| i as u8)
                .collect::<Vec<_>>(),
        );
        let payload = in_pieces(bytes.clone());
        let pieces: Vec<&Bytes> = payload.iter().collect();
        assert_eq!(
            pieces.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [WRITE_PIECE, WRITE_PIECE, 5]
        );
        assert_eq!(
            pieces
                .iter()
                .flat_map(|p| p.iter().copied())
                .collect::<Vec<u8>>(),
            bytes.to_vec()
        );
        assert_eq!(
            pieces[1].as_ptr(),
            bytes[WRITE_PIECE..].as_ptr(),
            "not copied"
        );
        assert_eq!(in_pieces(Bytes::new()).content_length(), 0);
        assert_eq!(in_pieces(Bytes::from_static(b"abc")).iter().count(), 1);
    }

    #[tokio::test]
    async fn a_file_written_in_pieces_holds_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("staged");
        std::fs::write(&path, b"an older, longer file").unwrap();
        let bytes = Bytes::from(
            (0..WRITE_PIECE + 7)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<_>>(),
        );
        write_file(&path, bytes.clone()).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes.to_vec());
    }

    #[tokio::test]
    async fn a_local_store_adopts_a_file_by_moving_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Storage::open(None, &dir.path().join("objects"), &BTreeMap::new()).unwrap();
        let file = dir.path().join("frames.bin");
        std::fs::write(&file, b"frames").unwrap();
        let key = frames_key("abc", 2);
        store.adopt(&key, &file).await.unwrap();
        assert!(!file.exists(), "moved");
        assert_eq!(
            store.get(&key).await.unwrap(),
            Bytes::from_static(b"frames")
        );
        // A store that is not a local folder copies it (the file stays).
        let memory = Storage::from_store(Arc::new(object_store::memory::InMemory::new()));
        std::fs::write(&file, b"again").unwrap();
        memory.adopt(&key, &file).await.unwrap();
        assert!(file.exists());
        assert_eq!(
            memory.get(&key).await.unwrap(),
            Bytes::from_static(b"again")
        );
    }
}
