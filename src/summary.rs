//! A capture as the inspector's list holds it, worked out where the capture is recorded.
//!
//! Under load the live inspector lists tens of thousands of captures a second. Reading each
//! whole capture on the inspector's thread (its target, its headers for the content type, its
//! body for the dup tracker) walked memory another core had just written, and dropping it there
//! freed a score of allocations across threads. The hub instead makes a [`Summary`] on the
//! recording thread, while the capture is in that core's cache: the row's strings in one
//! allocation and the dup tracker's fingerprints. The inspector interns and appends; the
//! capture itself is freed where it was made, and read back from the journal by its offset
//! when the detail pane shows it.

use chrono::{DateTime, Utc};

use crate::capture::{Capture, CaptureId};
use crate::filter::Fingerprints;

/// The text fields of a summary, in the order they are laid out in its one string.
#[derive(Debug, Clone, Copy)]
enum Field {
    Target,
    Method,
    Via,
    Provider,
    EventType,
    Verdict,
    SignedForm,
    ContentType,
}

const FIELDS: usize = 8;

/// What the inspector's list keeps of a capture.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The capture's id.
    pub id: CaptureId,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// Where its line starts in the journal, when known.
    pub offset: Option<u64>,
    /// The text fields one after the other; `ends` says where each stops.
    text: Box<str>,
    ends: [u32; FIELDS],
    /// Which optional fields are there (bit `Field as u8`).
    present: u8,
    /// Where the path ends in the target.
    pub path_len: u32,
    /// Whether the verdict carries a caveat.
    pub caveat: bool,
    /// Whether the listener answered (or refused) a handshake.
    pub handshake: bool,
    /// The body's size in bytes.
    pub body_size: u64,
    /// The status hookscope answered.
    pub status: u16,
    /// What the dup/late tracker needs.
    pub fingerprints: Fingerprints,
}

impl Summary {
    /// The summary of `capture`, journaled at `offset` when known.
    pub fn of(capture: &Capture, offset: Option<u64>) -> Self {
        use std::fmt::Write as _;

        let derived = &capture.derived;
        let mut text = String::with_capacity(
            capture.path.len() + capture.query.as_ref().map_or(0, |q| q.len() + 1) + 96,
        );
        let mut ends = [0u32; FIELDS];
        let mut present = 0u8;
        let mut end = |text: &String, field: Field, there: bool| {
            ends[field as usize] = text.len() as u32;
            if there {
                present |= 1 << field as u8;
            }
        };
        text.push_str(&capture.path);
        if let Some(query) = &capture.query {
            text.push('?');
            text.push_str(query);
        }
        end(&text, Field::Target, true);
        text.push_str(&capture.method);
        end(&text, Field::Method, true);
        // Writing to a String cannot fail.
        let _ = write!(text, "{}", capture.via);
        end(&text, Field::Via, true);
        for (field, value) in [
            (Field::Provider, derived.provider.as_deref()),
            (Field::EventType, derived.event_type.as_deref()),
            (Field::Verdict, derived.verdict.as_deref()),
            (Field::SignedForm, derived.signed_form.as_deref()),
        ] {
            text.push_str(value.unwrap_or_default());
            end(&text, field, value.is_some());
        }
        let content_type = capture.content_type();
        text.push_str(content_type.as_deref().unwrap_or_default());
        end(&text, Field::ContentType, content_type.is_some());
        Self {
            id: capture.id,
            received_at: capture.received_at,
            offset,
            text: text.into_boxed_str(),
            ends,
            present,
            path_len: capture.path.len() as u32,
            caveat: derived.caveat.is_some(),
            handshake: derived.handshake.is_some(),
            body_size: capture.body.len() as u64,
            status: capture.status,
            fingerprints: Fingerprints::of(capture),
        }
    }

    fn field(&self, field: Field) -> &str {
        let i = field as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        self.text.get(start..self.ends[i] as usize).unwrap_or_default()
    }

    fn optional(&self, field: Field) -> Option<&str> {
        (self.present & (1 << field as u8) != 0).then(|| self.field(field))
    }

    /// The request target (path and `?query`), as sent.
    pub fn target(&self) -> &str {
        self.field(Field::Target)
    }

    /// The method.
    pub fn method(&self) -> &str {
        self.field(Field::Method)
    }

    /// `direct`, `relay:CHANNEL` or `smee:CHANNEL`.
    pub fn via(&self) -> &str {
        self.field(Field::Via)
    }

    /// The provider.
    pub fn provider(&self) -> Option<&str> {
        self.optional(Field::Provider)
    }

    /// The event type.
    pub fn event_type(&self) -> Option<&str> {
        self.optional(Field::EventType)
    }

    /// The verdict's label.
    pub fn verdict(&self) -> Option<&str> {
        self.optional(Field::Verdict)
    }

    /// The form of the body the signature matched.
    pub fn signed_form(&self) -> Option<&str> {
        self.optional(Field::SignedForm)
    }

    /// The body's media type, lowercase, without parameters.
    pub fn content_type(&self) -> Option<&str> {
        self.optional(Field::ContentType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Header, Via};

    #[test]
    fn every_field_reads_back_as_the_capture_has_it_absent_and_empty_told_apart() {
        let mut capture = crate::codec::tests::sample_capture();
        capture.path = "/hooks/caf\u{e9}".into();
        capture.query = Some("a=1&b=\u{1F3A5}".into());
        capture.method = "PATCH".into();
        capture.via = Via::Relay("team".into());
        capture.derived.provider = Some("optiview".into());
        capture.derived.event_type = Some(String::new());
        capture.derived.verdict = Some("valid".into());
        capture.derived.signed_form = None;
        capture.derived.caveat = Some("x".into());
        capture.headers = vec![Header::new("Content-Type", "Application/JSON; charset=utf-8")];
        capture.status = 202;
        let summary = Summary::of(&capture, Some(77));
        assert_eq!(summary.target(), "/hooks/caf\u{e9}?a=1&b=\u{1F3A5}");
        assert_eq!(summary.path_len as usize, "/hooks/caf\u{e9}".len());
        assert_eq!(summary.method(), "PATCH");
        assert_eq!(summary.via(), "relay:team");
        assert_eq!(summary.provider(), Some("optiview"));
        assert_eq!(summary.event_type(), Some(""));
        assert_eq!(summary.verdict(), Some("valid"));
        assert_eq!(summary.signed_form(), None);
        assert_eq!(summary.content_type(), Some("application/json"));
        assert_eq!(summary.offset, Some(77));
        assert!(summary.caveat && !summary.handshake);
        assert_eq!(
            (summary.body_size, summary.status),
            (capture.body.len() as u64, 202)
        );
        assert_eq!(summary.fingerprints, Fingerprints::of(&capture));

        capture.query = None;
        capture.derived = Default::default();
        capture.headers.clear();
        capture.via = Via::Direct;
        let summary = Summary::of(&capture, None);
        assert_eq!(summary.target(), "/hooks/caf\u{e9}");
        assert_eq!(summary.via(), "direct");
        assert_eq!(
            (
                summary.provider(),
                summary.event_type(),
                summary.verdict(),
                summary.content_type()
            ),
            (None, None, None, None)
        );
    }
}
