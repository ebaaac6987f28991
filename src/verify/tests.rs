//! Published test vectors, every verdict and every diagnosis.

use super::*;

const NOW: i64 = 1_700_000_000;

fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
    pairs
        .iter()
        .map(|(n, v)| Header::new(*n, v.to_string()))
        .collect()
}

fn check(scheme: &Scheme, headers: &[Header], body: &[u8], secrets: &[&str], now: i64) -> Verification {
    let request = Request {
        method: "POST",
        path: "/hooks",
        headers,
        body,
    };
    let keys: Vec<Key> = secrets.iter().map(|s| Key::Secret(Secret::new(*s))).collect();
    verify(scheme, &request, &keys, DEFAULT_TOLERANCE, now)
}

/// Signs `body` with our own signer and returns the headers.
fn signed(scheme: &Scheme, body: &[u8], secret: &str, at: i64) -> Vec<Header> {
    let request = Request {
        method: "POST",
        path: "/hooks",
        headers: &[],
        body,
    };
    sign(
        scheme,
        &request,
        &SigningKey::Secret(Secret::new(secret)),
        at,
        "msg_2Kx7",
    )
    .unwrap_or_else(|e| panic!("signing with {} failed: {e}", scheme.name()))
}

#[test]
fn github_documented_example() {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    let h = headers(&[(
        "X-Hub-Signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    let v = check(
        &Scheme::Github,
        &h,
        b"Hello, World!",
        &["It's a Secret to Everybody"],
        NOW,
    );
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
    assert_eq!(v.explanation.matched.as_deref(), Some("the raw body"));
    assert_eq!(v.explanation.algorithm, "HMAC-SHA256, hex");
}

#[test]
fn standard_webhooks_specification_vector() {
    // The Standard Webhooks specification's example (also in the official libraries' tests).
    let h = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,bm9ldHZhbGlk v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ]);
    let body = br#"{"test": 2432232314}"#;
    let v = check(
        &Scheme::StandardWebhooks,
        &h,
        body,
        &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        1614265330,
    );
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
    assert_eq!(v.explanation.received.len(), 2, "both signatures listed");
    assert_eq!(
        v.explanation.signed,
        "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.<body, 20 bytes>"
    );
    // The same request much later is authentic but stale.
    let later = check(
        &Scheme::StandardWebhooks,
        &h,
        body,
        &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        NOW,
    );
    assert!(matches!(later.verdict, Verdict::Stale { age_seconds, .. } if age_seconds == NOW - 1614265330));
}

#[test]
fn slack_documented_example() {
    // https://api.slack.com/authentication/verifying-requests-from-slack
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let h = headers(&[
        ("X-Slack-Request-Timestamp", "1531420618"),
        (
            "X-Slack-Signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ),
    ]);
    let v = check(
        &Scheme::Slack,
        &h,
        body.as_bytes(),
        &["8f742231b10e8888abcd99yyyzzz85a5"],
        1531420618 + 10,
    );
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
}

#[test]
fn optiview_signs_timestamp_dot_body_with_the_secret_as_given() {
    let body = br#"{"type":"channel.stopped","created":1700000000,"object":{"type":"channel","id":"ch_abc123"},"data":{}}"#;
    // Computed independently: python3 -c 'import hmac,hashlib;print(hmac.new(b"dolby_sec_myverylittlesecret",
    //   b"1700000000."+BODY,hashlib.sha256).hexdigest())'
    let expected = "fd0753a6c110e2197afb18d66e13c66272ed8e03e9501b241bdad09adaa2a70f";
    let ours = signed(&Scheme::Optiview, body, "dolby_sec_myverylittlesecret", NOW);
    assert_eq!(ours[0].name, "Dolby-Signature");
    let value = String::from_utf8_lossy(&ours[0].value).into_owned();
    assert!(value.starts_with("t=1700000000,h="), "{value}");
    assert_eq!(value, format!("t=1700000000,h={expected}"));
    let v = check(
        &Scheme::Optiview,
        &ours,
        body,
        &["dolby_sec_myverylittlesecret"],
        NOW + 5,
    );
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
}

#[test]
fn every_hmac_scheme_verifies_its_own_signature_and_rejects_a_wrong_secret() {
    let schemes = [
        (Scheme::Millicast, "c2VjcmV0LWZvci1taWxsaWNhc3Q="),
        (Scheme::Optiview, "dolby_sec_abc"),
        (Scheme::Github, "gh-secret"),
        (Scheme::Stripe, "whsec_stripe_test"),
        (Scheme::StandardWebhooks, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        (Scheme::Slack, "8f742231b10e8888abcd99yyyzzz85a5"),
        (Scheme::Shopify, "shpss_secret"),
        (
            Scheme::Hmac(HmacParams {
                header: "X-Signature".into(),
                algorithm: Algorithm::Sha512,
                encoding: Encoding::Base64,
                prefix: "sha512=".into(),
                template: "{method} {path}\n{timestamp}\n{body}".into(),
                timestamp_header: Some("X-Timestamp".into()),
                id_header: None,
                key: KeyDecoding::Raw,
                form: SignedForm::Raw,
            }),
            "generic",
        ),
    ];
    let body = br#"{"type":"feeds","event":"started","timestamp":1700000000000}"#;
    for (scheme, secret) in &schemes {
        let h = signed(scheme, body, secret, NOW);
        let v = check(scheme, &h, body, &[secret], NOW + 1);
        assert_eq!(v.verdict, Verdict::Valid, "{}: {v:#?}", scheme.name());
        let v = check(scheme, &h, body, &["c29tZXRoaW5nLWVsc2U="], NOW + 1);
        assert_eq!(
            v.verdict,
            Verdict::Invalid(Invalid::Mismatch),
            "{}: {v:#?}",
            scheme.name()
        );
        assert!(v.explanation.expected.is_some());
        let v = check(scheme, &h, b"{\"tampered\":true}", &[secret], NOW + 1);
        assert_eq!(
            v.verdict,
            Verdict::Invalid(Invalid::Mismatch),
            "{}: {v:#?}",
            scheme.name()
        );
        let v = check(scheme, &h, body, &[], NOW + 1);
        assert_eq!(v.verdict, Verdict::NoSecret, "{}", scheme.name());
        let v = check(scheme, &[], body, &[secret], NOW + 1);
        assert_eq!(v.verdict, Verdict::Unsigned, "{}", scheme.name());
    }
}

#[test]
fn millicast_diagnoses_a_secret_used_without_base64_decoding() {
    let secret = "c2VjcmV0LWZvci1taWxsaWNhc3Q=";
    let body = br#"{"type":"feeds","event":"started"}"#;
    // Signed as a sender that forgot to base64-decode would sign: key = the secret's text.
    let raw = Scheme::Hmac(HmacParams {
        header: "X-Millicast-Signature".into(),
        algorithm: Algorithm::Sha1,
        encoding: Encoding::Hex,
        prefix: "sha1=".into(),
        template: "{body}".into(),
        timestamp_header: None,
        id_header: None,
        key: KeyDecoding::Raw,
        form: SignedForm::Raw,
    });
    let h = signed(&raw, body, secret, NOW);
    let v = check(&Scheme::Millicast, &h, body, &[secret], NOW);
    assert_eq!(v.verdict, Verdict::Invalid(Invalid::SecretNotDecoded), "{v:#?}");
    assert!(
        v.explanation.detail.contains("base64-decodes the secret"),
        "{}",
        v.explanation.detail
    );
}

#[test]
fn optiview_diagnoses_a_secret_wrongly_base64_decoded() {
    let secret = "ZG9sYnlfc2VjX2FiYw=="; // valid base64, but OptiView uses secrets as given
    let body = b"{}";
    let decoded = Scheme::Hmac(HmacParams {
        header: "Dolby-Signature".into(),
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: String::new(),
        template: "{timestamp}.{body}".into(),
        timestamp_header: None,
        id_header: None,
        key: KeyDecoding::Base64,
        form: SignedForm::Raw,
    });
    let mac = signed(&decoded, body, secret, NOW);
    let h = headers(&[(
        "Dolby-Signature",
        &format!("t={NOW},h={}", String::from_utf8_lossy(&mac[0].value)),
    )]);
    let v = check(&Scheme::Optiview, &h, body, &[secret], NOW);
    assert_eq!(
        v.verdict,
        Verdict::Invalid(Invalid::SecretWronglyDecoded),
        "{v:#?}"
    );
}

/// `Dolby-Signature` over the raw bytes of `body`, as a sender that ignores OptiView's documented
/// form would sign (our signer signs the documented form).
fn optiview_over_raw(body: &[u8], secret: &str, t: i64) -> Vec<Header> {
    use ::hmac::Mac as _;
    let mut mac = ::hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let h = hex::encode(mac.finalize().into_bytes());
    headers(&[("Dolby-Signature", &format!("t={t},h={h}"))])
}

#[test]
fn the_form_that_matched_is_named_and_the_other_form_carries_a_caveat() {
    let spaced = br#"{"type": "channel.stopped", "created": 1700000000, "n": 2.0}"#;
    let js = br#"{"type":"channel.stopped","created":1700000000,"n":2}"#;
    let secret = "dolby_sec_abc";
    // As OptiView's docs sign: JSON.stringify of the parsed body. Valid, no caveat.
    let v = check(
        &Scheme::Optiview,
        &optiview_over_raw(js, secret, NOW),
        spaced,
        &[secret],
        NOW,
    );
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
    assert_eq!(v.explanation.signed_form, Some(SignedForm::JsonStringify));
    assert_eq!(v.explanation.caveat, None);
    // Our signer signs that form too, whatever the spacing of the bytes it is given.
    assert_eq!(
        check(
            &Scheme::Optiview,
            &signed(&Scheme::Optiview, spaced, secret, NOW),
            spaced,
            &[secret],
            NOW
        )
        .explanation
        .signed_form,
        Some(SignedForm::JsonStringify)
    );
    // Over the raw spaced bytes: authentic, but the docs' receiver rejects it, and that is said.
    let v = check(
        &Scheme::Optiview,
        &optiview_over_raw(spaced, secret, NOW),
        spaced,
        &[secret],
        NOW,
    );
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
    assert_eq!(v.explanation.signed_form, Some(SignedForm::Raw));
    let caveat = v.explanation.caveat.clone().expect("a caveat");
    assert!(
        caveat.contains("raw bytes") && caveat.contains("OptiView's docs"),
        "{caveat}"
    );
    assert!(
        v.explanation
            .lines()
            .iter()
            .any(|(name, text)| *name == "caveat" && *text == caveat)
    );
    // A compact body is both forms at once: named as the documented one, no caveat.
    let v = check(
        &Scheme::Optiview,
        &optiview_over_raw(js, secret, NOW),
        js,
        &[secret],
        NOW,
    );
    assert_eq!(
        v.explanation.signed_form,
        Some(SignedForm::JsonStringify),
        "{v:#?}"
    );
    assert_eq!(v.explanation.caveat, None);
    // Not JSON at all: it can only have been signed raw, which the docs' receiver cannot parse.
    let v = check(
        &Scheme::Optiview,
        &optiview_over_raw(b"a=1", secret, NOW),
        b"a=1",
        &[secret],
        NOW,
    );
    assert_eq!(
        (v.verdict.clone(), v.explanation.signed_form),
        (Verdict::Valid, Some(SignedForm::Raw))
    );
    assert!(
        v.explanation
            .caveat
            .as_deref()
            .unwrap_or_default()
            .contains("not JSON"),
        "{v:#?}"
    );
    // The other way round: GitHub's receiver hashes the raw body.
    let h = signed(&Scheme::Github, spaced, "s", NOW);
    let v = check(&Scheme::Github, &h, spaced, &["s"], NOW);
    assert_eq!(
        (v.explanation.signed_form, v.explanation.caveat),
        (Some(SignedForm::Raw), None)
    );
    let h = signed(&Scheme::Github, js, "s", NOW);
    let v = check(&Scheme::Github, &h, spaced, &["s"], NOW);
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
    assert_eq!(v.explanation.signed_form, Some(SignedForm::JsonStringify));
    assert!(
        v.explanation
            .caveat
            .as_deref()
            .unwrap_or_default()
            .contains("GitHub's docs hashes the raw body")
    );
    // The cheap check the journal gets says the same.
    let request = Request {
        method: "POST",
        path: "/",
        headers: &h,
        body: spaced,
    };
    let keys = [Key::Secret(Secret::new("s"))];
    let cheap = verdict(&Scheme::Github, &request, &keys, DEFAULT_TOLERANCE, NOW);
    assert_eq!(cheap.explanation.signed_form, Some(SignedForm::JsonStringify));
    assert_eq!(cheap.explanation.caveat, v.explanation.caveat);
}

#[test]
fn re_signing_a_body_its_scheme_signs_as_json_needs_json() {
    let request = Request {
        method: "POST",
        path: "/",
        headers: &[],
        body: b"not json",
    };
    let key = SigningKey::Secret(Secret::new("dolby_sec_abc"));
    let err = sign(&Scheme::Optiview, &request, &key, NOW, "id").expect_err("not JSON");
    assert!(err.contains("not JSON"), "{err}");
    assert!(
        sign(
            &Scheme::Github,
            &request,
            &SigningKey::Secret(Secret::new("s")),
            NOW,
            "id"
        )
        .is_ok()
    );
}

#[test]
fn base64_secrets_are_read_as_node_reads_them() {
    for (text, hex_bytes) in [
        ("YWJj", "616263"),
        ("YWJ", "6162"),
        ("YW=Jj", "61"),
        ("YW Jj", "616263"),
        ("Y-_j", "63efe3"),
        ("YW\nJj", "616263"),
        ("YWJj====", "616263"),
        ("YW!Jj", "616263"),
        ("YWJjZA", "61626364"),
        ("a", ""),
        ("ab", "69"),
        ("==YWJj", ""),
    ] {
        assert_eq!(hex::encode(hmac::node_base64(text)), hex_bytes, "{text:?}");
    }
    // A Millicast secret without its padding verifies, and the key line says it was lenient.
    let body = br#"{"type":"feeds","event":"started"}"#;
    let h = signed(&Scheme::Millicast, body, "c2VjcmV0LWZvci1taWxsaWNhc3Q=", NOW);
    let v = check(
        &Scheme::Millicast,
        &h,
        body,
        &["c2VjcmV0LWZvci1taWxsaWNhc3Q"],
        NOW,
    );
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
    assert!(v.explanation.key.contains("leniently"), "{}", v.explanation.key);
    let v = check(
        &Scheme::Millicast,
        &h,
        body,
        &["c2VjcmV0LWZvci1taWxsaWNhc3Q="],
        NOW,
    );
    assert!(!v.explanation.key.contains("leniently"), "{}", v.explanation.key);
}

#[test]
fn reserialized_and_newline_bodies_are_diagnosed_or_accepted() {
    let pretty = b"{\n  \"type\": \"channel.started\",\n  \"created\": 1700000000\n}";
    let compact = br#"{"type":"channel.started","created":1700000000}"#;
    let secret = "dolby_sec_abc";
    // Signed over JSON.stringify(body) but delivered pretty: accepted, and said so.
    let h = signed(&Scheme::Optiview, compact, secret, NOW);
    let v = check(&Scheme::Optiview, &h, pretty, &[secret], NOW);
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
    assert!(
        v.explanation
            .matched
            .as_deref()
            .unwrap_or_default()
            .contains("JSON.stringify")
    );
    // Signed pretty, delivered compact: the body was re-serialized on the way.
    let h = signed(&Scheme::Github, pretty, "s", NOW);
    let v = check(&Scheme::Github, &h, compact, &["s"], NOW);
    assert_eq!(v.verdict, Verdict::Invalid(Invalid::BodyReserialized), "{v:#?}");
    // A JSON body that gained a newline still matches its JSON.stringify form, and says so.
    let h = signed(&Scheme::Github, compact, "s", NOW);
    let with_newline = [&compact[..], b"\n"].concat();
    let v = check(&Scheme::Github, &h, &with_newline, &["s"], NOW);
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
    assert!(
        v.explanation
            .matched
            .as_deref()
            .unwrap_or_default()
            .contains("JSON.stringify")
    );
    // A form body has no such form: a newline added after signing, and one removed, are named.
    let form = b"payload=%7B%22a%22%3A1%7D";
    let form_newline = [&form[..], b"\r\n"].concat();
    let h = signed(&Scheme::Slack, form, "s", NOW);
    let v = check(&Scheme::Slack, &h, &form_newline, &["s"], NOW);
    assert_eq!(v.verdict, Verdict::Invalid(Invalid::TrailingNewline), "{v:#?}");
    let h = signed(&Scheme::Slack, &[&form[..], b"\n"].concat(), "s", NOW);
    let v = check(&Scheme::Slack, &h, form, &["s"], NOW);
    assert_eq!(v.verdict, Verdict::Invalid(Invalid::TrailingNewline), "{v:#?}");
    assert!(
        v.explanation.detail.contains("with a trailing newline"),
        "{}",
        v.explanation.detail
    );
}

#[test]
fn rotated_secrets_say_which_matched() {
    let body = b"{}";
    let h = signed(&Scheme::Stripe, body, "whsec_new", NOW);
    let v = check(&Scheme::Stripe, &h, body, &["whsec_old", "whsec_new"], NOW);
    assert_eq!(v.verdict, Verdict::Valid);
    assert_eq!(
        v.explanation.matched.as_deref(),
        Some("the raw body, secret #2 of 2")
    );
}

#[test]
fn stripe_accepts_any_of_several_v1_signatures_and_ignores_v0() {
    let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    let h = signed(&Scheme::Stripe, body, "whsec_a", NOW);
    let value = String::from_utf8_lossy(&h[0].value).into_owned();
    let (t, v1) = value.split_once(",v1=").expect("t and v1");
    let several = format!(
        "{t},v1={},v1={v1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
        "0".repeat(64)
    );
    let v = check(
        &Scheme::Stripe,
        &headers(&[("Stripe-Signature", &several)]),
        body,
        &["whsec_a"],
        NOW,
    );
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
}

#[test]
fn timestamps_outside_the_tolerance_are_stale_both_ways() {
    let body = b"{}";
    for (signed_at, age) in [(NOW - 301, 301), (NOW + 400, -400)] {
        let h = signed(&Scheme::Slack, body, "s", signed_at);
        let v = check(&Scheme::Slack, &h, body, &["s"], NOW);
        assert!(
            matches!(v.verdict, Verdict::Stale { age_seconds, .. } if age_seconds == age),
            "{v:#?}"
        );
    }
    let h = signed(&Scheme::Slack, body, "s", NOW - 299);
    assert_eq!(
        check(&Scheme::Slack, &h, body, &["s"], NOW).verdict,
        Verdict::Valid
    );
}

#[test]
fn a_timestamp_in_milliseconds_is_named() {
    let body = b"{}";
    let h = signed(&Scheme::Stripe, body, "whsec_a", NOW * 1000);
    let v = check(&Scheme::Stripe, &h, body, &["whsec_a"], NOW);
    assert_eq!(
        v.verdict,
        Verdict::Invalid(Invalid::TimestampInMilliseconds),
        "{v:#?}"
    );
}

#[test]
fn malformed_headers_are_verdicts_not_panics() {
    type Case<'a> = (Scheme, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            Scheme::Millicast,
            &[("X-Millicast-Signature", "md5=abc")],
            "does not start with",
        ),
        (
            Scheme::Millicast,
            &[("X-Millicast-Signature", "sha1=zz")],
            "not hex",
        ),
        (
            Scheme::Optiview,
            &[("Dolby-Signature", "h=abcd")],
            "no t= timestamp",
        ),
        (
            Scheme::Optiview,
            &[("Dolby-Signature", "t=12x,h=ab")],
            "not a number",
        ),
        (Scheme::Optiview, &[("Dolby-Signature", "t=1")], "no h= signature"),
        (Scheme::Stripe, &[("Stripe-Signature", "")], "no t= timestamp"),
        (
            Scheme::Stripe,
            &[("Stripe-Signature", "t=1,v0=aa")],
            "no v1= signature",
        ),
        (
            Scheme::StandardWebhooks,
            &[("webhook-signature", "v1,!!!")],
            "not base64",
        ),
        (
            Scheme::StandardWebhooks,
            &[("webhook-signature", "garbage")],
            "is not `v1,<base64>`",
        ),
        (
            Scheme::StandardWebhooks,
            &[("webhook-signature", "v1,AAAA")],
            "webhook-id header is missing",
        ),
        (
            Scheme::Slack,
            &[("X-Slack-Signature", "v0=aa")],
            "X-Slack-Request-Timestamp header is missing",
        ),
        (Scheme::Shopify, &[("X-Shopify-Hmac-Sha256", "%%%")], "not base64"),
    ];
    for (scheme, pairs, expected) in cases {
        let v = check(scheme, &headers(pairs), b"{}", &["c2VjcmV0"], NOW);
        match &v.verdict {
            Verdict::Invalid(Invalid::Malformed(why)) => {
                assert!(why.contains(expected), "{why} / {expected}")
            }
            other => panic!("{}: {pairs:?} gave {other:?}", scheme.name()),
        }
    }
    // A header that is not UTF-8.
    let h = vec![Header::new("X-Hub-Signature-256", &b"sha256=\xff"[..])];
    let v = check(&Scheme::Github, &h, b"{}", &["s"], NOW);
    assert!(
        matches!(v.verdict, Verdict::Invalid(Invalid::Malformed(_))),
        "{v:#?}"
    );
}

#[test]
fn providers_that_do_not_sign_say_so() {
    let v = check(&Scheme::None, &[], b"{}", &[], NOW);
    assert_eq!(v.verdict, Verdict::NoneDocumented);
    assert_eq!(v.verdict.label(), "none-documented");
}

#[test]
fn secrets_never_print() {
    let secret = Secret::new("dolby_sec_topsecret");
    assert_eq!(format!("{secret:?}"), "Secret(MASKED)");
    let key = Key::Secret(secret);
    assert!(!format!("{key:?}").contains("topsecret"));
    let body = b"{}";
    let h = signed(&Scheme::Optiview, body, "dolby_sec_topsecret", NOW);
    let v = check(&Scheme::Optiview, &h, body, &["dolby_sec_topsecret"], NOW);
    assert!(!format!("{v:?}").contains("topsecret"));
}

mod dyte_keys;
mod explained;
mod named;
mod resigned;

mod dyte {
    use super::*;

    fn keys() -> (Box<::rsa::RsaPrivateKey>, Key) {
        let private =
            parse_private_key(include_str!("../../tests/fixtures/dyte-private.pem")).expect("private");
        let public = parse_public_key(include_str!("../../tests/fixtures/dyte-public.pem")).expect("public");
        (Box::new(private), Key::RsaPublic(Box::new(public)))
    }

    fn dyte(headers: &[Header], body: &[u8], keys: &[Key]) -> Verification {
        let request = Request {
            method: "POST",
            path: "/",
            headers,
            body,
        };
        verify(&Scheme::Dyte, &request, keys, DEFAULT_TOLERANCE, NOW)
    }

    #[test]
    fn signs_and_verifies_and_diagnoses() {
        let (private, public) = keys();
        let body = br#"{"event":"livestreaming.statusUpdate","streamId":"d231d346","status":"OFFLINE"}"#;
        let request = Request {
            method: "POST",
            path: "/",
            headers: &[],
            body,
        };
        let h = sign(&Scheme::Dyte, &request, &SigningKey::RsaPrivate(private), NOW, "").expect("sign");
        assert_eq!(h[0].name, "dyte-signature");
        assert_eq!(
            dyte(&h, body, std::slice::from_ref(&public)).verdict,
            Verdict::Valid
        );
        let pretty =
            serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(body).expect("json"))
                .expect("pretty");
        let v = dyte(&h, &pretty, std::slice::from_ref(&public));
        assert_eq!(v.verdict, Verdict::Valid, "JSON.stringify form accepted: {v:#?}");
        assert!(
            v.explanation
                .matched
                .as_deref()
                .unwrap_or_default()
                .contains("JSON.stringify")
        );
        let v = dyte(&h, br#"{"event":"meeting.ended"}"#, std::slice::from_ref(&public));
        assert_eq!(v.verdict, Verdict::Invalid(Invalid::Mismatch));
        assert_eq!(dyte(&h, body, &[]).verdict, Verdict::NoSecret);
        assert_eq!(
            dyte(&[], body, std::slice::from_ref(&public)).verdict,
            Verdict::Unsigned
        );
        let bad = headers(&[("dyte-signature", "not base64!")]);
        assert!(matches!(
            dyte(&bad, body, &[public]).verdict,
            Verdict::Invalid(Invalid::Malformed(_))
        ));
    }

    #[test]
    fn an_hmac_secret_cannot_sign_for_dyte() {
        let request = Request {
            method: "POST",
            path: "/",
            headers: &[],
            body: b"{}",
        };
        let err = sign(
            &Scheme::Dyte,
            &request,
            &SigningKey::Secret(Secret::new("x")),
            NOW,
            "",
        )
        .expect_err("dyte needs an RSA key");
        assert!(err.contains("keygen dyte"), "{err}");
    }
}

#[test]
fn arbitrary_headers_and_bodies_never_panic() {
    // The fuzz target's body over crafted and pseudo-random inputs (the fuzzer goes further).
    let crafted: &[&[u8]] = &[
        b"",
        b"\xff\xff",
        b"t=\xff1700000000\xff{}",
        b"t=1700000000,h=zz,v1=\xff1700000000\xff{\"a\":1}",
        b"sha1=\xff\xff\xff",
        b"v1,\xff99999999999999999999999\xff",
        b"t=-1,v1=00\xff-5\xff",
        b"v1, v1,AAAA v2,\xff\xff",
        b"t=,h=,t=\xff \xff",
        "t=1700000000,h=\u{1F600}".as_bytes(),
    ];
    for input in crafted {
        fuzz_one(input);
    }
    // It runs every scheme over the parts it cut: a Standard Webhooks signature made with its
    // key over id and timestamp (the second part) and the body (the third) is `valid`, and
    // only that one.
    use ::hmac::Mac as _;
    let key = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    .expect("the fuzz key is base64");
    let mut mac = ::hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key");
    mac.update(b"1700000000.1700000000.{}");
    let signature = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mac.finalize().into_bytes(),
    );
    let input = [format!("v1,{signature}").as_bytes(), b"\xff1700000000\xff{}"].concat();
    let verdicts = fuzz_one(&input);
    assert_eq!(verdicts.len(), 9, "{verdicts:?}");
    let valid: Vec<&str> = verdicts
        .iter()
        .filter(|(_, verdict)| *verdict == "valid")
        .map(|(scheme, _)| *scheme)
        .collect();
    assert_eq!(valid, ["standard-webhooks"], "{verdicts:?}");
    let alphabet = b"t=v1,h=sha1256 0123456789abcdef\xff.{}\"=/+";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..2000usize {
        let input: Vec<u8> = (0..len % 97)
            .map(|_| crate::testing::pick(&mut state, &alphabet[..]))
            .collect();
        fuzz_one(&input);
    }
}
