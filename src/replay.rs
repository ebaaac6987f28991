//! Replay: a capture made ready to be delivered again, as captured, re-signed or edited.
//!
//! Schemes with replay protection (OptiView, Stripe, Standard Webhooks, Slack) reject a replay
//! of an old request as stale, which is right in production and useless while fixing the app
//! that received it. [`resign`] gives the capture fresh timestamp and id headers and a new
//! signature made with the configured secret, with the very code `hookscope send` signs with;
//! [`with_body`] swaps in an edited body. Both return a copy: the capture itself is history and
//! never changes. The copy keeps the capture's id, so its attempts are journaled against it.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::analysis::Analyzer;
use crate::capture::{Capture, Header};
use crate::provider::Profile;
use crate::verify::{self, Key, Scheme, SigningKey};

/// Why a capture cannot be re-signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResignError {
    /// No provider profile applies to the capture.
    #[error("no provider recognised: cannot tell how to sign it (add a route in hookscope.toml)")]
    UnknownSender,
    /// The provider documents no signature: a plain replay is all there is.
    #[error("{0} documents no signature: replayed as captured")]
    NoneDocumented(String),
    /// No secret is configured for the provider.
    #[error("no secret configured for {0}: pass --secret {0}=... or set it in hookscope.toml")]
    NoSecret(String),
    /// The provider signs with a private key, and none is configured.
    #[error(
        "{0} signs with its private key, and none is configured: pass --key {0}-private.pem (or set \
         [keys] {0} = \"file:{0}-private.pem\" in hookscope.toml); `hookscope keygen {0}` makes a key pair \
         whose public half your app can be configured with"
    )]
    NeedsPrivateKey(String),
    /// The scheme refused to sign.
    #[error("cannot sign for {provider}: {reason}")]
    Sign {
        /// The provider.
        provider: String,
        /// Why not.
        reason: String,
    },
}

/// A capture made ready to be delivered again with a fresh signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resigned {
    /// The copy to send: the same id and body, fresh signature headers.
    pub request: Capture,
    /// The signature headers it carries now (journaled with its attempt).
    pub signature: Vec<Header>,
}

/// A copy of `capture` re-signed at `now` for its provider with its configured signing key (a
/// private key for senders that sign with one, like Dyte) or its first secret: fresh timestamp
/// and id headers, a new signature over the documented form of the same body.
pub fn resign(capture: &Capture, analyzer: &Analyzer, now: DateTime<Utc>) -> Result<Resigned, ResignError> {
    let profile = analyzer.profile_for(capture).ok_or(ResignError::UnknownSender)?;
    if profile.scheme == Scheme::None {
        return Err(ResignError::NoneDocumented(profile.name.clone()));
    }
    let keys = analyzer.keys();
    let key = match (
        keys.signing_key(&profile.name),
        keys.for_provider(&profile.name).first(),
    ) {
        (Some(key), _) => key.clone(),
        (None, Some(Key::Secret(secret))) if profile.scheme != Scheme::Dyte => {
            SigningKey::Secret(secret.clone())
        }
        (None, _) if profile.scheme == Scheme::Dyte => {
            return Err(ResignError::NeedsPrivateKey(profile.name.clone()));
        }
        (None, _) => return Err(ResignError::NoSecret(profile.name.clone())),
    };
    resign_with(capture, profile, &key, now)
}

/// A copy of `capture` re-signed at `now` as `profile`'s sender would sign it, with `key`.
pub fn resign_with(
    capture: &Capture,
    profile: &Profile,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<Resigned, ResignError> {
    let mut request = capture.clone();
    let signature = verify::sign_headers(
        &profile.scheme,
        &request.method,
        &request.path,
        &mut request.headers,
        &request.body,
        key,
        now.timestamp(),
    )
    .map_err(|reason| ResignError::Sign {
        provider: profile.name.clone(),
        reason,
    })?;
    Ok(Resigned { request, signature })
}

/// A copy of `capture` with `body` in place of its own; a `Content-Length` header, if there is
/// one, is set to the new length (forwarding sets its own anyway, but the copy stays truthful).
pub fn with_body(capture: &Capture, body: Bytes) -> Capture {
    let mut copy = capture.clone();
    for header in copy
        .headers
        .iter_mut()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        *header = Header::new(header.name.clone(), body.len().to_string());
    }
    copy.body = body;
    copy
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::config::Keys;
    use crate::provider::Catalog;

    fn analyzer(secrets: &[(&str, &str)]) -> Analyzer {
        let catalog = Catalog::builtin();
        let secrets: Vec<(String, String)> = secrets
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect();
        let keys = Keys::load(&catalog, &secrets, None).expect("keys");
        Analyzer::new(catalog, keys)
    }

    /// An OptiView capture signed an hour ago: authentic but stale.
    fn old_optiview(analyzer: &Analyzer) -> Capture {
        let mut capture = crate::codec::tests::sample_capture();
        capture.headers = vec![
            Header::new("Content-Type", "application/json"),
            Header::new("Content-Length", capture.body.len().to_string()),
        ];
        let profile = analyzer.catalog().get("optiview").expect("optiview profile");
        let key = SigningKey::Secret(verify::Secret::new("dolby_sec_test"));
        let hour_ago = Utc::now() - Duration::hours(1);
        let mut capture = resign_with(&capture, profile, &key, hour_ago)
            .expect("signs")
            .request;
        capture.received_at = hour_ago;
        capture
    }

    #[test]
    fn resigned_copies_verify_now_and_keep_their_shape() {
        let analyzer = analyzer(&[("optiview", "dolby_sec_test")]);
        let old = old_optiview(&analyzer);
        let mut now_seen = old.clone();
        now_seen.received_at = Utc::now();
        assert_eq!(analyzer.analyze(&now_seen).0.verdict.as_deref(), Some("stale"));

        let mut fresh = resign(&old, &analyzer, Utc::now()).expect("resigns").request;
        fresh.received_at = Utc::now();
        assert_eq!(analyzer.analyze(&fresh).0.verdict.as_deref(), Some("valid"));
        assert_eq!((fresh.id, &fresh.body), (old.id, &old.body));
        let names = |c: &Capture| c.headers.iter().map(|h| h.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&fresh), names(&old), "replaced in place, nothing added");
        assert_ne!(fresh.header("dolby-signature"), old.header("dolby-signature"));
    }

    #[test]
    fn resigning_replaces_signature_headers_whatever_their_case() {
        // HTTP/2 senders' headers arrive lowercase; the fresh signature must replace them, not
        // stand beside them (a receiver reads the first, stale one).
        let analyzer = analyzer(&[("optiview", "dolby_sec_test")]);
        let mut old = old_optiview(&analyzer);
        for header in &mut old.headers {
            header.name = header.name.to_ascii_lowercase();
        }
        let fresh = resign(&old, &analyzer, Utc::now()).expect("resigns");
        let signatures: Vec<&Header> = fresh
            .request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("dolby-signature"))
            .collect();
        assert_eq!(signatures.len(), 1, "{:?}", fresh.request.headers);
        assert_eq!(signatures[0].name, "dolby-signature", "the sender's case is kept");
        let mut now_seen = fresh.request.clone();
        now_seen.received_at = Utc::now();
        assert_eq!(analyzer.analyze(&now_seen).0.verdict.as_deref(), Some("valid"));
        assert_eq!(fresh.signature.len(), 1);
        assert_eq!(fresh.signature[0].value, signatures[0].value);
    }

    #[test]
    fn resigning_says_why_not() {
        let old = old_optiview(&analyzer(&[]));
        assert_eq!(
            resign(&old, &analyzer(&[]), Utc::now()),
            Err(ResignError::NoSecret("optiview".into()))
        );
        let mut stranger = old.clone();
        stranger
            .headers
            .retain(|h| !h.name.eq_ignore_ascii_case("dolby-signature"));
        assert_eq!(
            resign(&stranger, &analyzer(&[]), Utc::now()),
            Err(ResignError::UnknownSender)
        );
    }

    #[test]
    fn edited_bodies_fix_content_length() {
        let analyzer = analyzer(&[]);
        let old = old_optiview(&analyzer);
        let edited = with_body(&old, Bytes::from_static(b"{\"edited\":true}"));
        assert_eq!(edited.header("content-length"), Some(&b"15"[..]));
        assert_eq!(edited.body, Bytes::from_static(b"{\"edited\":true}"));
        let mut bare = old.clone();
        bare.headers.clear();
        assert!(with_body(&bare, Bytes::new()).headers.is_empty());
    }
}
