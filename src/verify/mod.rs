//! Signature verification: is this webhook authentic, and if not, why not?
//!
//! Every scheme is a pure function over (headers, raw body, keys, now) that returns a
//! [`Verification`]: a [`Verdict`] plus an [`Explanation`] a developer can act on (the signed
//! string's shape, the algorithm, how the key was decoded, expected against received). A bad
//! signature is data, never an error, and nothing here panics on what a sender sent.
//!
//! Verification tries the raw body first, then the compact re-serialization of the JSON (many
//! senders' sample code hashes `JSON.stringify(req.body)`), and every configured key (rotated
//! secrets); the explanation says which matched. When nothing matches, it tries the usual
//! mistakes (secret not base64-decoded, a trailing newline, a re-indented body, milliseconds for
//! seconds) and names the one that explains the signature.

mod hmac;
mod rsa;
pub mod stringify;

use std::fmt;
use std::time::Duration;

pub use self::hmac::{Algorithm, Encoding, HmacParams, KeyDecoding};
pub use self::rsa::{generate_key_pair, parse_private_key, parse_public_key};
use crate::capture::Header;

/// A shared secret. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret's text; only for computing signatures.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(MASKED)")
    }
}

/// What a signature is checked with.
#[derive(Clone, Debug)]
pub enum Key {
    /// A shared secret (HMAC schemes).
    Secret(Secret),
    /// The sender's RSA public key (Dyte).
    RsaPublic(Box<::rsa::RsaPublicKey>),
}

/// How a sender signs its webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `X-Millicast-Signature: sha1=<hex HMAC-SHA1(body)>`, key = secret base64-decoded.
    Millicast,
    /// `Dolby-Signature: t=<s>,h=<hex HMAC-SHA256("t.body")>`, key = secret as given.
    Optiview,
    /// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body)>`.
    Github,
    /// `Stripe-Signature: t=<s>,v1=<hex HMAC-SHA256("t.body")>[,v1=…]`.
    Stripe,
    /// `webhook-signature: v1,<base64 HMAC-SHA256("id.t.body")> …`, key = `whsec_` base64.
    StandardWebhooks,
    /// `X-Slack-Signature: v0=<hex HMAC-SHA256("v0:t:body")>`.
    Slack,
    /// `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(body)>`.
    Shopify,
    /// `dyte-signature: <base64 RSA-SHA256 PKCS#1 v1.5 over the JSON body>`.
    Dyte,
    /// A generic HMAC scheme described by parameters.
    Hmac(HmacParams),
    /// The sender does not sign its webhooks.
    None,
}

impl Scheme {
    /// The scheme's name as written in profiles.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Millicast => "millicast",
            Scheme::Optiview => "optiview",
            Scheme::Github => "github",
            Scheme::Stripe => "stripe",
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::Slack => "slack",
            Scheme::Shopify => "shopify",
            Scheme::Dyte => "dyte",
            Scheme::Hmac(_) => "hmac",
            Scheme::None => "none",
        }
    }

    /// What the receiver the sender's documentation describes hashes: the raw body for most,
    /// `JSON.stringify(req.body)` for OptiView's and Dyte's sample receivers.
    pub fn documented_form(&self) -> SignedForm {
        match self {
            Scheme::Optiview | Scheme::Dyte => SignedForm::JsonStringify,
            Scheme::Hmac(params) => params.form,
            _ => SignedForm::Raw,
        }
    }

    /// The sender's name as its documentation writes it, for sentences.
    fn sender(&self) -> &'static str {
        match self {
            Scheme::Millicast => "Millicast",
            Scheme::Optiview => "OptiView",
            Scheme::Github => "GitHub",
            Scheme::Stripe => "Stripe",
            Scheme::StandardWebhooks => "Standard Webhooks",
            Scheme::Slack => "Slack",
            Scheme::Shopify => "Shopify",
            Scheme::Dyte => "Dyte",
            Scheme::Hmac(_) | Scheme::None => "the sender",
        }
    }

    /// The header that carries the signature, if the scheme has one.
    pub fn signature_header(&self) -> Option<&str> {
        match self {
            Scheme::Hmac(params) => Some(&params.header),
            Scheme::Dyte => Some("dyte-signature"),
            Scheme::None => None,
            other => hmac::builtin(other).map(|spec| spec.header),
        }
    }
}

/// Which bytes of the body a signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
pub enum SignedForm {
    /// The body's bytes exactly as they arrived.
    #[serde(rename = "raw")]
    Raw,
    /// `JSON.stringify(JSON.parse(body))`, byte for byte as JavaScript writes it: what a
    /// receiver written from OptiView's or Dyte's documentation recomputes.
    #[serde(rename = "json-stringify")]
    JsonStringify,
}

impl SignedForm {
    /// The name used in journal records, filters and profiles: `raw`, `json-stringify`.
    pub fn label(self) -> &'static str {
        match self {
            SignedForm::Raw => "raw",
            SignedForm::JsonStringify => "json-stringify",
        }
    }

    /// The form named `label`.
    pub fn from_label(label: &str) -> Option<Self> {
        match label {
            "raw" => Some(SignedForm::Raw),
            "json-stringify" => Some(SignedForm::JsonStringify),
            _ => None,
        }
    }

    /// What the form is, for people: `the raw body`, `JSON.stringify(body)`.
    pub fn describe(self) -> &'static str {
        match self {
            SignedForm::Raw => "the raw body bytes",
            SignedForm::JsonStringify => "JSON.stringify(JSON.parse(body))",
        }
    }

    /// The bytes of `body` in this form; `None` when the body has no such form (not JSON).
    pub fn of(self, body: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
        match self {
            SignedForm::Raw => Some(std::borrow::Cow::Borrowed(body)),
            SignedForm::JsonStringify => stringify::stringify(body).map(|form| match form == body {
                true => std::borrow::Cow::Borrowed(body),
                false => std::borrow::Cow::Owned(form),
            }),
        }
    }

    fn other(self) -> Self {
        match self {
            SignedForm::Raw => SignedForm::JsonStringify,
            SignedForm::JsonStringify => SignedForm::Raw,
        }
    }
}

/// The outcome of checking a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by a configured key, over this body, in time.
    Valid,
    /// The signature is there but does not check out.
    Invalid(Invalid),
    /// The signature checks out but its timestamp is outside the tolerance (a replay?).
    Stale {
        /// How far the timestamp is from now, in seconds (positive: in the past).
        age_seconds: i64,
        /// The allowed distance.
        tolerance: Duration,
    },
    /// The scheme signs, but this request carries no signature.
    Unsigned,
    /// Signed, but no secret or key is configured to check it with.
    NoSecret,
    /// The sender documents no signature scheme (AIOZ Stream): nothing can be checked.
    NoneDocumented,
}

/// Why an invalid signature is invalid, as far as can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The signature header cannot be parsed.
    Malformed(String),
    /// Nothing explains it: a wrong secret, or a body changed in transit.
    Mismatch,
    /// It matches when the secret is used as raw text, but the scheme base64-decodes it.
    SecretNotDecoded,
    /// It matches when the secret is base64-decoded, but the scheme uses it as given.
    SecretWronglyDecoded,
    /// It matches the body with a trailing newline added or removed.
    TrailingNewline,
    /// It matches the JSON re-serialized differently (indented, or compacted): the body was
    /// re-serialized between signing and sending.
    BodyReserialized,
    /// The timestamp is in milliseconds where the scheme wants seconds.
    TimestampInMilliseconds,
}

impl Verdict {
    /// The short name used in filters, journal records and lists.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid(_) => "invalid",
            Verdict::Stale { .. } => "stale",
            Verdict::Unsigned => "unsigned",
            Verdict::NoSecret => "no-secret",
            Verdict::NoneDocumented => "none-documented",
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invalid::Malformed(why) => return write!(f, "malformed signature header: {why}"),
            Invalid::Mismatch => "wrong secret, or the body was changed after signing",
            Invalid::SecretNotDecoded => {
                "signed with the secret used as raw text; this scheme base64-decodes the secret first"
            }
            Invalid::SecretWronglyDecoded => {
                "signed with the secret base64-decoded; this scheme uses the secret exactly as given"
            }
            Invalid::TrailingNewline => "the body gained or lost a trailing newline after signing",
            Invalid::BodyReserialized => "the JSON body was re-serialized (whitespace changed) after signing",
            Invalid::TimestampInMilliseconds => {
                "the timestamp is in milliseconds; this scheme expects seconds"
            }
        })
    }
}

/// What was checked and how: enough to reproduce the computation by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explanation {
    /// The scheme's name.
    pub scheme: String,
    /// The signature header as received (`Name: value`), if any.
    pub header: Option<String>,
    /// The shape of the signed string, e.g. `{t}.{body}` with t = 1700000000.
    pub signed: String,
    /// The algorithm and output encoding, e.g. `HMAC-SHA256, hex`.
    pub algorithm: String,
    /// How the key was made from the secret.
    pub key: String,
    /// The signature computed with the first key over the raw body.
    pub expected: Option<String>,
    /// The signature(s) received.
    pub received: Vec<String>,
    /// What matched, when something did (`raw body, secret #2 of 2`).
    pub matched: Option<String>,
    /// The form of the body the signature matched, when one did.
    pub signed_form: Option<SignedForm>,
    /// A warning that goes with a valid verdict: the signature matched only the form the
    /// receiver in the sender's documentation does not compute, so that receiver rejects it.
    pub caveat: Option<String>,
    /// A sentence on why the verdict is what it is.
    pub detail: String,
}

impl Explanation {
    /// The explanation as labelled lines, in reading order, for any display. Values may hold
    /// text from the request: sanitize before drawing.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut lines = vec![("scheme", self.scheme.clone())];
        if let Some(header) = &self.header {
            lines.push(("header", header.clone()));
        }
        if !self.signed.is_empty() {
            lines.push(("signed", self.signed.clone()));
        }
        if !self.algorithm.is_empty() {
            lines.push(("algorithm", self.algorithm.clone()));
            lines.push(("key", self.key.clone()));
        }
        if let Some(expected) = &self.expected {
            lines.push(("expected", expected.clone()));
        }
        for received in &self.received {
            lines.push(("received", received.clone()));
        }
        if let Some(matched) = &self.matched {
            lines.push(("matched", matched.clone()));
        }
        if let Some(form) = self.signed_form {
            lines.push(("form", form.label().to_owned()));
        }
        if let Some(caveat) = &self.caveat {
            lines.push(("caveat", caveat.clone()));
        }
        lines.push(("why", self.detail.clone()));
        lines
    }
}

/// A verdict with its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The outcome.
    pub verdict: Verdict,
    /// How it was reached.
    pub explanation: Explanation,
}

/// The parts of a request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method.
    pub method: &'a str,
    /// The path (for schemes that sign it).
    pub path: &'a str,
    /// Headers as received.
    pub headers: &'a [Header],
    /// The raw body.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The first value of header `name` (case-insensitive) as text, if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(&h.value).ok())
    }

    fn header_line(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| format!("{}: {}", h.name, String::from_utf8_lossy(&h.value)))
    }
}

impl<'a> From<&'a crate::capture::Capture> for Request<'a> {
    fn from(capture: &'a crate::capture::Capture) -> Self {
        Self {
            method: &capture.method,
            path: &capture.path,
            headers: &capture.headers,
            body: &capture.body,
        }
    }
}

/// The default replay window of timestamped schemes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// How much of an [`Explanation`] a check builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// The verdict and its one-sentence detail only: what the journal keeps for every capture.
    Verdict,
    /// Everything needed to reproduce the computation by hand, for the inspector and `verify`.
    Explain,
}

/// Checks `request` against `scheme` with every key in `keys`, at time `now` (Unix seconds).
pub fn verify(
    scheme: &Scheme,
    request: &Request<'_>,
    keys: &[Key],
    tolerance: Duration,
    now: i64,
) -> Verification {
    check(scheme, request, keys, tolerance, now, Depth::Explain)
}

/// Like [`verify`], with the same verdict and detail, but the rest of the explanation left
/// empty: the cheap check every capture gets on its way to the journal.
pub fn verdict(
    scheme: &Scheme,
    request: &Request<'_>,
    keys: &[Key],
    tolerance: Duration,
    now: i64,
) -> Verification {
    check(scheme, request, keys, tolerance, now, Depth::Verdict)
}

fn check(
    scheme: &Scheme,
    request: &Request<'_>,
    keys: &[Key],
    tolerance: Duration,
    now: i64,
    depth: Depth,
) -> Verification {
    match scheme {
        Scheme::None => Verification {
            verdict: Verdict::NoneDocumented,
            explanation: Explanation {
                scheme: scheme.name().into(),
                detail: "no signature documented: the sender's documentation names no signature scheme, so \
                         nothing proves where this came from"
                    .into(),
                ..Explanation::default()
            },
        },
        Scheme::Dyte => rsa::verify(request, keys),
        other => hmac::verify(other, request, keys, tolerance, now, depth),
    }
}

/// The headers that sign `body` under `scheme`, as the sender would send them.
///
/// `now` is the Unix time to sign at, `id` the message id for schemes that sign one. Returns an
/// error when the key does not suit the scheme (an HMAC secret for Dyte, a bad base64 secret).
pub fn sign(
    scheme: &Scheme,
    request: &Request<'_>,
    key: &SigningKey,
    now: i64,
    id: &str,
) -> Result<Vec<Header>, String> {
    match (scheme, key) {
        (Scheme::None, _) => Ok(Vec::new()),
        (Scheme::Dyte, SigningKey::RsaPrivate(private)) => rsa::sign(request.body, private),
        (Scheme::Dyte, SigningKey::Secret(_)) => Err(
            "dyte signs with an RSA private key: pass --key FILE.pem (see `hookscope keygen dyte`)".into(),
        ),
        (other, SigningKey::Secret(secret)) => hmac::sign(other, request, secret, now, id),
        (other, SigningKey::RsaPrivate(_)) => Err(format!(
            "{} signs with a shared secret, not an RSA key",
            other.name()
        )),
    }
}

/// Signs a request the way its sender would, in place: computes the signature headers of
/// `scheme` at `now` (Unix seconds) with a fresh message id over the scheme's documented form of
/// `body` (for OptiView and Dyte, `JSON.stringify(JSON.parse(body))`; the body itself is sent
/// as it is), replaces any headers of the same names where they stand, whatever their case (a
/// re-signed replay keeps its header order) and appends the others. Returns the headers it set.
/// `send` signs its samples with this and `replay --resign` re-signs captures with it.
pub fn sign_headers(
    scheme: &Scheme,
    method: &str,
    path: &str,
    headers: &mut Vec<Header>,
    body: &[u8],
    key: &SigningKey,
    now: i64,
) -> Result<Vec<Header>, String> {
    let id = format!("msg_{}", crate::capture::CaptureId::generate());
    let request = Request {
        method,
        path,
        headers: headers.as_slice(),
        body,
    };
    let signature = sign(scheme, &request, key, now, &id)?;
    for fresh in &signature {
        match headers
            .iter_mut()
            .find(|h| h.name.eq_ignore_ascii_case(&fresh.name))
        {
            Some(old) => old.value = fresh.value.clone(),
            None => headers.push(fresh.clone()),
        }
    }
    // A second header of a replaced name (a capture signed twice) would be a second,
    // stale signature beside the fresh one: drop it.
    let mut seen = std::collections::HashSet::new();
    headers.retain(|h| {
        !signature.iter().any(|s| s.name.eq_ignore_ascii_case(&h.name))
            || seen.insert(h.name.to_ascii_lowercase())
    });
    Ok(signature)
}

/// Runs every scheme over signature headers and a body cut from `data`: the body of the fuzz
/// target `signature_headers` and of the no-panic test. Bytes before the first `0xff` are the
/// signature headers' value, up to the second the timestamp and id headers', the rest the body.
/// Returns each scheme's name and verdict, so a test can see what ran.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) -> Vec<(&'static str, &'static str)> {
    let mut parts = data.splitn(3, |&b| b == 0xff);
    let value = parts.next().unwrap_or_default();
    let second = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let schemes = [
        Scheme::Millicast,
        Scheme::Optiview,
        Scheme::Github,
        Scheme::Stripe,
        Scheme::StandardWebhooks,
        Scheme::Slack,
        Scheme::Shopify,
        Scheme::Dyte,
        Scheme::Hmac(HmacParams {
            header: "X-Signature".into(),
            algorithm: Algorithm::Sha512,
            encoding: Encoding::Base64,
            prefix: "v=".into(),
            template: "{id}:{timestamp}:{method}:{path}:{body}".into(),
            timestamp_header: Some("X-Timestamp".into()),
            id_header: Some("X-Id".into()),
            key: KeyDecoding::Base64,
            form: SignedForm::Raw,
        }),
    ];
    let keys = [
        Key::Secret(Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
        Key::Secret(Secret::new("not base64 at all")),
    ];
    let mut verdicts = Vec::with_capacity(schemes.len());
    for scheme in &schemes {
        let mut headers: Vec<Header> = [
            "webhook-id",
            "webhook-timestamp",
            "X-Slack-Request-Timestamp",
            "X-Timestamp",
            "X-Id",
        ]
        .iter()
        .map(|name| Header::new(*name, bytes::Bytes::copy_from_slice(second)))
        .collect();
        if let Some(name) = scheme.signature_header() {
            headers.push(Header::new(name, bytes::Bytes::copy_from_slice(value)));
        }
        let request = Request {
            method: "POST",
            path: "/fuzz",
            headers: &headers,
            body,
        };
        let verification = verify(scheme, &request, &keys, DEFAULT_TOLERANCE, 1_700_000_000);
        let _ = verification.explanation.lines();
        verdicts.push((scheme.name(), verification.verdict.label()));
    }
    verdicts
}

/// What a signature is made with.
#[derive(Clone, Debug)]
pub enum SigningKey {
    /// A shared secret (HMAC schemes).
    Secret(Secret),
    /// An RSA private key (Dyte).
    RsaPrivate(Box<::rsa::RsaPrivateKey>),
}

/// The forms of the body a signature is checked against, the documented one first: each with
/// its form and bytes. A form the body does not have (not JSON) is left out, and so is the
/// second when it is the same bytes as the first (then the documented form is the one named).
/// The second is worked out only when asked for: a signature that matches the documented form
/// (nearly all) never pays for the other (for raw senders, a JSON re-serialization).
fn body_forms<'a>(
    scheme: &Scheme,
    body: &'a [u8],
) -> impl Iterator<Item = (SignedForm, std::borrow::Cow<'a, [u8]>)> + 'a {
    use std::borrow::Cow;
    let documented = scheme.documented_form();
    let first = documented.of(body);
    // `of` borrows the body exactly when the form is the body's own bytes.
    let first_is_the_body = matches!(first, Some(Cow::Borrowed(_)));
    let other = documented.other();
    let second = std::iter::once_with(move || other.of(body))
        .flatten()
        .filter(move |second| !(first_is_the_body && matches!(second, Cow::Borrowed(_))))
        .map(move |second| (other, second));
    first.map(|first| (documented, first)).into_iter().chain(second)
}

/// The caveat of a signature that matched `form` under `scheme`, when a receiver written from
/// the sender's documentation would compute another form and reject the request.
fn caveat(scheme: &Scheme, form: SignedForm, body: &[u8]) -> Option<String> {
    let documented = scheme.documented_form();
    if form == documented {
        return None;
    }
    let sender = scheme.sender();
    Some(match (form, documented.of(body).is_some()) {
        (SignedForm::Raw, false) => format!(
            "matched the raw bytes, but the body is not JSON: a receiver written from {sender}'s docs \
             hashes JSON.stringify(body) and cannot parse it"
        ),
        (SignedForm::Raw, true) => format!(
            "matched the raw bytes only; a receiver written from {sender}'s docs hashes \
             JSON.stringify(body), which differs from these bytes, and will reject this"
        ),
        (SignedForm::JsonStringify, _) => format!(
            "matched JSON.stringify(body) only, not the raw bytes; a receiver written from {sender}'s \
             docs hashes the raw body and will reject this (was the body re-serialized on its way?)"
        ),
    })
}

/// What to say a signature matched: `the raw body`, `JSON.stringify(body)`; `own_bytes` when
/// the form's bytes are the body's own (borrowed from it).
fn form_name(form: SignedForm, own_bytes: bool) -> &'static str {
    match (form, own_bytes) {
        (SignedForm::Raw, _) => "the raw body",
        (SignedForm::JsonStringify, true) => "JSON.stringify(body), the same bytes as the raw body",
        (SignedForm::JsonStringify, false) => {
            "JSON.stringify(body), the body re-serialized as JavaScript writes it"
        }
    }
}

/// The bytes `scheme` signs for `body`: its documented form, or why there is none.
fn signing_form<'a>(scheme: &Scheme, body: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, String> {
    let form = scheme.documented_form();
    form.of(body).ok_or_else(|| {
        format!(
            "{} signs {}, and this body is not JSON; edit it into JSON or replay it without re-signing",
            scheme.sender(),
            form.describe()
        )
    })
}

/// `", secret #2 of 3"` when several keys were tried; nothing when there was one.
fn which_key(index: usize, total: usize, noun: &str) -> String {
    match total {
        1 => String::new(),
        n => format!(", {noun} #{} of {n}", index + 1),
    }
}

/// The JSON re-indented with two spaces (`JSON.stringify(x, null, 2)`), when it differs.
fn pretty_json(body: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let pretty = serde_json::to_vec_pretty(&value).ok()?;
    (pretty != body).then_some(pretty)
}

/// A short preview of a value for explanations: the first 12 and last 4 characters.
fn preview(text: &str) -> String {
    match text.chars().count() {
        0..=24 => text.to_owned(),
        n => {
            let head: String = text.chars().take(12).collect();
            let tail: String = text.chars().skip(n - 4).collect();
            format!("{head}…{tail}")
        }
    }
}

#[cfg(test)]
mod tests;
