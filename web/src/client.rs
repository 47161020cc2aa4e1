//! The teams' command-line client: submit, watch a submission, print a leaderboard.

use crate::cli::say;
use anyhow::{Context, bail};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn token(token: Option<&str>) -> anyhow::Result<&str> {
    token.context("a team token is needed: pass --token or set ARENA_TOKEN")
}

async fn file_part(path: &Path) -> anyhow::Result<Part> {
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Part::bytes(bytes).file_name(name))
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
    let mut form = Form::new().part("file", file_part(file).await?);
    if let Some(t) = task {
        form = form.text("task", t.to_owned());
    }
    let resp = reqwest::Client::new()
        .post(format!("{server}/api/v1/competitions/{slug}/creations"))
        .bearer_auth(token(tok)?)
        .multipart(form)
        .send()
        .await?;
    let body = answer(resp).await?;
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
    let form = Form::new()
        .part("model", file_part(model).await?)
        .part("manifest", file_part(manifest).await?);
    let resp = reqwest::Client::new()
        .post(format!("{server}/api/v1/competitions/{slug}/detectors"))
        .bearer_auth(token(tok)?)
        .multipart(form)
        .send()
        .await?;
    let body = answer(resp).await?;
    say(&format!(
        "submission {} {}",
        body["id"],
        body["status"].as_str().unwrap_or("")
    ));
    Ok(())
}

pub async fn status(server: &str, tok: Option<&str>, id: i64, watch: bool) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut last = String::new();
    loop {
        let resp = client
            .get(format!("{server}/api/v1/submissions/{id}"))
            .bearer_auth(token(tok)?)
            .send()
            .await?;
        let body = answer(resp).await?;
        let status = body["status"].as_str().unwrap_or("?").to_owned();
        let (done, total) = (
            body["progress"]["done"].as_u64().unwrap_or(0),
            body["progress"]["total"].as_u64().unwrap_or(0),
        );
        let width = 30usize;
        let filled = if total == 0 {
            width
        } else {
            (done as usize * width) / total as usize
        };
        let mut line = format!(
            "#{id} {status:<9} [{}{}] {done}/{total}",
            "#".repeat(filled),
            ".".repeat(width - filled.min(width))
        );
        if let Some(err) = body["error"].as_object() {
            line.push_str(&format!(
                " — {}: {}",
                err["code"].as_str().unwrap_or(""),
                err["message"].as_str().unwrap_or("")
            ));
        }
        // Watching prints a new bar only when something moved.
        if line != last {
            say(&line);
            last = line;
        }
        if !watch
            || matches!(
                status.as_str(),
                "finished" | "failed" | "rejected" | "disqualified"
            )
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "–".to_owned(),
        Value::Number(n) => n
            .as_f64()
            .map(|f| {
                if f.fract() == 0.0 {
                    format!("{f}")
                } else {
                    format!("{f:.4}")
                }
            })
            .unwrap_or_default(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn leaderboard(server: &str, slug: &str) -> anyhow::Result<()> {
    let resp = reqwest::get(format!("{server}/api/v1/competitions/{slug}/leaderboard")).await?;
    let body = answer(resp).await?;
    let boards = [
        (
            "detection",
            &[
                "rank",
                "team",
                "submission",
                "score",
                "pooled_auc",
                "worst_auc",
            ][..],
        ),
        (
            "creation",
            &[
                "rank",
                "team",
                "submission",
                "score",
                "anti_detection",
                "detectors_scored",
            ][..],
        ),
        (
            "ratings",
            &[
                "rank", "team", "role", "rating", "ci_low", "ci_high", "matches", "wins",
            ][..],
        ),
    ];
    for (board, cols) in boards {
        say(&format!("== {board} =="));
        say(&cols.iter().map(|c| format!("{c:<16}")).collect::<String>());
        for row in body[board].as_array().into_iter().flatten() {
            say(&cols
                .iter()
                .map(|c| format!("{:<16}", cell(&row[*c])))
                .collect::<String>());
        }
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
