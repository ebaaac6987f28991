//! The HMAC schemes: one table of built-in senders, one parser per header format, one matcher.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use super::{
    Depth, Explanation, Invalid, Key, Request, Scheme, Secret, SignedForm, Verdict, Verification, pretty_json,
};
use crate::capture::Header;

/// A hash function for HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// HMAC-SHA1 (legacy senders).
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How the MAC is written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lowercase hexadecimal.
    Hex,
    /// Standard base64.
    Base64,
}

/// How the configured secret becomes the HMAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyDecoding {
    /// The secret's UTF-8 bytes, as given.
    Raw,
    /// The secret base64-decoded (a `whsec_` prefix is dropped first).
    Base64,
}

/// A generic HMAC scheme, configured in a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacParams {
    /// The header carrying the signature.
    pub header: String,
    /// The hash function.
    pub algorithm: Algorithm,
    /// How the MAC is written.
    pub encoding: Encoding,
    /// Text before the MAC in the header (`sha256=`).
    pub prefix: String,
    /// The signed string: `{body}`, `{timestamp}`, `{id}`, `{method}`, `{path}`.
    pub template: String,
    /// Where `{timestamp}` comes from.
    pub timestamp_header: Option<String>,
    /// Where `{id}` comes from.
    pub id_header: Option<String>,
    /// How the secret becomes the key.
    pub key: KeyDecoding,
    /// What the sender's documented receiver hashes in place of `{body}`.
    pub form: SignedForm,
}

/// A built-in scheme's constants.
pub(super) struct Builtin {
    pub header: &'static str,
    algorithm: Algorithm,
    encoding: Encoding,
    key: KeyDecoding,
    template: &'static str,
}

pub(super) fn builtin(scheme: &Scheme) -> Option<Builtin> {
    let (header, algorithm, encoding, key, template) = match scheme {
        Scheme::Millicast => (
            "X-Millicast-Signature",
            Algorithm::Sha1,
            Encoding::Hex,
            KeyDecoding::Base64,
            "{body}",
        ),
        Scheme::Optiview => (
            "Dolby-Signature",
            Algorithm::Sha256,
            Encoding::Hex,
            KeyDecoding::Raw,
            "{timestamp}.{body}",
        ),
        Scheme::Github => (
            "X-Hub-Signature-256",
            Algorithm::Sha256,
            Encoding::Hex,
            KeyDecoding::Raw,
            "{body}",
        ),
        Scheme::Stripe => (
            "Stripe-Signature",
            Algorithm::Sha256,
            Encoding::Hex,
            KeyDecoding::Raw,
            "{timestamp}.{body}",
        ),
        Scheme::StandardWebhooks => (
            "webhook-signature",
            Algorithm::Sha256,
            Encoding::Base64,
            KeyDecoding::Base64,
            "{id}.{timestamp}.{body}",
        ),
        Scheme::Slack => (
            "X-Slack-Signature",
            Algorithm::Sha256,
            Encoding::Hex,
            KeyDecoding::Raw,
            "v0:{timestamp}:{body}",
        ),
        Scheme::Shopify => (
            "X-Shopify-Hmac-Sha256",
            Algorithm::Sha256,
            Encoding::Base64,
            KeyDecoding::Raw,
            "{body}",
        ),
        Scheme::Hmac(_) | Scheme::Dyte | Scheme::None => return None,
    };
    Some(Builtin {
        header,
        algorithm,
        encoding,
        key,
        template,
    })
}

/// Everything the matcher needs, built-in or configured.
struct Spec<'a> {
    header: &'a str,
    algorithm: Algorithm,
    encoding: Encoding,
    key: KeyDecoding,
    template: &'a str,
    prefix: &'a str,
}

fn spec(scheme: &Scheme) -> Option<Spec<'_>> {
    if let Scheme::Hmac(p) = scheme {
        return Some(Spec {
            header: &p.header,
            algorithm: p.algorithm,
            encoding: p.encoding,
            key: p.key,
            template: &p.template,
            prefix: &p.prefix,
        });
    }
    let b = builtin(scheme)?;
    let prefix = match scheme {
        Scheme::Millicast => "sha1=",
        Scheme::Github => "sha256=",
        Scheme::Slack => "v0=",
        _ => "",
    };
    Some(Spec {
        header: b.header,
        algorithm: b.algorithm,
        encoding: b.encoding,
        key: b.key,
        template: b.template,
        prefix,
    })
}

/// A signature header taken apart.
#[derive(Debug, Default)]
struct Parsed {
    /// The signatures received, decoded to bytes.
    signatures: Vec<Vec<u8>>,
    /// The same, as received (kept only for the explanation).
    texts: Vec<String>,
    timestamp: Option<String>,
    id: Option<String>,
}

fn decode(encoding: Encoding, text: &str) -> Result<Vec<u8>, String> {
    match encoding {
        Encoding::Hex => {
            hex::decode(text.trim()).map_err(|e| format!("{:?} is not hex: {e}", super::preview(text)))
        }
        Encoding::Base64 => STANDARD
            .decode(text.trim())
            .map_err(|e| format!("{:?} is not base64: {e}", super::preview(text))),
    }
}

fn encode(encoding: Encoding, mac: &[u8]) -> String {
    match encoding {
        Encoding::Hex => hex::encode(mac),
        Encoding::Base64 => STANDARD.encode(mac),
    }
}

/// `k=v,k=v` pairs, as in `t=1,v1=ab,v1=cd`.
fn pairs(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value
        .split(',')
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
}

fn timestamp_of(value: &str, header: &str) -> Result<String, String> {
    let value = value.trim();
    match !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        true => Ok(value.to_owned()),
        false => Err(format!("{header} timestamp {value:?} is not a number of seconds")),
    }
}

/// Takes the signature header(s) apart. `Ok(None)`: the request is not signed at all.
fn parse(
    scheme: &Scheme,
    spec: &Spec<'_>,
    request: &Request<'_>,
    explain: bool,
) -> Result<Option<Parsed>, String> {
    let Some(value) = request.header(spec.header) else {
        return match request
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(spec.header))
        {
            true => Err(format!("{} is not UTF-8 text", spec.header)),
            false => Ok(None),
        };
    };
    let mut parsed = Parsed::default();
    let push = |parsed: &mut Parsed, text: &str| -> Result<(), String> {
        parsed.signatures.push(decode(spec.encoding, text)?);
        if explain {
            parsed.texts.push(text.to_owned());
        }
        Ok(())
    };
    match scheme {
        Scheme::Optiview | Scheme::Stripe => {
            let (mac_key, name) = match scheme {
                Scheme::Optiview => ("h", "Dolby-Signature"),
                _ => ("v1", "Stripe-Signature"),
            };
            for (k, v) in pairs(value) {
                match k {
                    "t" => parsed.timestamp = Some(timestamp_of(v, name)?),
                    k if k == mac_key => push(&mut parsed, v)?,
                    _ => {} // v0 (Stripe's test scheme) and future fields
                }
            }
            if parsed.timestamp.is_none() {
                return Err(format!("{name} has no t= timestamp"));
            }
            if parsed.signatures.is_empty() {
                return Err(format!("{name} has no {mac_key}= signature"));
            }
        }
        Scheme::StandardWebhooks => {
            for entry in value.split_ascii_whitespace() {
                match entry.split_once(',') {
                    Some(("v1", signature)) => push(&mut parsed, signature)?,
                    Some(_) => {} // other versions (v1a: asymmetric) are not ours to check
                    None => return Err(format!("signature {entry:?} is not `v1,<base64>`")),
                }
            }
            if parsed.signatures.is_empty() {
                return Err("webhook-signature has no v1 signature".into());
            }
            parsed.id = Some(
                request
                    .header("webhook-id")
                    .ok_or("webhook-id header is missing")?
                    .to_owned(),
            );
            let timestamp = request
                .header("webhook-timestamp")
                .ok_or("webhook-timestamp header is missing")?;
            parsed.timestamp = Some(timestamp_of(timestamp, "webhook-timestamp")?);
        }
        Scheme::Slack => {
            let signature = value
                .strip_prefix(spec.prefix)
                .ok_or_else(|| format!("X-Slack-Signature does not start with {:?}", spec.prefix))?;
            push(&mut parsed, signature)?;
            let timestamp = request
                .header("X-Slack-Request-Timestamp")
                .ok_or("X-Slack-Request-Timestamp header is missing")?;
            parsed.timestamp = Some(timestamp_of(timestamp, "X-Slack-Request-Timestamp")?);
        }
        Scheme::Hmac(params) => {
            let signature = value
                .strip_prefix(spec.prefix)
                .ok_or_else(|| format!("{} does not start with {:?}", spec.header, spec.prefix))?;
            push(&mut parsed, signature)?;
            if let Some(name) = &params.timestamp_header {
                let timestamp = request
                    .header(name)
                    .ok_or_else(|| format!("{name} header is missing"))?;
                parsed.timestamp = Some(timestamp_of(timestamp, name)?);
            }
            if let Some(name) = &params.id_header {
                parsed.id = Some(
                    request
                        .header(name)
                        .ok_or_else(|| format!("{name} header is missing"))?
                        .to_owned(),
                );
            }
        }
        _ => {
            let signature = value
                .strip_prefix(spec.prefix)
                .ok_or_else(|| format!("{} does not start with {:?}", spec.header, spec.prefix))?;
            push(&mut parsed, signature)?;
        }
    }
    Ok(Some(parsed))
}

/// The signed bytes: the template with its fields filled in and the body in place of `{body}`.
fn message(
    template: &str,
    timestamp: Option<&str>,
    id: Option<&str>,
    request: &Request<'_>,
    body: &[u8],
) -> Vec<u8> {
    let fill = |text: &str| {
        text.replace("{timestamp}", timestamp.unwrap_or_default())
            .replace("{id}", id.unwrap_or_default())
            .replace("{method}", request.method)
            .replace("{path}", request.path)
    };
    let mut out = Vec::with_capacity(body.len() + template.len() + 32);
    let mut rest = template;
    while let Some(at) = rest.find("{body}") {
        out.extend_from_slice(fill(&rest[..at]).as_bytes());
        out.extend_from_slice(body);
        rest = &rest[at + "{body}".len()..];
    }
    out.extend_from_slice(fill(rest).as_bytes());
    out
}

fn mac(algorithm: Algorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length: this cannot fail.
        match <M as hmac::digest::KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, message),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, message),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, message),
    }
}

/// Said of a key when its base64 secret needed node's lenient decoding.
const LENIENT_NOTE: &str = "; the secret is not strict base64 (padding, alphabet or stray characters): \
     decoded leniently, as node's Buffer.from(secret, 'base64') does";

/// The secret as an HMAC key under `decoding`, and whether base64 had to be read leniently.
fn key_bytes(secret: &Secret, decoding: KeyDecoding) -> Result<(Vec<u8>, bool), String> {
    match decoding {
        KeyDecoding::Raw => Ok((secret.expose().as_bytes().to_vec(), false)),
        KeyDecoding::Base64 => {
            let text = secret.expose().trim();
            let text = text.strip_prefix("whsec_").unwrap_or(text);
            if let Ok(key) = STANDARD.decode(text) {
                return Ok((key, false));
            }
            match node_base64(text) {
                key if key.is_empty() => {
                    Err("the secret is not base64, but this scheme base64-decodes it".to_owned())
                }
                key => Ok((key, true)),
            }
        }
    }
}

/// Base64 decoded as node's `Buffer.from(text, 'base64')` does, which the senders' sample
/// receivers use (Millicast's): both alphabets (`+/` and `-_`), any other character skipped,
/// decoding stopped at the first `=`, missing padding accepted, a lone trailing character
/// dropped.
pub fn node_base64(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut count) = (0u32, 0);
    for byte in text.bytes() {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(sextet);
        count += 1;
        if count == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            (acc, count) = (0, 0);
        }
    }
    match count {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

fn describe_key(decoding: KeyDecoding, scheme: &Scheme) -> String {
    match (decoding, scheme) {
        (KeyDecoding::Raw, _) => "the secret's UTF-8 bytes, as given".into(),
        (KeyDecoding::Base64, Scheme::StandardWebhooks) => {
            "the secret without `whsec_`, base64-decoded".into()
        }
        (KeyDecoding::Base64, _) => "the secret base64-decoded".into(),
    }
}

fn describe_signed(template: &str, parsed: &Parsed, form: SignedForm, body_len: usize) -> String {
    let body = match form {
        SignedForm::Raw => format!("<body, {body_len} bytes>"),
        SignedForm::JsonStringify => format!("<JSON.stringify(body); the raw body is {body_len} bytes>"),
    };
    let mut out = template.replace("{body}", &body);
    if let Some(t) = &parsed.timestamp {
        out = out.replace("{timestamp}", t);
    }
    if let Some(id) = &parsed.id {
        out = out.replace("{id}", id);
    }
    out
}

fn algorithm_name(algorithm: Algorithm, encoding: Encoding) -> String {
    let hash = match algorithm {
        Algorithm::Sha1 => "HMAC-SHA1",
        Algorithm::Sha256 => "HMAC-SHA256",
        Algorithm::Sha512 => "HMAC-SHA512",
    };
    let encoding = match encoding {
        Encoding::Hex => "hex",
        Encoding::Base64 => "base64",
    };
    format!("{hash}, {encoding}")
}

/// Whether any received signature equals `mac`, in constant time for each comparison.
fn matches(parsed: &Parsed, mac: &[u8]) -> bool {
    parsed
        .signatures
        .iter()
        .any(|s| bool::from(s.as_slice().ct_eq(mac)))
}

pub(super) fn verify(
    scheme: &Scheme,
    request: &Request<'_>,
    keys: &[Key],
    tolerance: Duration,
    now: i64,
    depth: Depth,
) -> Verification {
    let Some(spec) = spec(scheme) else {
        unreachable!(
            "hmac::verify is only called for HMAC schemes, not {}",
            scheme.name()
        );
    };
    let explain = depth == Depth::Explain;
    let mut explanation = Explanation {
        scheme: scheme.name().into(),
        ..Explanation::default()
    };
    if explain {
        explanation.header = request.header_line(spec.header);
        explanation.algorithm = algorithm_name(spec.algorithm, spec.encoding);
        explanation.key = describe_key(spec.key, scheme);
    }
    let verdict = |verdict, explanation| Verification { verdict, explanation };
    let parsed = match parse(scheme, &spec, request, explain) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            if explain {
                explanation.signed = spec.template.to_owned();
            }
            explanation.detail = format!("no {} header: the request is not signed", spec.header);
            return verdict(Verdict::Unsigned, explanation);
        }
        Err(why) => {
            if explain {
                explanation.signed = spec.template.to_owned();
            }
            explanation.detail = format!("the signature header cannot be read: {why}");
            return verdict(Verdict::Invalid(Invalid::Malformed(why)), explanation);
        }
    };
    if explain {
        explanation.signed = describe_signed(
            spec.template,
            &parsed,
            scheme.documented_form(),
            request.body.len(),
        );
        explanation.received = parsed
            .texts
            .iter()
            .map(|t| format!("{}{t}", spec.prefix))
            .collect();
    }
    let secrets: Vec<&Secret> = keys
        .iter()
        .filter_map(|k| match k {
            Key::Secret(s) => Some(s),
            Key::RsaPublic(_) => None,
        })
        .collect();
    if secrets.is_empty() {
        explanation.detail = format!("signed, but no {} secret is configured (--secret)", scheme.name());
        return verdict(Verdict::NoSecret, explanation);
    }

    let compute = |key: &[u8], body: &[u8], timestamp: Option<&str>| {
        mac(
            spec.algorithm,
            key,
            &message(spec.template, timestamp, parsed.id.as_deref(), request, body),
        )
    };
    let timestamp = parsed.timestamp.as_deref();
    let mut key_error = None;
    let mut keys_bytes = Vec::with_capacity(secrets.len());
    for secret in &secrets {
        match key_bytes(secret, spec.key) {
            Ok((key, lenient)) => keys_bytes.push(Some((key, lenient))),
            Err(err) => {
                key_error.get_or_insert(err);
                keys_bytes.push(None);
            }
        }
    }
    let mut bodies = super::body_forms(scheme, request.body);
    let first = bodies.next();
    if explain
        && let Some((key, _)) = keys_bytes.iter().flatten().next()
        && let Some((_, body)) = &first
    {
        explanation.expected = Some(format!(
            "{}{}",
            spec.prefix,
            encode(spec.encoding, &compute(key, body, timestamp))
        ));
    }
    for (form, body) in first.into_iter().chain(bodies) {
        for (index, key) in keys_bytes.iter().enumerate() {
            let Some((key, lenient)) = key else { continue };
            if matches(&parsed, &compute(key, &body, timestamp)) {
                let which = super::which_key(index, secrets.len(), "secret");
                explanation.matched = Some(format!(
                    "{}{which}",
                    super::form_name(form, matches!(body, std::borrow::Cow::Borrowed(_)))
                ));
                explanation.signed_form = Some(form);
                explanation.caveat = super::caveat(scheme, form, request.body);
                if *lenient {
                    explanation.key.push_str(LENIENT_NOTE);
                }
                return check_time(scheme, explanation, timestamp, tolerance, now);
            }
        }
    }

    // Nothing matched: look for the mistake that explains the signature.
    let (diagnosis, detail) = diagnose(&spec, &parsed, &secrets, request, &compute);
    explanation.detail = match (diagnosis == Invalid::Mismatch, key_error) {
        (true, Some(err)) => format!("{err}; {detail}"),
        _ => detail,
    };
    verdict(Verdict::Invalid(diagnosis), explanation)
}

type Compute<'a> = dyn Fn(&[u8], &[u8], Option<&str>) -> Vec<u8> + 'a;

fn diagnose(
    spec: &Spec<'_>,
    parsed: &Parsed,
    secrets: &[&Secret],
    request: &Request<'_>,
    compute: &Compute<'_>,
) -> (Invalid, String) {
    let timestamp = parsed.timestamp.as_deref();
    let other_decoding = match spec.key {
        KeyDecoding::Raw => KeyDecoding::Base64,
        KeyDecoding::Base64 => KeyDecoding::Raw,
    };
    for secret in secrets {
        if let Ok((key, _)) = key_bytes(secret, other_decoding)
            && matches(parsed, &compute(&key, request.body, timestamp))
        {
            let diagnosis = match spec.key {
                KeyDecoding::Base64 => Invalid::SecretNotDecoded,
                KeyDecoding::Raw => Invalid::SecretWronglyDecoded,
            };
            let detail = format!(
                "the signature matches {}: {diagnosis}",
                describe_key(other_decoding, &Scheme::None)
            );
            return (diagnosis, detail);
        }
    }
    let body = request.body;
    let mut variants: Vec<(Invalid, &str, Vec<u8>)> = Vec::new();
    if let Some(stripped) = body.strip_suffix(b"\r\n").or_else(|| body.strip_suffix(b"\n")) {
        variants.push((
            Invalid::TrailingNewline,
            "the body without its trailing newline",
            stripped.to_vec(),
        ));
    }
    variants.push((
        Invalid::TrailingNewline,
        "the body with a trailing newline",
        [body, b"\n"].concat(),
    ));
    if let Some(pretty) = pretty_json(body) {
        variants.push((Invalid::BodyReserialized, "the JSON body re-indented", pretty));
    }
    for secret in secrets {
        let Ok((key, _)) = key_bytes(secret, spec.key) else {
            continue;
        };
        for (diagnosis, what, variant) in &variants {
            if matches(parsed, &compute(&key, variant, timestamp)) {
                return (
                    diagnosis.clone(),
                    format!("the signature matches {what}: {diagnosis}"),
                );
            }
        }
        if let Some(seconds) = timestamp
            .and_then(|t| t.parse::<u64>().ok())
            .filter(|&t| t > 100_000_000_000)
        {
            let seconds = (seconds / 1000).to_string();
            if matches(parsed, &compute(&key, body, Some(&seconds))) {
                let detail = "the signature matches with the timestamp in seconds, but the header carries milliseconds";
                return (Invalid::TimestampInMilliseconds, detail.into());
            }
        }
    }
    (
        Invalid::Mismatch,
        "no configured secret produces this signature over this body: a wrong secret (or a rotated one \
         not configured), or the body was changed after signing"
            .into(),
    )
}

fn check_time(
    scheme: &Scheme,
    mut explanation: Explanation,
    timestamp: Option<&str>,
    tolerance: Duration,
    now: i64,
) -> Verification {
    let Some(timestamp) = timestamp.and_then(|t| t.parse::<i64>().ok()) else {
        explanation.detail = format!("authentic: signed by a configured {} secret", scheme.name());
        return Verification {
            verdict: Verdict::Valid,
            explanation,
        };
    };
    let limit = tolerance.as_secs() as i64;
    let age = now.saturating_sub(timestamp);
    if age.abs() <= limit {
        explanation.detail = format!("authentic and fresh: signed {age} s ago (tolerance {limit} s)");
        return Verification {
            verdict: Verdict::Valid,
            explanation,
        };
    }
    if timestamp > 100_000_000_000 && now.saturating_sub(timestamp / 1000).abs() <= limit {
        explanation.detail = format!(
            "signed by a configured secret, but {}",
            Invalid::TimestampInMilliseconds
        );
        return Verification {
            verdict: Verdict::Invalid(Invalid::TimestampInMilliseconds),
            explanation,
        };
    }
    explanation.detail = match age > 0 {
        true => {
            format!("authentic but stale: signed {age} s ago, beyond the {limit} s tolerance (a replay?)")
        }
        false => format!(
            "authentic but dated {} s in the future, beyond the {limit} s tolerance (clock skew?)",
            -age
        ),
    };
    Verification {
        verdict: Verdict::Stale {
            age_seconds: age,
            tolerance,
        },
        explanation,
    }
}

/// The signature headers for `request` under `scheme`, signed with `secret` at `now`.
pub(super) fn sign(
    scheme: &Scheme,
    request: &Request<'_>,
    secret: &Secret,
    now: i64,
    id: &str,
) -> Result<Vec<Header>, String> {
    let spec = spec(scheme).ok_or_else(|| format!("{} is not an HMAC scheme", scheme.name()))?;
    let (key, _) = key_bytes(secret, spec.key)?;
    let body = super::signing_form(scheme, request.body)?;
    let now = now.to_string();
    let signature = encode(
        spec.encoding,
        &mac(
            spec.algorithm,
            &key,
            &message(spec.template, Some(&now), Some(id), request, &body),
        ),
    );
    let headers = match scheme {
        Scheme::Optiview => vec![Header::new("Dolby-Signature", format!("t={now},h={signature}"))],
        Scheme::Stripe => vec![Header::new("Stripe-Signature", format!("t={now},v1={signature}"))],
        Scheme::StandardWebhooks => vec![
            Header::new("webhook-id", id.to_owned()),
            Header::new("webhook-timestamp", now),
            Header::new("webhook-signature", format!("v1,{signature}")),
        ],
        Scheme::Slack => vec![
            Header::new("X-Slack-Request-Timestamp", now),
            Header::new("X-Slack-Signature", format!("v0={signature}")),
        ],
        Scheme::Hmac(params) => {
            let mut headers = Vec::new();
            if let Some(name) = &params.timestamp_header {
                headers.push(Header::new(name.clone(), now));
            }
            if let Some(name) = &params.id_header {
                headers.push(Header::new(name.clone(), id.to_owned()));
            }
            headers.push(Header::new(spec.header, format!("{}{signature}", spec.prefix)));
            headers
        }
        _ => vec![Header::new(spec.header, format!("{}{signature}", spec.prefix))],
    };
    Ok(headers)
}
