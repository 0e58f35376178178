//! Set-up errors print `{"ready":false,...}`, exit non-zero and leave
//! nothing behind.

use std::process::Command;

use crate::support::{namespace_listed, namespaces, BIN};

fn run_expecting_failure(args: &[&str], env: Option<(&str, &str)>) -> (serde_json::Value, String) {
    let mut command = Command::new(BIN);
    command.arg("run").args(args);
    if let Some((key, value)) = env {
        command.env(key, value);
    }
    let output = command.output().expect("run dwcp-linkem");
    assert!(!output.status.success(), "expected a failure");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(line["ready"], false);
    (line, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn t50_unknown_profile_is_refused() {
    let (ns_a, ns_b) = namespaces("badprofile");
    let (line, _) = run_expecting_failure(
        &["--profile", "moon", "--ns-a", &ns_a, "--ns-b", &ns_b],
        None,
    );
    assert!(
        line["error"].as_str().expect("error").contains("moon"),
        "{line}"
    );
    assert!(!namespace_listed(&ns_a) && !namespace_listed(&ns_b));
}

#[test]
fn t51_missing_traces_folder_is_named() {
    let (ns_a, ns_b) = namespaces("notrace");
    let (line, stderr) = run_expecting_failure(
        &["--profile", "cellular", "--ns-a", &ns_a, "--ns-b", &ns_b],
        Some(("DWCP_TRACES_DIR", "/nonexistent/traces")),
    );
    let error = line["error"].as_str().expect("error");
    assert!(
        error.contains("/nonexistent/traces/mahimahi/TMobile-LTE-short.down"),
        "{error}"
    );
    assert!(error.contains("DWCP_TRACES_DIR"), "{error}");
    assert!(stderr.contains("DWCP_TRACES_DIR"));
}
