//! Browser sessions and CSRF. A team logs in with its token once; the server answers with a
//! signed session cookie (HttpOnly, SameSite=Strict) naming the team, its expiry and a
//! fingerprint of the team's token hash (a new token ends old sessions). Forms carry a CSRF
//! token: the HMAC of a random `arena_csrf` cookie (signed double submit). The key is
//! `ARENA_SESSION_KEY` (64 hex) or `session.key` in the data dir, created on first use.

use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
pub use crate::session_key::{SessionKey, hmac_sha256};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use arena::entities::teams;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;

pub const SESSION_COOKIE: &str = "arena_session";
pub const CSRF_COOKIE: &str = "arena_csrf";
/// How long a login lasts.
pub const SESSION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// Compares without stopping at the first difference.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Ties a session to the team's current token: a new token changes it.
fn fingerprint(team: &teams::Model) -> String {
    hex::encode(&Sha256::digest(team.token_hash.as_bytes())[..8])
}

fn session_mac(key: &SessionKey, team_id: i64, expires_ms: i64, fp: &str) -> String {
    hex::encode(key.mac(format!("session|{team_id}|{expires_ms}|{fp}").as_bytes()))
}

/// The cookie value for a new session of `team`.
pub fn session_value(key: &SessionKey, team: &teams::Model, now_ms: i64) -> String {
    let expires = now_ms + SESSION_TTL_MS;
    let fp = fingerprint(team);
    let mac = session_mac(key, team.id, expires, &fp);
    format!("v1.{}.{expires}.{fp}.{mac}", team.id)
}

/// The team id a well-signed, unexpired session names (its fingerprint is checked by the caller).
fn parse_session(key: &SessionKey, value: &str, now_ms: i64) -> Option<(i64, String)> {
    let mut parts = value.split('.');
    let (Some("v1"), Some(id), Some(expires), Some(fp), Some(mac), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let (team_id, expires): (i64, i64) = (id.parse().ok()?, expires.parse().ok()?);
    let want = session_mac(key, team_id, expires, fp);
    (same(want.as_bytes(), mac.as_bytes()) && now_ms < expires).then(|| (team_id, fp.to_owned()))
}

/// The CSRF token forms must carry for a given `arena_csrf` cookie.
pub fn csrf_token(key: &SessionKey, seed: &str) -> String {
    hex::encode(key.mac(format!("csrf|{seed}").as_bytes()))
}

fn new_seed() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn secure(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

fn cookie<'a>(req: &HttpRequest, name: &'a str, value: String, max_age_s: i64) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(req))
        .max_age(CookieDuration::seconds(max_age_s))
        .finish()
}

/// The session cookie for `team`.
pub fn login_cookie(req: &HttpRequest, key: &SessionKey, team: &teams::Model) -> Cookie<'static> {
    let value = session_value(key, team, arena::time::now_ms());
    cookie(req, SESSION_COOKIE, value, SESSION_TTL_MS / 1000)
}

/// A cookie that ends the session.
pub fn logout_cookie(req: &HttpRequest) -> Cookie<'static> {
    cookie(req, SESSION_COOKIE, String::new(), 0)
}

/// Who is behind a browser request, and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Browser {
    pub team: Option<AuthTeam>,
    seed: String,
    /// The `arena_csrf` cookie is new: the response must set it.
    new_seed: bool,
    csrf: String,
    secure: bool,
}

impl Browser {
    /// The token for this browser's forms.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether a submitted form token is this browser's.
    pub fn csrf_ok(&self, submitted: Option<&str>) -> bool {
        !self.new_seed && submitted.is_some_and(|s| same(s.as_bytes(), self.csrf.as_bytes()))
    }

    /// Refuses a form without this browser's CSRF token (403 `csrf_failed`).
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), ApiError> {
        if self.csrf_ok(submitted) {
            Ok(())
        } else {
            Err(ApiError::of(
                Code::CsrfFailed,
                "the form has expired or did not come from this site; reload the page and try again",
            ))
        }
    }

    /// The logged-in team, or 401 `login_required`.
    pub fn require_team(&self) -> Result<&AuthTeam, ApiError> {
        self.team
            .as_ref()
            .ok_or_else(|| ApiError::of(Code::LoginRequired, "log in with your team token first"))
    }

    pub fn team_name(&self) -> Option<&str> {
        self.team.as_ref().map(|t| t.team.name.as_str())
    }

    /// The `arena_csrf` cookie to set, when it is new.
    pub fn seed_cookie(&self) -> Option<Cookie<'static>> {
        self.new_seed.then(|| {
            Cookie::build(CSRF_COOKIE, self.seed.clone())
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(self.secure)
                .finish()
        })
    }
}

async fn team_of_session(ctx: &AppContext, value: &str) -> Result<Option<AuthTeam>, ApiError> {
    let Some((team_id, fp)) = parse_session(ctx.session_key(), value, arena::time::now_ms()) else {
        return Ok(None);
    };
    let Some(team) = arena::repo::teams::find(ctx.db(), team_id).await? else {
        return Ok(None);
    };
    if !same(fingerprint(&team).as_bytes(), fp.as_bytes())
        || team.status != arena::domain::TeamStatus::Approved.as_str()
    {
        return Ok(None);
    }
    let role = arena::repo::teams::role(&team)?;
    Ok(Some(AuthTeam { team, role }))
}

impl FromRequest for Browser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Browser, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ctx = req.app_data::<web::Data<AppContext>>().cloned();
        let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let seed = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        let secure = secure(req);
        Box::pin(async move {
            let ctx = ctx.ok_or_else(|| ApiError::internal("app context missing"))?;
            let team = match session.as_deref() {
                Some(v) if !v.is_empty() => team_of_session(&ctx, v).await?,
                _ => None,
            };
            let (seed, new_seed) = match seed {
                Some(s) => (s, false),
                None => (new_seed(), true),
            };
            let csrf = csrf_token(ctx.session_key(), &seed);
            Ok(Browser {
                team,
                seed,
                new_seed,
                csrf,
                secure,
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_1() {
        // RFC 4231 case 1 has a 20-byte key of 0x0b; zero-padded to 32 bytes it is the same
        // HMAC key (keys shorter than the block are zero-padded).
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        assert_eq!(
            hex::encode(hmac_sha256(&key, b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    fn team(hash: &str) -> teams::Model {
        teams::Model {
            id: 7,
            name: "alice".into(),
            role: "creator".into(),
            token_hash: hash.into(),
            is_admin: false,
            is_baseline: false,
            created_at_ms: 0,
            status: "approved".into(),
        }
    }

    #[test]
    fn sessions_are_signed_and_expire() {
        let key = SessionKey([3; 32]);
        let t = team("h1");
        let v = session_value(&key, &t, 1000);
        let (id, fp) = parse_session(&key, &v, 2000).unwrap();
        assert_eq!((id, fp.as_str()), (7, fingerprint(&t).as_str()));
        assert!(parse_session(&key, &v, 1000 + SESSION_TTL_MS).is_none());
        assert!(parse_session(&SessionKey([4; 32]), &v, 2000).is_none());
        let forged = v.replacen("v1.7.", "v1.8.", 1);
        assert!(parse_session(&key, &forged, 2000).is_none());
        assert_ne!(fingerprint(&t), fingerprint(&team("h2")));
    }

    #[test]
    fn csrf_tokens_depend_on_the_seed_and_key() {
        let key = SessionKey([3; 32]);
        assert_eq!(csrf_token(&key, "a"), csrf_token(&key, "a"));
        assert_ne!(csrf_token(&key, "a"), csrf_token(&key, "b"));
        assert_ne!(csrf_token(&key, "a"), csrf_token(&SessionKey([4; 32]), "a"));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    }
}
