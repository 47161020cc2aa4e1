//! Streaming uploads to disk: every file is written under the upload dir with a byte cap and
//! hashed on the way; nothing is visible to anyone until ingest has validated it.

use crate::error::{ApiError, Code};
use actix_multipart::Multipart;
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use tempfile::NamedTempFile;

/// A file received in full, in a temp file deleted on drop.
pub struct UploadedFile {
    pub file: NamedTempFile,
    pub sha256: String,
    pub len: u64,
}

impl UploadedFile {
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Moves a file the server did not receive itself (an entry a zip child inflated) into the
    /// upload dir and hashes it there; copies it when it is on another file system.
    pub fn adopt(src: &Path, upload_dir: &Path) -> Result<UploadedFile, ApiError> {
        std::fs::create_dir_all(upload_dir).map_err(ApiError::internal)?;
        let target = NamedTempFile::new_in(upload_dir)
            .map_err(ApiError::internal)?
            .into_temp_path();
        if std::fs::rename(src, &target).is_err() {
            return UploadedFile::copy_in(src, upload_dir, u64::MAX);
        }
        let mut file = std::fs::File::open(&target).map_err(ApiError::internal)?;
        let mut hasher = Sha256::new();
        let len = std::io::copy(&mut file, &mut hasher).map_err(ApiError::internal)?;
        Ok(UploadedFile {
            file: NamedTempFile::from_parts(file, target),
            sha256: hex::encode(hasher.finalize()),
            len,
        })
    }

    /// Copies a local file into the upload dir (CLI and demo use the same ingest as HTTP); the
    /// copy and its hash run on a blocking thread, off the executor.
    pub async fn from_path(
        src: &Path,
        upload_dir: &Path,
        cap: u64,
    ) -> Result<UploadedFile, ApiError> {
        let (src, upload_dir) = (src.to_owned(), upload_dir.to_owned());
        actix_web::web::block(move || UploadedFile::copy_in(&src, &upload_dir, cap))
            .await
            .map_err(ApiError::internal)?
    }

    /// [`UploadedFile::from_path`]'s blocking part: copy `src` under the cap, hashing it.
    fn copy_in(src: &Path, upload_dir: &Path, cap: u64) -> Result<UploadedFile, ApiError> {
        let mut input = std::fs::File::open(src)
            .map_err(|e| ApiError::of(Code::UnreadableFile, format!("{}: {e}", src.display())))?;
        let mut sink = Sink::new(upload_dir, cap)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut input, &mut buf).map_err(ApiError::internal)?;
            if n == 0 {
                break;
            }
            sink.write(&buf[..n])?;
        }
        Ok(sink.finish())
    }
}

/// What a form may carry: file fields with their caps, and short text fields.
pub struct FormSpec<'a> {
    pub files: &'a [(&'a str, u64)],
    pub texts: &'a [&'a str],
}

#[derive(Default)]
pub struct Form {
    pub files: HashMap<String, UploadedFile>,
    pub texts: HashMap<String, String>,
}

impl Form {
    pub fn take_file(&mut self, name: &str) -> Result<UploadedFile, ApiError> {
        self.files.remove(name).ok_or_else(|| {
            ApiError::of(
                Code::MissingField,
                format!("the form needs a `{name}` file"),
            )
        })
    }
}

struct Sink {
    file: NamedTempFile,
    hasher: Sha256,
    len: u64,
    cap: u64,
}

impl Sink {
    fn new(dir: &Path, cap: u64) -> Result<Sink, ApiError> {
        std::fs::create_dir_all(dir).map_err(ApiError::internal)?;
        Ok(Sink {
            file: NamedTempFile::new_in(dir).map_err(ApiError::internal)?,
            hasher: Sha256::new(),
            len: 0,
            cap,
        })
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.len += chunk.len() as u64;
        metrics::counter!(crate::metrics::UPLOAD_BYTES).increment(chunk.len() as u64);
        if self.len > self.cap {
            return Err(ApiError::too_large(format!(
                "the file is over the limit of {} bytes",
                self.cap
            )));
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).map_err(ApiError::internal)
    }

    fn finish(self) -> UploadedFile {
        UploadedFile {
            file: self.file,
            sha256: hex::encode(self.hasher.finalize()),
            len: self.len,
        }
    }
}

/// Reads a multipart form, streaming file fields to disk; unknown or repeated fields are refused.
pub async fn read_form(
    mut payload: Multipart,
    spec: &FormSpec<'_>,
    dir: &Path,
) -> Result<Form, ApiError> {
    let mut form = Form::default();
    while let Some(mut field) = payload
        .try_next()
        .await
        .map_err(|e| ApiError::of(Code::BadMultipart, e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if form.files.contains_key(&name) || form.texts.contains_key(&name) {
            return Err(ApiError::of(
                Code::DuplicateField,
                format!("the field `{name}` appears twice"),
            ));
        }
        if let Some((_, cap)) = spec.files.iter().find(|(n, _)| *n == name) {
            let mut sink = Sink::new(dir, *cap)?;
            while let Some(chunk) = field
                .try_next()
                .await
                .map_err(|e| ApiError::of(Code::BadMultipart, e.to_string()))?
            {
                sink.write(&chunk)?;
            }
            form.files.insert(name, sink.finish());
        } else if spec.texts.contains(&name.as_str()) {
            let mut text = Vec::new();
            while let Some(chunk) = field
                .try_next()
                .await
                .map_err(|e| ApiError::of(Code::BadMultipart, e.to_string()))?
            {
                text.extend_from_slice(&chunk);
                if text.len() > 4096 {
                    return Err(ApiError::too_large(format!(
                        "the field `{name}` is over 4096 bytes"
                    )));
                }
            }
            let text = String::from_utf8(text).map_err(|_| {
                ApiError::of(Code::BadField, format!("the field `{name}` is not UTF-8"))
            })?;
            form.texts.insert(name, text);
        } else {
            return Err(ApiError::of(
                Code::UnexpectedField,
                format!("unexpected form field `{name}`"),
            ));
        }
    }
    Ok(form)
}

/// Reads a multipart body held in memory, delivered in `chunks` as a network would split it,
/// with [`read_form`]: the entry point of the `multipart` fuzz target and its stable replay.
pub fn read_form_from_chunks(
    content_type: &str,
    chunks: Vec<Vec<u8>>,
    spec: &FormSpec<'_>,
    dir: &Path,
) -> Result<Form, ApiError> {
    use actix_web::http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(content_type)
        .map_err(|e| ApiError::of(Code::BadMultipart, e.to_string()))?;
    headers.insert(CONTENT_TYPE, value);
    let stream = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, actix_web::error::PayloadError>(actix_web::web::Bytes::from(c))),
    );
    futures::executor::block_on(read_form(Multipart::new(&headers, stream), spec, dir))
}

pub use arena_worker::archive::ArchiveLimits;

/// True when the file starts like a zip archive.
pub fn looks_like_zip(path: &Path) -> bool {
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|()| &head == b"PK\x03\x04")
        .unwrap_or(false)
}

/// Extracts a creation zip of `<task_id>.<ext>` files into `dir`, in this process (without
/// `evaluation.isolate`; isolated ingest unzips in a child, `crate::ingest_video`): see
/// [`arena_worker::archive::extract_zip_from`]. Returns (task id, file) pairs.
pub fn extract_zip(
    zip_path: &Path,
    dir: &Path,
    limits: ArchiveLimits,
) -> Result<Vec<(String, UploadedFile)>, ApiError> {
    let file = std::fs::File::open(zip_path).map_err(ApiError::internal)?;
    let compressed_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    extract_zip_from(std::io::BufReader::new(file), compressed_len, dir, limits)
}

/// [`extract_zip`] over any seekable reader of `compressed_len` bytes (the fuzz target's entry).
pub fn extract_zip_from<R: std::io::Read + std::io::Seek>(
    reader: R,
    compressed_len: u64,
    dir: &Path,
    limits: ArchiveLimits,
) -> Result<Vec<(String, UploadedFile)>, ApiError> {
    std::fs::create_dir_all(dir).map_err(ApiError::internal)?;
    let out = tempfile::tempdir_in(dir).map_err(ApiError::internal)?;
    let entries =
        arena_worker::archive::extract_zip_from(reader, compressed_len, out.path(), limits)
            .map_err(archive_error)?;
    entries
        .into_iter()
        .map(|e| Ok((e.task, UploadedFile::adopt(&out.path().join(&e.file), dir)?)))
        .collect()
}

/// A refused zip is a 422 with the archive's code; failing to write its entries is ours.
pub fn archive_error(e: arena_worker::archive::ArchiveError) -> ApiError {
    if e.client {
        ApiError::unprocessable(e.code, e.message)
    } else {
        ApiError::internal(e)
    }
}
