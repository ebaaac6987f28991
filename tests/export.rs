//! `export`: HAR that follows the 1.2 specification, and a curl script that reproduces every
//! capture byte for byte when bash runs it against another listener.

mod common;

use std::path::Path;

use common::{Listener, binary, post, send_raw};
use hookscope::capture::Capture;
use serde_json::Value;

/// Requests chosen to break naive quoting: binary with NUL, quotes, newlines, escapes, UTF-8,
/// an empty body with a query, header bytes that are not UTF-8.
async fn capture_tricky(listener: &Listener) {
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let tricky_text = "{\"q\":\"it's \\\"quoted\\\"\",\"nl\":\"a\nb\",\"tab\":\"\t\",\"esc\":\"\u{1b}[31m\",\"u\":\"caf\u{e9} \u{1F3A5}\",\"bs\":\"\\\\\"}\n";
    let requests: Vec<Vec<u8>> = vec![
        post(
            "/hooks/bin?x=1",
            &[("Content-Type", "application/octet-stream")],
            &every_byte,
        ),
        post(
            "/hooks/text",
            &[
                ("Content-Type", "application/json"),
                ("X-Quote", "it's \"q\" $HOME `id`"),
            ],
            tricky_text.as_bytes(),
        ),
        b"GET /hooks/empty?a=1&b=two%20words HTTP/1.1\r\nHost: t\r\nX-Only: 1\r\n\r\n".to_vec(),
        {
            let mut r = b"PUT /hooks/latin1 HTTP/1.1\r\nHost: t\r\nX-Latin1: caf".to_vec();
            r.extend_from_slice(b"\xe9\r\nContent-Length: 3\r\n\r\nabc");
            r
        },
    ];
    for request in requests {
        assert_eq!(
            send_raw(listener.addr, &request).await.expect("response").status,
            200
        );
    }
}

fn export(journal: &Path, format: &str, out: &Path) {
    let output = binary()
        .args([
            "export",
            journal.to_str().expect("utf-8"),
            "--format",
            format,
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run export");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What a replay must preserve: method, target, the sender's headers (less hop-by-hop), body.
type Essence = (String, String, Vec<(String, Vec<u8>)>, Vec<u8>);

fn essence(capture: &Capture) -> Essence {
    let headers = capture
        .headers
        .iter()
        .filter(|h| !hookscope::export::is_hop_by_hop(&h.name))
        .map(|h| (h.name.clone(), h.value.to_vec()))
        .collect();
    (
        capture.method.clone(),
        capture.target(),
        headers,
        capture.body.to_vec(),
    )
}

#[tokio::test]
async fn the_curl_script_reproduces_every_capture_byte_for_byte() {
    let mut original = Listener::start(&["--headless"]);
    capture_tricky(&original).await;
    original.stop();
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("replay.sh");
    export(&original.journal, "curl", &script);

    let mut replayed = Listener::start(&["--headless"]);
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(format!("http://{}", replayed.addr))
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .collect::<Vec<_>>(),
        ["200"; 4]
    );
    replayed.stop();

    let before: Vec<_> = original.captures().iter().map(essence).collect();
    let after: Vec<_> = replayed.captures().iter().map(essence).collect();
    assert_eq!(before.len(), 4);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "replay differs for {} {}", b.0, b.1);
    }
}

/// Checks the fields and types the HAR 1.2 specification requires.
fn check_har(har: &Value) {
    let is_str = |v: &Value, what: &str| assert!(v.is_string(), "{what} must be a string: {v}");
    let is_num = |v: &Value, what: &str| assert!(v.is_number(), "{what} must be a number: {v}");
    let is_arr = |v: &Value, what: &str| assert!(v.is_array(), "{what} must be an array: {v}");
    let pairs = |v: &Value, what: &str| {
        is_arr(v, what);
        for pair in v.as_array().into_iter().flatten() {
            is_str(&pair["name"], what);
            is_str(&pair["value"], what);
        }
    };
    let log = &har["log"];
    assert_eq!(log["version"], "1.2");
    is_str(&log["creator"]["name"], "creator.name");
    is_str(&log["creator"]["version"], "creator.version");
    is_arr(&log["entries"], "entries");
    for entry in log["entries"].as_array().into_iter().flatten() {
        let started = entry["startedDateTime"].as_str().expect("startedDateTime");
        assert!(
            chrono::DateTime::parse_from_rfc3339(started).is_ok(),
            "ISO 8601: {started}"
        );
        is_num(&entry["time"], "time");
        let request = &entry["request"];
        is_str(&request["method"], "request.method");
        let url = request["url"].as_str().expect("url");
        assert!(
            url.starts_with("http://") && url.contains("/hooks/"),
            "absolute URL: {url}"
        );
        is_str(&request["httpVersion"], "request.httpVersion");
        is_arr(&request["cookies"], "request.cookies");
        pairs(&request["headers"], "request.headers");
        pairs(&request["queryString"], "request.queryString");
        is_num(&request["headersSize"], "request.headersSize");
        is_num(&request["bodySize"], "request.bodySize");
        if let Some(post) = request.get("postData") {
            is_str(&post["mimeType"], "postData.mimeType");
            is_str(&post["text"], "postData.text");
        }
        let response = &entry["response"];
        is_num(&response["status"], "response.status");
        is_str(&response["statusText"], "response.statusText");
        is_str(&response["httpVersion"], "response.httpVersion");
        is_arr(&response["cookies"], "response.cookies");
        pairs(&response["headers"], "response.headers");
        is_num(&response["content"]["size"], "content.size");
        is_str(&response["content"]["mimeType"], "content.mimeType");
        is_str(&response["redirectURL"], "redirectURL");
        is_num(&response["headersSize"], "response.headersSize");
        is_num(&response["bodySize"], "response.bodySize");
        assert!(entry["cache"].is_object(), "cache");
        for timing in ["send", "wait", "receive"] {
            is_num(&entry["timings"][timing], timing);
        }
    }
}

#[tokio::test]
async fn har_follows_the_specification_and_keeps_binary_bodies() {
    let mut listener = Listener::start(&["--headless"]);
    capture_tricky(&listener).await;
    listener.stop();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("captures.har");
    export(&listener.journal, "har", &out);
    let har: Value = serde_json::from_slice(&std::fs::read(&out).expect("har")).expect("HAR is JSON");
    check_har(&har);
    let entries = har["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 4);
    let binary_entry = &entries[0]["request"];
    assert_eq!(binary_entry["postData"]["_encoding"], "base64");
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(binary_entry["postData"]["text"].as_str().expect("text"))
        .expect("base64");
    assert_eq!(decoded, (0..=255u8).collect::<Vec<_>>());
    let query = &entries[2]["request"]["queryString"];
    assert_eq!(query[1]["name"], "b");
    assert_eq!(query[1]["value"], "two%20words");

    // --filter selects, and the .http format writes binary bodies beside the file.
    let http = dir.path().join("hooks.http");
    let output = binary()
        .args([
            "export",
            listener.journal.to_str().expect("utf-8"),
            "--format",
            "http",
            "--filter",
            "path:/hooks/bin",
        ])
        .args(["--out", http.to_str().expect("utf-8")])
        .output()
        .expect("run export");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&http).expect("http file");
    assert_eq!(text.matches("\n### ").count(), 1, "{text}");
    assert!(text.contains("POST {{base}}/hooks/bin?x=1"), "{text}");
    let reference = text
        .lines()
        .find_map(|l| l.strip_prefix("< ./"))
        .expect("a body file");
    assert_eq!(
        std::fs::read(dir.path().join(reference)).expect("body"),
        (0..=255u8).collect::<Vec<_>>()
    );
}

#[test]
fn a_har_entry_answers_with_the_last_delivery_of_its_capture() {
    // Forwarded (500), then replayed days later (200), with another capture between: the HAR
    // response is the replay's, the last, wherever it is in the journal.
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("j.jsonl");
    let capture = |n: u32| {
        format!(
            r#"{{"v":1,"kind":"capture","id":"01M8255RED72P9BKR86VA5N0D{n}","received_at":"2026-11-22T17:34:3{n}.349676858Z","remote_addr":"127.0.0.1:54434","via":"direct","method":"POST","path":"/c/{n}","version":"HTTP/1.1","headers":[],"body_encoding":"utf8","body":"{{}}","body_size":2,"status":200}}"#
        )
    };
    let attempt = |mode: &str, status: u16, body: &str| {
        format!(
            r#"{{"v":1,"kind":"attempt","capture":"01M8255RED72P9BKR86VA5N0D1","mode":"{mode}","number":1,"target":"http://127.0.0.1:3000/c/1","started_at":"2026-11-23T10:00:00Z","latency_us":2000,"status":{status},"headers":[],"body_encoding":"utf8","body":"{body}","body_size":{},"truncated":false}}"#,
            body.len()
        )
    };
    let lines = [
        capture(1),
        attempt("forward", 500, "down"),
        capture(2),
        attempt("replay", 200, "fixed"),
    ];
    std::fs::write(&journal, lines.join("\n") + "\n").expect("write");
    let out = dir.path().join("out.har");
    export(&journal, "har", &out);
    let har: Value = serde_json::from_slice(&std::fs::read(&out).expect("read")).expect("json");
    let entries = har["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0]["response"]["status"], 200,
        "the replay, not the first forward"
    );
    assert_eq!(entries[0]["response"]["content"]["text"], "fixed");
    assert_eq!(entries[1]["response"]["status"], 200, "hookscope's own answer");
}
