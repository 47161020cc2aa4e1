//! The two calls the bench binaries (`platform-bench`, `sim-competition --processes`) make to a
//! running server: a request whose JSON answer must be a 2xx, and a file as a multipart part.

use anyhow::{Result, bail};
use serde_json::Value;
use std::path::Path;

/// Sends `req` and returns its JSON body; a non-2xx status is an error.
pub async fn send(req: reqwest::RequestBuilder) -> Result<Value> {
    let resp = req.send().await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    Ok(body)
}

/// The file at `path` as a multipart part named after the file.
pub fn file_part(path: &Path) -> Result<reqwest::multipart::Part> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(reqwest::multipart::Part::bytes(std::fs::read(path)?).file_name(name))
}
