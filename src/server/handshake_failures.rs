//! Failed TLS handshakes on `listen --tls-cert`, said in words: a sender that does not trust the
//! certificate (curl without `--cacert`), or that offers only TLS 1.1, is the likeliest first
//! failure, and without a word it looks like the listener is not there. Said at most once per
//! [`QUIET`] for each client address and reason, with a count of those left untold since.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustls::{AlertDescription, PeerIncompatible};

/// How long after saying a failure the same one from the same address is only counted.
pub(super) const QUIET: Duration = Duration::from_secs(10);
/// How many (address, reason) pairs are remembered; past it, one not remembered is counted, not
/// said, until older ones are forgotten: many senders cannot flood the log.
const REMEMBERED: usize = 1024;

/// Why a handshake failed, in words, and what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    pub(super) reason: String,
    pub(super) hint: &'static str,
}

const TRUST: &str = "does the sender trust this certificate? curl: --cacert CERT";
const VERSIONS: &str = "this listener speaks TLS 1.2 and 1.3: update the sender or its TLS settings";
const SPEAK_TLS: &str = "is the sender speaking TLS to it?";

impl Failure {
    /// What the handshake's error means.
    pub(super) fn of(err: &io::Error) -> Self {
        let rustls = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let (reason, hint): (String, &'static str) = match (rustls, err.kind()) {
            (Some(rustls::Error::AlertReceived(alert)), _) => match alert_words(*alert) {
                Some(refused) => (format!("the sender refused the certificate: {refused}"), TRUST),
                None => (
                    format!("the sender ended it with the alert {}", debug_words(alert)),
                    TRUST,
                ),
            },
            (
                Some(rustls::Error::PeerIncompatible(
                    PeerIncompatible::Tls12NotOffered
                    | PeerIncompatible::Tls12NotOfferedOrEnabled
                    | PeerIncompatible::SupportedVersionsExtensionRequired
                    // A hello without it is one from before TLS 1.2 (rustls looks for it first).
                    | PeerIncompatible::SignatureAlgorithmsExtensionRequired,
                )),
                _,
            ) => (
                "the sender offers only TLS versions older than 1.2".to_owned(),
                VERSIONS,
            ),
            (Some(rustls::Error::PeerIncompatible(why)), _) => (
                format!(
                    "the sender has nothing in common with this listener ({})",
                    debug_words(why)
                ),
                VERSIONS,
            ),
            (Some(rustls::Error::InvalidMessage(_)), _) => (
                "what the sender sent is not a TLS handshake".to_owned(),
                SPEAK_TLS,
            ),
            (Some(other), _) => (other.to_string(), TRUST),
            (None, io::ErrorKind::UnexpectedEof) => (
                "the sender closed the connection in the middle of the handshake".to_owned(),
                TRUST,
            ),
            (None, io::ErrorKind::ConnectionReset) => (
                "the sender reset the connection in the middle of the handshake".to_owned(),
                TRUST,
            ),
            (None, _) => (err.to_string(), TRUST),
        };
        Failure {
            // rustls' text, or the peer's alert: one safe line.
            reason: crate::sanitize::line(&reason).into_owned(),
            hint,
        }
    }
}

/// A certificate alert as the sender's TLS library means it.
fn alert_words(alert: AlertDescription) -> Option<&'static str> {
    use AlertDescription as A;
    Some(match alert {
        A::UnknownCA => "unknown CA",
        A::BadCertificate => "bad certificate",
        A::CertificateUnknown => "certificate unknown",
        A::UnsupportedCertificate => "unsupported certificate",
        A::CertificateExpired => "certificate expired",
        A::CertificateRevoked => "certificate revoked",
        A::AccessDenied => "access denied",
        _ => return None,
    })
}

/// rustls' name of a value, `CamelCase` made words: `ProtocolVersion` is `protocol version`.
fn debug_words(value: &impl std::fmt::Debug) -> String {
    let name = format!("{value:?}");
    let mut words = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                words.push(' ');
            }
            words.push(c.to_ascii_lowercase());
        } else {
            words.push(c);
        }
    }
    words
}

/// When each failure was last said, per address and reason, and how many since went untold.
#[derive(Default)]
pub(super) struct HandshakeFailures {
    said: Mutex<HashMap<(IpAddr, String), Said>>,
}

struct Said {
    at: Instant,
    untold: u64,
}

impl HandshakeFailures {
    /// The line to log for `failure` from `remote` at `now`, if it is to be said.
    pub(super) fn line(&self, remote: SocketAddr, failure: &Failure, now: Instant) -> Option<String> {
        let untold = self.tell(remote.ip(), &failure.reason, now)?;
        let others = match untold {
            0 => String::new(),
            1 => format!(" (and 1 more from {} since, not told)", remote.ip()),
            n => format!(" (and {n} more from {} since, not told)", remote.ip()),
        };
        Some(format!(
            "TLS handshake from {remote} failed: {} ({}){others}",
            failure.reason, failure.hint
        ))
    }

    /// `Some(untold since the last time)` when this one is said now; `None` when only counted.
    fn tell(&self, ip: IpAddr, reason: &str, now: Instant) -> Option<u64> {
        let mut said = self.said.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (ip, reason.to_owned());
        if let Some(last) = said.get_mut(&key) {
            if now.saturating_duration_since(last.at) < QUIET {
                last.untold += 1;
                return None;
            }
            let untold = last.untold;
            *last = Said { at: now, untold: 0 };
            return Some(untold);
        }
        if said.len() >= REMEMBERED {
            said.retain(|_, last| now.saturating_duration_since(last.at) < QUIET);
            if said.len() >= REMEMBERED {
                return None;
            }
        }
        said.insert(key, Said { at: now, untold: 0 });
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(reason: &str) -> Failure {
        Failure {
            reason: reason.to_owned(),
            hint: TRUST,
        }
    }

    /// Caught: every failure said (a log flooded by a retrying sender), the count of untold ones
    /// lost, one address or reason silencing another, and the memory growing without end.
    #[test]
    fn each_failure_is_said_once_in_a_while_per_address_and_reason_with_the_untold_counted() {
        let failures = HandshakeFailures::default();
        let start = Instant::now();
        let a: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let b: SocketAddr = "127.0.0.2:40001".parse().expect("addr");
        let ca = failure("the sender refused the certificate: unknown CA");
        assert_eq!(
            failures.line(a, &ca, start).as_deref(),
            Some(
                "TLS handshake from 127.0.0.1:40000 failed: the sender refused the certificate: unknown \
                 CA (does the sender trust this certificate? curl: --cacert CERT)"
            )
        );
        for second in 1..=3 {
            assert_eq!(failures.line(a, &ca, start + Duration::from_secs(second)), None);
        }
        // Another address, another reason: said.
        assert!(failures.line(b, &ca, start).is_some());
        assert!(failures.line(a, &failure("other"), start).is_some());
        let later = failures
            .line(a, &ca, start + QUIET)
            .expect("said again after the quiet time");
        assert!(
            later.ends_with("(and 3 more from 127.0.0.1 since, not told)"),
            "{later}"
        );
        let again = failures.line(a, &ca, start + QUIET * 2).expect("said again");
        assert!(!again.contains("more from"), "{again}");
        // Many addresses: remembered up to the bound, the rest counted only.
        let many = HandshakeFailures::default();
        for n in 0..REMEMBERED as u32 + 10 {
            let ip = IpAddr::from(n.to_be_bytes());
            many.tell(ip, "x", start);
        }
        assert_eq!(many.said.lock().expect("lock").len(), REMEMBERED);
        // Once the old ones are quiet, new ones are said again.
        assert_eq!(
            many.tell(IpAddr::from([10, 0, 0, 1]), "x", start + QUIET),
            Some(0)
        );
    }

    #[test]
    fn reasons_are_words_with_what_to_check() {
        let wrap = |err: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, err);
        let unknown = Failure::of(&wrap(rustls::Error::AlertReceived(AlertDescription::UnknownCA)));
        assert_eq!(unknown.reason, "the sender refused the certificate: unknown CA");
        assert_eq!(unknown.hint, TRUST);
        let old = Failure::of(&wrap(rustls::Error::PeerIncompatible(
            PeerIncompatible::Tls12NotOffered,
        )));
        assert_eq!(old.reason, "the sender offers only TLS versions older than 1.2");
        assert_eq!(old.hint, VERSIONS);
        // What rustls says first of `openssl s_client -tls1_1`'s hello.
        let older = Failure::of(&wrap(rustls::Error::PeerIncompatible(
            PeerIncompatible::SignatureAlgorithmsExtensionRequired,
        )));
        assert_eq!(older, old);
        let alert = Failure::of(&wrap(rustls::Error::AlertReceived(
            AlertDescription::ProtocolVersion,
        )));
        assert_eq!(
            alert.reason,
            "the sender ended it with the alert protocol version"
        );
        let closed = Failure::of(&io::Error::from(io::ErrorKind::UnexpectedEof));
        assert_eq!(
            closed.reason,
            "the sender closed the connection in the middle of the handshake"
        );
    }
}
