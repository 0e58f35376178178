//! API error cases: every malformed or impossible request gets a 4xx with a
//! message naming the cause, and nothing is started.

use dwcp_tests::{init_logging, HostOptions, HostPair, TempDir};

fn error_of(body: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("error body not JSON ({e}): {body}"));
    value["error"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn c30_api_error_cases() {
    init_logging();
    let dir = TempDir::new("c30");
    let hosts = HostPair::start(&dir, &HostOptions::default());
    let a = &hosts.a;
    let memory = dir.join("small.ram");
    std::fs::write(&memory, vec![1u8; 4096 * 4]).expect("memory file");
    let memory = memory.display().to_string();

    let cases: Vec<(&str, String, Option<String>, u16, &str)> = vec![
        (
            "GET",
            "/v1/migrations/00000000000000ab".into(),
            None,
            404,
            "00000000000000ab",
        ),
        (
            "GET",
            "/v1/migrations/not-an-id".into(),
            None,
            400,
            "16 hex digits",
        ),
        (
            "POST",
            "/v1/migrations/00000000000000ab/cancel".into(),
            None,
            404,
            "no migration",
        ),
        (
            "POST",
            "/v1/migrations".into(),
            Some("{not json".into()),
            400,
            "malformed",
        ),
        (
            "POST",
            "/v1/migrations".into(),
            Some(r#"{"vm_id":"v","memory_file":"/x","destination":"host-b","colour":1}"#.into()),
            422,
            "colour",
        ),
        (
            "POST",
            "/v1/migrations".into(),
            Some(format!(
                r#"{{"vm_id":"v","memory_file":"{memory}","destination":"host-z"}}"#
            )),
            400,
            "host-z",
        ),
        (
            "POST",
            "/v1/migrations".into(),
            Some(
                r#"{"vm_id":"v","memory_file":"/nonexistent/x.ram","destination":"host-b"}"#.into(),
            ),
            400,
            "/nonexistent/x.ram",
        ),
        (
            "POST",
            "/v1/migrations".into(),
            Some(format!(
                r#"{{"vm_id":"bad id!","memory_file":"{memory}","destination":"host-b"}}"#
            )),
            400,
            "vm_id",
        ),
        (
            "POST",
            "/v1/migrations".into(),
            Some(format!(
                r#"{{"vm_id":"v","memory_file":"{memory}","destination":"host-b","streams":0}}"#
            )),
            400,
            "streams",
        ),
        (
            "POST",
            "/v1/migrations".into(),
            Some(format!(
                r#"{{"vm_id":"v","memory_file":"{memory}","destination":"host-b","streams":4,"streams_max":2}}"#
            )),
            400,
            "streams_max = 2 is out of range (allowed 4..=64",
        ),
        (
            "POST",
            "/v1/migrations".into(),
            Some(format!(
                r#"{{"vm_id":"v","memory_file":"{memory}","destination":"host-b","pacing_mbps":100001}}"#
            )),
            400,
            "pacing_mbps",
        ),
        (
            "PATCH",
            "/v1/migrations/00000000000000ab".into(),
            Some(r#"{"pacing_mbps":10}"#.into()),
            404,
            "no migration",
        ),
        ("GET", "/v1/nothing".into(), None, 404, "no such endpoint"),
    ];
    for (method, path, body, status, needle) in cases {
        let (code, text) = a.http(method, &path, body.as_deref());
        assert_eq!(code, status, "{method} {path} {body:?}: {text}");
        let message = error_of(&text);
        assert!(
            message.contains(needle),
            "{method} {path}: the message names the cause ({needle:?}): {message}"
        );
    }
    let listed = a.ctl(&["list", "--json"]);
    let value = super::json_of(&listed.stdout);
    assert_eq!(
        value["migrations"].as_array().map(Vec::len),
        Some(0),
        "nothing was started: {value}"
    );
}
