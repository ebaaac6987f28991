//! Dyte's RSA side beyond the verdicts of `mod dyte`: a generated key pair that signs and
//! verifies, the plain refusal of text that is not PEM, and what a Dyte explanation says.

use super::*;

#[test]
fn a_generated_key_pair_signs_and_verifies() {
    let (private, public) = generate_key_pair().expect("generates");
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{private}");
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{public}");
    let private = parse_private_key(&private).expect("private PEM");
    let public = parse_public_key(&public).expect("public PEM");
    let body = br#"{"event":"meeting.started"}"#;
    let request = Request {
        method: "POST",
        path: "/",
        headers: &[],
        body,
    };
    let key = SigningKey::RsaPrivate(Box::new(private));
    let h = sign(&Scheme::Dyte, &request, &key, NOW, "").expect("signs");
    let keys = [Key::RsaPublic(Box::new(public))];
    let v = verify(
        &Scheme::Dyte,
        &Request {
            headers: &h,
            ..request
        },
        &keys,
        DEFAULT_TOLERANCE,
        NOW,
    );
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
}

#[test]
fn text_that_is_not_pem_is_refused_in_plain_words() {
    let public = parse_public_key("keys/dyte.pem").expect_err("a path, not PEM");
    assert_eq!(
        public,
        "expected an RSA public key in PEM form (-----BEGIN PUBLIC KEY-----), or file:PATH to one; \
         this is not PEM (a path needs the file: prefix)"
    );
    let private = parse_private_key("dolby_sec_abc").expect_err("a secret, not PEM");
    assert!(
        private.starts_with("expected an RSA private key in PEM form (-----BEGIN PRIVATE KEY-----)"),
        "{private}"
    );
}

#[test]
fn a_dyte_explanation_says_what_was_checked_and_how() {
    let h = headers(&[("Dyte-Signature", "bm90IGEgc2lnbmF0dXJl")]);
    let request = Request {
        method: "POST",
        path: "/",
        headers: &h,
        body: b"{}",
    };
    let v = verify(&Scheme::Dyte, &request, &[], DEFAULT_TOLERANCE, NOW);
    let e = &v.explanation;
    assert_eq!(e.scheme, "dyte");
    assert_eq!(e.header.as_deref(), Some("Dyte-Signature: bm90IGEgc2lnbmF0dXJl"));
    assert_eq!(
        e.signed,
        "JSON.stringify(body) as Dyte's docs verify it (or the raw body, 2 bytes)"
    );
    assert_eq!(e.algorithm, "RSA-SHA256 (PKCS#1 v1.5), base64");
    assert_eq!(e.key, "the sender's RSA public key");
}
