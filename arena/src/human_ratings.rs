//! Human ratings of creations (realism, identity, …): a CSV import that replaces the
//! competition's previous one, refused whole on a bad line. Web maps
//! [`RatingsImportError::Invalid`] to 422 `invalid_ratings`.

use crate::db;
use crate::domain::SubmissionKind;
use crate::error::RepoError;
use crate::repo;
use crate::repo::human_ratings::AXES;
use sea_orm::{DatabaseConnection, DbErr};
use std::collections::HashSet;

#[derive(Debug, thiserror::Error)]
pub enum RatingsImportError {
    /// A bad line: the message names it.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<DbErr> for RatingsImportError {
    fn from(e: DbErr) -> Self {
        RatingsImportError::Repo(e.into())
    }
}

/// Parses a ratings CSV `creation,axis,value`; errors name the line.
pub fn parse_ratings(
    text: &str,
    creations: &HashSet<i64>,
) -> Result<Vec<(i64, String, f64)>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, header)) if header.trim().replace(' ', "") == "creation,axis,value" => {}
        _ => return Err("line 1: the header must be `creation,axis,value`".to_owned()),
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [creation, axis, value] = cols[..] else {
            return Err(format!("line {n}: expected 3 columns"));
        };
        let sub: i64 = creation
            .parse()
            .map_err(|_| format!("line {n}: creation {creation:?} is not a submission id"))?;
        if !creations.contains(&sub) {
            return Err(format!(
                "line {n}: {sub} is not a creation of this competition"
            ));
        }
        if !AXES.contains(&axis) {
            return Err(format!(
                "line {n}: unknown axis {axis:?} (expected one of {})",
                AXES.join(", ")
            ));
        }
        let v: f64 = value
            .parse()
            .map_err(|_| format!("line {n}: value {value:?} is not a number"))?;
        let (lo, hi) = if axis == "id" { (0.0, 1.0) } else { (1.0, 5.0) };
        if !v.is_finite() || v < lo || v > hi {
            return Err(format!("line {n}: {axis} must be within [{lo}, {hi}]"));
        }
        rows.push((sub, axis.to_owned(), v));
    }
    Ok(rows)
}

/// Imports human ratings, replacing the competition's previous import, with a
/// `ratings_imported` event. Returns the rows imported.
pub async fn import(
    db: &DatabaseConnection,
    competition_id: i64,
    text: &str,
) -> Result<usize, RatingsImportError> {
    let creations: HashSet<i64> = repo::submissions::list_for_competition(db, competition_id)
        .await?
        .into_iter()
        .filter(|s| s.kind == SubmissionKind::Creation.as_str())
        .map(|s| s.id)
        .collect();
    let rows = parse_ratings(text, &creations).map_err(RatingsImportError::Invalid)?;
    let txn = db::begin_write(db).await?;
    repo::human_ratings::replace_all(&txn, competition_id, &rows).await?;
    repo::events::append(
        &txn,
        competition_id,
        "ratings_imported",
        &serde_json::json!({ "rows": rows.len() }),
    )
    .await?;
    txn.commit().await?;
    Ok(rows.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_ratings;

    #[test]
    fn ratings_csv() {
        let subs = [7].into_iter().collect();
        let rows = parse_ratings("creation,axis,value\n7,realism,4.5\n7,id,0.25\n", &subs).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(
            parse_ratings("creation,axis,value\n8,realism,4\n", &subs)
                .unwrap_err()
                .contains("line 2")
        );
        assert!(
            parse_ratings("creation,axis,value\n7,beauty,4\n", &subs)
                .unwrap_err()
                .contains("unknown axis")
        );
        assert!(
            parse_ratings("creation,axis,value\n7,realism,6\n", &subs)
                .unwrap_err()
                .contains("[1, 5]")
        );
        assert!(parse_ratings("a,b,c\n", &subs).is_err());
    }
}
