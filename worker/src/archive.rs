//! Creation zips: list and inflate a team's zip of `<task_id>.<ext>` videos into a folder, with
//! caps counted on the bytes actually inflated (not on what the headers claim). The web server
//! runs this in an `arena-sandbox` child when evaluation is isolated (docs/SANDBOX.md): the
//! central directory and the deflate streams are a team's bytes.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Caps applied while reading a zip: counted on bytes actually inflated, not on headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveLimits {
    pub max_entries: usize,
    pub max_total_bytes: u64,
    pub max_ratio: u64,
}

/// An extracted entry: the task it names and the file its bytes went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub task: String,
    /// The file's name in the output folder (`entry-<n>`).
    pub file: String,
    pub len: u64,
}

/// A refused archive (`client`: the zip's fault, 422) or a failure of ours (writing the output).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ArchiveError {
    pub code: &'static str,
    pub message: String,
    pub client: bool,
}

impl ArchiveError {
    fn bad(code: &'static str, message: String) -> ArchiveError {
        ArchiveError {
            code,
            message,
            client: true,
        }
    }

    fn io(what: &str, e: std::io::Error) -> ArchiveError {
        ArchiveError {
            code: "archive_io",
            message: format!("{what}: {e}"),
            client: false,
        }
    }
}

impl From<ArchiveError> for crate::job_error::JobError {
    fn from(e: ArchiveError) -> Self {
        crate::job_error::JobError {
            code: e.code,
            message: e.message,
            permanent: e.client,
        }
    }
}

/// The video extensions a creation zip may hold.
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov", "m4v", "mkv", "webm"];

/// Extracts a creation zip of `<task_id>.<ext>` files into `dir` (as `entry-<n>` files): refuses
/// links, directories, `..` or absolute names, nested archives and unknown extensions, and stops
/// as soon as the inflated bytes pass a cap. Returns the entries in archive order.
pub fn extract_zip_from<R: Read + Seek>(
    reader: R,
    compressed_len: u64,
    dir: &Path,
    limits: ArchiveLimits,
) -> Result<Vec<Entry>, ArchiveError> {
    let bad = ArchiveError::bad;
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
        let file_name = format!("entry-{i}");
        let path: PathBuf = dir.join(&file_name);
        let mut file = std::fs::File::create(&path).map_err(|e| ArchiveError::io("output", e))?;
        let mut len = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| bad("bad_archive", format!("{name:?}: {e}")))?;
            if n == 0 {
                break;
            }
            len += n as u64;
            if len > cap {
                return Err(bad(
                    "archive_too_large",
                    format!(
                        "the zip inflates past {} bytes (or {}× its size)",
                        limits.max_total_bytes, limits.max_ratio
                    ),
                ));
            }
            file.write_all(&buf[..n])
                .map_err(|e| ArchiveError::io("output", e))?;
        }
        total += len;
        out.push(Entry {
            task: stem,
            file: file_name,
            len,
        });
    }
    if out.is_empty() {
        return Err(bad("bad_archive", "the zip is empty".to_owned()));
    }
    Ok(out)
}

/// `task.ext` with a plain task id, or None for anything path-like.
pub fn safe_entry_name(name: &str) -> Option<(String, String)> {
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
