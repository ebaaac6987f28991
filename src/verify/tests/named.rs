//! The words the rest of hookscope reads from `verify`: each scheme's name and signature
//! header, each signed form's label and description, the preview of a value in a message.

use super::*;

fn custom(form: SignedForm) -> Scheme {
    Scheme::Hmac(HmacParams {
        header: "X-Custom-Signature".into(),
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: String::new(),
        template: "{body}".into(),
        timestamp_header: None,
        id_header: None,
        key: KeyDecoding::Raw,
        form,
    })
}

#[test]
fn every_scheme_has_its_name_and_signature_header() {
    for (scheme, name, header) in [
        (Scheme::Millicast, "millicast", Some("X-Millicast-Signature")),
        (Scheme::Optiview, "optiview", Some("Dolby-Signature")),
        (Scheme::Github, "github", Some("X-Hub-Signature-256")),
        (Scheme::Stripe, "stripe", Some("Stripe-Signature")),
        (
            Scheme::StandardWebhooks,
            "standard-webhooks",
            Some("webhook-signature"),
        ),
        (Scheme::Slack, "slack", Some("X-Slack-Signature")),
        (Scheme::Shopify, "shopify", Some("X-Shopify-Hmac-Sha256")),
        (Scheme::Dyte, "dyte", Some("dyte-signature")),
        (custom(SignedForm::Raw), "hmac", Some("X-Custom-Signature")),
        (Scheme::None, "none", None),
    ] {
        assert_eq!(scheme.name(), name);
        assert_eq!(scheme.signature_header(), header, "{name}");
    }
}

#[test]
fn a_configured_scheme_signs_the_form_its_profile_names() {
    assert_eq!(
        custom(SignedForm::JsonStringify).documented_form(),
        SignedForm::JsonStringify
    );
    assert_eq!(custom(SignedForm::Raw).documented_form(), SignedForm::Raw);
    // Signed over JSON.stringify, as the profile says: valid, with no caveat.
    let scheme = custom(SignedForm::JsonStringify);
    let body = b"{ \"a\": 1 }";
    let h = signed(&scheme, body, "s", NOW);
    let v = check(&scheme, &h, body, &["s"], NOW);
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
    assert_eq!(v.explanation.signed_form, Some(SignedForm::JsonStringify));
    assert_eq!(v.explanation.caveat, None);
}

#[test]
fn signed_forms_are_named_by_their_labels_and_described_for_people() {
    for (form, label, description) in [
        (SignedForm::Raw, "raw", "the raw body bytes"),
        (
            SignedForm::JsonStringify,
            "json-stringify",
            "JSON.stringify(JSON.parse(body))",
        ),
    ] {
        assert_eq!(form.label(), label);
        assert_eq!(SignedForm::from_label(label), Some(form));
        assert_eq!(form.describe(), description);
    }
    assert_eq!(SignedForm::from_label("Raw"), None);
    let request = Request {
        method: "POST",
        path: "/hooks",
        headers: &[],
        body: b"not json",
    };
    let key = SigningKey::Secret(Secret::new("s"));
    assert_eq!(
        sign(&Scheme::Optiview, &request, &key, NOW, "id"),
        Err(
            "OptiView signs JSON.stringify(JSON.parse(body)), and this body is not JSON; edit it \
             into JSON or replay it without re-signing"
                .into()
        )
    );
}

#[test]
fn a_long_value_is_previewed_by_its_ends() {
    assert_eq!(preview(""), "");
    assert_eq!(preview(&"x".repeat(24)), "x".repeat(24));
    assert_eq!(preview("abcdefghijklmnopqrstuvwxyz"), "abcdefghijkl…wxyz");
    let h = headers(&[("X-Millicast-Signature", "sha1=not-hex-not-hex-not-hex-0123")]);
    let v = check(&Scheme::Millicast, &h, b"{}", &["c2VjcmV0"], NOW);
    assert!(
        matches!(&v.verdict, Verdict::Invalid(Invalid::Malformed(why))
            if why.starts_with("\"not-hex-not-…0123\" is not hex")),
        "{v:#?}"
    );
}
