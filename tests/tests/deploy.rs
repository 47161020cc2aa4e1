//! The deploy files (deploy/): `deploy/validate` checks the Kubernetes manifests against the
//! Kubernetes schemas offline (kubernetes-validate, strict) and the KEDA objects and compose
//! file for consistency. Skipped, loudly, when kubernetes-validate is not installed
//! (scripts/bootstrap installs it).
#![allow(clippy::expect_used)]

#[test]
fn deploy_files_validate_offline() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/validate");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .expect("run deploy/validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.code() == Some(2) && text.contains("kubernetes-validate is missing") {
        eprintln!(
            "\n!!! kubernetes-validate missing: deploy files NOT validated (run scripts/bootstrap) !!!\n"
        );
        return;
    }
    assert!(out.status.success(), "deploy/validate failed:\n{text}");
    assert!(text.contains("pass the Kubernetes"), "{text}");
}
