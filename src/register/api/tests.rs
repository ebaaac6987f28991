//! The requests as the platforms' documentation writes them, the answers read tolerantly, and
//! each failed status said in one line that names the step and what to check, with nothing
//! secret in it.

use super::answer::SHOWN;
use super::*;

fn optiview_credentials() -> Credentials {
    Credentials::optiview(
        "KEYVALUE",
        "SECRETVALUE",
        "HOOKSCOPE_OPTIVIEW_API_KEY and HOOKSCOPE_OPTIVIEW_API_SECRET".into(),
    )
}

#[test]
fn optiview_requests_are_the_documented_ones() {
    let base = "https://api.theo.live/";
    let events = Events::Only(vec!["channel.created".into(), "engine.error".into()]);
    let create = create(
        Platform::Optiview,
        base,
        "hookscope box 2026",
        "https://t.example/optiview",
        &events,
    );
    assert_eq!(create.method, Method::Post);
    assert_eq!(create.url, "https://api.theo.live/v2/webhooks");
    assert_eq!(
        create.body,
        Some(serde_json::json!({
            "name": "hookscope box 2026",
            "url": "https://t.example/optiview",
            "events": ["channel.created", "engine.error"]
        }))
    );
    let all = super::create(Platform::Optiview, base, "n", "u", &Events::All);
    assert_eq!(
        all.body.and_then(|b| b.get("events").cloned()),
        Some(serde_json::json!(["*"]))
    );
    let get = secret(Platform::Optiview, base, "wh_1").expect("optiview has a secret call");
    assert_eq!(
        (get.method, get.url.as_str(), get.body),
        (Method::Get, "https://api.theo.live/v2/webhooks/wh_1/secret", None)
    );
    let off = deactivate(Platform::Optiview, base, "wh_1").expect("optiview deactivates");
    assert_eq!(off.method, Method::Patch);
    assert_eq!(off.url, "https://api.theo.live/v2/webhooks/wh_1");
    assert_eq!(off.body, Some(serde_json::json!({ "active": false })));
    let gone = delete(Platform::Optiview, base, "wh_1");
    assert_eq!(
        (gone.method, gone.url.as_str()),
        (Method::Delete, "https://api.theo.live/v2/webhooks/wh_1")
    );
}

#[test]
fn millicast_requests_are_the_documented_ones() {
    let base = "https://api.millicast.com";
    let all = create(
        Platform::Millicast,
        base,
        "ignored",
        "https://t.example/millicast",
        &Events::All,
    );
    assert_eq!(all.url, "https://api.millicast.com/api/webhooks");
    assert_eq!(
        all.body,
        Some(serde_json::json!({
            "url": "https://t.example/millicast",
            "isFeedHooks": true,
            "isRecordingHooks": true,
            "isThumbnailHooks": true,
            "isTranscoderHooks": true,
            "isViewerConnectionHooks": true
        }))
    );
    let some = create(
        Platform::Millicast,
        base,
        "ignored",
        "u",
        &Events::Only(vec!["feeds".into(), "viewerConnection".into()]),
    );
    let on: Vec<&str> = MILLICAST_HOOKS
        .iter()
        .filter(|(_, field)| some.body.as_ref().and_then(|b| b.get(*field)) == Some(&Value::Bool(true)))
        .map(|(hook, _)| *hook)
        .collect();
    assert_eq!(on, ["feeds", "viewerConnection"]);
    assert_eq!(
        secret(Platform::Millicast, base, "7"),
        None,
        "the secret is in the creation's answer"
    );
    assert_eq!(
        deactivate(Platform::Millicast, base, "7"),
        None,
        "nothing to deactivate first"
    );
    assert_eq!(
        delete(Platform::Millicast, base, "7").url,
        "https://api.millicast.com/api/webhooks/7"
    );
}

#[test]
fn an_id_cannot_leave_its_path_segment() {
    let url = delete(Platform::Optiview, "http://h", "../../admin?x=1#f").url;
    assert_eq!(url, "http://h/v2/webhooks/%2E%2E%2F%2E%2E%2Fadmin%3Fx%3D1%23f");
    assert_eq!(
        delete(Platform::Optiview, "http://h", "wh_A-1~z").url,
        "http://h/v2/webhooks/wh_A-1~z"
    );
}

#[test]
fn ids_and_secrets_are_read_where_the_usual_envelopes_put_them() {
    for (body, id) in [
        (r#"{"id":"wh_1"}"#, Some("wh_1")),
        (r#"{"data":{"id":"wh_2","secret":"s"}}"#, Some("wh_2")),
        (r#"{"status":"success","data":{"id":123}}"#, Some("123")),
        (r#"{"id":"has space"}"#, None),
        (r#"{"id":""}"#, None),
        (r#"{"id":1.5}"#, None),
        (r#"{"id":{"nested":1}}"#, None),
        (r#"{"webhookId":"x"}"#, None),
        ("<html>oops</html>", None),
    ] {
        assert_eq!(read_id(body.as_bytes()).as_deref(), id, "{body}");
    }
    let long = format!(r#"{{"id":"{}"}}"#, "a".repeat(LONGEST_VALUE + 1));
    assert_eq!(read_id(long.as_bytes()), None);
    for (body, secret) in [
        (r#"{"secret":"dolby_sec_1"}"#, Some("dolby_sec_1")),
        (r#"{"data":{"secret":"c2VjcmV0"}}"#, Some("c2VjcmV0")),
        (r#"{"data":"dolby_sec_2"}"#, Some("dolby_sec_2")),
        (r#""dolby_sec_3""#, Some("dolby_sec_3")),
        ("dolby_sec_4\r\n", Some("dolby_sec_4")),
        (r#"{"secret":null}"#, None),
        (r#"{"data":{"id":"wh_1"}}"#, None),
        ("two words", None),
        ("", None),
        ("dolby_sec_\u{1b}[2J", None),
    ] {
        assert_eq!(read_secret(body.as_bytes(), None).as_deref(), secret, "{body:?}");
    }
    // A proxy's or captive portal's page is never a secret, whatever it holds; a word is one
    // only from a plain-text answer.
    for (body, content_type) in [
        ("dolby_sec_5", Some("text/html; charset=utf-8")),
        ("<html><title>Sign", Some("text/html")),
        (r#""dolby_sec_6""#, Some("text/html")),
        ("dolby_sec_7", Some("application/octet-stream")),
        ("<!doctype", Some("application/xhtml+xml")),
    ] {
        assert_eq!(
            read_secret(body.as_bytes(), content_type),
            None,
            "{body:?} {content_type:?}"
        );
    }
    assert_eq!(
        read_secret(b"dolby_sec_8\n", Some("Text/Plain; charset=utf-8")).as_deref(),
        Some("dolby_sec_8")
    );
}

#[test]
fn a_body_shown_keeps_no_credential_and_no_escape() {
    let hidden = ["KEYVALUE", "SECRETVALUE"];
    let body = br#"{"error":"bad token KEYVALUE","apiKey":"x","data":{"secret":"dolby_sec_abc","id":"wh_1","n":["SECRETVALUE!"],"token":7},"t":"\u001b]0;owned\u0007\u202e"}"#;
    let shown = redacted(body, &hidden);
    assert_eq!(
        shown,
        r#"{"error":"bad token ***","apiKey":"***","data":{"secret":"***","id":"wh_1","n":["***!"],"token":"***"},"t":"\u001b]0;owned\u0007\u{202e}"}"#
    );
    assert_eq!(
        redacted(br#"{"data":{"Secret":"c2VjcmV0","webhookSecretId":9}}"#, &[]),
        r#"{"data":{"Secret":"***","webhookSecretId":"***"}}"#,
        "a secret of any form, under a field named so"
    );
    let text = redacted(b"Unauthorized for SECRETVALUE: dolby_sec_zz-9 \x1b[2J", &hidden);
    assert_eq!(text, r"Unauthorized for ***: *** \x1b[2J");
    // A credential-named field's whole value, whatever its type; a body that is not JSON; the
    // HMAC and Svix-style names and prefixes.
    assert_eq!(
        redacted(
            br#"{"secret":{"value":"s1"},"signingKey":["s2"],"hmac":"s3","x":"whsec_s4","n":{"Password":true}}"#,
            &[]
        ),
        r#"{"secret":"***","signingKey":"***","hmac":"***","x":"***","n":{"Password":"***"}}"#
    );
    assert_eq!(
        redacted(
            br#"{"id": NaN, "secret": "pl\"ain", 'token': 'x y', "key":{"v":[1]}, "ok": 2}"#,
            &[]
        ),
        r#"{"id": NaN, "secret": "***", 'token': '***', "key":***, "ok": 2}"#
    );
    assert_eq!(
        redacted(
            b"denied: api_key=abc123&user=me hmac: f00d whsec_ZZ9+/= Authorization=Bearer x",
            &[]
        ),
        "denied: api_key=***&user=me hmac: *** *** Authorization=*** x"
    );
    let long = redacted("x".repeat(1000).as_bytes(), &[]);
    assert_eq!(long.chars().count(), SHOWN + 1);
    assert!(long.ends_with('…'));
}

/// The line for `status` answered to `step`, with `body`.
fn line(platform: Platform, step: Step, status: u16, body: &str) -> String {
    let credentials = match platform {
        Platform::Optiview => optiview_credentials(),
        Platform::Millicast => Credentials::millicast("SECRETVALUE", "HOOKSCOPE_MILLICAST_API_SECRET".into()),
    };
    let id = (step != Step::Create).then_some("wh_1");
    let request = match step {
        Step::Create => create(platform, "http://127.0.0.1:9", "n", "https://t/x", &Events::All),
        Step::Secret => secret(platform, "http://127.0.0.1:9", "wh_1").expect("optiview"),
        Step::Deactivate => deactivate(platform, "http://127.0.0.1:9", "wh_1").expect("optiview"),
        Step::Delete => delete(platform, "http://127.0.0.1:9", "wh_1"),
    };
    let line = Failed {
        platform,
        step,
        id,
        request: &request,
        response: &Response {
            status,
            body: body.as_bytes().to_vec(),
            content_type: Some("application/json".into()),
        },
        credentials: &credentials,
        base: "http://127.0.0.1:9",
    }
    .line();
    assert!(!line.contains('\n'), "{line}");
    for value in ["KEYVALUE", "SECRETVALUE", "S0VZVkFMVUU6U0VDUkVUVkFMVUU="] {
        assert!(!line.contains(value), "{line}");
    }
    line
}

#[test]
fn each_error_status_is_one_line_naming_the_step_and_what_to_check() {
    assert_eq!(
        line(
            Platform::Optiview,
            Step::Create,
            401,
            r#"{"message":"invalid token KEYVALUE"}"#
        ),
        "creating the optiview webhook: POST http://127.0.0.1:9/v2/webhooks answered 401 Unauthorized: \
         optiview refused the API credentials from HOOKSCOPE_OPTIVIEW_API_KEY and HOOKSCOPE_OPTIVIEW_API_SECRET \
         (it said: invalid token ***): check that they are a current API token's key and secret"
    );
    assert_eq!(
        line(Platform::Millicast, Step::Create, 401, ""),
        "creating the millicast webhook: POST http://127.0.0.1:9/api/webhooks answered 401 Unauthorized: \
         millicast refused the API credentials from HOOKSCOPE_MILLICAST_API_SECRET: check that they are a \
         current API secret of the account"
    );
    assert_eq!(
        line(
            Platform::Optiview,
            Step::Secret,
            403,
            r#"{"error":{"message":"scope webhooks:read missing"}}"#
        ),
        "reading the secret of optiview webhook wh_1: GET http://127.0.0.1:9/v2/webhooks/wh_1/secret answered \
         403 Forbidden: the API credentials from HOOKSCOPE_OPTIVIEW_API_KEY and HOOKSCOPE_OPTIVIEW_API_SECRET may \
         not manage webhooks (it said: scope webhooks:read missing): give them that permission in the optiview dashboard"
    );
    assert_eq!(
        line(Platform::Optiview, Step::Create, 404, "not found"),
        "creating the optiview webhook: POST http://127.0.0.1:9/v2/webhooks answered 404 Not Found: there is no \
         webhooks API at http://127.0.0.1:9/v2/webhooks: check --api-base optiview=URL (now http://127.0.0.1:9)"
    );
    assert_eq!(
        line(Platform::Optiview, Step::Delete, 404, ""),
        "deleting optiview webhook wh_1: DELETE http://127.0.0.1:9/v2/webhooks/wh_1 answered 404 Not Found: \
         optiview has no such webhook (removed already?)"
    );
    assert_eq!(
        line(
            Platform::Optiview,
            Step::Create,
            422,
            r#"{"errors":[{"message":"url must be https"}]}"#
        ),
        "creating the optiview webhook: POST http://127.0.0.1:9/v2/webhooks answered 422 Unprocessable Entity: \
         optiview refused what was sent (it said: url must be https): check --events and that the webhook URL \
         is public (https://)"
    );
    assert_eq!(
        line(Platform::Optiview, Step::Deactivate, 503, "<html>down</html>"),
        "deactivating optiview webhook wh_1: PATCH http://127.0.0.1:9/v2/webhooks/wh_1 answered 503 Service \
         Unavailable: optiview failed on its side: try again in a moment"
    );
    assert_eq!(
        line(
            Platform::Millicast,
            Step::Delete,
            500,
            r#"{"status":"fail","data":{"message":"boom"}}"#
        ),
        "deleting millicast webhook wh_1: DELETE http://127.0.0.1:9/api/webhooks/wh_1 answered 500 Internal \
         Server Error: millicast failed on its side: try again in a moment"
    );
    assert_eq!(
        line(
            Platform::Optiview,
            Step::Create,
            418,
            r#"{"secret":"dolby_sec_q","x":1}"#
        ),
        "creating the optiview webhook: POST http://127.0.0.1:9/v2/webhooks answered 418 I'm a teapot: \
         unexpected answer: {\"secret\":\"***\",\"x\":1}"
    );
}

#[test]
fn an_answer_without_what_it_should_hold_is_shown_redacted() {
    let response = Response {
        status: 201,
        body: br#"{"webhook":{"ref":"wh_9","secret":"dolby_sec_x"}}"#.to_vec(),
        content_type: None,
    };
    assert_eq!(
        missing(
            Platform::Optiview,
            Step::Create,
            None,
            "webhook id",
            &response,
            &[]
        ),
        "creating the optiview webhook: the answer (201 Created) holds no webhook id where optiview's \
         documentation and the usual envelopes put it (top level or under \"data\"); it was: \
         {\"webhook\":{\"ref\":\"wh_9\",\"secret\":\"***\"}}"
    );
}

#[test]
fn credentials_show_only_where_they_came_from() {
    let credentials = optiview_credentials();
    assert_eq!(
        credentials.authorization(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("KEYVALUE:SECRETVALUE")
        )
    );
    let debug = format!("{credentials:?}");
    assert!(!debug.contains("VALUE"), "{debug}");
    assert!(debug.contains("HOOKSCOPE_OPTIVIEW_API_KEY"), "{debug}");
    assert_eq!(
        Credentials::millicast("abc", "x".into()).authorization(),
        "Bearer abc"
    );
}
