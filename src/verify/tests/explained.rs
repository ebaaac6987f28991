//! What an HMAC verification says beyond the verdict of a good signature: the scheme and the key
//! it names, a secret that could not be used, the wording of a stale time, and where a
//! timestamp starts being read as milliseconds (above 10^11: the year 5138 in seconds, 1973 in
//! milliseconds).

use super::*;

#[test]
fn the_explanation_names_the_scheme_and_how_the_secret_became_the_key() {
    let body = b"{}";
    for (scheme, secret, key) in [
        (Scheme::Millicast, "c2VjcmV0", "the secret base64-decoded"),
        (
            Scheme::StandardWebhooks,
            "whsec_c2VjcmV0",
            "the secret without `whsec_`, base64-decoded",
        ),
        (Scheme::Github, "s", "the secret's UTF-8 bytes, as given"),
    ] {
        let h = signed(&scheme, body, secret, NOW);
        let v = check(&scheme, &h, body, &[secret], NOW);
        assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
        assert_eq!(v.explanation.scheme, scheme.name());
        assert_eq!(v.explanation.key, key, "{}", scheme.name());
    }
}

#[test]
fn a_secret_that_is_not_base64_is_named_in_a_mismatch_and_cannot_sign() {
    let body = b"{}";
    let h = signed(&Scheme::Millicast, body, "b3RoZXI=", NOW);
    let v = check(&Scheme::Millicast, &h, body, &["!!!!", "c2VjcmV0"], NOW);
    assert_eq!(v.verdict, Verdict::Invalid(Invalid::Mismatch), "{v:#?}");
    assert!(
        v.explanation
            .detail
            .starts_with("the secret is not base64, but this scheme base64-decodes it; no configured secret"),
        "{}",
        v.explanation.detail
    );
    let request = Request {
        method: "POST",
        path: "/hooks",
        headers: &[],
        body,
    };
    let key = SigningKey::Secret(Secret::new("!!!!"));
    assert!(sign(&Scheme::Millicast, &request, &key, NOW, "id").is_err());
}

#[test]
fn a_stale_time_says_whether_it_is_past_or_future() {
    let body = b"{}";
    for (signed_at, detail) in [
        (NOW - 301, "authentic but stale: signed 301 s ago"),
        (NOW + 400, "authentic but dated 400 s in the future"),
    ] {
        let h = signed(&Scheme::Slack, body, "s", signed_at);
        let v = check(&Scheme::Slack, &h, body, &["s"], NOW);
        assert!(v.explanation.detail.starts_with(detail), "{v:#?}");
    }
}

#[test]
fn milliseconds_are_named_only_above_ten_to_the_eleven_and_when_fresh_as_milliseconds() {
    let body = b"{}";
    let verdict = |signed_at: i64, now: i64| {
        let h = signed(&Scheme::Stripe, body, "whsec_a", signed_at);
        check(&Scheme::Stripe, &h, body, &["whsec_a"], now).verdict
    };
    let ms = Verdict::Invalid(Invalid::TimestampInMilliseconds);
    assert_eq!(verdict(100_000_000_001, 100_000_000), ms);
    assert!(matches!(
        verdict(100_000_000_000, 100_000_000),
        Verdict::Stale { .. }
    ));
    // Milliseconds a day old are stale, whatever unit they are read in.
    assert!(matches!(
        verdict((NOW - 86_400) * 1000, NOW),
        Verdict::Stale { .. }
    ));
}

#[test]
fn a_signature_over_seconds_sent_with_milliseconds_is_diagnosed() {
    let body = b"{}";
    // Stripe-Signature `t=T,v1=MAC`: the MAC of the seconds, the header's t in milliseconds.
    let stripe = |signed_over: i64, sent: i64| {
        let h = signed(&Scheme::Stripe, body, "whsec_a", signed_over);
        let value = String::from_utf8_lossy(&h[0].value).replacen(
            &format!("t={signed_over},"),
            &format!("t={sent},"),
            1,
        );
        check(
            &Scheme::Stripe,
            &headers(&[("Stripe-Signature", &value)]),
            body,
            &["whsec_a"],
            NOW,
        )
    };
    let v = stripe(NOW, NOW * 1000);
    assert_eq!(
        v.verdict,
        Verdict::Invalid(Invalid::TimestampInMilliseconds),
        "{v:#?}"
    );
    assert_eq!(
        stripe(100_000_000, 100_000_000_001).verdict,
        Verdict::Invalid(Invalid::TimestampInMilliseconds)
    );
    assert_eq!(
        stripe(100_000_000, 100_000_000_000).verdict,
        Verdict::Invalid(Invalid::Mismatch)
    );
}

#[test]
fn the_explanation_reads_as_labelled_lines_in_order() {
    let body = b"{}";
    let mut h = signed(&Scheme::Github, body, "s", NOW);
    h[0].name = "x-hub-signature-256".into();
    let v = check(&Scheme::Github, &h, body, &["s"], NOW);
    let labels: Vec<&str> = v.explanation.lines().iter().map(|(label, _)| *label).collect();
    assert_eq!(
        labels,
        [
            "scheme",
            "header",
            "signed",
            "algorithm",
            "key",
            "expected",
            "received",
            "matched",
            "form",
            "why"
        ]
    );
    // The header line as it was received, lowercase name included.
    assert_eq!(
        v.explanation.header.as_deref(),
        Some(format!("x-hub-signature-256: {}", String::from_utf8_lossy(&h[0].value)).as_str())
    );
    let none = check(&Scheme::None, &[], body, &[], NOW);
    assert_eq!(
        none.explanation.lines(),
        [
            ("scheme", "none".to_owned()),
            (
                "why",
                "no signature documented: the sender's documentation names no signature scheme, \
                 so nothing proves where this came from"
                    .to_owned()
            )
        ]
    );
}
