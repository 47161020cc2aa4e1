//! Pages carry a Content-Security-Policy without inline script or style (their scripts and style
//! sheet are served from /static), no framing, no MIME sniffing, a same-origin referrer; the
//! session and CSRF cookies are HttpOnly, SameSite=Strict and, behind HTTPS, Secure.

use arena_tests::{AppOptions, spawn_app_with};
use reqwest::header::HeaderMap;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// An inline `<script>` (no `src`), a `<style>` element, a `style=` or `on…=` attribute.
fn inline_code(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    for (at, _) in lower.match_indices("<script") {
        let tag = &lower[at..at + lower[at..].find('>').unwrap_or(0)];
        if !tag.contains(" src=") {
            return Some(tag.to_owned());
        }
    }
    if lower.contains("<style") {
        return Some("<style>".to_owned());
    }
    let bytes = lower.as_bytes();
    for (at, _) in lower.match_indices(" on") {
        let name: String = lower[at + 1..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        let after = at + 1 + name.len();
        if name.len() > 2 && bytes.get(after) == Some(&b'=') {
            return Some(name);
        }
    }
    lower.contains(" style=").then(|| "style=".to_owned())
}

#[tokio::test]
async fn pages_carry_security_headers_and_no_inline_code() {
    let app = spawn_app_with(AppOptions::default()).await;
    app.competition("sec").await;
    let http = client();
    for path in [
        "/",
        "/c/sec",
        "/teams/admin",
        "/login",
        "/register",
        "/api/docs",
    ] {
        let resp = http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let h = resp.headers().clone();
        assert_eq!(header(&h, "content-security-policy"), CSP, "{path}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&h, "referrer-policy"), "same-origin", "{path}");
        assert_eq!(header(&h, "x-frame-options"), "DENY", "{path}");
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(inline_code(&body), None, "{path} has inline code");
        assert!(body.contains("href=\"/static/arena.css\""), "{path}");
    }
    // The competition page's live board script is served from this origin.
    let board = http
        .get(format!("{}/static/board.js", app.address))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(board.status().as_u16(), 200);
    let h = board.headers().clone();
    assert_eq!(header(&h, "content-type"), "text/javascript; charset=utf-8");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert!(
        board
            .text()
            .await
            .unwrap_or_default()
            .contains("EventSource")
    );
    let missing = http
        .get(format!("{}/static/../Cargo.toml", app.address))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(missing.status().as_u16(), 404);
    // API answers carry them too (a JSON body must not be sniffed into HTML).
    let api = http
        .get(format!("{}/api/v1/competitions", app.address))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header(api.headers(), "x-content-type-options"), "nosniff");
}

/// The `Set-Cookie` of `name` in a response.
fn set_cookie(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn cookies_are_http_only_strict_and_secure_behind_https() {
    let app = spawn_app_with(AppOptions::default()).await;
    let http = client();
    for https in [false, true] {
        let mut get = http.get(format!("{}/login", app.address));
        if https {
            get = get.header("x-forwarded-proto", "https");
        }
        let page = get.send().await.unwrap_or_else(|e| panic!("{e}"));
        let seed = set_cookie(page.headers(), "arena_csrf");
        let body = page.text().await.unwrap_or_default();
        let csrf = arena_tests::web::csrf_in(&body).unwrap_or_default();
        let pair = seed.split(';').next().unwrap_or_default().to_owned();
        let mut post = http
            .post(format!("{}/login", app.address))
            .header("cookie", pair)
            .form(&[("token", app.admin_token.as_str()), ("csrf", csrf.as_str())]);
        if https {
            post = post.header("x-forwarded-proto", "https");
        }
        let login = post.send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(login.status().as_u16(), 303);
        let session = set_cookie(login.headers(), "arena_session");
        for cookie in [&seed, &session] {
            assert!(cookie.contains("HttpOnly"), "{cookie}");
            assert!(cookie.contains("SameSite=Strict"), "{cookie}");
            assert!(cookie.contains("Path=/"), "{cookie}");
            assert_eq!(cookie.contains("Secure"), https, "{cookie}");
        }
    }
}
