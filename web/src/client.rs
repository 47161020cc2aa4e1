//! The teams' command-line client: submit (with an upload progress bar), watch a submission
//! (a live bar), print a leaderboard (aligned tables).
//!
//! Bars are drawn on stderr, and only when stderr is a terminal: piped or captured output gets
//! plain lines on stdout, as before.

use crate::console::say;
use anyhow::{Context, bail};
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Body;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

/// Upload chunk size: the bar moves once per chunk handed to the connection.
const CHUNK: usize = 64 * 1024;

fn token(token: Option<&str>) -> anyhow::Result<&str> {
    token.context("a team token is needed: pass --token or set ARENA_TOKEN")
}

/// Whether bars are drawn at all.
fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// A byte-counting upload bar over `total` bytes (hidden unless stderr is a terminal).
fn upload_bar(total: u64) -> ProgressBar {
    if !interactive() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "uploading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(total).with_style(style)
}

/// A file read whole, as a multipart part streamed in chunks that advance `bar`.
async fn file_part(path: &Path, bar: &ProgressBar) -> anyhow::Result<Part> {
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let len = bytes.len() as u64;
    let chunks: Vec<Vec<u8>> = bytes.chunks(CHUNK).map(<[u8]>::to_vec).collect();
    let bar = bar.clone();
    let stream = futures::stream::iter(chunks.into_iter().map(move |c| {
        bar.inc(c.len() as u64);
        Ok::<_, std::io::Error>(c)
    }));
    Ok(Part::stream_with_length(Body::wrap_stream(stream), len).file_name(name))
}

/// The total size of the files to upload (0 for unreadable ones: reading them reports the error).
async fn total_size(paths: &[&Path]) -> u64 {
    let mut total = 0;
    for p in paths {
        total += tokio::fs::metadata(p).await.map(|m| m.len()).unwrap_or(0);
    }
    total
}

async fn answer(resp: reqwest::Response) -> anyhow::Result<Value> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let code = body["code"].as_str().unwrap_or("error");
        let message = body["message"].as_str().unwrap_or("");
        bail!("{status}: {code}: {message}");
    }
    Ok(body)
}

pub async fn submit_creation(
    server: &str,
    tok: Option<&str>,
    slug: &str,
    file: &Path,
    task: Option<&str>,
) -> anyhow::Result<()> {
    let tok = token(tok)?;
    let bar = upload_bar(total_size(&[file]).await);
    let mut form = Form::new().part("file", file_part(file, &bar).await?);
    if let Some(t) = task {
        form = form.text("task", t.to_owned());
    }
    let resp = reqwest::Client::new()
        .post(format!("{server}/api/v1/competitions/{slug}/creations"))
        .bearer_auth(tok)
        .multipart(form)
        .send()
        .await;
    bar.finish_and_clear();
    let body = answer(resp?).await?;
    say(&format!(
        "submission {} {}",
        body["id"],
        body["status"].as_str().unwrap_or("")
    ));
    Ok(())
}

pub async fn submit_detector(
    server: &str,
    tok: Option<&str>,
    slug: &str,
    model: &Path,
    manifest: &Path,
) -> anyhow::Result<()> {
    let tok = token(tok)?;
    let bar = upload_bar(total_size(&[model, manifest]).await);
    let form = Form::new()
        .part("model", file_part(model, &bar).await?)
        .part("manifest", file_part(manifest, &bar).await?);
    let resp = reqwest::Client::new()
        .post(format!("{server}/api/v1/competitions/{slug}/detectors"))
        .bearer_auth(tok)
        .multipart(form)
        .send()
        .await;
    bar.finish_and_clear();
    let body = answer(resp?).await?;
    say(&format!(
        "submission {} {}",
        body["id"],
        body["status"].as_str().unwrap_or("")
    ));
    Ok(())
}

/// Whether a submission's status is final (watching stops there): finished, or out of the
/// game (`SubmissionStatus::is_final`: failed, disqualified, withdrawn).
fn is_final(status: &str) -> bool {
    arena::domain::SubmissionStatus::parse(status)
        .is_some_and(|s| s == arena::domain::SubmissionStatus::Finished || s.is_final())
}

/// `#12 running   [#########.....] 9/15`, with the failure when there is one.
fn status_line(id: i64, status: &str, done: u64, total: u64, error: Option<&Value>) -> String {
    let width = 30usize;
    let filled = if total == 0 {
        width
    } else {
        ((done as usize * width) / total as usize).min(width)
    };
    let mut line = format!(
        "#{id} {status:<9} [{}{}] {done}/{total}",
        "#".repeat(filled),
        ".".repeat(width - filled)
    );
    if let Some(err) = error.and_then(Value::as_object) {
        line.push_str(&format!(
            " — {}: {}",
            err.get("code").and_then(Value::as_str).unwrap_or(""),
            err.get("message").and_then(Value::as_str).unwrap_or("")
        ));
    }
    line
}

/// Prints a submission's status; with `watch`, polls until it is final: on a terminal a live bar
/// on stderr (then the final line), otherwise a new line each time something moved.
pub async fn status(server: &str, tok: Option<&str>, id: i64, watch: bool) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let bar = if watch && interactive() {
        let style = ProgressStyle::with_template(
            "#{prefix} {spinner} {msg:<9} [{bar:30}] {pos}/{len} {elapsed}",
        )
        .map(|s| s.progress_chars("#>."))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(0)
            .with_style(style)
            .with_prefix(id.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(bar)
    } else {
        None
    };
    let mut last = String::new();
    loop {
        let resp = client
            .get(format!("{server}/api/v1/submissions/{id}"))
            .bearer_auth(token(tok)?)
            .send()
            .await;
        let body = match resp {
            Ok(resp) => answer(resp).await,
            Err(e) => Err(e.into()),
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                if let Some(bar) = &bar {
                    bar.finish_and_clear();
                }
                return Err(e);
            }
        };
        let status = body["status"].as_str().unwrap_or("?").to_owned();
        let (done, total) = (
            body["progress"]["done"].as_u64().unwrap_or(0),
            body["progress"]["total"].as_u64().unwrap_or(0),
        );
        let line = status_line(id, &status, done, total, body.get("error"));
        let finished = !watch || is_final(&status);
        match &bar {
            Some(bar) if !finished => {
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(status.clone());
            }
            Some(bar) => {
                bar.finish_and_clear();
                say(&line);
            }
            // Without a terminal, a new line only when something moved.
            None if line != last => {
                say(&line);
                last = line;
            }
            None => {}
        }
        if finished {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A JSON value as a table cell: integers as they are, other numbers with `decimals`, `–` for
/// null (pending or unranked).
fn cell(v: &Value, decimals: usize) -> String {
    match v {
        Value::Null => "–".to_owned(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => format!("{f:.decimals$}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One board's columns: JSON key, header, right-aligned (numbers).
type Columns = &'static [(&'static str, &'static str, bool)];

const BOARDS: [(&str, &str, Columns); 3] = [
    (
        "detection",
        "Detection",
        &[
            ("rank", "#", true),
            ("team", "Team", false),
            ("submission", "Submission", true),
            ("score", "Score (mean AUC)", true),
            ("pooled_auc", "Pooled AUC", true),
            ("worst_auc", "Worst AUC", true),
            ("threshold", "Threshold", true),
        ],
    ),
    (
        "creation",
        "Creation",
        &[
            ("rank", "#", true),
            ("team", "Team", false),
            ("submission", "Submission", true),
            ("score", "Score", true),
            ("anti_detection", "Anti-detection", true),
            ("detectors_scored", "Detectors", true),
            ("videos", "Videos", true),
        ],
    ),
    (
        "ratings",
        "Game ratings",
        &[
            ("rank", "#", true),
            ("team", "Team", false),
            ("role", "Role", false),
            ("rating", "Rating", true),
            ("ci_low", "95 % low", true),
            ("ci_high", "95 % high", true),
            ("matches", "Matches", true),
            ("wins", "Wins", true),
        ],
    ),
];

/// A board as an aligned table: every row, numbers right-aligned, baselines marked.
pub fn board_table(rows: &[Value], columns: Columns) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(columns.iter().map(|(_, h, _)| *h));
    for row in rows {
        table.add_row(columns.iter().map(|(key, _, _)| {
            let decimals = if matches!(*key, "rating" | "ci_low" | "ci_high") {
                1
            } else {
                4
            };
            let v = cell(&row[*key], decimals);
            if *key == "team" && row["baseline"] == Value::Bool(true) {
                format!("{v} (baseline)")
            } else {
                v
            }
        }));
    }
    for (i, (_, _, right)) in columns.iter().enumerate() {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(if *right {
                CellAlignment::Right
            } else {
                CellAlignment::Left
            });
        }
    }
    table
}

pub async fn leaderboard(server: &str, slug: &str) -> anyhow::Result<()> {
    let resp = reqwest::get(format!("{server}/api/v1/competitions/{slug}/leaderboard")).await?;
    let body = answer(resp).await?;
    for (i, (key, title, columns)) in BOARDS.iter().enumerate() {
        let rows = body[*key].as_array().cloned().unwrap_or_default();
        if i > 0 {
            say("");
        }
        say(&format!("{title} ({} rows)", rows.len()));
        say(&board_table(&rows, columns).to_string());
    }
    Ok(())
}

/// `arena team token rotate NAME`: prints the new token as the last line.
pub async fn rotate_token(server: &str, tok: Option<&str>, name: &str) -> anyhow::Result<()> {
    let resp = reqwest::Client::new()
        .post(format!("{server}/api/v1/teams/{name}/token"))
        .bearer_auth(token(tok)?)
        .send()
        .await?;
    let body = answer(resp).await?;
    say(&format!(
        "new token for team {name} (the old one no longer works):"
    ));
    say(body["token"].as_str().context("the server sent no token")?);
    Ok(())
}

/// `arena team token revoke NAME`.
pub async fn revoke_token(server: &str, tok: Option<&str>, name: &str) -> anyhow::Result<()> {
    let resp = reqwest::Client::new()
        .delete(format!("{server}/api/v1/teams/{name}/token"))
        .bearer_auth(token(tok)?)
        .send()
        .await?;
    answer(resp).await?;
    say(&format!("the token of team {name} is revoked"));
    Ok(())
}

async fn tasks(server: &str, tok: Option<&str>, slug: &str) -> anyhow::Result<Vec<Value>> {
    let resp = reqwest::Client::new()
        .get(format!("{server}/api/v1/competitions/{slug}/tasks"))
        .bearer_auth(token(tok)?)
        .send()
        .await?;
    let body = answer(resp).await?;
    body.as_array()
        .cloned()
        .context("the server sent no task list")
}

/// What `arena competition release` asks for.
pub struct ReleaseArgs {
    pub reals: String,
    pub anonymise: bool,
    pub force: bool,
}

/// `arena competition release S --out DIR`: downloads the release zip into DIR.
pub async fn release(
    server: &str,
    tok: Option<&str>,
    slug: &str,
    out: &Path,
    args: &ReleaseArgs,
) -> anyhow::Result<()> {
    let resp = reqwest::Client::new()
        .get(format!("{server}/api/v1/competitions/{slug}/release"))
        .query(&[
            ("reals", args.reals.as_str()),
            ("anonymise", if args.anonymise { "true" } else { "false" }),
            ("force", if args.force { "true" } else { "false" }),
        ])
        .bearer_auth(token(tok)?)
        .send()
        .await?;
    if !resp.status().is_success() {
        answer(resp).await?;
        bail!("the release could not be downloaded");
    }
    let bytes = resp.bytes().await?;
    tokio::fs::create_dir_all(out)
        .await
        .with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join(format!("{slug}-release.zip"));
    tokio::fs::write(&path, &bytes)
        .await
        .with_context(|| format!("cannot write {}", path.display()))?;
    say(&format!("{} ({} bytes)", path.display(), bytes.len()));
    Ok(())
}

/// `arena tasks list --competition S`: one line per task, `task_id round donor`.
pub async fn tasks_list(server: &str, tok: Option<&str>, slug: &str) -> anyhow::Result<()> {
    let tasks = tasks(server, tok, slug).await?;
    if tasks.is_empty() {
        say("no task is open yet");
    }
    for t in &tasks {
        say(&format!(
            "{}\t{}\t{}",
            t["task_id"].as_str().unwrap_or(""),
            t["round"],
            t["donor"].as_str().unwrap_or("")
        ));
    }
    Ok(())
}

/// `arena tasks download --competition S --out DIR [--task T]`: the target clips and `tasks.json`.
pub async fn tasks_download(
    server: &str,
    tok: Option<&str>,
    slug: &str,
    out: &Path,
    only: Option<&str>,
) -> anyhow::Result<()> {
    let mut tasks = tasks(server, tok, slug).await?;
    if let Some(id) = only {
        tasks.retain(|t| t["task_id"] == id);
        if tasks.is_empty() {
            bail!("task_not_found: {id} is not an open task of {slug}");
        }
    }
    tokio::fs::create_dir_all(out)
        .await
        .with_context(|| format!("cannot create {}", out.display()))?;
    let client = reqwest::Client::new();
    for t in &tasks {
        let id = t["task_id"].as_str().context("a task without an id")?;
        // Task ids are letters, digits, '_' and '-' (checked when the task is created).
        anyhow::ensure!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')),
            "unexpected task id {id:?}"
        );
        let resp = client
            .get(format!(
                "{server}/api/v1/competitions/{slug}/tasks/{id}/target"
            ))
            .bearer_auth(token(tok)?)
            .send()
            .await?;
        if !resp.status().is_success() {
            answer(resp).await?;
            bail!("the target of {id} could not be downloaded");
        }
        let bytes = resp.bytes().await?;
        let path = out.join(format!("{id}.mp4"));
        tokio::fs::write(&path, &bytes)
            .await
            .with_context(|| format!("cannot write {}", path.display()))?;
        say(&format!("{id}: {} ({} bytes)", path.display(), bytes.len()));
    }
    let index = out.join("tasks.json");
    tokio::fs::write(&index, serde_json::to_vec_pretty(&tasks)?)
        .await
        .with_context(|| format!("cannot write {}", index.display()))?;
    say(&format!("{} task(s) in {}", tasks.len(), out.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_every_row() {
        let rows = vec![
            json!({"rank": 1, "team": "a-long-team-name", "submission": 12, "score": 0.66666,
                   "pooled_auc": 0.5, "worst_auc": null, "threshold": 0.25, "baseline": false}),
            json!({"rank": null, "team": "b", "submission": 3, "score": null,
                   "pooled_auc": null, "worst_auc": null, "threshold": null, "baseline": true}),
        ];
        let text = board_table(&rows, BOARDS[0].2).to_string();
        let lines: Vec<&str> = text.lines().collect();
        // Top border, header, separator, two rows, bottom border.
        assert_eq!(lines.len(), 6, "{text}");
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{text}");
        assert!(lines[3].contains("a-long-team-name") && lines[3].contains("0.6667"));
        assert!(lines[4].contains("b (baseline)") && lines[4].contains('–'));
        // Numbers end at the same column: right-aligned.
        let end = |l: &str, s: &str| {
            l.find(s)
                .map(|i| l[..i].chars().count() + s.chars().count())
        };
        assert_eq!(end(lines[3], "12"), end(lines[4], "3"));
    }

    #[test]
    fn status_lines_show_progress_and_failures() {
        assert_eq!(
            status_line(7, "running", 1, 3, None),
            format!("#7 running   [{}{}] 1/3", "#".repeat(10), ".".repeat(20))
        );
        let err = json!({"code": "bad_video", "message": "no frames"});
        assert!(status_line(7, "failed", 0, 0, Some(&err)).ends_with("— bad_video: no frames"));
        assert!(is_final("finished") && is_final("withdrawn") && is_final("failed"));
        assert!(!is_final("queued") && !is_final("running") && !is_final("rejected"));
    }
}
