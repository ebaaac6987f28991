//! `listen --smee URL`: a smee.io channel as a source of captures, beside the listener.
//!
//! The client reads the channel's server-sent events (`GET URL`, `Accept: text/event-stream`)
//! and makes each webhook event a capture `via smee:CHANNEL` ([`event::capture`]), recorded
//! through [`Hub::record`] like any other: analyzed, journaled, shown, forwarded. smee's own
//! `ready` and `ping` events say the stream is alive; an event that is not a JSON object, or
//! that is longer than the limit, is reported and skipped. A dropped stream is dialed again
//! with exponential backoff and jitter, started over after a healthy period, and a stream
//! silent for longer than three of smee's 30-second pings is dropped. `--smee new` asks
//! smee.io for a fresh channel ([`create_channel`]): `/new` answers with a redirect to it.
//!
//! Nothing is acknowledged to smee and nothing is queued there: what is sent while this client
//! is not connected is lost (the relay is the answer to that).

pub mod event;
pub mod sse;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::MaybeTlsStream;

use crate::hub::Hub;
use crate::relay::client::{Backoff, jitter_factor};
use crate::sanitize;
use sse::{Parser, Sse};

/// Where and how the client connects.
#[derive(Debug, Clone)]
pub struct SmeeConfig {
    /// The channel's URL (`https://smee.io/AbC123`).
    pub url: String,
    /// The longest event held; a longer one is skipped.
    pub event_limit: usize,
    /// The first reconnect delay; it doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// The longest reconnect delay.
    pub max_backoff: Duration,
    /// A stream up this long resets the backoff.
    pub healthy_after: Duration,
    /// A stream silent this long is dropped (smee pings every 30 s).
    pub silence: Duration,
}

impl SmeeConfig {
    /// The defaults for `url`, holding events of up to `event_limit` bytes.
    pub fn new(url: &str, event_limit: usize) -> Self {
        Self {
            url: url.to_owned(),
            event_limit,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            healthy_after: Duration::from_secs(30),
            silence: Duration::from_secs(95),
        }
    }
}

/// The channel's state, for the status bar and stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmeeState {
    /// Dialing.
    Connecting,
    /// Receiving.
    Connected,
    /// Waiting to dial again.
    Reconnecting {
        /// How long until the next try.
        after: Duration,
        /// What went wrong (sanitized).
        reason: String,
    },
}

impl fmt::Display for SmeeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmeeState::Connecting => f.write_str("connecting"),
            SmeeState::Connected => f.write_str("connected"),
            SmeeState::Reconnecting { after, reason } => {
                write!(f, "reconnecting in {:.1}s ({reason})", after.as_secs_f64())
            }
        }
    }
}

/// What the client reports: its state, and the events it had to skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmeeStatus {
    /// The connection.
    pub state: SmeeState,
    /// How many events were skipped so far.
    pub skipped: u64,
    /// Why the last one was (sanitized).
    pub last_skipped: Option<String>,
}

/// A running client; [`Smee::stop`] stops it.
pub struct Smee {
    /// The channel's name.
    pub channel: String,
    /// The channel's URL.
    pub url: String,
    /// Its state.
    pub status: watch::Receiver<SmeeStatus>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Smee {
    /// Stops the client; an event being journaled finishes first.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(err) = self.task.await {
            tracing::error!(%err, "the smee task failed");
        }
    }
}

/// The channel of a smee URL: its last path segment (`https://smee.io/AbC` is `AbC`).
pub fn channel_of(url: &str) -> anyhow::Result<String> {
    let uri: Uri = url.parse().with_context(|| format!("--smee {url}: not a URL"))?;
    anyhow::ensure!(
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some(),
        "--smee {url}: expected https://smee.io/CHANNEL"
    );
    let channel = uri
        .path()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    anyhow::ensure!(
        !channel.is_empty()
            && channel
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "--smee {url}: expected https://smee.io/CHANNEL (a channel of letters, digits, - and _)"
    );
    Ok(channel.to_owned())
}

/// Starts receiving the channel at `config.url` into `hub`.
pub fn spawn(config: SmeeConfig, hub: Hub) -> anyhow::Result<Smee> {
    let channel = channel_of(&config.url)?;
    let (status_tx, status) = watch::channel(SmeeStatus {
        state: SmeeState::Connecting,
        skipped: 0,
        last_skipped: None,
    });
    let (stop, stopping) = watch::channel(false);
    let url = config.url.clone();
    let task = tokio::spawn(run(config, channel.clone(), hub, status_tx, stopping));
    Ok(Smee {
        channel,
        url,
        status,
        stop,
        task,
    })
}

async fn run(
    config: SmeeConfig,
    channel: String,
    hub: Hub,
    status: watch::Sender<SmeeStatus>,
    mut stopping: watch::Receiver<bool>,
) {
    let status = Arc::new(status);
    let mut backoff = Backoff::new(config.min_backoff, config.max_backoff);
    loop {
        status.send_modify(|s| s.state = SmeeState::Connecting);
        let started = Instant::now();
        let ended = tokio::select! {
            ended = session(&config, &channel, &hub, &status) => ended,
            _ = stopping.wait_for(|&stop| stop) => return,
        };
        if started.elapsed() >= config.healthy_after {
            backoff.reset();
        }
        let after = backoff.next(jitter_factor());
        let reason = match ended {
            Ok(()) => "smee closed the stream".to_owned(),
            Err(err) => sanitize::line(&format!("{err:#}")).into_owned(),
        };
        tracing::info!(%reason, "smee stream down");
        status.send_modify(|s| s.state = SmeeState::Reconnecting { after, reason });
        tokio::select! {
            () = tokio::time::sleep(after) => {}
            _ = stopping.wait_for(|&stop| stop) => return,
        }
    }
}

/// One stream, until it ends.
async fn session(
    config: &SmeeConfig,
    channel: &str,
    hub: &Hub,
    status: &watch::Sender<SmeeStatus>,
) -> anyhow::Result<()> {
    let (response, server) = get(&config.url, "text/event-stream").await?;
    let code = response.status();
    anyhow::ensure!(code == hyper::StatusCode::OK, "smee answered {code}");
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    anyhow::ensure!(
        content_type.starts_with("text/event-stream"),
        "smee answered {} instead of an event stream",
        sanitize::line(content_type)
    );
    status.send_modify(|s| s.state = SmeeState::Connected);
    let mut body = response.into_body();
    let mut parser = Parser::new(config.event_limit);
    loop {
        let frame = match tokio::time::timeout(config.silence, body.frame()).await {
            Err(_) => anyhow::bail!("smee was silent for {}s", config.silence.as_secs()),
            Ok(None) => return Ok(()),
            Ok(Some(frame)) => frame.context("the stream broke")?,
        };
        let Ok(data) = frame.into_data() else { continue };
        for event in parser.feed(&data) {
            let problem = match event {
                Sse::TooLong(limit) => format!("an event over {limit} bytes"),
                Sse::Event { kind, data } if kind == "message" => {
                    match event::capture(&data, channel, &server, chrono::Utc::now()) {
                        Ok(capture) => {
                            hub.record(capture).await.context("cannot journal a smee event")?;
                            continue;
                        }
                        Err(err) => format!("an event: {err}"),
                    }
                }
                Sse::Event { .. } => continue, // ready, ping
            };
            tracing::warn!(%problem, "smee event skipped");
            status.send_modify(|s| {
                s.skipped += 1;
                s.last_skipped = Some(problem);
            });
        }
    }
}

/// `GET url` with `accept`, over TLS for `https://`; the response and the server's `host:port`.
async fn get(url: &str, accept: &str) -> anyhow::Result<(hyper::Response<hyper::body::Incoming>, String)> {
    let uri: Uri = url.parse().context("not a URL")?;
    let tls = uri.scheme_str() == Some("https");
    let host = uri.host().context("the URL has no host")?;
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((bare.as_str(), port)))
        .await
        .map_err(|_| anyhow::anyhow!("cannot reach {bare}:{port}: timed out"))?
        .with_context(|| format!("cannot reach {bare}:{port}"))?;
    let stream = match tls {
        false => MaybeTlsStream::Plain(tcp),
        true => {
            let name =
                rustls_pki_types::ServerName::try_from(bare.clone()).context("not a host TLS can check")?;
            let connector = tokio_rustls::TlsConnector::from(tls_config()?);
            MaybeTlsStream::Rustls(connector.connect(name, tcp).await.context("TLS failed")?)
        }
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(%err, "smee connection ended");
        }
    });
    let authority = uri.authority().map_or(host, |a| a.as_str()).to_owned();
    let request = hyper::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, accept)
        .header(hyper::header::CACHE_CONTROL, "no-cache")
        .header(
            hyper::header::USER_AGENT,
            concat!("hookscope/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())?;
    let response = tokio::time::timeout(CONNECT_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| anyhow::anyhow!("{bare} did not answer in {}s", CONNECT_TIMEOUT.as_secs()))??;
    Ok((response, format!("{bare}:{port}")))
}

/// How long dialing and the answer's head may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The public web roots.
fn tls_config() -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("no usable TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Asks the smee server at `new_url` (`https://smee.io/new`) for a fresh channel: it answers
/// with a redirect to the channel's URL, which is returned.
pub async fn create_channel(new_url: &str) -> anyhow::Result<String> {
    let asked = async {
        let (response, _) = get(new_url, "text/html").await?;
        let location = response
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .filter(|_| response.status().is_redirection())
            .with_context(|| format!("it answered {} without a channel to go to", response.status()))?;
        let url = sanitize::line(location).into_owned();
        channel_of(&url)?;
        anyhow::Ok(url)
    };
    asked
        .await
        .with_context(|| format!("cannot create a smee channel at {new_url}"))
}

/// Whether `--smee` asks for a new channel: `new`, or a URL whose path is `/new`; and the URL
/// to ask.
pub fn new_channel_url(arg: &str) -> Option<String> {
    match arg {
        "new" => Some("https://smee.io/new".to_owned()),
        url if url.parse::<Uri>().is_ok_and(|u| u.path() == "/new") => Some(url.to_owned()),
        _ => None,
    }
}

/// Prints on stderr each change of the connection's state and each skipped event: the headless
/// form of the status bar's part.
pub fn print_status(smee: &Smee, url: String) {
    let mut status = smee.status.clone();
    tokio::spawn(async move {
        let mut shown = (SmeeState::Connecting, 0);
        loop {
            let now = status.borrow_and_update().clone();
            if now.state != shown.0 && now.state != SmeeState::Connecting {
                eprintln!("smee: {} ({url})", now.state);
            }
            if now.skipped > shown.1 {
                let why = now.last_skipped.as_deref().unwrap_or_default();
                eprintln!("smee: skipped {why} ({} so far)", now.skipped);
            }
            shown = (now.state, now.skipped);
            if status.changed().await.is_err() {
                return;
            }
        }
    });
}

/// The client's status as the status bar's text, kept current.
pub fn status_line(smee: &Smee, url: String) -> watch::Receiver<String> {
    let mut status = smee.status.clone();
    let line = move |s: &SmeeStatus| {
        let state = match &s.state {
            SmeeState::Connected => format!("smee {url}"),
            other => format!("smee {other} · {url}"),
        };
        match (s.skipped, &s.last_skipped) {
            (0, _) | (_, None) => state,
            (n, Some(why)) => format!("{state} · {n} skipped (last: {why})"),
        }
    };
    let (text, lines) = watch::channel(line(&status.borrow()));
    tokio::spawn(async move {
        while status.changed().await.is_ok() {
            if text.send(line(&status.borrow_and_update())).is_err() {
                return;
            }
        }
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_the_last_path_segment() {
        assert_eq!(
            channel_of("https://smee.io/AbC-12_x").ok().as_deref(),
            Some("AbC-12_x")
        );
        assert_eq!(channel_of("http://127.0.0.1:9/x/").ok().as_deref(), Some("x"));
        for bad in [
            "smee.io/abc",
            "https://smee.io/",
            "https://smee.io/a%20b",
            "ftp://smee.io/a",
        ] {
            assert!(channel_of(bad).is_err(), "{bad}");
        }
        assert_eq!(new_channel_url("new").as_deref(), Some("https://smee.io/new"));
        assert_eq!(
            new_channel_url("http://127.0.0.1:9/new").as_deref(),
            Some("http://127.0.0.1:9/new")
        );
        assert_eq!(new_channel_url("https://smee.io/abc"), None);
    }
}
