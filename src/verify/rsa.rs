//! Dyte's scheme: `dyte-signature` is a base64 RSA-SHA256 (PKCS#1 v1.5) signature over the JSON
//! body, checked with the sender's public key. Dyte's sample code verifies
//! `JSON.stringify(req.body)`, so that form is tried first, then the raw body.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

use super::{Explanation, Invalid, Key, Request, Scheme, Verdict, Verification};
use crate::capture::Header;

const HEADER: &str = "dyte-signature";

pub(super) fn verify(request: &Request<'_>, keys: &[Key]) -> Verification {
    let mut explanation = Explanation {
        scheme: "dyte".into(),
        header: request.header_line(HEADER),
        signed: format!(
            "JSON.stringify(body) as Dyte's docs verify it (or the raw body, {} bytes)",
            request.body.len()
        ),
        algorithm: "RSA-SHA256 (PKCS#1 v1.5), base64".into(),
        key: "the sender's RSA public key".into(),
        ..Explanation::default()
    };
    let verdict = |verdict, explanation| Verification { verdict, explanation };
    let Some(value) = request.header(HEADER) else {
        explanation.detail = format!("no {HEADER} header: the request is not signed");
        return verdict(Verdict::Unsigned, explanation);
    };
    explanation.received = vec![value.to_owned()];
    let signature = match STANDARD
        .decode(value.trim())
        .map_err(|e| e.to_string())
        .and_then(|bytes| Signature::try_from(bytes.as_slice()).map_err(|e| e.to_string()))
    {
        Ok(signature) => signature,
        Err(err) => {
            let why = format!("{HEADER} is not a base64 RSA signature: {err}");
            explanation.detail = why.clone();
            return verdict(Verdict::Invalid(Invalid::Malformed(why)), explanation);
        }
    };
    let public_keys: Vec<&RsaPublicKey> = keys
        .iter()
        .filter_map(|k| match k {
            Key::RsaPublic(key) => Some(key.as_ref()),
            Key::Secret(_) => None,
        })
        .collect();
    if public_keys.is_empty() {
        explanation.detail = "signed, but no Dyte public key is configured (--secret dyte=FILE.pem)".into();
        return verdict(Verdict::NoSecret, explanation);
    }
    let bodies = super::body_forms(&Scheme::Dyte, request.body);
    let verifiers: Vec<_> = public_keys
        .iter()
        .map(|key| VerifyingKey::<Sha256>::new((*key).clone()))
        .collect();
    for (form, body) in bodies {
        for (index, verifier) in verifiers.iter().enumerate() {
            if verifier.verify(&body, &signature).is_ok() {
                let which = super::which_key(index, public_keys.len(), "key");
                explanation.matched = Some(format!(
                    "{}{which}",
                    super::form_name(form, matches!(body, std::borrow::Cow::Borrowed(_)))
                ));
                explanation.signed_form = Some(form);
                explanation.caveat = super::caveat(&Scheme::Dyte, form, request.body);
                explanation.detail = "authentic: signed by the configured Dyte key".into();
                return verdict(Verdict::Valid, explanation);
            }
        }
    }
    if let Some(pretty) = super::pretty_json(request.body) {
        let reindented = public_keys.iter().any(|key| {
            VerifyingKey::<Sha256>::new((*key).clone())
                .verify(&pretty, &signature)
                .is_ok()
        });
        if reindented {
            explanation.detail = format!(
                "the signature matches the JSON body re-indented: {}",
                Invalid::BodyReserialized
            );
            return verdict(Verdict::Invalid(Invalid::BodyReserialized), explanation);
        }
    }
    explanation.detail =
        "the signature does not verify with the configured public key: another key, or the body changed"
            .into();
    verdict(Verdict::Invalid(Invalid::Mismatch), explanation)
}

/// The `dyte-signature` header over `body`'s documented form, `JSON.stringify(JSON.parse(body))`.
pub(super) fn sign(body: &[u8], key: &RsaPrivateKey) -> Result<Vec<Header>, String> {
    let body = super::signing_form(&Scheme::Dyte, body)?;
    let signer = SigningKey::<Sha256>::new(key.clone());
    let signature = signer
        .try_sign(&body)
        .map_err(|e| format!("RSA signing failed: {e}"))?;
    Ok(vec![Header::new(HEADER, STANDARD.encode(signature.to_bytes()))])
}

/// Reads an RSA public key from PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`).
pub fn parse_public_key(pem: &str) -> Result<RsaPublicKey, String> {
    not_pem(pem, "public")?;
    RsaPublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| format!("not an RSA public key in PEM form: {e}"))
}

/// Reads an RSA private key from PEM (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`).
pub fn parse_private_key(pem: &str) -> Result<RsaPrivateKey, String> {
    not_pem(pem, "private")?;
    RsaPrivateKey::from_pkcs8_pem(pem.trim())
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| format!("not an RSA private key in PEM form: {e}"))
}

/// The plain-words refusal of text that is not PEM at all (a path given without `file:`, a
/// secret where a key belongs), instead of the PEM parser's complaint about its first bytes.
fn not_pem(text: &str, which: &str) -> Result<(), String> {
    match text.contains("-----BEGIN") {
        true => Ok(()),
        false => Err(format!(
            "expected an RSA {which} key in PEM form (-----BEGIN {} KEY-----), or file:PATH to one; \
             this is not PEM (a path needs the file: prefix)",
            which.to_uppercase()
        )),
    }
}

/// A new 2048-bit key pair as (private PKCS#8 PEM, public SPKI PEM).
pub fn generate_key_pair() -> Result<(String, String), String> {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| e.to_string())?;
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?;
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    Ok((private_pem.to_string(), public_pem))
}
