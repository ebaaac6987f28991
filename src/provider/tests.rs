//! The built-in catalog checked sample by sample, and profile validation.

use super::*;
use crate::capture::{CaptureId, Derived, Via};
use crate::sample;
use crate::verify::{self, Key, Request, Secret, SigningKey, Verdict};

/// A key pair or secret that suits `profile`'s scheme, for signing and verifying.
fn keys_for(profile: &Profile) -> Option<(SigningKey, Key)> {
    match profile.scheme {
        Scheme::None => None,
        Scheme::Dyte => {
            let private =
                verify::parse_private_key(include_str!("../../tests/fixtures/dyte-private.pem")).ok()?;
            let public =
                verify::parse_public_key(include_str!("../../tests/fixtures/dyte-public.pem")).ok()?;
            Some((
                SigningKey::RsaPrivate(Box::new(private)),
                Key::RsaPublic(Box::new(public)),
            ))
        }
        // Valid base64 too, so it also suits schemes that decode the secret.
        _ => {
            let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
            Some((
                SigningKey::Secret(Secret::new(secret)),
                Key::Secret(Secret::new(secret)),
            ))
        }
    }
}

/// A capture of `sample` as `send` would deliver it, signed when the scheme signs.
fn capture_of(profile: &Profile, sample: &Sample) -> Capture {
    let now = Utc::now();
    let rendered = sample::render(sample, now, &[])
        .unwrap_or_else(|e| panic!("{} {}: {e}", profile.name, sample.event_type));
    let mut headers = rendered.headers;
    if let Some((signing, _)) = keys_for(profile) {
        let request = Request {
            method: "POST",
            path: "/hooks",
            headers: &headers,
            body: &rendered.body,
        };
        let signature = verify::sign(&profile.scheme, &request, &signing, now.timestamp(), "msg_test")
            .unwrap_or_else(|e| panic!("{} {}: {e}", profile.name, sample.event_type));
        headers.extend(signature);
    }
    Capture {
        id: CaptureId::generate(),
        received_at: now,
        remote_addr: "127.0.0.1:1".into(),
        via: Via::Direct,
        method: "POST".into(),
        path: "/hooks".into(),
        query: None,
        version: "HTTP/1.1".into(),
        headers,
        body: rendered.body,
        status: 200,
        note: None,
        derived: Derived::default(),
    }
}

#[test]
fn the_builtin_catalog_is_complete_and_consistent() {
    let catalog = Catalog::builtin();
    let names: Vec<&str> = catalog.profiles().iter().map(|p| p.name.as_str()).collect();
    for expected in [
        "millicast",
        "optiview",
        "dyte",
        "aioz",
        "github",
        "stripe",
        "standard-webhooks",
        "slack",
        "shopify",
        "zoom",
        "meta",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "duplicate profile names");
    for profile in catalog.profiles() {
        assert!(
            !profile.samples.is_empty(),
            "{} has no sample events",
            profile.name
        );
        let mut types: Vec<&str> = profile.samples.iter().map(|s| s.event_type.as_str()).collect();
        types.sort_unstable();
        let before = types.len();
        types.dedup();
        assert_eq!(types.len(), before, "{} has duplicate sample types", profile.name);
    }
}

#[test]
fn every_sample_is_detected_read_and_verified() {
    let catalog = Catalog::builtin();
    let mut checked = 0;
    let (mut with_time, mut with_id) = (std::collections::HashSet::new(), std::collections::HashSet::new());
    for profile in catalog.profiles() {
        for sample in &profile.samples {
            let what = format!("{} {}", profile.name, sample.event_type);
            let capture = capture_of(profile, sample);
            if sample.content_type.contains("json") {
                assert!(
                    serde_json::from_slice::<serde_json::Value>(&capture.body).is_ok(),
                    "{what}: body is not JSON"
                );
            }
            if !profile.detect_headers.is_empty() {
                let detected = catalog.detect(&capture).map(|p| p.name.as_str());
                assert_eq!(
                    detected,
                    Some(profile.name.as_str()),
                    "{what}: detected as {detected:?}"
                );
            }
            let facts = profile.facts(&capture);
            assert_eq!(
                facts.event_type.as_deref(),
                Some(sample.event_type.as_str()),
                "{what}: event type"
            );
            if let Some(time) = facts.event_time {
                let off = (time - capture.received_at).num_seconds().abs();
                assert!(
                    off < 3600,
                    "{what}: event time {time} is {off} s from now: wrong unit?"
                );
                with_time.insert(profile.name.as_str());
            }
            if facts.event_id.is_some() {
                with_id.insert(profile.name.as_str());
            }
            let keys: Vec<Key> = keys_for(profile).map(|(_, key)| key).into_iter().collect();
            let v = verify::verify(
                &profile.scheme,
                &Request::from(&capture),
                &keys,
                profile.tolerance,
                Utc::now().timestamp(),
            );
            let expected = match profile.scheme {
                Scheme::None => Verdict::NoneDocumented,
                _ => Verdict::Valid,
            };
            assert_eq!(v.verdict, expected, "{what}: {v:#?}");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} samples in the catalog");
    // A profile that names a timestamp or an idempotency key finds it in its samples (some
    // events, like Slack's url_verification, carry neither).
    for profile in catalog.profiles() {
        if profile.event().timestamp.is_some() {
            assert!(
                with_time.contains(profile.name.as_str()),
                "{}: no sample has an event time",
                profile.name
            );
        }
        if profile.event().id.is_some() {
            assert!(
                with_id.contains(profile.name.as_str()),
                "{}: no sample has an event id",
                profile.name
            );
        }
    }
}

#[test]
fn type_templates_join_fields_and_headers() {
    let profile = Profile::parse(
        r#"
name = "t"
display = "T"
[signature]
scheme = "none"
[event]
type = ["{header:X-Kind}.{/action}", "{header:X-Kind}"]
timestamp = "/at"
timestamp_unit = "ms"
id = "header:X-Id"
object = "/thing/id"
[[events]]
type = "push.opened"
body = '{"action":"opened","at":1700000000123,"thing":{"id":42}}'
headers = { "X-Kind" = "push", "X-Id" = "abc" }
"#,
    )
    .expect("valid profile");
    let capture = capture_of(&profile, &profile.samples[0]);
    let facts = profile.facts(&capture);
    assert_eq!(facts.event_type.as_deref(), Some("push.opened"));
    assert_eq!(
        facts.event_time.map(|t| t.timestamp_millis()),
        Some(1_700_000_000_123)
    );
    assert_eq!(facts.event_id.as_deref(), Some("abc"));
    assert_eq!(facts.object.as_deref(), Some("42"));
    // The next template applies when the first lacks a field; none applies: unknown.
    let mut no_action = capture.clone();
    no_action.body = bytes::Bytes::from_static(br#"{"at":"2026-11-22T17:27:12.345Z"}"#);
    let facts = profile.facts(&no_action);
    assert_eq!(facts.event_type.as_deref(), Some("push"));
    assert_eq!(
        facts.event_time.map(|t| t.timestamp_millis()),
        Some(1_795_368_432_345),
        "RFC 3339 times"
    );
    let mut bare = capture.clone();
    bare.headers.clear();
    assert_eq!(profile.facts(&bare).event_type, None);
}

#[test]
fn bad_profiles_are_explained() {
    let base = "name = \"x\"\ndisplay = \"X\"\n[signature]\nscheme = \"none\"\n[event]\ntype = \"{/type}\"\n";
    let cases = [
        (base.replace("name = \"x\"", "name = \"Bad Name\""), "lowercase"),
        (base.replace("\"none\"", "\"rot13\""), "unknown signature scheme"),
        (base.replace("{/type}", "{type}"), "neither a JSON pointer"),
        (base.replace("{/type}", "{/type"), "unclosed"),
        (format!("{base}colour = \"red\"\n"), "unknown field"),
        (
            base.replace("\"none\"", "\"hmac\""),
            "signature.header is required",
        ),
        (
            format!("{base}[[events]]\ntype = \"a\"\n"),
            "exactly one of body, body_base64",
        ),
    ];
    for (text, expected) in cases {
        let err = Profile::parse(&text).expect_err(&text);
        assert!(err.contains(expected), "{err:?} should mention {expected:?}");
    }
}

#[test]
fn user_profiles_add_to_and_replace_builtin_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("acme.toml"),
        "name = \"acme\"\ndisplay = \"Acme\"\n[detect]\nheaders = [\"X-Acme-Signature\"]\n[signature]\nscheme = \"hmac\"\nheader = \"X-Acme-Signature\"\nalgorithm = \"sha512\"\nencoding = \"base64\"\n[event]\ntype = \"{/kind}\"\n[[events]]\ntype = \"order.created\"\nbody = '{\"kind\":\"order.created\"}'\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("aioz.toml"),
        "name = \"aioz\"\ndisplay = \"AIOZ (mine)\"\n[signature]\nscheme = \"none\"\n[event]\ntype = \"{/type}\"\n",
    )
    .expect("write");
    let catalog = Catalog::load(Some(dir.path())).expect("valid");
    assert_eq!(
        catalog.get("aioz").map(|p| p.display.as_str()),
        Some("AIOZ (mine)")
    );
    assert!(matches!(
        catalog.get("acme").map(|p| &p.scheme),
        Some(Scheme::Hmac(_))
    ));
    assert_eq!(catalog.profiles().iter().filter(|p| p.name == "aioz").count(), 1);
    std::fs::write(dir.path().join("broken.toml"), "name = 1").expect("write");
    let err = Catalog::load(Some(dir.path())).expect_err("broken profile");
    assert!(err.contains("broken.toml"), "{err}");
    assert!(Catalog::load(Some(&dir.path().join("missing"))).is_ok());
}

/// The cheap check each capture gets on its way to the journal (`verify::verdict`) reaches the
/// verdict and detail the full explanation does, whatever the request and the keys.
#[test]
fn the_journal_verdict_is_the_explained_verdict() {
    let catalog = Catalog::builtin();
    let analyzer = crate::analysis::Analyzer::new(catalog.clone(), crate::config::Keys::default());
    let mut compared = 0;
    for profile in catalog.profiles() {
        for sample in &profile.samples {
            let signed = capture_of(profile, sample);
            let mut variants = vec![signed.clone()];
            let mut tampered = signed.clone();
            tampered.body = [&signed.body[..], b" "].concat().into();
            variants.push(tampered);
            if let Some(name) = profile.scheme.signature_header() {
                for garbage in ["t=1,h=zz", "", "v1,@@@", "sha256=", "t=abc"] {
                    let mut garbled = signed.clone();
                    for header in &mut garbled.headers {
                        if header.name.eq_ignore_ascii_case(name) {
                            header.value = garbage.into();
                        }
                    }
                    variants.push(garbled);
                }
                let mut unsigned = signed.clone();
                unsigned.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
                variants.push(unsigned);
            }
            let keys: Vec<Key> = keys_for(profile).map(|(_, key)| key).into_iter().collect();
            for capture in &variants {
                let request = Request::from(capture);
                for keys in [&keys[..], &[]] {
                    for now in [Utc::now().timestamp(), Utc::now().timestamp() + 86_400] {
                        let full = verify::verify(&profile.scheme, &request, keys, profile.tolerance, now);
                        let lean = verify::verdict(&profile.scheme, &request, keys, profile.tolerance, now);
                        assert_eq!(
                            (&lean.verdict, &lean.explanation.detail),
                            (&full.verdict, &full.explanation.detail),
                            "{} {}",
                            profile.name,
                            sample.event_type
                        );
                        compared += 1;
                    }
                }
                assert_eq!(analyzer.derive(capture), analyzer.analyze(capture).0);
            }
        }
    }
    assert!(compared > 400, "only {compared} comparisons");
}

/// A field runs from `{` to the first `}`, whatever it holds: the pointer `/a{b` is read.
#[test]
fn template_fields_are_read_as_they_are_validated() {
    let profile = Profile::parse(
        r#"
name = "t"
display = "T"
[signature]
scheme = "none"
[event]
type = "x.{/a{b}.{/c}"
[[events]]
type = "x.v.w"
body = '{"c":"w","a{b":"v"}'
"#,
    )
    .expect("valid profile");
    let capture = capture_of(&profile, &profile.samples[0]);
    assert_eq!(profile.facts(&capture).event_type.as_deref(), Some("x.v.w"));
}
