//! Headless output: one line per capture on stdout, for pipes, CI and servers.
//!
//! The human format is one sanitized line (time, method, target, body size, content type, and
//! the status when it was not the configured answer); `--json` prints the journal's own record
//! instead, so `hookscope listen --json | jq` sees exactly what the journal holds. Each delivery
//! attempt to the local app gets an indented line of its own under the captures.

use std::io::{self, Write};
use std::thread;

use std::fmt::Write as _;

use chrono::{Local, Timelike as _};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::attempt::{Attempt, AttemptKind, Outcome};
use crate::capture::Capture;
use crate::codec;
use crate::filter::{Filter, Tracker};
use crate::hub::HubEvent;
use crate::sanitize;
use crate::units::format_size;

/// How long the printer rests after emptying its queue, so it wakes once per burst.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(5);
/// How many recently printed captures have their delivery attempts printed too.
const SHOWN: usize = 4096;

/// How each capture is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One sanitized line for people.
    Human,
    /// The journal record (NDJSON).
    Json,
}

/// The one human line for a capture; everything from the request is sanitized.
///
/// `17:27:12.345  POST    /hooks/dolby?a=1  1.2 KB  application/json`
pub fn human_line(capture: &Capture) -> String {
    // One buffer, no intermediate strings: this runs for every capture under load. Writing to
    // a String cannot fail.
    let mut line = String::with_capacity(160);
    let time = capture.received_at.with_timezone(&Local);
    let nanos = time.nanosecond();
    let second = time.second() + u32::from(nanos >= 1_000_000_000);
    let digits = |line: &mut String, value: u32, width: u32| {
        for place in (0..width).rev() {
            line.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
        }
    };
    digits(&mut line, time.hour(), 2);
    line.push(':');
    digits(&mut line, time.minute(), 2);
    line.push(':');
    digits(&mut line, second, 2);
    line.push('.');
    digits(&mut line, nanos % 1_000_000_000 / 1_000_000, 3);
    line.push_str("  ");
    // The method left-aligned in seven columns, as `{:<7}` would.
    let method = sanitize::line(&capture.method);
    line.push_str(&method);
    line.extend(std::iter::repeat_n(
        ' ',
        7usize.saturating_sub(method.chars().count()),
    ));
    line.push(' ');
    line.push_str(&sanitize::line(&capture.path));
    if let Some(query) = &capture.query {
        line.push('?');
        line.push_str(&sanitize::line(query));
    }
    line.push_str("  ");
    line.push_str(&format_size(capture.body.len() as u64));
    if let Some(content_type) = capture.content_type() {
        line.push_str("  ");
        line.push_str(&sanitize::line(&content_type));
    }
    let derived = &capture.derived;
    if let Some(provider) = &derived.provider {
        line.push_str("  ");
        line.push_str(&sanitize::line(provider));
        if let Some(event_type) = &derived.event_type {
            line.push(' ');
            line.push_str(&sanitize::line(event_type));
        }
    }
    if let Some(verdict) = &derived.verdict {
        let _ = write!(line, "  {} {}", verdict_symbol(verdict), sanitize::line(verdict));
        if let Some(form) = &derived.signed_form {
            let _ = write!(line, " ({})", sanitize::line(form));
        }
        if let Some(caveat) = &derived.caveat {
            let _ = write!(line, "  ⚠ {}", sanitize::line(caveat));
        }
    }
    if let Some(handshake) = &derived.handshake {
        let _ = write!(
            line,
            "  handshake {}: {}",
            capture.status,
            sanitize::line(handshake)
        );
    }
    if let Some(note) = &capture.note {
        let _ = write!(line, "  [{}: {}]", capture.status, sanitize::line(note));
    }
    if capture.via != crate::capture::Via::Direct {
        let _ = write!(line, "  via {}", sanitize::line(&capture.via.to_string()));
    }
    line
}

/// The one human line for a delivery attempt, sanitized:
///
/// `  → 200 12ms http://127.0.0.1:3000/hooks` or `  ✗ connection refused http://127.0.0.1:3000/hooks`,
/// with ` [route NAME]` after a routed delivery and ` [INSECURE: certificate not verified]` after
/// one made with `--insecure`.
pub fn attempt_line(attempt: &Attempt) -> String {
    let retry = match (attempt.number, attempt.kind) {
        (1, AttemptKind::Forward) => String::new(),
        (1, kind) => format!(" ({})", kind.name()),
        (n, AttemptKind::Forward) => format!(" (try {n})"),
        (n, kind) => format!(" ({}, try {n})", kind.name()),
    };
    let target = sanitize::line(&attempt.target);
    let mut route = match &attempt.route {
        Some(route) => format!(" [route {}]", sanitize::line(route)),
        None => String::new(),
    };
    if attempt.insecure {
        route.push_str(" [INSECURE: certificate not verified]");
    }
    match &attempt.outcome {
        Outcome::Response { status, .. } => {
            format!(
                "  → {status} {}ms {target}{retry}{route}",
                attempt.latency.as_millis()
            )
        }
        Outcome::Failed(error) => format!("  ✗ {} {target}{retry}{route}", sanitize::line(error)),
    }
}

/// A symbol that reads at a glance: ✓ authentic, ✗ not, ! stale, - unsigned, ? no key.
pub fn verdict_symbol(label: &str) -> &'static str {
    match label {
        "valid" => "✓",
        "invalid" => "✗",
        "stale" => "!",
        "unsigned" => "-",
        "no-secret" => "?",
        _ => "·",
    }
}

/// Writes `capture` in `format`, newline included.
pub fn write(out: &mut impl Write, capture: &Capture, format: Format) -> io::Result<()> {
    match format {
        Format::Human => writeln!(out, "{}", human_line(capture)),
        Format::Json => out.write_all(&codec::encode_capture(capture)),
    }
}

/// Writes `attempt` in `format`, newline included.
pub fn write_attempt(out: &mut impl Write, attempt: &Attempt, format: Format) -> io::Result<()> {
    match format {
        Format::Human => writeln!(out, "{}", attempt_line(attempt)),
        Format::Json => out.write_all(&codec::encode_attempt(attempt)),
    }
}

/// Prints every capture published on `events` that `filter` lets through to stdout, and the
/// delivery attempts of those, on a thread of its own so a slow terminal never holds up capture.
/// Ends when the hub is gone or stdout is closed.
pub fn spawn_printer(
    mut captures: broadcast::Receiver<HubEvent>,
    format: Format,
    filter: Filter,
) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new().name("printer".into()).spawn(move || {
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        let mut tracker = Tracker::default();
        // The captures printed lately, so that their attempts are printed and the others' not.
        let mut shown = std::collections::VecDeque::with_capacity(SHOWN);
        loop {
            let result = match captures.blocking_recv() {
                Ok(HubEvent::Capture(capture, _)) => {
                    let marks = match filter.needs_tracker() {
                        true => tracker.observe(&capture),
                        false => Default::default(),
                    };
                    match filter.is_empty() || filter.matches(&*capture, &marks) {
                        true => {
                            if shown.len() == SHOWN {
                                shown.pop_front();
                            }
                            shown.push_back(capture.id);
                            write(&mut out, &capture, format)
                        }
                        false => Ok(()),
                    }
                }
                Ok(HubEvent::Attempt(attempt)) => match shown.contains(&attempt.capture) {
                    true => write_attempt(&mut out, &attempt, format),
                    false => Ok(()),
                },
                // Summaries go only to the inspector's subscription.
                Ok(HubEvent::Listed(_)) => Ok(()),
                Err(RecvError::Lagged(missed)) => writeln!(
                    out,
                    "… {missed} captures or attempts not printed (output too slow); they are in the journal"
                ),
                Err(RecvError::Closed) => break,
            };
            // Flush when nothing else is waiting, so bursts cost one write; then pause briefly, so
            // that under load one wake-up of this thread serves many captures (a lone capture is
            // still printed at once: the pause comes after it).
            let result = result.and_then(|()| match captures.is_empty() {
                true => out.flush().map(|()| thread::sleep(COALESCE)),
                false => Ok(()),
            });
            if let Err(err) = result {
                tracing::warn!(%err, "stdout closed; no longer printing captures (still journaling)");
                return;
            }
        }
        let _ = out.flush();
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Header;
    use bytes::Bytes;

    #[test]
    fn the_time_is_local_with_milliseconds() {
        let mut capture = crate::codec::tests::sample_capture();
        for nanos in [0, 999_999, 1_000_000, 123_456_789, 999_999_999] {
            capture.received_at =
                chrono::DateTime::from_timestamp(1_795_000_000, nanos).expect("a valid time");
            let expected = capture
                .received_at
                .with_timezone(&Local)
                .format("%H:%M:%S%.3f")
                .to_string();
            let line = human_line(&capture);
            assert!(
                line.starts_with(&format!("{expected}  POST    /hooks/dolby?a=1&b=%20  ")),
                "{line}"
            );
        }
        // The method takes seven columns, or what it needs.
        for method in ["GET", "DELETE", "OPTIONS", "PROPFIND", "\u{e9}t\u{e9}"] {
            capture.method = method.into();
            let line = human_line(&capture);
            let expected = format!("  {method:<7} /hooks/dolby");
            assert_eq!(
                line.get(12..12 + expected.len()),
                Some(expected.as_str()),
                "{line}"
            );
        }
    }

    #[test]
    fn human_line_is_sanitized_and_informative() {
        let mut capture = crate::codec::tests::sample_capture();
        capture.path = "/hooks/\x1b[2Jevil".into();
        capture.query = Some("a=\u{202e}1".into());
        capture.headers = vec![Header::new("Content-Type", "application/json; charset=utf-8")];
        capture.body = Bytes::from(vec![b'x'; 1234]);
        let line = human_line(&capture);
        assert!(
            !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{line:?}"
        );
        assert!(
            line.ends_with("POST    /hooks/\\x1b[2Jevil?a=\\u{202e}1  1.2 KB  application/json"),
            "{line:?}"
        );
    }

    #[test]
    fn provider_event_and_verdict_are_shown() {
        let mut capture = crate::codec::tests::sample_capture();
        capture.derived.provider = Some("optiview".into());
        capture.derived.event_type = Some("channel.stopped\x1b[1m".into());
        capture.derived.verdict = Some("invalid".into());
        let line = human_line(&capture);
        assert!(
            line.ends_with("application/json  optiview channel.stopped\\x1b[1m  ✗ invalid"),
            "{line}"
        );
        capture.derived.verdict = Some("valid".into());
        capture.derived.signed_form = Some("raw".into());
        capture.derived.caveat = Some("matched the raw bytes only\u{202e}".into());
        let line = human_line(&capture);
        assert!(
            line.ends_with("  ✓ valid (raw)  ⚠ matched the raw bytes only\\u{202e}"),
            "{line}"
        );
    }

    #[test]
    fn attempt_lines_escape_what_the_app_and_the_sender_wrote() {
        use crate::attempt::{AttemptKind, Outcome};
        let attempt = Attempt {
            capture: crate::capture::CaptureId::generate(),
            kind: AttemptKind::Forward,
            number: 2,
            target: "http://127.0.0.1:3000/\x1b]2;owned\x07\u{202e}x".into(),
            started_at: chrono::Utc::now(),
            latency: std::time::Duration::from_millis(12),
            outcome: Outcome::Failed("reset \x1b[2J\u{9b}31m".into()),
            signed_headers: Vec::new(),
            route: None,
            insecure: false,
        };
        let line = attempt_line(&attempt);
        assert!(
            !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{line:?}"
        );
        assert!(line.contains("\\x1b]2;owned"), "{line}");
        assert!(line.contains("reset \\x1b[2J"), "{line}");
        assert!(line.ends_with("(try 2)"), "{line}");
    }

    #[test]
    fn refused_requests_say_why() {
        let mut capture = crate::codec::tests::sample_capture();
        capture.status = 413;
        capture.note = Some("body of 11000000 bytes exceeds --max-body".into());
        capture.body = Bytes::new();
        let line = human_line(&capture);
        assert!(
            line.contains("0 B  application/json  [413: body of 11000000 bytes"),
            "{line}"
        );
    }

    #[test]
    fn json_format_is_the_journal_record() {
        let capture = crate::codec::tests::sample_capture();
        let mut out = Vec::new();
        write(&mut out, &capture, Format::Json).expect("write to memory");
        assert_eq!(out, codec::encode_capture(&capture));
    }
}
