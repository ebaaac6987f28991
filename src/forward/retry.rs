//! Retry policies: how often, and how far apart, a failed delivery is tried again.
//!
//! The policies emulate senders, so the local app sees what production will send it:
//! `none` (Millicast, OptiView), `fixed:3x3s` (AIOZ), `exp:5` (Dyte, and the many senders that
//! back off exponentially), or `provider`: whatever the capture's sender documents.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::units;

/// The first delay of an `exp:N` schedule; each next one doubles.
pub const EXP_FIRST: Duration = Duration::from_secs(1);
/// No `exp:N` delay is longer than this: a developer waits for the retries.
pub const EXP_CAP: Duration = Duration::from_secs(60);

/// How a failed delivery is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryPolicy {
    /// One attempt only (the default, and what Millicast does).
    None,
    /// `fixed:NxD`: up to `times` retries, `delay` apart (AIOZ: `fixed:3x3s`).
    Fixed {
        /// How many retries after the first attempt.
        times: u32,
        /// The wait before each retry.
        delay: Duration,
    },
    /// `exp:N`: up to N retries after 1 s, 2 s, 4 s, 8 s… doubling, each capped at 60 s.
    Exponential {
        /// How many retries after the first attempt.
        times: u32,
    },
    /// The policy of the capture's sender, from its profile (`none` when the sender is unknown).
    Provider,
}

/// Which answers are worth trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOn {
    /// Connection errors, timeouts, 5xx and 429. Another 4xx is the app saying the request is
    /// wrong: retrying it unchanged would only hide the first answer among copies of it.
    ServerErrors,
    /// Anything but a 2xx, for senders that document it (Dyte retries on 3xx, 4xx and 5xx).
    Non2xx,
}

impl RetryPolicy {
    /// The waits before each retry, in order; empty for `none` (and for `provider`, which is
    /// resolved per capture with [`RetryPolicy::for_sender`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hookscope::forward::RetryPolicy;
    /// let fixed: RetryPolicy = "fixed:3x3s".parse().unwrap();
    /// assert_eq!(fixed.delays(), vec![Duration::from_secs(3); 3]);
    /// let exp: RetryPolicy = "exp:3".parse().unwrap();
    /// assert_eq!(exp.delays(), [1, 2, 4].map(Duration::from_secs));
    /// ```
    pub fn delays(&self) -> Vec<Duration> {
        match self {
            RetryPolicy::None | RetryPolicy::Provider => Vec::new(),
            RetryPolicy::Fixed { times, delay } => vec![*delay; *times as usize],
            RetryPolicy::Exponential { times } => (0..*times)
                .map(|n| EXP_FIRST.saturating_mul(1u32 << n.min(16)).min(EXP_CAP))
                .collect(),
        }
    }

    /// The concrete policy for a capture whose sender's profile says `profile_retry` (`None`:
    /// sender unknown). Only `provider` changes; a profile that does not parse means no retries.
    pub fn for_sender(&self, profile_retry: Option<&str>) -> RetryPolicy {
        match self {
            RetryPolicy::Provider => profile_retry
                .and_then(|text| text.parse().ok())
                .filter(|policy| *policy != RetryPolicy::Provider)
                .unwrap_or(RetryPolicy::None),
            other => other.clone(),
        }
    }
}

impl RetryOn {
    /// Whether an attempt that ended with `status` (`None`: no answer) is worth retrying.
    pub fn should_retry(self, status: Option<u16>) -> bool {
        match (self, status) {
            (_, None) => true,
            (_, Some(s)) if (200..300).contains(&s) => false,
            (RetryOn::ServerErrors, Some(s)) => s >= 500 || s == 429,
            (RetryOn::Non2xx, Some(_)) => true,
        }
    }
}

impl FromStr for RetryPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let count = |n: &str| {
            n.parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| format!("{text:?}: the number of retries is 1 to 100, got {n:?}"))
        };
        match text.split_once(':') {
            None if text == "none" => Ok(RetryPolicy::None),
            None if text == "provider" => Ok(RetryPolicy::Provider),
            Some(("fixed", rest)) => {
                let (times, delay) = rest
                    .split_once('x')
                    .ok_or_else(|| format!("{text:?}: expected fixed:NxDELAY, like fixed:3x3s"))?;
                Ok(RetryPolicy::Fixed {
                    times: count(times)?,
                    delay: units::parse_duration(delay)?,
                })
            }
            Some(("exp", times)) => Ok(RetryPolicy::Exponential { times: count(times)? }),
            _ => Err(format!(
                "{text:?} is not a retry policy: none, fixed:3x3s, exp:5 or provider"
            )),
        }
    }
}

impl fmt::Display for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryPolicy::None => f.write_str("none"),
            RetryPolicy::Fixed { times, delay } => write!(f, "fixed:{times}x{delay:?}"),
            RetryPolicy::Exponential { times } => write!(f, "exp:{times}"),
            RetryPolicy::Provider => f.write_str("provider"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_schedule() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let cases: [(&str, Vec<Duration>); 6] = [
            ("none", vec![]),
            ("provider", vec![]),
            ("fixed:3x3s", vec![s(3); 3]),
            ("fixed:2x200ms", vec![ms(200); 2]),
            ("exp:5", vec![s(1), s(2), s(4), s(8), s(16)]),
            (
                "exp:9",
                vec![s(1), s(2), s(4), s(8), s(16), s(32), s(60), s(60), s(60)],
            ),
        ];
        for (text, delays) in cases {
            let policy: RetryPolicy = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(policy.delays(), delays, "{text}");
        }
        for bad in [
            "",
            "always",
            "fixed:3",
            "fixed:0x1s",
            "fixed:3xsoon",
            "exp:",
            "exp:-1",
            "exp:1000",
        ] {
            assert!(bad.parse::<RetryPolicy>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn policies_are_written_as_they_are_typed() {
        // Killed the mutant that made Display write nothing (mutation testing, TESTING.md).
        for text in ["none", "fixed:3x3s", "fixed:10x200ms", "exp:5", "provider"] {
            let policy: RetryPolicy = text.parse().expect("parses");
            assert_eq!(policy.to_string(), text);
        }
    }

    #[test]
    fn provider_resolves_to_the_senders_policy() {
        let provider = RetryPolicy::Provider;
        assert_eq!(provider.for_sender(Some("none")), RetryPolicy::None);
        assert_eq!(
            provider.for_sender(Some("fixed:3x3s")).delays(),
            vec![Duration::from_secs(3); 3]
        );
        assert_eq!(provider.for_sender(None), RetryPolicy::None);
        assert_eq!(provider.for_sender(Some("provider")), RetryPolicy::None);
        let own = RetryPolicy::Exponential { times: 2 };
        assert_eq!(own.for_sender(Some("none")), own);
    }

    #[test]
    fn what_is_retried() {
        let table = [
            (None, true, true),
            (Some(200), false, false),
            (Some(204), false, false),
            (Some(301), false, true),
            (Some(404), false, true),
            (Some(429), true, true),
            (Some(500), true, true),
            (Some(503), true, true),
        ];
        for (status, server_errors, non_2xx) in table {
            assert_eq!(
                RetryOn::ServerErrors.should_retry(status),
                server_errors,
                "{status:?}"
            );
            assert_eq!(RetryOn::Non2xx.should_retry(status), non_2xx, "{status:?}");
        }
    }
}
