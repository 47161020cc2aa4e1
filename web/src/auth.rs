//! Bearer tokens: `arena_<team id>_<64 hex>`, stored argon2-hashed; verified tokens are
//! remembered by their sha256 so argon2 runs once per token and process.

use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::rate_limit;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use arena::domain::Role;
use arena::entities::teams;
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

/// A fresh secret token for `team_id` (shown once, never stored in clear).
pub fn new_token(team_id: i64) -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    format!("arena_{team_id}_{}", hex::encode(secret))
}

/// Salted argon2 hash of a token, for storage.
pub fn hash_token(token: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(token.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

fn verify(token: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(token.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn team_id_of(token: &str) -> Option<i64> {
    let rest = token.strip_prefix("arena_")?;
    let (id, secret) = rest.split_once('_')?;
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    id.parse().ok()
}

/// The authenticated team behind a request.
#[derive(Debug, Clone)]
pub struct AuthTeam {
    pub team: teams::Model,
    pub role: Role,
}

impl AuthTeam {
    pub fn id(&self) -> i64 {
        self.team.id
    }
    pub fn is_admin(&self) -> bool {
        self.team.is_admin
    }
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::of(
                Code::AdminOnly,
                "this action is for organizers",
            ))
        }
    }
}

/// Resolves a bearer token to its team: 401 when missing or wrong. No rate limit: request
/// handlers go through [`authenticate_from`].
pub async fn authenticate(ctx: &AppContext, header: Option<&str>) -> Result<AuthTeam, ApiError> {
    authenticate_from(ctx, header, None).await
}

/// [`authenticate`] for a request from `ip`: a token not yet verified in this process needs a
/// token in the IP's auth bucket (else 429 `rate_limited`), and each refused one takes it.
pub async fn authenticate_from(
    ctx: &AppContext,
    header: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<AuthTeam, ApiError> {
    let Some(value) = header else {
        return Err(ApiError::of(
            Code::MissingToken,
            "send Authorization: Bearer <token>",
        ));
    };
    let token = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .unwrap_or_default();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let known = team_id_of(token).is_some_and(|id| {
        ctx.cached_token(&digest)
            .is_some_and(|(cached, _)| cached == id)
    });
    let limiter = &ctx.rate_limiter().auth;
    if let (Some(ip), false) = (ip, known) {
        limiter
            .check(&ip)
            .map_err(|wait| rate_limit::limited("failed sign-ins from your address", wait))?;
    }
    let result = verify_token(ctx, token, digest).await;
    if let (Some(ip), Err(e)) = (ip, &result)
        && e.status == StatusCode::UNAUTHORIZED
    {
        limiter.charge(&ip);
    }
    result
}

async fn verify_token(
    ctx: &AppContext,
    token: &str,
    digest: [u8; 32],
) -> Result<AuthTeam, ApiError> {
    let bad = || ApiError::of(Code::InvalidToken, "the token is not valid");
    let id = team_id_of(token).ok_or_else(bad)?;
    let team = arena::repo::teams::find(ctx.db(), id)
        .await?
        .ok_or_else(bad)?;
    // A team waiting for approval (or turned down) has no usable token; refused before argon2.
    if team.status != arena::domain::TeamStatus::Approved.as_str() {
        return Err(bad());
    }
    if ctx.cached_token(&digest) != Some((id, team.token_hash.clone())) {
        let (t, h) = (token.to_owned(), team.token_hash.clone());
        let ok = web::block(move || verify(&t, &h))
            .await
            .map_err(ApiError::internal)?;
        if !ok {
            return Err(bad());
        }
        ctx.cache_token(digest, id, team.token_hash.clone());
    }
    let role = arena::repo::teams::role(&team)?;
    Ok(AuthTeam { team, role })
}

impl FromRequest for AuthTeam {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<AuthTeam, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ctx = req.app_data::<web::Data<AppContext>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let ip = ctx.as_ref().map(|c| c.rate_limiter().client_ip(req));
        Box::pin(async move {
            let ctx = ctx.ok_or_else(|| ApiError::internal("app context missing"))?;
            authenticate_from(&ctx, header.as_deref(), ip).await
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let token = new_token(42);
        assert_eq!(team_id_of(&token), Some(42));
        let hash = hash_token(&token).unwrap();
        assert!(!hash.contains(&token));
        assert!(verify(&token, &hash));
        assert!(!verify(&new_token(42), &hash));
        assert_eq!(team_id_of("arena_1_short"), None);
        assert_eq!(team_id_of("Bearer nope"), None);
    }
}
