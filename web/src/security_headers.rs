//! Security headers on every response: a Content-Security-Policy that allows only this origin's
//! scripts and styles (the pages have no inline script or style, see `routes/assets`) and no
//! framing, no MIME sniffing, and no full referrer to other sites. A handler's own header wins.

use actix_web::middleware::DefaultHeaders;

/// Scripts, styles, images, videos (the rating page), fetches and the live event stream come
/// from this origin only; forms post here only; no plugin, no `<base>`, no framing by any site
/// (clickjacking).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        // For browsers that predate frame-ancestors.
        .add(("X-Frame-Options", "DENY"))
}
