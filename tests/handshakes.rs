//! Handshakes answered for you (#15), the real binary over loopback: Slack's url_verification,
//! Zoom's endpoint.url_validation (with its secret, without one, with a wrong signature) and
//! Meta's hub.challenge (the right verify token, a wrong one, none configured), each captured,
//! journaled with what the sender heard, marked `handshake` (journal, headless line, filter),
//! not forwarded to the app, and hostile challenges refused without being echoed.

mod common;

use common::{Listener, LocalApp, RawResponse, binary, post, send_raw};
use hmac::Mac as _;

const ZOOM_SECRET: &str = "zoom-secret-token";
const VERIFY_TOKEN: &str = "meta-verify-token";

fn header<'a>(response: &'a RawResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn hmac_hex(key: &str, message: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Zoom's url_validation for `token`, signed with `secret` as Zoom signs it (computed here, by
/// the docs' recipe, not by hookscope).
fn zoom_validation(token: &str, secret: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"payload":{{"plainToken":"{token}"}},"event_ts":{},"event":"endpoint.url_validation"}}"#,
        chrono::Utc::now().timestamp_millis()
    );
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature = format!(
        "v0={}",
        hmac_hex(secret, format!("v0:{timestamp}:{body}").as_bytes())
    );
    post(
        "/zoom",
        &[
            ("Content-Type", "application/json"),
            ("x-zm-request-timestamp", &timestamp),
            ("x-zm-signature", &signature),
        ],
        body.as_bytes(),
    )
}

fn slack_verification(challenge: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"{challenge}","type":"url_verification"}}"#
    );
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature = format!(
        "v0={}",
        hmac_hex("slack-secret", format!("v0:{timestamp}:{body}").as_bytes())
    );
    post(
        "/slack/events",
        &[
            ("Content-Type", "application/json"),
            ("X-Slack-Request-Timestamp", &timestamp),
            ("X-Slack-Signature", &signature),
        ],
        body.as_bytes(),
    )
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: test\r\nUser-Agent: facebookplatform/1.0\r\n\r\n").into_bytes()
}

/// `hookscope log JOURNAL --filter FILTER`: its lines.
fn log(listener: &Listener, filter: &str) -> Vec<String> {
    let out = binary()
        .arg("log")
        .arg(&listener.journal)
        .args(["--filter", filter])
        .output()
        .expect("run log");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    // Capture lines only (a delivery is an indented line under its capture).
    text.lines()
        .filter(|l| !l.starts_with("  "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_three_handshakes_are_answered_journaled_marked_and_not_forwarded() {
    let app = LocalApp::start();
    let secret = format!("zoom={ZOOM_SECRET}");
    let token = format!("meta={VERIFY_TOKEN}");
    let mut listener = Listener::start(&[
        "--headless",
        "--secret",
        "slack=slack-secret",
        "--secret",
        &secret,
        "--verify-token",
        &token,
        "--forward",
        &app.url(),
    ]);

    // Slack: the challenge, as JSON.
    let slack = send_raw(
        listener.addr,
        &slack_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmd"),
    )
    .await
    .expect("answered");
    assert_eq!(slack.status, 200);
    assert_eq!(header(&slack, "content-type"), Some("application/json"));
    assert_eq!(slack.body, br#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmd"}"#);

    // Zoom: plainToken and its HMAC with the secret, as Zoom recomputes it.
    let zoom = send_raw(
        listener.addr,
        &zoom_validation("qgg8vlvZRS6UYooatFL8Aw", ZOOM_SECRET),
    )
    .await
    .expect("answered");
    assert_eq!(zoom.status, 200, "{}", String::from_utf8_lossy(&zoom.body));
    let answer: serde_json::Value = serde_json::from_slice(&zoom.body).expect("JSON");
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        answer["encryptedToken"],
        hmac_hex(ZOOM_SECRET, b"qgg8vlvZRS6UYooatFL8Aw").as_str()
    );

    // Meta: the challenge exactly, as plain text, to the right verify token only.
    let meta = send_raw(
        listener.addr,
        &get(&format!(
            "/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"
        )),
    )
    .await
    .expect("answered");
    assert_eq!((meta.status, meta.body.as_slice()), (200, &b"1158201444"[..]));
    assert_eq!(header(&meta, "content-type"), Some("text/plain; charset=utf-8"));
    let refused = send_raw(
        listener.addr,
        &get("/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess"),
    )
    .await
    .expect("answered");
    assert_eq!(refused.status, 403);
    let text = String::from_utf8_lossy(&refused.body);
    assert!(
        !text.contains("1158201444") && !text.contains(VERIFY_TOKEN),
        "{text}"
    );
    assert!(text.contains("is not the configured verify token"), "{text}");

    // An ordinary event after them: the only one the app gets.
    let event = post(
        "/hooks",
        &[("Content-Type", "application/json")],
        br#"{"type":"order.paid"}"#,
    );
    assert_eq!(
        send_raw(listener.addr, &event).await.expect("answered").status,
        200
    );
    // After a clean stop every published capture has been dispatched and its delivery ended.
    let (status, stdout, stderr) = listener.stop();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("forwarded 1 capture (1 attempt)"), "{stderr}");
    assert!(
        stderr.contains("secrets for slack, zoom; verify token for meta"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(VERIFY_TOKEN) && !stderr.contains(ZOOM_SECRET),
        "{stderr}"
    );
    let seen = app.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].body, br#"{"type":"order.paid"}"#);

    let captures = listener.captures();
    /// Status, provider, event type and handshake of a capture.
    type Marks<'a> = (u16, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let marks: Vec<Marks> = captures
        .iter()
        .map(|c| {
            (
                c.status,
                c.derived.provider.as_deref(),
                c.derived.event_type.as_deref(),
                c.derived.handshake.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        marks,
        [
            (
                200,
                Some("slack"),
                Some("url_verification"),
                Some("slack url_verification: answered the challenge")
            ),
            (
                200,
                Some("zoom"),
                Some("endpoint.url_validation"),
                Some("zoom endpoint.url_validation: answered plainToken and encryptedToken")
            ),
            (
                200,
                Some("meta"),
                Some("verification"),
                Some("meta verification: answered the challenge (the verify token matched)")
            ),
            (
                403,
                Some("meta"),
                Some("verification"),
                Some(
                    "meta verification: NOT answered (403): hub.verify_token is not the configured \
                     verify token (--verify-token meta=…); the challenge is answered only to the \
                     token typed in the app's Webhooks settings"
                )
            ),
            (200, None, Some("order.paid"), None),
        ]
    );
    assert_eq!(captures[0].derived.verdict.as_deref(), Some("valid"));
    assert_eq!(captures[1].derived.verdict.as_deref(), Some("valid"));
    // The headless line and the filter show them.
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("  ")).collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(
        lines[0].ends_with("handshake 200: slack url_verification: answered the challenge"),
        "{}",
        lines[0]
    );
    assert!(
        lines[3].contains("handshake 403: meta verification: NOT answered"),
        "{}",
        lines[3]
    );
    assert!(!lines[4].contains("handshake"), "{}", lines[4]);
    assert_eq!(log(&listener, "handshake").len(), 4);
    assert_eq!(log(&listener, "!handshake").len(), 1);
    assert_eq!(log(&listener, "handshake provider:meta").len(), 2);
    // "To show your app one that was answered, replay it."
    let replayed = binary()
        .arg("replay")
        .arg(&listener.journal)
        .args(["--filter", "handshake provider:slack", "--to", &app.url()])
        .output()
        .expect("run replay");
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let seen = app.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].target, "/slack/events");
    assert!(String::from_utf8_lossy(&seen[1].body).contains("\"type\":\"url_verification\""));
}

#[tokio::test]
async fn zoom_without_a_secret_and_meta_without_a_verify_token_are_refused_saying_what_to_pass() {
    let mut listener = Listener::start(&["--headless"]);
    let zoom = send_raw(
        listener.addr,
        &zoom_validation("qgg8vlvZRS6UYooatFL8Aw", ZOOM_SECRET),
    )
    .await
    .expect("answered");
    assert_eq!(zoom.status, 403);
    let text = String::from_utf8_lossy(&zoom.body);
    assert!(text.contains("no zoom secret is configured"), "{text}");
    assert!(text.contains("pass --secret zoom=SECRET_TOKEN"), "{text}");
    assert!(!text.contains("qgg8vlvZRS6UYooatFL8Aw"), "{text}");
    let meta = send_raw(
        listener.addr,
        &get("/meta?hub.mode=subscribe&hub.challenge=42&hub.verify_token=anything"),
    )
    .await
    .expect("answered");
    assert_eq!(meta.status, 403);
    assert!(String::from_utf8_lossy(&meta.body).contains("pass --verify-token meta=TOKEN"));
    let (_, stdout, stderr) = listener.stop();
    // Said on the capture's line and in the log, for whoever watches either.
    assert!(
        stdout.contains("handshake 403: zoom endpoint.url_validation: NOT answered (403): no zoom secret"),
        "{stdout}"
    );
    assert!(stderr.contains("pass --secret zoom=SECRET_TOKEN"), "{stderr}");
    let captures = listener.captures();
    assert_eq!(captures.len(), 2);
    assert_eq!(captures[0].status, 403);
    assert_eq!(captures[0].derived.verdict.as_deref(), Some("no-secret"));
    assert!(captures.iter().all(|c| c.derived.handshake.is_some()));

    // A wrong secret: the signature does not check out, so no token is computed.
    let flag = "zoom=some-other-secret";
    let listener = Listener::start(&["--headless", "--secret", flag]);
    let zoom = send_raw(
        listener.addr,
        &zoom_validation("qgg8vlvZRS6UYooatFL8Aw", ZOOM_SECRET),
    )
    .await
    .expect("answered");
    assert_eq!(zoom.status, 401);
    assert!(String::from_utf8_lossy(&zoom.body).contains("not valid with the configured zoom secret"));
}

#[tokio::test]
async fn hostile_challenges_are_refused_with_400_and_never_echoed() {
    let token = format!("meta={VERIFY_TOKEN}");
    let listener = Listener::start(&["--headless", "--verify-token", &token]);
    let megabyte = "A".repeat(1 << 20);
    let duplicated = post(
        "/slack",
        &[("Content-Type", "application/json")],
        br#"{"type":"url_verification","challenge":"one","challenge":"two"}"#,
    );
    let not_utf8 = post(
        "/slack",
        &[
            ("Content-Type", "application/json"),
            ("X-Slack-Signature", "v0=00"),
        ],
        b"{\"type\":\"url_verification\",\"challenge\":\"ab\xff\xfe\"}",
    );
    for (request, why, echoed) in [
        (
            slack_verification(&megabyte),
            "1048576 bytes long",
            "AAAAAAAAAAAA",
        ),
        (
            slack_verification("abc\\r\\nSet-Cookie:a=b"),
            "byte 0x0d",
            "Set-Cookie",
        ),
        (duplicated, "duplicate field `challenge`", "two"),
        (
            get(&format!(
                "/meta?hub.mode=subscribe&hub.challenge=%0D%0Ax&hub.verify_token={VERIFY_TOKEN}"
            )),
            "byte 0x0d at 0",
            "\r\nx",
        ),
        (
            get(&format!(
                "/meta?hub.mode=subscribe&hub.challenge=%C3%28&hub.verify_token={VERIFY_TOKEN}"
            )),
            "not UTF-8",
            "\u{fffd}",
        ),
        (
            get(&format!(
                "/meta?hub.mode=subscribe&hub.challenge=1&hub.challenge=2&hub.verify_token={VERIFY_TOKEN}"
            )),
            "gives hub.challenge 2 times",
            "1\n",
        ),
    ] {
        let answer = send_raw(listener.addr, &request).await.expect("answered");
        assert_eq!(
            answer.status,
            400,
            "{why}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let text = String::from_utf8_lossy(&answer.body);
        assert!(text.contains(why), "{why}: {text}");
        assert!(!text.contains(echoed), "{why}: echoed {echoed:?} in {text}");
        assert_eq!(header(&answer, "content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(header(&answer, "x-content-type-options"), Some("nosniff"));
    }
    // A body that is not UTF-8 is not JSON, so not a url_verification: an ordinary capture,
    // answered as any other, its challenge not echoed.
    let answer = send_raw(listener.addr, &not_utf8).await.expect("answered");
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, &br#"{"ok":true}"#[..])
    );
    // HTML is a challenge like any printable text: echoed as text/plain, never as HTML.
    let html = send_raw(
        listener.addr,
        &get(&format!(
            "/meta?hub.mode=subscribe&hub.challenge=%3Cscript%3Ealert(1)%3C%2Fscript%3E&hub.verify_token={VERIFY_TOKEN}"
        )),
    )
    .await
    .expect("answered");
    assert_eq!(html.status, 200);
    assert_eq!(html.body, b"<script>alert(1)</script>");
    assert_eq!(header(&html, "content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(header(&html, "x-content-type-options"), Some("nosniff"));
    // Every one is journaled whole, the megabyte included, and marked.
    let captures = listener.captures();
    assert_eq!(captures.len(), 8);
    let marked: Vec<bool> = captures.iter().map(|c| c.derived.handshake.is_some()).collect();
    assert_eq!(marked, [true, true, true, true, true, true, false, true]);
    assert!(captures[0].body.len() > 1 << 20);
}

#[tokio::test]
async fn with_no_handshakes_they_reach_the_app_like_any_request() {
    let app = LocalApp::start();
    let mut listener = Listener::start(&["--headless", "--no-handshakes", "--forward", &app.url()]);
    let answer = send_raw(listener.addr, &slack_verification("abc123"))
        .await
        .expect("answered");
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, &br#"{"ok":true}"#[..])
    );
    let (_, _, stderr) = listener.stop();
    assert!(stderr.contains("forwarded 1 capture (1 attempt)"), "{stderr}");
    assert_eq!(app.seen().len(), 1);
    assert_eq!(listener.captures()[0].derived.handshake, None);
}

#[test]
fn a_route_cannot_match_handshakes() {
    let out = binary()
        .args(["listen", "--headless", "--addr", "127.0.0.1:0", "--route"])
        .arg("handshake => http://127.0.0.1:9")
        .output()
        .expect("run listen");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a handshake is answered by the listener before any route decides"),
        "{stderr}"
    );
}
