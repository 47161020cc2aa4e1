//! Team webhooks: the URL check (no loopback or private addresses unless
//! `[webhooks] allow_private`), the HMAC-SHA256 signature and the sender loop.
//!
//! The sender runs in the `serve` process (every replica; each delivery is claimed in the
//! database before it is sent, so replicas never send one twice at once): worker slots may run
//! on machines without a route to the teams' receivers, and they run untrusted uploads, which
//! should not share a process with outbound requests carrying the teams' secrets.

use crate::context::AppContext;
use crate::error::{ApiError, Code};
use arena::config::WebhookSettings;
use arena::entities::webhook_deliveries;
use arena::repo;
use arena::time::now_ms;
use hmac::{Hmac, Mac};
use rand::RngCore;
use reqwest::Url;
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Header with `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Arena-Signature";
/// Header with the delivery's id (the same on every retry of it).
pub const DELIVERY_HEADER: &str = "X-Arena-Delivery";
/// Header with the event (`submission.finished`, `submission.failed`).
pub const EVENT_HEADER: &str = "X-Arena-Event";

/// A fresh signing secret (32 random bytes, hex).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// True for addresses a webhook may not reach unless `allow_private`: loopback, private
/// (RFC 1918, shared 100.64/10), link-local, unique-local, unspecified, broadcast, and the same
/// inside IPv4-mapped IPv6 addresses.
pub fn is_refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link local fe80::/10
        }
    }
}

fn refused_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
}

/// Parses a webhook URL: http or https with a host.
pub fn parse_url(raw: &str) -> Result<Url, ApiError> {
    let bad = |why: &str| ApiError::of(Code::InvalidWebhookUrl, why.to_owned());
    if raw.chars().count() > 2048 {
        return Err(bad("the URL is longer than 2048 characters"));
    }
    let url = Url::parse(raw).map_err(|e| bad(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http and https URLs are accepted"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "the URL may not carry credentials; sign with the secret",
        ));
    }
    Ok(url)
}

/// Why an address could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("{0} does not resolve: {1}")]
    Unresolved(String, String),
    #[error("{0} resolves to {1}, a loopback, private or link-local address")]
    Refused(String, IpAddr),
}

/// Resolves the URL's host and checks every address it gives; returns the one to connect to.
pub async fn resolve(url: &Url, settings: &WebhookSettings) -> Result<SocketAddr, AddressError> {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(Duration::from_secs(5), lookup)
        .await
        .map_err(|_| AddressError::Unresolved(host.clone(), "lookup timed out".to_owned()))?
        .map_err(|e| AddressError::Unresolved(host.clone(), e.to_string()))?
        .collect();
    let Some(first) = addrs.first().copied() else {
        return Err(AddressError::Unresolved(host, "no address".to_owned()));
    };
    if !settings.allow_private
        && let Some(bad) = addrs.iter().find(|a| is_refused(a.ip()))
    {
        return Err(AddressError::Refused(host, bad.ip()));
    }
    Ok(first)
}

/// Checks a URL for `PUT …/webhook`: 422 `invalid_webhook_url` or `webhook_address_refused`.
pub async fn check_url(raw: &str, settings: &WebhookSettings) -> Result<Url, ApiError> {
    let url = parse_url(raw)?;
    match resolve(&url, settings).await {
        Ok(_) => Ok(url),
        Err(e @ AddressError::Refused(..)) => {
            Err(ApiError::of(Code::WebhookAddressRefused, e.to_string()))
        }
        Err(e @ AddressError::Unresolved(..)) => {
            Err(ApiError::of(Code::InvalidWebhookUrl, e.to_string()))
        }
    }
}

/// Starts the sender loop on the current runtime.
pub fn start_sender(ctx: AppContext) {
    tokio::spawn(async move {
        let poll = Duration::from_millis(ctx.settings().webhooks.poll_ms.max(10));
        loop {
            if let Err(e) = send_due(&ctx).await {
                tracing::warn!(error = %e, "webhook sender");
            }
            tokio::time::sleep(poll).await;
        }
    });
}

/// Sends every due delivery once. Returns how many were attempted.
pub async fn send_due(ctx: &AppContext) -> Result<usize, arena::error::RepoError> {
    let settings = &ctx.settings().webhooks;
    let timeout = Duration::from_secs_f64(settings.timeout_s.clamp(0.1, 300.0));
    let now = now_ms();
    let mut sent = 0;
    for d in repo::webhooks::due(ctx.db(), now, 32).await? {
        let Some(seen) = d.next_at_ms else { continue };
        // Lease: twice the timeout plus a margin, then it is due again if this sender died.
        let lease = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 4) * 2 + 5_000;
        if !repo::webhooks::claim(ctx.db(), d.id, seen, now_ms() + lease).await? {
            continue;
        }
        sent += 1;
        let attempts = d.attempts + 1;
        let outcome = attempt(ctx, &d, timeout).await;
        let (status, error, delivered) = match &outcome {
            Ok(code) if (200..300).contains(code) => (Some(*code), None, true),
            Ok(code) => (Some(*code), Some(format!("HTTP {code}")), false),
            Err(e) => (None, Some(e.clone()), false),
        };
        let next = if delivered {
            None
        } else {
            usize::try_from(d.attempts)
                .ok()
                .and_then(|i| settings.backoff_s.get(i))
                .map(|s| now_ms() + (s.max(0.0) * 1000.0) as i64)
        };
        if !delivered {
            tracing::info!(delivery = d.id, attempts, ?status, error = ?error,
                gave_up = next.is_none(), "webhook delivery failed");
        }
        repo::webhooks::record(
            ctx.db(),
            d.id,
            repo::webhooks::Attempt {
                attempts,
                status: status.map(i32::from),
                error: error.as_deref(),
                delivered,
                next,
            },
        )
        .await?;
    }
    Ok(sent)
}

/// One POST; the HTTP status or why there was none.
async fn attempt(
    ctx: &AppContext,
    d: &webhook_deliveries::Model,
    timeout: Duration,
) -> Result<u16, String> {
    let Some(hook) = repo::webhooks::find(ctx.db(), d.team_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Err("the team has no webhook any more".to_owned());
    };
    let url = parse_url(&hook.url).map_err(|e| e.to_string())?;
    // Resolved and checked again now (the name may point elsewhere since it was set), and the
    // request pinned to the checked address so a second lookup cannot change it.
    let addr = resolve(&url, &ctx.settings().webhooks)
        .await
        .map_err(|e| e.to_string())?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .build()
        .map_err(|e| e.to_string())?;
    let body = d.payload.clone().into_bytes();
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature(&hook.secret, &body))
        .header(DELIVERY_HEADER, d.id.to_string())
        .header(EVENT_HEADER, d.event.as_str())
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(resp.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
            assert!(is_refused(ip), "{ip} should be refused");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
            assert!(!is_refused(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn urls_must_be_http() {
        assert!(parse_url("ftp://example.com/x").is_err());
        assert!(parse_url("https://user:pw@example.com/").is_err());
        assert!(parse_url("not a url").is_err());
        assert!(parse_url("https://example.com/hook").is_ok());
    }
}
