//! Team tokens rotated and revoked from the command line (`arena team token rotate|revoke`) and
//! from the team page's forms (session + CSRF): the new token works at once, the old one never
//! again.

use arena_tests::web::{Page, WebClient};
use arena_tests::{TestApp, arena_bin, spawn_app};

/// Whether the API accepts `token` (an unknown submission is a 404 to a signed-in caller).
async fn accepted(app: &TestApp, token: &str) -> bool {
    let (status, _) = app
        .get_json("/api/v1/submissions/999999", Some(token))
        .await;
    assert!(status == 404 || status == 401, "{status}");
    status == 404
}

fn cli(app: &TestApp, args: &[&str], token: &str) -> std::process::Output {
    std::process::Command::new(arena_bin())
        .args(["team", "token"])
        .args(args)
        .args(["--server", &app.address, "--token", token])
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_rotates_and_revokes_a_token() {
    let app = spawn_app().await;
    let alice = app.team("alice", "creator").await;
    let bob = app.team("bob", "creator").await;
    // Another team cannot.
    let out = cli(&app, &["rotate", "alice"], &bob);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not_yours"), "{err}");
    assert!(accepted(&app, &alice).await);

    let out = cli(&app, &["rotate", "alice"], &alice);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let fresh = stdout.lines().last().unwrap_or_default().trim().to_owned();
    assert!(!fresh.is_empty() && fresh != alice, "{stdout}");
    assert!(!accepted(&app, &alice).await, "the old token is dead");
    assert!(accepted(&app, &fresh).await, "the new one works");

    let out = cli(&app, &["revoke", "alice"], &fresh);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!accepted(&app, &fresh).await);
    // An organizer issues a new one.
    let out = cli(&app, &["rotate", "alice"], &app.admin_token);
    let third = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(accepted(&app, &third).await);
}

fn new_token(page: &Page) -> Option<String> {
    let at = page.body.find("id=\"new-token\">")? + "id=\"new-token\">".len();
    let rest = &page.body[at..];
    Some(rest[..rest.find('<')?].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_page_rotates_and_revokes_a_token() {
    let app = spawn_app().await;
    let alice = app.team("alice", "creator").await;
    let bob = app.team("bob", "creator").await;
    let mut browser = WebClient::new(&app.address);
    assert_eq!(browser.login(&alice).await.status, 303);
    let page = browser.get("/teams/alice").await;
    assert!(
        page.body.contains("action=\"/teams/alice/token/rotate\""),
        "{}",
        page.body
    );
    let csrf = page.csrf().unwrap_or_default();
    // Other teams see no token form on alice's page, and cannot post one.
    let mut other = WebClient::new(&app.address);
    assert_eq!(other.login(&bob).await.status, 303);
    let page = other.get("/teams/alice").await;
    assert!(!page.body.contains("/token/rotate"), "{}", page.body);
    let bob_csrf = other.csrf("/teams/bob").await;
    let page = other
        .post_form("/teams/alice/token/rotate", &[("csrf", &bob_csrf)])
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("not_yours"), "{}", page.body);
    // No CSRF token, no rotation.
    let page = browser.post_form("/teams/alice/token/rotate", &[]).await;
    assert_eq!(page.status, 403);
    assert!(accepted(&app, &alice).await);

    let page = browser
        .post_form("/teams/alice/token/rotate", &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let fresh = new_token(&page).unwrap_or_default();
    assert!(!fresh.is_empty() && fresh != alice, "{}", page.body);
    assert!(!accepted(&app, &alice).await);
    assert!(accepted(&app, &fresh).await);
    // This browser stays signed in (its session follows the new token).
    let page = browser.get("/teams/alice").await;
    assert!(page.body.contains("/token/revoke"), "{}", page.body);

    let page = browser
        .post_form("/teams/alice/token/revoke", &[("csrf", &csrf)])
        .await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/login"))
    );
    assert!(!accepted(&app, &fresh).await);
    let page = browser.get("/teams/alice").await;
    assert!(!page.body.contains("/token/rotate"), "signed out");
}
