//! Browser login and logout (a team token in, a signed session cookie out).

pub mod login_get;
pub mod login_post;
pub mod logout_post;

/// Where to go after logging in: a local path only (never another site).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?.trim();
    let local = n.starts_with('/') && !n.starts_with("//") && !n.contains('\\');
    (local && !n.is_empty()).then(|| n.to_owned())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(
            safe_next(Some("/submissions/3")).as_deref(),
            Some("/submissions/3")
        );
        assert_eq!(safe_next(Some("//evil.example")), None);
        assert_eq!(safe_next(Some("https://evil.example")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
        assert_eq!(safe_next(None), None);
    }
}
