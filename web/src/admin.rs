//! Organizer operations shared by the CLI, the demo seeder, the admin API and the tests.

use crate::auth;
use crate::context::AppContext;
use crate::error::ApiError;
use arena::domain::{CompetitionMode, Preset, Role, Slug, TeamName};
use arena::entities::{competitions, teams};
use arena::repo;
use arena::rules::CompetitionSettings;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel, TransactionTrait};

/// Options of a new team.
#[derive(Debug, Clone)]
pub struct TeamSpec {
    pub name: String,
    pub role: Role,
    pub admin: bool,
    pub baseline: bool,
}

/// Creates a team and returns it with its token (shown once; only its hash is stored).
pub async fn create_team(
    ctx: &AppContext,
    spec: &TeamSpec,
) -> Result<(teams::Model, String), ApiError> {
    let name =
        TeamName::parse(&spec.name).map_err(|e| ApiError::bad_request("invalid_name", e.0))?;
    let txn = ctx.db().begin().await?;
    // The token embeds the team id, so the row is created first with an unusable hash.
    let team = repo::teams::create(
        &txn,
        repo::teams::NewTeam {
            name: &name,
            role: spec.role,
            token_hash: "!".to_owned(),
            is_admin: spec.admin,
            is_baseline: spec.baseline,
        },
    )
    .await?;
    let token = auth::new_token(team.id);
    let hash = {
        let t = token.clone();
        actix_web::web::block(move || auth::hash_token(&t))
            .await
            .map_err(ApiError::internal)??
    };
    let mut active = team.into_active_model();
    active.token_hash = Set(hash);
    let team = active.update(&txn).await?;
    txn.commit().await?;
    Ok((team, token))
}

/// A new competition.
#[derive(Debug, Clone)]
pub struct CompetitionSpec {
    pub slug: String,
    pub title: String,
    pub mode: CompetitionMode,
    pub preset: Preset,
    pub settings: CompetitionSettings,
}

impl CompetitionSpec {
    /// A live competition with default settings.
    pub fn live(slug: &str, title: &str) -> CompetitionSpec {
        CompetitionSpec {
            slug: slug.to_owned(),
            title: title.to_owned(),
            mode: CompetitionMode::Live,
            preset: Preset::Dfgc2021,
            settings: CompetitionSettings::default(),
        }
    }
}

/// Creates a competition.
pub async fn create_competition(
    ctx: &AppContext,
    spec: &CompetitionSpec,
) -> Result<competitions::Model, ApiError> {
    let slug = Slug::parse(&spec.slug).map_err(|e| ApiError::bad_request("invalid_slug", e.0))?;
    let settings = serde_json::to_string(&spec.settings).map_err(ApiError::internal)?;
    Ok(repo::competitions::create(
        ctx.db(),
        repo::competitions::NewCompetition {
            slug: &slug,
            title: &spec.title,
            mode: spec.mode,
            preset: spec.preset,
            settings,
        },
    )
    .await?)
}

/// The competition named by `slug`, or 404.
pub async fn competition(ctx: &AppContext, slug: &str) -> Result<competitions::Model, ApiError> {
    repo::competitions::find_by_slug(ctx.db(), slug)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("competition_not_found", format!("no competition {slug:?}"))
        })
}
