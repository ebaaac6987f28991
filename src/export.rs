//! Export: captures as HAR 1.2, a curl script or `.http` requests. Pure: text in memory.
//!
//! - **HAR** (browsers' devtools, Charles, Insomnia): one entry per capture. The request is as
//!   received; the response is the local app's answer to the last delivery of the capture when
//!   there was one (with its timing), else what hookscope answered the sender (status). A body
//!   that is not UTF-8 is base64 in `postData.text` / `content.text` with
//!   `"_encoding": "base64"` (HAR allows `_`-prefixed custom fields).
//! - **curl**: a bash script that replays every capture to `$1` (default `http://127.0.0.1:8080`)
//!   byte-identically: text bodies in ANSI-C quoting, binary ones (or with NUL bytes, which bash
//!   strings cannot hold) decoded from base64 on a pipe. curl's own default headers are removed
//!   when the sender did not send them.
//! - **http**: a `.http` file for REST clients (JetBrains, VS Code REST Client), `{{base}}` as the
//!   target; binary bodies are referenced from files written beside it.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::SecondsFormat;
use serde_json::{Value, json};

use std::collections::HashMap;

use crate::attempt::{Attempt, Outcome};
use crate::capture::{Capture, CaptureId};

/// Headers a replay must not copy: the transport sets them for the new connection.
const HOP_BY_HOP: [&str; 8] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "proxy-connection",
    "te",
];

/// Whether `name` is set by the transport rather than carried over in a replay.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// The captures as a HAR 1.2 document; `deliveries` holds each capture's last delivery to the
/// local app, whose answer becomes the entry's response.
pub fn har(captures: &[Capture], deliveries: &HashMap<CaptureId, Attempt>) -> Value {
    let entries: Vec<Value> = captures
        .iter()
        .map(|c| {
            let mut entry = har_entry(c);
            if let Some(attempt) = deliveries.get(&c.id) {
                delivered(&mut entry, attempt);
            }
            entry
        })
        .collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "hookscope", "version": env!("CARGO_PKG_VERSION") },
            "entries": entries,
        }
    })
}

fn har_entry(capture: &Capture) -> Value {
    let host = capture
        .header("host")
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .unwrap_or_else(|| capture.remote_addr.clone());
    let url = format!("http://{host}{}", capture.target());
    let headers: Vec<Value> = capture
        .headers
        .iter()
        .map(|h| json!({ "name": h.name, "value": String::from_utf8_lossy(&h.value) }))
        .collect();
    let query: Vec<Value> = capture
        .query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            json!({ "name": name, "value": value })
        })
        .collect();
    let mut request = json!({
        "method": capture.method,
        "url": url,
        "httpVersion": capture.version,
        "cookies": [],
        "headers": headers,
        "queryString": query,
        "headersSize": -1,
        "bodySize": capture.body.len(),
    });
    if !capture.body.is_empty() {
        let mime = capture
            .content_type()
            .unwrap_or(std::borrow::Cow::Borrowed("application/octet-stream"));
        let post = match std::str::from_utf8(&capture.body) {
            Ok(text) => json!({ "mimeType": mime, "text": text }),
            Err(_) => {
                json!({ "mimeType": mime, "text": BASE64.encode(&capture.body), "_encoding": "base64" })
            }
        };
        request["postData"] = post;
    }
    let status = capture.status;
    json!({
        "startedDateTime": capture.received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "time": 0,
        "request": request,
        "response": {
            "status": status,
            "statusText": hyper::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or(""),
            "httpVersion": capture.version,
            "cookies": [],
            "headers": [],
            "content": { "size": 0, "mimeType": "" },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "comment": "the answer hookscope gave the sender",
        },
        "cache": {},
        "timings": { "send": 0, "wait": 0, "receive": 0 },
        "comment": capture_comment(capture),
        "_hookscope": { "id": capture.id.to_string(), "verdict": capture.derived.verdict },
    })
}

/// Puts the local app's answer to `attempt` in place of hookscope's own answer.
fn delivered(entry: &mut Value, attempt: &Attempt) {
    let millis = attempt.latency.as_secs_f64() * 1000.0;
    entry["time"] = json!(millis);
    entry["timings"] = json!({ "send": 0, "wait": millis, "receive": 0 });
    entry["_hookscope"]["delivery"] = json!({
        "target": attempt.target,
        "kind": attempt.kind.name(),
        "attempt": attempt.number,
        "startedDateTime": attempt.started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    let response = match &attempt.outcome {
        Outcome::Response {
            status,
            headers,
            body,
            truncated,
        } => {
            let headers: Vec<Value> = headers
                .iter()
                .map(|h| json!({ "name": h.name, "value": String::from_utf8_lossy(&h.value) }))
                .collect();
            let mime = headers
                .iter()
                .find(|h| {
                    h["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case("content-type"))
                })
                .and_then(|h| h["value"].as_str())
                .unwrap_or("")
                .to_owned();
            let mut content = match std::str::from_utf8(body) {
                Ok(text) => json!({ "size": body.len(), "mimeType": mime, "text": text }),
                Err(_) => {
                    json!({ "size": body.len(), "mimeType": mime, "text": BASE64.encode(body), "encoding": "base64" })
                }
            };
            if *truncated {
                content["comment"] = json!("cut at hookscope's response body limit");
            }
            json!({
                "status": status,
                "statusText": hyper::StatusCode::from_u16(*status).ok().and_then(|s| s.canonical_reason()).unwrap_or(""),
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": headers,
                "content": content,
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": body.len(),
                "comment": format!("the local app's answer to delivery {} to {}", attempt.number, attempt.target),
            })
        }
        // HAR's convention for a request that got no answer: status 0, the error in a comment.
        Outcome::Failed(error) => json!({
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": { "size": 0, "mimeType": "" },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "comment": format!("delivery {} to {} failed: {error}", attempt.number, attempt.target),
            "_error": error,
        }),
    };
    entry["response"] = response;
}

fn capture_comment(capture: &Capture) -> String {
    let d = &capture.derived;
    match (&d.provider, &d.event_type) {
        (Some(p), Some(t)) => format!("{p} {t}"),
        (Some(p), None) => p.clone(),
        _ => String::new(),
    }
}

/// Bash ANSI-C quoting (`$'…'`) that reproduces `bytes` exactly; `None` if they hold a NUL.
fn ansi_c(bytes: &[u8]) -> Option<String> {
    if bytes.contains(&0) {
        return None;
    }
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push_str("$'");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(char::from(b)),
            // Everything else as an escape: control bytes, and UTF-8 byte by byte, exactly.
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('\'');
    Some(out)
}

/// A bash script replaying every capture with curl, byte for byte.
pub fn curl_script(captures: &[Capture]) -> String {
    let mut out = String::from(
        "#!/usr/bin/env bash\n\
         # Replays captured webhooks with curl, byte for byte. Usage: bash THIS_FILE [BASE_URL]\n\
         # Generated by hookscope export --format curl.\n\
         set -euo pipefail\n\
         BASE=\"${1:-http://127.0.0.1:8080}\"\n",
    );
    for capture in captures {
        let _ = writeln!(
            out,
            "\n# {} {} {}",
            capture.id,
            capture.received_at.to_rfc3339(),
            capture_comment(capture)
        );
        let mut args = vec![
            "curl -sS -o /dev/null -w '%{http_code}\\n'".to_owned(),
            format!("-X {}", ansi_c(capture.method.as_bytes()).unwrap_or_default()),
        ];
        let has = |name: &str| capture.headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
        for header in capture.headers.iter().filter(|h| !is_hop_by_hop(&h.name)) {
            let mut line = format!("{}: ", header.name).into_bytes();
            line.extend_from_slice(&header.value);
            // A header value cannot hold NUL (HTTP forbids it), so quoting always succeeds.
            if let Some(quoted) = ansi_c(&line) {
                args.push(format!("-H {quoted}"));
            }
        }
        // curl adds these unless told not to; the sender may not have sent them.
        for (name, default) in [
            ("Accept", "-H 'Accept:'"),
            ("User-Agent", "-H 'User-Agent:'"),
            ("Expect", "-H 'Expect:'"),
        ] {
            if !has(name) {
                args.push(default.to_owned());
            }
        }
        if !has("content-type") && !capture.body.is_empty() {
            args.push("-H 'Content-Type:'".to_owned());
        }
        let target = ansi_c(capture.target().as_bytes()).unwrap_or_default();
        args.push(format!("\"$BASE\"{target}"));
        let body = match (
            capture.body.is_empty(),
            std::str::from_utf8(&capture.body).ok().and(ansi_c(&capture.body)),
        ) {
            (true, _) => None,
            (false, Some(quoted)) => Some(format!("--data-binary {quoted}")),
            (false, None) => {
                // Binary: decoded on a pipe, so NUL bytes survive.
                let _ = writeln!(
                    out,
                    "printf '%s' '{}' | base64 -d | \\",
                    BASE64.encode(&capture.body)
                );
                Some("--data-binary @-".to_owned())
            }
        };
        args.extend(body);
        out.push_str(&args.join(" \\\n  "));
        out.push('\n');
    }
    out
}

/// The captures as a `.http` file; binary bodies are returned as (file name, bytes) to write
/// beside it, and referenced with `< ./name`.
pub fn http_file(captures: &[Capture], bodies_dir: &str) -> (String, Vec<(String, Vec<u8>)>) {
    let mut out = String::from(
        "# Generated by hookscope export --format http. Set `base` in your environment.\n@base = http://127.0.0.1:8080\n",
    );
    let mut files = Vec::new();
    for capture in captures {
        let _ = writeln!(
            out,
            "\n### {} {} {}",
            capture.method,
            capture.target(),
            capture_comment(capture)
        );
        let _ = writeln!(out, "# {} {}", capture.id, capture.received_at.to_rfc3339());
        let _ = writeln!(out, "{} {{{{base}}}}{}", capture.method, capture.target());
        for header in capture.headers.iter().filter(|h| !is_hop_by_hop(&h.name)) {
            let _ = writeln!(out, "{}: {}", header.name, String::from_utf8_lossy(&header.value));
        }
        if capture.body.is_empty() {
            continue;
        }
        match std::str::from_utf8(&capture.body) {
            // A text body that a REST client would misread (a line starting with `###` or `<`)
            // goes to a file too.
            Ok(text) if !text.lines().any(|l| l.starts_with("###") || l.starts_with('<')) => {
                let _ = write!(out, "\n{text}\n");
            }
            _ => {
                let name = format!("{}/{}.bin", bodies_dir, capture.id);
                let _ = write!(out, "\n< ./{name}\n");
                files.push((name, capture.body.to_vec()));
            }
        }
    }
    (out, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_c_quoting_covers_every_byte_but_nul() {
        assert_eq!(ansi_c(b"plain"), Some("$'plain'".into()));
        assert_eq!(ansi_c(b"it's \\ \"q\"\n"), Some("$'it\\'s \\\\ \"q\"\\n'".into()));
        assert_eq!(ansi_c("é\x1b".as_bytes()), Some("$'\\xc3\\xa9\\x1b'".into()));
        assert_eq!(ansi_c(b"a\0b"), None);
    }

    #[test]
    fn har_responses_are_the_last_delivery_where_there_is_one() {
        let delivered = crate::codec::tests::sample_capture();
        let undelivered = crate::codec::tests::sample_capture();
        let mut attempt = crate::codec::attempt::tests::sample_attempt();
        attempt.capture = delivered.id;
        let mut failed = attempt.clone();
        failed.outcome = Outcome::Failed("connection refused".into());
        let mut deliveries = HashMap::from([(delivered.id, attempt)]);
        let har = har(&[delivered.clone(), undelivered], &deliveries);
        let entries = &har["log"]["entries"];
        assert_eq!(entries[0]["response"]["status"], 503);
        assert_eq!(entries[0]["response"]["content"]["text"], "{\"ok\":false}");
        assert_eq!(entries[0]["time"], 12.345);
        assert_eq!(entries[1]["response"]["status"], 200, "hookscope's own answer");

        deliveries.insert(delivered.id, failed);
        let har = super::har(&[delivered], &deliveries);
        let response = &har["log"]["entries"][0]["response"];
        assert_eq!(response["status"], 0);
        assert_eq!(response["_error"], "connection refused");
    }

    #[test]
    fn hop_by_hop_headers_are_not_replayed() {
        for name in ["Host", "content-length", "Transfer-Encoding", "Connection", "TE"] {
            assert!(is_hop_by_hop(name), "{name}");
        }
        assert!(!is_hop_by_hop("Dolby-Signature"));
    }
}
