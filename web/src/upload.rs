//! Streaming uploads to disk: every file is written under the upload dir with a byte cap and
//! hashed on the way; nothing is visible to anyone until ingest has validated it.

use crate::error::ApiError;
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

    /// Copies a local file into the upload dir (CLI and demo use the same ingest as HTTP).
    pub fn from_path(src: &Path, upload_dir: &Path, cap: u64) -> Result<UploadedFile, ApiError> {
        let mut input = std::fs::File::open(src).map_err(|e| {
            ApiError::bad_request("unreadable_file", format!("{}: {e}", src.display()))
        })?;
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
            ApiError::bad_request("missing_field", format!("the form needs a `{name}` file"))
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
        .map_err(|e| ApiError::bad_request("bad_multipart", e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if form.files.contains_key(&name) || form.texts.contains_key(&name) {
            return Err(ApiError::bad_request(
                "duplicate_field",
                format!("the field `{name}` appears twice"),
            ));
        }
        if let Some((_, cap)) = spec.files.iter().find(|(n, _)| *n == name) {
            let mut sink = Sink::new(dir, *cap)?;
            while let Some(chunk) = field
                .try_next()
                .await
                .map_err(|e| ApiError::bad_request("bad_multipart", e.to_string()))?
            {
                sink.write(&chunk)?;
            }
            form.files.insert(name, sink.finish());
        } else if spec.texts.contains(&name.as_str()) {
            let mut text = Vec::new();
            while let Some(chunk) = field
                .try_next()
                .await
                .map_err(|e| ApiError::bad_request("bad_multipart", e.to_string()))?
            {
                text.extend_from_slice(&chunk);
                if text.len() > 4096 {
                    return Err(ApiError::too_large(format!(
                        "the field `{name}` is over 4096 bytes"
                    )));
                }
            }
            let text = String::from_utf8(text).map_err(|_| {
                ApiError::bad_request("bad_field", format!("the field `{name}` is not UTF-8"))
            })?;
            form.texts.insert(name, text);
        } else {
            return Err(ApiError::bad_request(
                "unexpected_field",
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
        .map_err(|e| ApiError::bad_request("bad_multipart", e.to_string()))?;
    headers.insert(CONTENT_TYPE, value);
    let stream = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, actix_web::error::PayloadError>(actix_web::web::Bytes::from(c))),
    );
    futures::executor::block_on(read_form(Multipart::new(&headers, stream), spec, dir))
}

/// Caps applied while reading a zip: counted on bytes actually inflated, not on headers.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveLimits {
    pub max_entries: usize,
    pub max_total_bytes: u64,
    pub max_ratio: u64,
}

/// True when the file starts like a zip archive.
pub fn looks_like_zip(path: &Path) -> bool {
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|()| &head == b"PK\x03\x04")
        .unwrap_or(false)
}

const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov", "m4v", "mkv", "webm"];

/// Extracts a creation zip of `<task_id>.<ext>` files into `dir`: refuses links, directories,
/// `..` or absolute names, nested archives and unknown extensions, and stops as soon as the
/// inflated bytes pass a cap. Returns (task id, file) pairs.
pub fn extract_zip(
    zip_path: &Path,
    dir: &Path,
    limits: ArchiveLimits,
) -> Result<Vec<(String, UploadedFile)>, ApiError> {
    let file = std::fs::File::open(zip_path).map_err(ApiError::internal)?;
    let compressed_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    extract_zip_from(file, compressed_len, dir, limits)
}

/// [`extract_zip`] over any seekable reader of `compressed_len` bytes (the fuzz target's entry).
pub fn extract_zip_from<R: std::io::Read + std::io::Seek>(
    reader: R,
    compressed_len: u64,
    dir: &Path,
    limits: ArchiveLimits,
) -> Result<Vec<(String, UploadedFile)>, ApiError> {
    let bad = |code: &'static str, msg: String| ApiError::unprocessable(code, msg);
    let compressed_len = compressed_len.max(1);
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|e| bad("bad_archive", format!("not a readable zip: {e}")))?;
    if archive.len() > limits.max_entries {
        return Err(bad(
            "archive_too_many_entries",
            format!(
                "the zip has {} entries; at most {} are allowed",
                archive.len(),
                limits.max_entries
            ),
        ));
    }
    let mut out = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad("bad_archive", e.to_string()))?;
        let name = entry.name().to_owned();
        if entry.is_symlink() || entry.is_dir() {
            return Err(bad(
                "archive_unsafe_path",
                format!("{name:?}: links and folders are not allowed"),
            ));
        }
        let (stem, ext) = safe_entry_name(&name).ok_or_else(|| {
            bad(
                "archive_unsafe_path",
                format!("{name:?}: entries must be plain `<task_id>.<ext>` names"),
            )
        })?;
        if matches!(ext.as_str(), "zip" | "gz" | "tar" | "7z" | "rar") {
            return Err(bad(
                "nested_archive",
                format!("{name:?}: archives inside archives are not allowed"),
            ));
        }
        if !VIDEO_EXTENSIONS.contains(&ext.as_str()) {
            return Err(bad(
                "unsupported_media",
                format!("{name:?}: expected one of {}", VIDEO_EXTENSIONS.join(", ")),
            ));
        }
        let remaining = limits.max_total_bytes.saturating_sub(total);
        let cap = remaining.min(limits.max_ratio.saturating_mul(compressed_len));
        let mut sink = Sink::new(dir, cap)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut entry, &mut buf)
                .map_err(|e| bad("bad_archive", format!("{name:?}: {e}")))?;
            if n == 0 {
                break;
            }
            sink.write(&buf[..n]).map_err(|_| {
                bad(
                    "archive_too_large",
                    format!(
                        "the zip inflates past {} bytes (or {}× its size)",
                        limits.max_total_bytes, limits.max_ratio
                    ),
                )
            })?;
        }
        total += sink.len;
        out.push((stem, sink.finish()));
    }
    if out.is_empty() {
        return Err(bad("bad_archive", "the zip is empty".to_owned()));
    }
    Ok(out)
}

/// `task.ext` with a plain task id, or None for anything path-like.
fn safe_entry_name(name: &str) -> Option<(String, String)> {
    if name.contains(['/', '\\', '\0']) || name.starts_with('.') {
        return None;
    }
    let (stem, ext) = name.rsplit_once('.')?;
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
    if stem.is_empty() || stem.len() > 64 || !stem.chars().all(ok) {
        return None;
    }
    Some((stem.to_owned(), ext.to_ascii_lowercase()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::safe_entry_name;

    #[test]
    fn entry_names() {
        assert_eq!(
            safe_entry_name("g01_id1_0003.mp4"),
            Some(("g01_id1_0003".into(), "mp4".into()))
        );
        assert_eq!(safe_entry_name("../x.mp4"), None);
        assert_eq!(safe_entry_name("/etc/x.mp4"), None);
        assert_eq!(safe_entry_name("a/b.mp4"), None);
        assert_eq!(safe_entry_name(".hidden.mp4"), None);
        assert_eq!(safe_entry_name("noext"), None);
    }
}
