//! Organizer operations shared by the CLI, the demo seeder, the admin API and the tests.

use crate::auth;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use arena::domain::{CompetitionMode, Preset, Role, Slug, TeamName};
use arena::entities::{competitions, phases, teams};
use arena::evaluation::EnqueuePolicy;
use arena::human_ratings::{self, RatingsImportError};
use arena::moderation::{self, ModerationError};
use arena::phases::PhaseError;
use arena::repo;
use arena::rules::CompetitionSettings;
use arena::time::now_ms;

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
    let txn = arena::db::begin_write(ctx.db()).await?;
    let made = insert_team(&txn, spec).await?;
    txn.commit().await?;
    Ok(made)
}

async fn insert_team(
    txn: &sea_orm::DatabaseTransaction,
    spec: &TeamSpec,
) -> Result<(teams::Model, String), ApiError> {
    let name = TeamName::parse(&spec.name).map_err(|e| ApiError::of(Code::InvalidName, e.0))?;
    // The token embeds the team id, so the row is created first with an unusable hash.
    let team = repo::teams::create(
        txn,
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
    repo::teams::set_token_hash(txn, team.id, &hash).await?;
    let team = repo::teams::find(txn, team.id)
        .await?
        .ok_or_else(|| ApiError::internal("the new team vanished"))?;
    Ok((team, token))
}

/// Creates a rater account enrolled in `comp` and returns it with its token (shown once).
pub async fn create_rater(
    ctx: &AppContext,
    comp: &competitions::Model,
    name: &str,
) -> Result<(teams::Model, String), ApiError> {
    let spec = TeamSpec {
        name: name.to_owned(),
        role: Role::Rater,
        admin: false,
        baseline: false,
    };
    let txn = arena::db::begin_write(ctx.db()).await?;
    let (team, token) = insert_team(&txn, &spec).await?;
    repo::video_ratings::enroll(&txn, comp.id, team.id).await?;
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

/// A competition mode by name (`live` when not given), or 400 `invalid_mode`.
pub fn parse_mode(raw: Option<&str>) -> Result<CompetitionMode, ApiError> {
    match raw {
        None | Some("") => Ok(CompetitionMode::Live),
        Some(m) => CompetitionMode::parse(m)
            .ok_or_else(|| ApiError::of(Code::InvalidMode, "mode must be live or rounds")),
    }
}

/// A scoring preset by name (`dfgc2021` when not given), or 400 `invalid_preset`.
pub fn parse_preset(raw: Option<&str>) -> Result<Preset, ApiError> {
    match raw {
        None | Some("") => Ok(Preset::Dfgc2021),
        Some(p) => Preset::parse(p).ok_or_else(|| {
            ApiError::of(Code::InvalidPreset, "preset must be dfgc2021 or dfgc2022")
        }),
    }
}

/// Creates a competition (and its first event, so the pages listing competitions refresh).
pub async fn create_competition(
    ctx: &AppContext,
    spec: &CompetitionSpec,
) -> Result<competitions::Model, ApiError> {
    let slug = Slug::parse(&spec.slug).map_err(|e| ApiError::of(Code::InvalidSlug, e.0))?;
    // As the OpenAPI says: at most 200 characters as sent, not only blanks.
    let title = spec.title.trim();
    if title.is_empty() || spec.title.chars().count() > 200 {
        return Err(ApiError::of(
            Code::InvalidTitle,
            "the title must be 1-200 characters",
        ));
    }
    let f = spec.settings.private_fraction;
    if !(0.0..1.0).contains(&f) {
        return Err(ApiError::of(
            Code::InvalidSettings,
            format!("settings.private_fraction must be 0 (no split) or within (0, 1), not {f}"),
        ));
    }
    if spec.settings.private_salt.chars().count() > 200 {
        return Err(ApiError::of(
            Code::InvalidSettings,
            "settings.private_salt has at most 200 characters",
        ));
    }
    let settings = serde_json::to_string(&spec.settings).map_err(ApiError::internal)?;
    let txn = arena::db::begin_write(ctx.db()).await?;
    let comp = repo::competitions::create(
        &txn,
        repo::competitions::NewCompetition {
            slug: &slug,
            title,
            mode: spec.mode,
            preset: spec.preset,
            settings,
        },
    )
    .await?;
    let payload = serde_json::json!({ "slug": comp.slug, "mode": comp.mode });
    repo::events::append(&txn, comp.id, "competition_created", &payload).await?;
    txn.commit().await?;
    announce(ctx, comp.id);
    Ok(comp)
}

/// After an organizer's change is committed: the competition's boards are rebuilt on their next
/// read, and this server's live clients hear of the event at once.
pub(crate) fn announce(ctx: &AppContext, competition_id: i64) {
    ctx.live().cache().invalidate(competition_id);
    ctx.live().wake();
    ctx.jobs_queued();
}

pub use arena::phases::{PhaseAdvance, PhaseSpec};

fn phase_error(e: PhaseError) -> ApiError {
    match e {
        PhaseError::Invalid(m) => ApiError::of(Code::InvalidPhase, m),
        PhaseError::Repo(e) => e.into(),
        PhaseError::Evaluation(e) => e.into(),
    }
}

/// Adds a phase (C1, D1, …) with its window; 400 `invalid_phase`, 409 when it exists.
pub async fn add_phase(
    ctx: &AppContext,
    comp: &competitions::Model,
    spec: &PhaseSpec,
) -> Result<phases::Model, ApiError> {
    let p = arena::phases::add(ctx.db(), comp.id, spec)
        .await
        .map_err(phase_error)?;
    announce(ctx, comp.id);
    Ok(p)
}

/// Closes the open phase now and opens the next one now; what the close brings into scope is
/// enqueued in the same transaction.
pub async fn advance_phase(
    ctx: &AppContext,
    comp: &competitions::Model,
) -> Result<PhaseAdvance, ApiError> {
    let policy = EnqueuePolicy {
        max_attempts: ctx.settings().queue.max_attempts,
    };
    let advanced = arena::phases::advance(ctx.db(), comp.id, now_ms(), policy)
        .await
        .map_err(phase_error)?;
    announce(ctx, comp.id);
    Ok(advanced)
}

/// Imports human ratings, replacing the competition's previous import; a bad line refuses the
/// whole file (422 `invalid_ratings`). Returns the rows imported.
pub async fn import_ratings(
    ctx: &AppContext,
    comp: &competitions::Model,
    text: &str,
) -> Result<usize, ApiError> {
    let rows = human_ratings::import(ctx.db(), comp.id, text)
        .await
        .map_err(|e| match e {
            RatingsImportError::Invalid(m) => ApiError::of(Code::InvalidRatings, m),
            RatingsImportError::Repo(e) => e.into(),
        })?;
    announce(ctx, comp.id);
    Ok(rows)
}

/// Registers a team through the public form: pending, no usable token until approved.
pub async fn register_team(
    ctx: &AppContext,
    name: &str,
    role: &str,
) -> Result<teams::Model, ApiError> {
    let name = TeamName::parse(name.trim()).map_err(|e| ApiError::of(Code::InvalidName, e.0))?;
    let role = Role::parse_team(role.trim())
        .ok_or_else(|| ApiError::of(Code::InvalidRole, "role must be creator, detector or both"))?;
    Ok(repo::teams::register(ctx.db(), &name, role).await?)
}

fn team_not_found(id: i64) -> ApiError {
    ApiError::of(Code::TeamNotFound, format!("no team {id}"))
}

fn not_pending(team: &teams::Model) -> ApiError {
    ApiError::of(
        Code::NotPending,
        format!("team {} is {}, not pending", team.name, team.status),
    )
}

/// Approves a pending team and issues its token (returned once; only its hash is stored).
pub async fn approve_team(ctx: &AppContext, id: i64) -> Result<(teams::Model, String), ApiError> {
    let team = repo::teams::find(ctx.db(), id)
        .await?
        .ok_or_else(|| team_not_found(id))?;
    if team.status != arena::domain::TeamStatus::Pending.as_str() {
        return Err(not_pending(&team));
    }
    let token = auth::new_token(team.id);
    let hash = {
        let t = token.clone();
        actix_web::web::block(move || auth::hash_token(&t))
            .await
            .map_err(ApiError::internal)??
    };
    if !repo::teams::approve(ctx.db(), id, &hash).await? {
        return Err(not_pending(&team));
    }
    let team = repo::teams::find(ctx.db(), id)
        .await?
        .ok_or_else(|| team_not_found(id))?;
    Ok((team, token))
}

/// Gives an approved team a new token (returned once; only its hash is stored). The old token
/// stops working at once, on every server replica (each request reads the team's stored hash).
pub async fn rotate_token(ctx: &AppContext, id: i64) -> Result<(teams::Model, String), ApiError> {
    let team = approved_team(ctx, id).await?;
    let token = auth::new_token(team.id);
    let hash = {
        let t = token.clone();
        actix_web::web::block(move || auth::hash_token(&t))
            .await
            .map_err(ApiError::internal)??
    };
    repo::teams::set_token_hash(ctx.db(), id, &hash).await?;
    Ok((team, token))
}

/// Revokes a team's token: no request with it is accepted any more; a rotation issues a new one.
pub async fn revoke_token(ctx: &AppContext, id: i64) -> Result<teams::Model, ApiError> {
    let team = approved_team(ctx, id).await?;
    repo::teams::set_token_hash(ctx.db(), id, repo::teams::NO_TOKEN).await?;
    Ok(team)
}

async fn approved_team(ctx: &AppContext, id: i64) -> Result<teams::Model, ApiError> {
    let team = repo::teams::find(ctx.db(), id)
        .await?
        .ok_or_else(|| team_not_found(id))?;
    if team.status != arena::domain::TeamStatus::Approved.as_str() {
        return Err(ApiError::of(
            Code::TeamNotApproved,
            format!(
                "team {} is {}: it has no token to change",
                team.name, team.status
            ),
        ));
    }
    Ok(team)
}

/// Turns a pending team down.
pub async fn reject_team(ctx: &AppContext, id: i64) -> Result<teams::Model, ApiError> {
    let team = repo::teams::find(ctx.db(), id)
        .await?
        .ok_or_else(|| team_not_found(id))?;
    if !repo::teams::reject(ctx.db(), id).await? {
        return Err(not_pending(&team));
    }
    Ok(team)
}

fn moderation_error(e: ModerationError) -> ApiError {
    match e {
        ModerationError::NotFound(id) => {
            ApiError::of(Code::SubmissionNotFound, format!("no submission {id}"))
        }
        ModerationError::WrongState { code, message } => ApiError::conflict(code, message),
        ModerationError::Repo(e) => e.into(),
    }
}

/// Reruns a failed submission (404 `submission_not_found`, 409 `not_failed` /
/// `nothing_to_rerun`).
pub async fn rerun_submission(ctx: &AppContext, id: i64) -> Result<moderation::Rerun, ApiError> {
    let done = moderation::rerun(ctx.db(), id)
        .await
        .map_err(moderation_error)?;
    announce(ctx, done.competition_id);
    tracing::info!(submission_id = id, jobs = done.jobs, "submission rerun");
    Ok(done)
}

/// Longest disqualification reason kept.
pub const MAX_REASON_CHARS: usize = 500;

/// Disqualifies a creation or detector (404 `submission_not_found`, 400 `invalid_reason`,
/// 409 `already_disqualified` / `not_disqualifiable`).
pub async fn disqualify_submission(
    ctx: &AppContext,
    id: i64,
    reason: &str,
) -> Result<moderation::Disqualified, ApiError> {
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::of(
            Code::InvalidReason,
            format!("the reason is longer than {MAX_REASON_CHARS} characters"),
        ));
    }
    let done = moderation::disqualify(ctx.db(), id, reason)
        .await
        .map_err(moderation_error)?;
    announce(ctx, done.competition_id);
    tracing::info!(submission_id = id, "submission disqualified");
    Ok(done)
}

/// Undoes a disqualification (organizers).
pub async fn requalify_submission(
    ctx: &AppContext,
    id: i64,
) -> Result<moderation::Requalified, ApiError> {
    let done = moderation::requalify(ctx.db(), id)
        .await
        .map_err(moderation_error)?;
    announce(ctx, done.competition_id);
    tracing::info!(submission_id = id, "disqualification undone");
    Ok(done)
}

/// The competition named by `slug`, or 404.
pub async fn competition(ctx: &AppContext, slug: &str) -> Result<competitions::Model, ApiError> {
    repo::competitions::find_by_slug(ctx.db(), slug)
        .await?
        .ok_or_else(|| {
            ApiError::of(
                Code::CompetitionNotFound,
                format!("no competition {slug:?}"),
            )
        })
}
