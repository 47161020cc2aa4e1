//! Object storage through the `object_store` crate, files keyed by content sha256.

use bytes::Bytes;
use object_store::{ObjectStore, PutPayload, local::LocalFileSystem, path::Path as ObjectPath};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported storage url {0:?}")]
    UnsupportedUrl(String),
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

/// The arena's bucket: videos, models and crop caches.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
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

impl Storage {
    /// Opens the store named by `url` (`file:///abs/dir`), or the local folder `default_dir`.
    pub fn open(url: Option<&str>, default_dir: &Path) -> Result<Storage, StorageError> {
        let dir = match url {
            None => default_dir.to_owned(),
            Some(u) => match u.strip_prefix("file://") {
                Some(path) => Path::new(path).to_owned(),
                None => return Err(StorageError::UnsupportedUrl(u.to_owned())),
            },
        };
        std::fs::create_dir_all(&dir)?;
        let local = LocalFileSystem::new_with_prefix(&dir)?;
        Ok(Storage {
            store: Arc::new(local),
        })
    }

    /// Wraps any object store (tests, S3).
    pub fn from_store(store: Arc<dyn ObjectStore>) -> Storage {
        Storage { store }
    }

    #[tracing::instrument(skip(self, bytes), fields(len = bytes.len()), err)]
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Stores the file at `path` under `key`.
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<(), StorageError> {
        let bytes = tokio::fs::read(path).await?;
        self.put(key, Bytes::from(bytes)).await
    }

    #[tracing::instrument(skip(self), err)]
    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
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
        let store = Storage::open(None, &dir).unwrap();
        let bytes = Bytes::from_static(b"hello");
        let key = video_key(&sha256_hex(&bytes));
        assert!(!store.exists(&key).await.unwrap());
        store.put(&key, bytes.clone()).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap(), bytes);
        assert!(store.exists(&key).await.unwrap());
        store.delete(&key).await.unwrap();
        assert!(matches!(
            store.get(&key).await,
            Err(StorageError::NotFound(_))
        ));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
