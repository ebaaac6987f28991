//! The exports' text, line by line, for the promises a replay by bash or a REST client cannot
//! show: comments, the copied command, the headers left out and why, where a body goes.
//! `tests/export.rs` runs the exported curl script with bash and checks the bytes that arrive.

use super::*;

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

/// The sample capture with these headers and body.
fn capture(headers: &[(&str, &'static [u8])], body: &'static [u8]) -> Capture {
    let mut capture = crate::codec::tests::sample_capture();
    capture.headers = headers
        .iter()
        .map(|&(name, value)| crate::capture::Header::new(name, value))
        .collect();
    capture.body = bytes::Bytes::from_static(body);
    capture
}

/// The lines of `text` that start with `-H ` (curl's header arguments), trimmed.
fn curl_headers(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.trim().trim_end_matches(" \\"))
        .filter(|l| l.starts_with("-H "))
        .collect()
}

#[test]
fn every_export_names_the_provider_and_event_where_known() {
    let mut known = capture(&[], b"");
    for (provider, event, comment) in [
        (
            Some("optiview"),
            Some("channel.stopped"),
            "optiview channel.stopped",
        ),
        (Some("optiview"), None, "optiview"),
        (None, Some("channel.stopped"), ""),
        (None, None, ""),
    ] {
        known.derived.provider = provider.map(str::to_owned);
        known.derived.event_type = event.map(str::to_owned);
        assert_eq!(capture_comment(&known), comment, "{provider:?} {event:?}");
    }
    known.derived.provider = Some("optiview".into());
    known.derived.event_type = Some("channel.stopped".into());
    let har = har(std::slice::from_ref(&known), &HashMap::new());
    assert_eq!(har["log"]["entries"][0]["comment"], "optiview channel.stopped");
    let first = |text: &str| text.lines().next().unwrap_or_default().to_owned();
    assert_eq!(
        first(&curl_command(&known)),
        format!(
            "# {} {} optiview channel.stopped",
            known.id,
            known.received_at.to_rfc3339()
        )
    );
    let (http, _) = http_file(std::slice::from_ref(&known), "bodies");
    assert!(
        http.contains("\n### POST /hooks/dolby?a=1&b=%20 optiview channel.stopped\n"),
        "{http}"
    );
}

#[test]
fn har_requests_hold_the_query_pairs_and_post_data_only_with_a_body() {
    let empty = capture(&[], b"");
    let mut with_body = capture(&[("Content-Type", b"text/plain")], b"hi");
    with_body.query = Some("a=1&&b".into());
    let har = har(&[with_body, empty], &HashMap::new());
    let request = &har["log"]["entries"][0]["request"];
    assert_eq!(
        request["queryString"],
        json!([{ "name": "a", "value": "1" }, { "name": "b", "value": "" }])
    );
    assert_eq!(
        request["postData"],
        json!({ "mimeType": "text/plain", "text": "hi" })
    );
    let request = &har["log"]["entries"][1]["request"];
    assert!(request.get("postData").is_none(), "{request}");
}

#[test]
fn a_copied_curl_command_goes_to_base_or_the_default_and_never_sets_e() {
    let sample = capture(&[("X-Ok", b"1")], b"{}");
    let command = curl_command(&sample);
    assert!(command.starts_with(&format!("# {} ", sample.id)), "{command}");
    assert!(
        command.contains(
            "\n  --request-target $'/hooks/dolby?a=1&b=%20' \"${BASE:-http://127.0.0.1:8080}\" \\\n  --data-raw $'{}'\n"
        ),
        "{command}"
    );
    assert!(!command.contains("set -e"), "{command}");
    let script = curl_script(&[sample.clone(), sample]);
    assert!(script.starts_with("#!/usr/bin/env bash\n"), "{script}");
    assert!(script.contains("\nset -euo pipefail\n"), "{script}");
    assert_eq!(script.matches("\ncurl -sS ").count(), 2, "{script}");
    assert_eq!(
        script
            .matches("--request-target \"$BASE_PATH\"$'/hooks/dolby?a=1&b=%20' \"$BASE\"")
            .count(),
        2,
        "{script}"
    );
}

#[test]
fn a_bodiless_head_is_sent_with_dash_i_and_any_other_with_its_method() {
    let mut head = capture(&[], b"");
    head.method = "HEAD".into();
    let command = curl_command(&head);
    assert!(command.contains(" -g \\\n  -I \\\n"), "{command}");
    assert!(!command.contains("-X"), "{command}");
    head.body = bytes::Bytes::from_static(b"x");
    let command = curl_command(&head);
    assert!(command.contains(" -g \\\n  -X $'HEAD' \\\n"), "{command}");
    assert!(!command.contains("-I"), "{command}");
}

#[test]
fn curl_replays_the_senders_valid_headers_and_names_the_others_in_a_comment() {
    let capture = capture(
        &[
            ("Host", b"example.com"),
            ("Content-Length", b"2"),
            ("X-Ok", b"1"),
            ("X-Empty", b""),
            ("Bad Name", b"x"),
            ("X-Lf", b"a\nb"),
            ("X-Cr", b"a\rb"),
            ("X-Nul", b"a\0b"),
        ],
        b"{}",
    );
    let command = curl_command(&capture);
    assert_eq!(
        curl_headers(&command),
        [
            "-H $'X-Ok: 1'",
            "-H $'X-Empty;'",
            "-H 'Accept:'",
            "-H 'User-Agent:'",
            "-H 'Expect:'",
            "-H 'Content-Type:'",
        ],
        "{command}"
    );
    for name in ["Bad Name", "X-Lf", "X-Cr", "X-Nul"] {
        assert!(
            command.contains(&format!("\n# header not replayed, not valid HTTP: {name}\n")),
            "{name}: {command}"
        );
    }
}

#[test]
fn curl_removes_only_the_default_headers_the_sender_did_not_send() {
    let sent = capture(
        &[
            ("accept", b"*/*"),
            ("USER-AGENT", b"sender/1"),
            ("Expect", b"100-continue"),
            ("content-type", b"application/json"),
        ],
        b"{}",
    );
    assert_eq!(
        curl_headers(&curl_command(&sent)),
        [
            "-H $'accept: */*'",
            "-H $'USER-AGENT: sender/1'",
            "-H $'Expect: 100-continue'",
            "-H $'content-type: application/json'",
        ]
    );
    // No body: curl sends no Content-Type of its own, so there is none to remove.
    assert_eq!(
        curl_headers(&curl_command(&capture(&[], b""))),
        ["-H 'Accept:'", "-H 'User-Agent:'", "-H 'Expect:'"]
    );
}

#[test]
fn http_files_keep_the_senders_headers_and_inline_only_plain_text_bodies() {
    let plain = capture(
        &[("Host", b"example.com"), ("X-Ok", b"1"), ("X-Lf", b"a\nb")],
        b"{\"a\":1}",
    );
    let hostile = capture(&[], b"### not a new request");
    let (text, files) = http_file(&[plain, hostile.clone()], "../bodies");
    assert!(
        text.contains("\nPOST {{base}}/hooks/dolby?a=1&b=%20\nX-Ok: 1\n\n{\"a\":1}\n"),
        "{text}"
    );
    assert!(
        text.contains("\n# header X-Lf left out: its value holds control or bidi characters\n"),
        "{text}"
    );
    assert!(!text.contains("example.com"), "{text}");
    let name = format!("_._bodies/{}.bin", hostile.id);
    assert!(text.contains(&format!("\n< ./{name}\n")), "{text}");
    assert!(!text.contains("### not"), "{text}");
    assert_eq!(files, [(name, b"### not a new request".to_vec())]);
}
