//! The three handshakes recognised, answered and refused, with hostile challenges.

use super::*;
use crate::capture::{CaptureId, Derived, Header, Via};
use crate::config::Keys;
use crate::provider::Catalog;
use crate::verify::SigningKey;

/// Made with node: `crypto.createHmac('sha256', SECRET).update(TOKEN).digest('hex')`.
const ZOOM_SECRET: &str = "zoom-secret";
const TOKEN: &str = "qgg8vlvZRS6UYooatFL8Aw";
const ENCRYPTED: &str = "b17f0320a1322a509340a1a835b3d9edbc491f0b0790ed2d20d0604d39dfe922";
const ENCRYPTED_WITH_SECOND: &str = "afa6e423427821c9d831b47592571e5afcbf3b98f36e637eef3f5e408664a35e";

fn configured(secrets: &[(&str, &str)], tokens: &[&str]) -> (Analyzer, Handshakes) {
    let catalog = Catalog::builtin();
    let secrets: Vec<(String, String)> = secrets
        .iter()
        .map(|(p, s)| ((*p).to_owned(), (*s).to_owned()))
        .collect();
    let mut keys = Keys::load(&catalog, &secrets, None).expect("keys");
    let tokens: Vec<(String, String)> = tokens
        .iter()
        .map(|t| ("meta".to_owned(), (*t).to_owned()))
        .collect();
    keys.add_verify_token_flags(&tokens).expect("tokens");
    let analyzer = Analyzer::new(catalog, keys);
    let handshakes = Handshakes::new(&analyzer);
    (analyzer, handshakes)
}

fn request(method: &str, query: Option<&str>, headers: Vec<Header>, body: &[u8]) -> Capture {
    Capture {
        id: CaptureId::generate(),
        received_at: chrono::Utc::now(),
        remote_addr: "127.0.0.1:1".into(),
        via: Via::Direct,
        method: method.into(),
        path: "/hooks".into(),
        query: query.map(str::to_owned),
        version: "HTTP/1.1".into(),
        headers,
        body: Bytes::copy_from_slice(body),
        status: 200,
        note: None,
        derived: Derived::default(),
    }
}

/// `capture` analyzed, then its handshake.
fn answer(analyzer: &Analyzer, handshakes: &Handshakes, mut capture: Capture) -> Option<Handshake> {
    capture.derived = analyzer.derive(&capture);
    handshakes.answer(&capture)
}

/// A Zoom request of `body` signed with `secret`, `age` seconds ago.
fn zoom(body: &str, secret: &str, age: i64) -> Capture {
    let catalog = Catalog::builtin();
    let profile = catalog.get("zoom").expect("zoom profile");
    let mut headers = vec![Header::new("Content-Type", "application/json")];
    verify::sign_headers(
        &profile.scheme,
        "POST",
        "/hooks",
        &mut headers,
        body.as_bytes(),
        &SigningKey::Secret(Secret::new(secret)),
        chrono::Utc::now().timestamp() - age,
    )
    .expect("signed");
    request("POST", None, headers, body.as_bytes())
}

fn validation(token: &str) -> String {
    format!(
        r#"{{"payload":{{"plainToken":"{token}"}},"event_ts":1654503849680,"event":"endpoint.url_validation"}}"#
    )
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .headers
        .iter()
        .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.to_str().ok())
}

#[test]
fn the_encrypted_token_is_what_node_computes() {
    assert_eq!(encrypted_token(ZOOM_SECRET, TOKEN), ENCRYPTED);
    assert_eq!(encrypted_token("second-secret", TOKEN), ENCRYPTED_WITH_SECOND);
    assert_eq!(
        encrypted_token(ZOOM_SECRET, "A"),
        "2d29c414b076e764daa7522b8560dc33c00b51f318b54f3811582f10324bc6a8"
    );
}

#[test]
fn zoom_is_answered_with_the_secret_that_signed_it() {
    let (analyzer, handshakes) = configured(&[("zoom", "old-secret"), ("zoom", ZOOM_SECRET)], &[]);
    let shake =
        answer(&analyzer, &handshakes, zoom(&validation(TOKEN), ZOOM_SECRET, 0)).expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::OK);
    assert_eq!(header(&shake.reply, "content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&shake.reply.body).expect("JSON");
    assert_eq!(
        body,
        serde_json::json!({"plainToken": TOKEN, "encryptedToken": ENCRYPTED}),
        "secret #2 signed it, so secret #2 answers"
    );
    assert_eq!(
        shake.what,
        "zoom endpoint.url_validation: answered plainToken and encryptedToken"
    );
    let (analyzer, handshakes) = configured(&[("zoom", "second-secret")], &[]);
    let shake = answer(
        &analyzer,
        &handshakes,
        zoom(&validation(TOKEN), "second-secret", 0),
    )
    .expect("a handshake");
    assert!(String::from_utf8_lossy(&shake.reply.body).contains(ENCRYPTED_WITH_SECOND));
}

#[test]
fn zoom_without_a_secret_or_a_valid_signature_is_refused_and_says_why() {
    let (analyzer, none) = configured(&[], &[]);
    let shake = answer(&analyzer, &none, zoom(&validation(TOKEN), ZOOM_SECRET, 0)).expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::FORBIDDEN);
    let text = String::from_utf8_lossy(&shake.reply.body);
    assert!(text.contains("pass --secret zoom=SECRET_TOKEN"), "{text}");
    assert!(!text.contains(TOKEN), "the token is not echoed: {text}");
    assert!(
        shake
            .what
            .starts_with("zoom endpoint.url_validation: NOT answered (403): no zoom secret"),
        "{}",
        shake.what
    );

    let (analyzer, other) = configured(&[("zoom", "another-secret")], &[]);
    let shake = answer(&analyzer, &other, zoom(&validation(TOKEN), ZOOM_SECRET, 0)).expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::UNAUTHORIZED);
    assert!(shake.what.contains("(invalid: "), "{}", shake.what);
    assert!(!String::from_utf8_lossy(&shake.reply.body).contains(ENCRYPTED));

    // Replayed from ten minutes ago: authentic, but stale, as Slack's v0 scheme would be.
    let (analyzer, right) = configured(&[("zoom", ZOOM_SECRET)], &[]);
    let mut stale = zoom(&validation(TOKEN), ZOOM_SECRET, 600);
    stale.derived = analyzer.derive(&stale);
    assert_eq!(stale.derived.verdict.as_deref(), Some("stale"));
    let shake = right.answer(&stale).expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::UNAUTHORIZED);
    assert!(shake.what.contains("(stale: "), "{}", shake.what);

    // Not signed at all (no Zoom headers: no provider, the body's `event` names it).
    let unsigned = request("POST", None, vec![], validation(TOKEN).as_bytes());
    let shake = answer(&analyzer, &right, unsigned).expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(shake.provider, "zoom");
}

#[test]
fn zoom_in_milliseconds_is_not_answered() {
    let (analyzer, handshakes) = configured(&[("zoom", ZOOM_SECRET)], &[]);
    let catalog = Catalog::builtin();
    let profile = catalog.get("zoom").expect("zoom");
    let body = validation(TOKEN);
    let ms = chrono::Utc::now().timestamp_millis();
    let mut headers = vec![Header::new("x-zm-request-timestamp", ms.to_string())];
    let signature = encrypted_token(ZOOM_SECRET, &format!("v0:{ms}:{body}"));
    headers.push(Header::new("x-zm-signature", format!("v0={signature}")));
    let mut capture = request("POST", None, headers, body.as_bytes());
    capture.derived = analyzer.derive(&capture);
    assert_eq!(capture.derived.provider.as_deref(), Some("zoom"));
    assert_eq!(capture.derived.verdict.as_deref(), Some("invalid"));
    assert!(
        capture
            .derived
            .verdict_detail
            .as_deref()
            .unwrap_or_default()
            .contains("milliseconds"),
        "{:?}",
        capture.derived
    );
    assert_eq!(profile.tolerance, Duration::from_secs(300));
    let shake = handshakes.answer(&capture).expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn slack_is_answered_with_the_challenge_as_json() {
    let (analyzer, handshakes) = configured(&[], &[]);
    let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let signed = vec![
        Header::new("X-Slack-Request-Timestamp", "1"),
        Header::new("X-Slack-Signature", "v0=00"),
    ];
    for headers in [signed, vec![]] {
        let shake =
            answer(&analyzer, &handshakes, request("POST", None, headers, body)).expect("a handshake");
        assert_eq!(shake.reply.status, StatusCode::OK);
        assert_eq!(header(&shake.reply, "content-type"), Some("application/json"));
        assert_eq!(
            &shake.reply.body[..],
            br#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#
        );
        assert_eq!(shake.what, "slack url_verification: answered the challenge");
        assert_eq!(shake.reply.delay, Duration::ZERO);
    }
    // An event whose inner type says url_verification is an event, not the handshake.
    let event = br#"{"type":"event_callback","event":{"type":"url_verification","challenge":"x"}}"#;
    let signed = vec![Header::new("X-Slack-Signature", "v0=00")];
    assert_eq!(
        answer(&analyzer, &handshakes, request("POST", None, signed, event)),
        None
    );
    // Another sender's event, and a GET, are not Slack's handshake.
    let github = vec![Header::new("X-GitHub-Event", "ping")];
    let body = br#"{"type":"url_verification","challenge":"abc"}"#;
    assert_eq!(
        answer(&analyzer, &handshakes, request("POST", None, github, body)),
        None
    );
    assert_eq!(
        answer(&analyzer, &handshakes, request("PUT", None, vec![], body)),
        None
    );
}

#[test]
fn hostile_challenges_are_refused_and_never_echoed() {
    let (analyzer, handshakes) = configured(&[("zoom", ZOOM_SECRET)], &[]);
    let huge = "A".repeat(1024 * 1024);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            format!(r#"{{"type":"url_verification","challenge":"{huge}"}}"#).into_bytes(),
            "1048576 bytes long",
        ),
        (
            br#"{"type":"url_verification","challenge":"abc\r\nSet-Cookie: a=b"}"#.to_vec(),
            "byte 0x0d at 3",
        ),
        (
            br#"{"type":"url_verification","challenge":"<script>alert(1)</script> x"}"#.to_vec(),
            "byte 0x20 at 25",
        ),
        (
            br#"{"type":"url_verification","challenge":"first","challenge":"second"}"#.to_vec(),
            "duplicate field `challenge`",
        ),
        (
            br#"{"type":"url_verification","type":"url_verification","challenge":"abc"}"#.to_vec(),
            "duplicate field `type`",
        ),
        (
            br#"{"type":"url_verification","challenge":7}"#.to_vec(),
            "is not a string",
        ),
        (br#"{"type":"url_verification"}"#.to_vec(), "it has no challenge"),
        (
            br#"{"type":"url_verification","challenge":""}"#.to_vec(),
            "is empty",
        ),
        (
            b"{\"type\":\"url_verification\",\"challenge\":\"ab\xff\xfe\"}".to_vec(),
            "not what the sender sends",
        ),
    ];
    for (body, why) in cases {
        let mut capture = request("POST", None, vec![], &body);
        capture.derived = analyzer.derive(&capture);
        // What analysis cannot read (bytes that are not UTF-8), a route could still name.
        capture.derived.event_type = Some("url_verification".into());
        let shake = handshakes.answer(&capture).expect("a handshake");
        assert_eq!(shake.reply.status, StatusCode::BAD_REQUEST, "{why}");
        let text = String::from_utf8_lossy(&shake.reply.body);
        assert!(text.contains(why), "{why}: {text}");
        assert!(shake.what.contains(why), "{why}: {}", shake.what);
        assert_eq!(
            header(&shake.reply, "content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(header(&shake.reply, "x-content-type-options"), Some("nosniff"));
        for echoed in ["AAAAAAAA", "Set-Cookie", "<script>", "second", "first"] {
            assert!(!text.contains(echoed), "{why}: {echoed} echoed in {text}");
        }
        assert!(shake.reply.body.len() < 1024, "{why}");
    }
    // Zoom's plainToken likewise, before any signature is looked at.
    let capture = zoom(&validation("a\u{7f}b"), ZOOM_SECRET, 0);
    let shake = answer(&analyzer, &handshakes, capture).expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::BAD_REQUEST);
    assert!(
        shake.what.contains("payload.plainToken holds byte 0x7f at 1"),
        "{}",
        shake.what
    );
    let twice = r#"{"event":"endpoint.url_validation","payload":{"plainToken":"a","plainToken":"b"}}"#;
    let shake = answer(&analyzer, &handshakes, zoom(twice, ZOOM_SECRET, 0)).expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::BAD_REQUEST);
    assert!(
        shake.what.contains("duplicate field `plainToken`"),
        "{}",
        shake.what
    );
}

#[test]
fn meta_answers_the_challenge_as_plain_text_only_to_its_verify_token() {
    let (analyzer, handshakes) = configured(&[], &["old-token", "meta-verify-token"]);
    let get = |query: &str| answer(&analyzer, &handshakes, request("GET", Some(query), vec![], b""));
    let shake = get("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meta-verify-token")
        .expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::OK);
    assert_eq!(
        &shake.reply.body[..],
        b"1158201444",
        "the challenge exactly, no newline"
    );
    assert_eq!(
        header(&shake.reply, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(header(&shake.reply, "x-content-type-options"), Some("nosniff"));
    assert_eq!((shake.provider, shake.event_type), ("meta", "verification"));
    assert_eq!(
        shake.what,
        "meta verification: answered the challenge (the verify token matched)"
    );
    // Any order, percent-encoding and `+` as Meta's query may carry them; the old token too.
    let shake = get("hub.verify_token=old%2Dtoken&hub.challenge=%3Cb%3Ehi%3C%2Fb%3E&hub.mode=subscribe")
        .expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::OK);
    assert_eq!(
        &shake.reply.body[..],
        b"<b>hi</b>",
        "HTML is echoed only as text/plain"
    );
    assert_eq!(
        header(&shake.reply, "content-type"),
        Some("text/plain; charset=utf-8")
    );

    for (query, status, why) in [
        (
            "hub.mode=subscribe&hub.challenge=C&hub.verify_token=wrong",
            403,
            "is not the configured verify token",
        ),
        (
            "hub.mode=subscribe&hub.challenge=C&hub.verify_token=meta-verify-toke",
            403,
            "is not the configured",
        ),
        (
            "hub.mode=subscribe&hub.challenge=C",
            403,
            "has no hub.verify_token",
        ),
        (
            "hub.mode=subscribe&hub.verify_token=meta-verify-token",
            400,
            "has no hub.challenge",
        ),
        (
            "hub.mode=unsubscribe&hub.challenge=C&hub.verify_token=meta-verify-token",
            400,
            "hub.mode is not subscribe",
        ),
        (
            "hub.mode=subscribe&hub.challenge=A&hub.challenge=B&hub.verify_token=meta-verify-token",
            400,
            "gives hub.challenge 2 times",
        ),
        (
            "hub.mode=subscribe&hub.challenge=C&hub.verify_token=meta-verify-token&hub.verify_token=x",
            400,
            "gives hub.verify_token 2 times",
        ),
        (
            "hub.mode=subscribe&hub.challenge=a%0D%0Ab&hub.verify_token=meta-verify-token",
            400,
            "byte 0x0d at 1",
        ),
        (
            "hub.mode=subscribe&hub.challenge=a+b&hub.verify_token=meta-verify-token",
            400,
            "byte 0x20 at 1",
        ),
        (
            "hub.mode=subscribe&hub.challenge=%FF%FE&hub.verify_token=meta-verify-token",
            400,
            "not UTF-8",
        ),
    ] {
        let shake = get(query).expect("a handshake");
        assert_eq!(shake.reply.status.as_u16(), status, "{query}");
        assert!(shake.what.contains(why), "{query}: {}", shake.what);
        let text = String::from_utf8_lossy(&shake.reply.body);
        assert!(
            !text.contains("meta-verify-token") && !text.contains("old-token"),
            "{text}"
        );
        assert_eq!(header(&shake.reply, "x-content-type-options"), Some("nosniff"));
    }
    let huge = format!(
        "hub.mode=subscribe&hub.challenge={}&hub.verify_token=meta-verify-token",
        "9".repeat(1 << 20)
    );
    let shake = get(&huge).expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::BAD_REQUEST);
    assert!(shake.reply.body.len() < 1024);

    // Not Meta's: no hub parameters, a WebSub hub's (it names a topic), a POST, another
    // provider's route.
    assert_eq!(get("a=1&hub=2"), None);
    assert_eq!(
        get(
            "hub.mode=subscribe&hub.topic=https%3A%2F%2Fwww.youtube.com%2Fxml%2Ffeeds%2Fvideos.xml&hub.challenge=C&hub.lease_seconds=432000"
        ),
        None
    );
    let post = request("POST", Some("hub.mode=subscribe&hub.challenge=C"), vec![], b"");
    assert_eq!(answer(&analyzer, &handshakes, post), None);
    let mut routed = request("GET", Some("hub.mode=subscribe&hub.challenge=C"), vec![], b"");
    routed.derived.provider = Some("strava".into());
    assert_eq!(handshakes.answer(&routed), None);
}

#[test]
fn meta_without_a_verify_token_says_what_to_pass() {
    let (analyzer, handshakes) = configured(&[], &[]);
    let capture = request(
        "GET",
        Some("hub.mode=subscribe&hub.challenge=C&hub.verify_token=T"),
        vec![],
        b"",
    );
    let shake = answer(&analyzer, &handshakes, capture).expect("a handshake");
    assert_eq!(shake.reply.status, StatusCode::FORBIDDEN);
    assert!(
        shake.what.contains("pass --verify-token meta=TOKEN"),
        "{}",
        shake.what
    );
}

#[test]
fn query_components_decode_as_forms_do() {
    for (text, expected) in [
        ("a+b", &b"a b"[..]),
        ("%41%62", b"Ab"),
        ("%4", b"%4"),
        ("%zz1", b"%zz1"),
        ("100%", b"100%"),
        ("%e9t%C3%A9", b"\xe9t\xc3\xa9"),
        ("", b""),
    ] {
        assert_eq!(form_decode(text), expected, "{text}");
    }
}
