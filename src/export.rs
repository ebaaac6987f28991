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
//!   when the sender did not send them; the target is sent as the request line's, exactly.
//! - **http**: a `.http` file for REST clients (JetBrains, VS Code REST Client), `{{base}}` as the
//!   target; binary bodies are referenced from files written beside it.
//!
//! The sender wrote every byte of a capture: whatever of it enters a script, a comment, a file
//! name or a `.http` line goes through the function of [`quote`] for that context.

pub mod quote;

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

/// Where the curl script sends its requests: the script's first argument or the default, and
/// that URL's path, put before each request's target.
const SCRIPT_BASE: (&str, &str) = ("\"$BASE\"", "\"$BASE_PATH\"");
/// Where a copied curl command sends its request: `$BASE` if the shell has one, else the default.
const COMMAND_BASE: (&str, &str) = ("\"${BASE:-http://127.0.0.1:8080}\"", "");

/// A bash script replaying every capture with curl, byte for byte.
///
/// Every text from a capture is a `$'…'` word ([`quote::shell_word`]) or a comment that cannot
/// end ([`quote::shell_comment`]); no line starts with it. The script is printable ASCII.
pub fn curl_script(captures: &[Capture]) -> String {
    let mut out = String::from(
        "#!/usr/bin/env bash\n\
         # Replays captured webhooks with curl, byte for byte. Usage: bash THIS_FILE [BASE_URL]\n\
         # Generated by hookscope export --format curl.\n\
         set -euo pipefail\n\
         BASE=\"${1:-http://127.0.0.1:8080}\"\n\
         # A path in BASE_URL goes before each request's target.\n\
         case \"${BASE#*://}\" in */*) BASE_PATH=\"/${BASE#*://*/}\" ;; *) BASE_PATH=\"\" ;; esac\n\
         BASE_PATH=\"${BASE_PATH%/}\"\n",
    );
    for capture in captures {
        out.push('\n');
        curl_lines(capture, SCRIPT_BASE, &mut out);
    }
    out
}

/// One capture as a curl command to paste into a shell (the inspector's `y`): the lines of
/// [`curl_script`] for it, without the script's `set -e`, which would close an interactive shell
/// when curl fails. It goes to `$BASE` if set, else to `http://127.0.0.1:8080`.
pub fn curl_command(capture: &Capture) -> String {
    let mut out = String::new();
    curl_lines(capture, COMMAND_BASE, &mut out);
    out
}

/// Appends the comment and the curl command that replay `capture` to `base`: the URL and the
/// path before the target, as shell words.
fn curl_lines(capture: &Capture, (base, prefix): (&str, &str), out: &mut String) {
    let _ = writeln!(
        out,
        "# {} {} {}",
        capture.id,
        capture.received_at.to_rfc3339(),
        quote::shell_comment(&capture_comment(capture))
    );
    let target = capture.target();
    let (Some(method), Some(target)) = (
        quote::shell_word(capture.method.as_bytes()),
        quote::shell_word(target.as_bytes()),
    ) else {
        let _ = writeln!(out, "# not replayed: its method or target holds a NUL byte");
        return;
    };
    // -g: no globbing of `[]{}` in the URL (an IPv6 address).
    let mut args = vec!["curl -sS -o /dev/null -w '%{http_code}\\n' -g".to_owned()];
    match (capture.method.as_str(), capture.body.is_empty()) {
        // `-X HEAD` would wait for the body a HEAD answer announces and never gets.
        ("HEAD", true) => args.push("-I".to_owned()),
        _ => args.push(format!("-X {method}")),
    }
    let has = |name: &str| capture.headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
    for header in capture.headers.iter().filter(|h| !is_hop_by_hop(&h.name)) {
        if !quote::is_token(&header.name) || header.value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
        {
            let _ = writeln!(
                out,
                "# header not replayed, not valid HTTP: {}",
                quote::shell_comment(&header.name)
            );
            continue;
        }
        // `Name;` is how curl sends a header with an empty value (`Name:` removes it).
        let line = match header.value.is_empty() {
            true => format!("{};", header.name).into_bytes(),
            false => [header.name.as_bytes(), b": ", &header.value].concat(),
        };
        if let Some(quoted) = quote::shell_word(&line) {
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
    // The target as the request line's, byte for byte: in the URL, curl would encode bytes
    // outside ASCII, resolve `/../` and drop a `#...`.
    args.push(format!("--request-target {prefix}{target} {base}"));
    let body = match (
        capture.body.is_empty(),
        std::str::from_utf8(&capture.body)
            .ok()
            .and(quote::shell_word(&capture.body)),
    ) {
        (true, _) => None,
        // --data-raw: a body starting with `@` is data, not a file for curl to read.
        (false, Some(quoted)) => Some(format!("--data-raw {quoted}")),
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

/// The captures as a `.http` file; binary bodies, and text bodies a REST client would misread,
/// are returned as (file name, bytes) to write beside it, and referenced with `< ./name`.
///
/// Every text from a capture is escaped for its line ([`quote`]'s `http_*` functions); a header
/// that cannot be written as a `.http` line is named in a comment instead.
pub fn http_file(captures: &[Capture], bodies_dir: &str) -> (String, Vec<(String, Vec<u8>)>) {
    let mut out = String::from(
        "# Generated by hookscope export --format http. Set `base` in your environment.\n@base = http://127.0.0.1:8080\n",
    );
    let bodies_dir = quote::file_name(bodies_dir);
    let mut files = Vec::new();
    for capture in captures {
        let target = capture.target();
        let _ = writeln!(
            out,
            "\n### {} {} {}",
            quote::http_comment(&capture.method),
            quote::http_comment(&target),
            quote::http_comment(&capture_comment(capture))
        );
        let _ = writeln!(out, "# {} {}", capture.id, capture.received_at.to_rfc3339());
        let mut headers = Vec::new();
        for header in capture.headers.iter().filter(|h| !is_hop_by_hop(&h.name)) {
            match quote::http_header(&header.name, &header.value) {
                Ok(line) => headers.push(line),
                Err(why) => {
                    let _ = writeln!(
                        out,
                        "# header {} left out: {why}",
                        quote::http_comment(&header.name)
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "{} {{{{base}}}}{}",
            quote::http_method(&capture.method),
            quote::http_target(&target)
        );
        for line in headers {
            let _ = writeln!(out, "{line}");
        }
        if capture.body.is_empty() {
            continue;
        }
        match std::str::from_utf8(&capture.body) {
            Ok(text) if quote::http_inline_body(text) => {
                let _ = write!(out, "\n{text}\n");
            }
            _ => {
                let name = format!("{bodies_dir}/{}.bin", quote::file_name(&capture.id.to_string()));
                let _ = write!(out, "\n< ./{name}\n");
                files.push((name, capture.body.to_vec()));
            }
        }
    }
    (out, files)
}

#[cfg(test)]
mod tests;
