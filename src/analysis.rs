//! Analysis: which provider sent a capture, what event it is, and whether it is authentic.
//!
//! A route from `hookscope.toml` decides the provider when one matches the path; otherwise the
//! headers do. The provider's profile reads the event's facts and its scheme checks the
//! signature with the configured keys, as of the moment the capture arrived.

use std::time::Duration;

use crate::capture::{Capture, Derived};
use crate::config::Keys;
use crate::provider::{Catalog, Profile};
use crate::verify::{self, Key, Request, Scheme, Verdict, Verification};

/// [`verify::verify`] or [`verify::verdict`].
type Check = fn(&Scheme, &Request<'_>, &[Key], Duration, i64) -> Verification;

/// Analyzes captures with a catalog of profiles and the configured keys.
#[derive(Debug, Clone)]
pub struct Analyzer {
    catalog: Catalog,
    keys: Keys,
}

impl Analyzer {
    /// An analyzer over `catalog` with `keys`.
    pub fn new(catalog: Catalog, keys: Keys) -> Self {
        Self { catalog, keys }
    }

    /// The configured keys (secrets and routes).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The keys, to add the secret of a webhook registered for the session before the analyzer
    /// is shared (`listen --register`, #18).
    pub fn keys_mut(&mut self) -> &mut Keys {
        &mut self.keys
    }

    /// The provider catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The profile that applies to `capture`: its route, else its headers.
    pub fn profile_for(&self, capture: &Capture) -> Option<&Profile> {
        match self.keys.route(capture) {
            Some(name) => self.catalog.get(name),
            None => self.catalog.detect(capture),
        }
    }

    /// The derived facts and the full verification (for explanations) of `capture`.
    pub fn analyze(&self, capture: &Capture) -> (Derived, Option<Verification>) {
        match self.run(capture, verify::verify) {
            Some((mut derived, verification)) => {
                derived.verdict_detail = Some(verification.explanation.detail.clone());
                (derived, Some(verification))
            }
            None => (generic(capture), None),
        }
    }

    /// The derived facts of `capture` alone: what the journal records for each capture. The
    /// same verdict and detail as [`Analyzer::analyze`], without building the rest of the
    /// explanation.
    pub fn derive(&self, capture: &Capture) -> Derived {
        match self.run(capture, verify::verdict) {
            Some((mut derived, verification)) => {
                derived.verdict_detail = Some(verification.explanation.detail);
                derived
            }
            None => generic(capture),
        }
    }

    /// The facts of `capture` (all but the verdict's detail) and its verification, when a
    /// profile applies.
    fn run(&self, capture: &Capture, check: Check) -> Option<(Derived, Verification)> {
        let profile = self.profile_for(capture)?;
        let facts = profile.facts(capture);
        let now = capture.received_at.timestamp();
        let mut verification = check(
            &profile.scheme,
            &Request::from(capture),
            self.keys.for_provider(&profile.name),
            profile.tolerance,
            now,
        );
        if verification.verdict == Verdict::Unsigned
            && let Some(other) = self.other_signature(capture, profile)
        {
            verification.explanation.detail.push_str(&format!(
                "; it carries {} ({}'s signature): is it routed to the right provider?",
                other.0, other.1
            ));
        }
        if let crate::capture::Via::Smee(_) = capture.via {
            through_smee(&profile.scheme, &mut verification);
        }
        let derived = Derived {
            provider: Some(profile.name.clone()),
            event_type: facts.event_type,
            event_time: facts.event_time,
            event_id: facts.event_id,
            object: facts.object,
            verdict: Some(verification.verdict.label().to_owned()),
            verdict_detail: None,
            signed_form: verification
                .explanation
                .signed_form
                .map(|form| form.label().to_owned()),
            caveat: verification.explanation.caveat.clone(),
            handshake: None,
        };
        Some((derived, verification))
    }

    /// Another provider's signature header carried by `capture`, as (header, provider).
    fn other_signature(&self, capture: &Capture, profile: &Profile) -> Option<(String, String)> {
        self.catalog
            .profiles()
            .iter()
            .filter(|p| p.name != profile.name)
            .find_map(|p| {
                let header = p.scheme.signature_header()?;
                capture
                    .header(header)
                    .map(|_| (header.to_owned(), p.name.clone()))
            })
    }
}

/// Says why a signature over the raw bytes may fail through smee.io: smee delivers
/// `JSON.stringify(body)` of the JSON it parsed, not the bytes the sender signed (#16). A scheme
/// documented to sign that form (OptiView, Dyte) is not hurt by it, and a match needs no excuse.
fn through_smee(scheme: &verify::Scheme, verification: &mut Verification) {
    if matches!(verification.verdict, Verdict::Invalid(_))
        && scheme.documented_form() == verify::SignedForm::Raw
    {
        verification.explanation.detail.push_str(
            "; it came through smee.io, which delivers JSON.stringify(body) of the JSON it parsed, \
             not the bytes the sender signed: a signature over the raw bytes matches only when the \
             sender wrote its JSON as JavaScript does (compact, same number and escape forms); \
             use --public or the relay to check signatures on the sender's own bytes",
        );
    }
}

/// What can be said of a capture no profile applies to: the event type of a JSON object body,
/// from the fields senders usually put it in (`type`, `event`, `event_type`, `eventType`, the
/// first that holds a string), so the list, `type:` filters and the journal work for any sender.
fn generic(capture: &Capture) -> Derived {
    /// The candidate fields; everything else in the body is skipped, not built.
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "type")]
        type_: Option<serde_json::Value>,
        event: Option<serde_json::Value>,
        event_type: Option<serde_json::Value>,
        #[serde(rename = "eventType")]
        event_type_camel: Option<serde_json::Value>,
    }
    let event_type = serde_json::from_slice::<Envelope>(&capture.body)
        .ok()
        .and_then(|e| {
            [e.type_, e.event, e.event_type, e.event_type_camel]
                .into_iter()
                .find_map(|value| match value {
                    Some(serde_json::Value::String(text)) if !text.is_empty() => Some(text),
                    _ => None,
                })
        });
    Derived {
        event_type,
        ..Derived::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureId, Header, Via};
    use crate::config::Route;

    fn capture(path: &str, headers: Vec<Header>) -> Capture {
        Capture {
            id: CaptureId::generate(),
            received_at: chrono::Utc::now(),
            remote_addr: "127.0.0.1:1".into(),
            via: Via::Direct,
            method: "POST".into(),
            path: path.into(),
            query: None,
            version: "HTTP/1.1".into(),
            headers,
            body: bytes::Bytes::from_static(br#"{"type":"charge.succeeded","id":"evt_1","created":1}"#),
            status: 200,
            note: None,
            derived: Derived::default(),
        }
    }

    #[test]
    fn routes_win_over_headers_and_other_signatures_are_named() {
        let mut keys = Keys::default();
        keys.routes.push(Route::by_path("/stripe/*", "stripe"));
        let analyzer = Analyzer::new(Catalog::builtin(), keys);
        // Routed to stripe, but signed the GitHub way.
        let github_signed = vec![Header::new("X-Hub-Signature-256", "sha256=00")];
        let (derived, verification) = analyzer.analyze(&capture("/stripe/hook", github_signed.clone()));
        assert_eq!(derived.provider.as_deref(), Some("stripe"));
        assert_eq!(derived.verdict.as_deref(), Some("unsigned"));
        let detail = verification.map(|v| v.explanation.detail).unwrap_or_default();
        assert!(
            detail.contains("it carries X-Hub-Signature-256 (github's signature)"),
            "{detail}"
        );
        // Off the route, the headers decide: GitHub's event header, else Meta's (same signature).
        let (derived, _) = analyzer.analyze(&capture("/elsewhere", github_signed.clone()));
        assert_eq!(derived.provider.as_deref(), Some("meta"));
        assert_eq!(derived.verdict.as_deref(), Some("no-secret"));
        let mut from_github = github_signed;
        from_github.push(Header::new("X-GitHub-Event", "push"));
        let (derived, _) = analyzer.analyze(&capture("/elsewhere", from_github));
        assert_eq!(derived.provider.as_deref(), Some("github"));
        assert_eq!(derived.verdict.as_deref(), Some("no-secret"));
        // Nothing recognisable: no provider, no verdict, but the event type of a JSON body.
        let (derived, verification) = analyzer.analyze(&capture("/elsewhere", vec![]));
        assert_eq!(
            derived,
            Derived {
                event_type: Some("charge.succeeded".into()),
                ..Derived::default()
            }
        );
        assert!(verification.is_none());
    }

    #[test]
    fn a_millicast_stream_ended_before_its_start_arrived_is_marked_late() {
        // 000: "the order of events is not guaranteed"; the stream is the object compared.
        let analyzer = Analyzer::new(Catalog::builtin(), Keys::default());
        let mut tracker = crate::filter::Tracker::default();
        let mut marks = Vec::new();
        for (event, ms, stream) in [
            ("ended", 1_700_000_002_000_u64, "acc/a"),
            ("started", 1_700_000_001_000, "acc/a"),
            ("started", 1_700_000_000_000, "acc/b"),
        ] {
            let mut capture = capture("/hooks", vec![Header::new("X-Millicast-Signature", "sha1=00")]);
            capture.body = bytes::Bytes::from(format!(
                r#"{{"type":"feeds","event":"{event}","timestamp":{ms},"data":{{"streamId":"{stream}"}}}}"#
            ));
            capture.derived = analyzer.derive(&capture);
            assert_eq!(capture.derived.object.as_deref(), Some(stream));
            marks.push(tracker.observe(&capture).late);
        }
        assert_eq!(
            marks,
            [false, true, false],
            "only the start that came after its end is late"
        );
    }

    #[test]
    fn unknown_senders_get_an_event_type_from_the_usual_fields() {
        let analyzer = Analyzer::new(Catalog::builtin(), Keys::default());
        let event_type = |body: &'static str| {
            let mut capture = capture("/x", vec![]);
            capture.body = bytes::Bytes::from_static(body.as_bytes());
            let derived = analyzer.derive(&capture);
            assert_eq!(derived.event_type, analyzer.analyze(&capture).0.event_type);
            derived.event_type
        };
        for (body, expected) in [
            (r#"{"type":"a.b","event":"x"}"#, Some("a.b")),
            (
                r#"{"event":"order.paid","type":{"nested":1}}"#,
                Some("order.paid"),
            ),
            (r#"{"data":{},"event_type":"user.created"}"#, Some("user.created")),
            (r#"{"eventType":"JobDone"}"#, Some("JobDone")),
            (r#"{"type":7,"event":null,"event_type":"x.y"}"#, Some("x.y")),
            (r#"{"type":""}"#, None),
            (r#"{"kind":"a"}"#, None),
            (r#"["type","a"]"#, None),
            ("type=a", None),
        ] {
            assert_eq!(event_type(body).as_deref(), expected, "{body}");
        }
    }
}
