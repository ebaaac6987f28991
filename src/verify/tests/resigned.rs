//! Re-signing in place (`sign_headers`, for `send` and `replay --resign`): the fresh signature
//! replaces the old one where it stands, whatever its case, and only signature headers lose
//! their repeats.

use super::*;

#[test]
fn a_fresh_signature_replaces_the_old_where_it_stands_and_repeats_of_it_go() {
    let body = b"{}";
    let mut headers = headers(&[
        ("Content-Type", "application/json"),
        ("x-millicast-signature", "sha1=00"),
        ("X-Tag", "a"),
        ("X-Millicast-Signature", "sha1=11"),
        ("X-Tag", "b"),
    ]);
    let key = SigningKey::Secret(Secret::new("c2VjcmV0"));
    let set = sign_headers(
        &Scheme::Millicast,
        "POST",
        "/hooks",
        &mut headers,
        body,
        &key,
        NOW,
    )
    .expect("signs");
    assert_eq!(set.len(), 1);
    assert_eq!(set[0].name, "X-Millicast-Signature");
    let shape: Vec<(&str, &[u8])> = headers.iter().map(|h| (h.name.as_str(), &h.value[..])).collect();
    assert_eq!(
        shape,
        [
            ("Content-Type", &b"application/json"[..]),
            ("x-millicast-signature", &set[0].value[..]),
            ("X-Tag", b"a"),
            ("X-Tag", b"b"),
        ]
    );
    let v = check(&Scheme::Millicast, &headers, body, &["c2VjcmV0"], NOW);
    assert_eq!(v.verdict, Verdict::Valid, "{v:#?}");
}
