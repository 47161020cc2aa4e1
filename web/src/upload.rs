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
