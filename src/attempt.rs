//! The attempt: one delivery of a capture to the local app, and what came of it.
//!
//! Captures are never changed after they are journaled; what happens when hookscope delivers
//! one (forwarding, a replay, a re-signed or edited replay) is journaled beside it as an
//! [`Attempt`] that names the capture. Each retry is an attempt of its own, so the journal shows
//! exactly what the local app saw and when.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::capture::{CaptureId, Header};

/// One delivery attempt of a capture to the local app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Which capture was delivered.
    pub capture: CaptureId,
    /// Why it was delivered: live forwarding or one of the replays.
    pub kind: AttemptKind,
    /// 1 for the first try, 2.. for retries of the same delivery.
    pub number: u32,
    /// The full URL sent to.
    pub target: String,
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// Until the response head and body were read, or until the error.
    pub latency: Duration,
    /// The answer, or why there was none.
    pub outcome: Outcome,
    /// The signature headers sent in place of the captured ones (a re-signed or edited
    /// delivery), so the journal shows what the app was asked to accept; empty otherwise.
    pub signed_headers: Vec<Header>,
    /// The route that sent it (its name, or its match), for a routed delivery; `None` for
    /// `--forward` alone, a replay, and journals from before routes.
    pub route: Option<String>,
    /// Whether it went over `https://` without the certificate verified (`--insecure`): the
    /// app answering may not be the app meant.
    pub insecure: bool,
}

/// Why a capture was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptKind {
    /// `listen --forward`: delivered as it arrived.
    Forward,
    /// Delivered again as captured (`replay`, the TUI's `r`).
    Replay,
    /// Delivered again with a fresh timestamp and signature (`replay --resign`, `R`).
    Resigned,
    /// Delivered again with a body edited by hand (the TUI's `e`).
    Edited,
}

/// What came of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The local app answered.
    Response {
        /// The status code.
        status: u16,
        /// The response headers in the order read.
        headers: Vec<Header>,
        /// The response body, up to the forwarder's body limit.
        body: Bytes,
        /// Whether `body` was cut at the limit.
        truncated: bool,
    },
    /// No answer: `connection refused`, `timed out after 30s`, `connection reset`...
    Failed(String),
}

impl Attempt {
    /// The answer's status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self.outcome {
            Outcome::Response { status, .. } => Some(status),
            Outcome::Failed(_) => None,
        }
    }

    /// Whether the local app answered with a 2xx status.
    pub fn succeeded(&self) -> bool {
        self.status().is_some_and(|s| (200..300).contains(&s))
    }
}

impl AttemptKind {
    /// The kind's name as journaled.
    pub fn name(self) -> &'static str {
        match self {
            AttemptKind::Forward => "forward",
            AttemptKind::Replay => "replay",
            AttemptKind::Resigned => "resigned",
            AttemptKind::Edited => "edited",
        }
    }
}

impl fmt::Display for AttemptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for AttemptKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            AttemptKind::Forward,
            AttemptKind::Replay,
            AttemptKind::Resigned,
            AttemptKind::Edited,
        ]
        .into_iter()
        .find(|kind| kind.name() == s)
        .ok_or_else(|| format!("expected forward, replay, resigned or edited, got {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_text() {
        for kind in [
            AttemptKind::Forward,
            AttemptKind::Replay,
            AttemptKind::Resigned,
            AttemptKind::Edited,
        ] {
            assert_eq!(kind.to_string().parse::<AttemptKind>(), Ok(kind));
        }
        assert!("retry".parse::<AttemptKind>().is_err());
    }
}
