//! `listen --public cloudflared|ngrok`: a public URL from a quick tunnel that hookscope runs as
//! a child process and stops when it exits.
//!
//! The tool is started with the listener's actual address and its log is read for the public
//! URL: cloudflared prints it in a box after the line "Your quick Tunnel has been created! Visit
//! it at ..." (on stderr), ngrok as the `url` of its `"msg":"started tunnel"` JSON line (with
//! `--log stdout --log-format json`). Captures arrive through the local listener as usual:
//! both tools pass the request's bytes through.
//!
//! The child never outlives hookscope: [`Public::stop`] kills it on every orderly exit, the
//! handle's drop stops it on an error exit, and the process itself is spawned `kill_on_drop`,
//! so a runtime torn down under it (a panic) kills it too. Only a `kill -9` of hookscope can
//! leave it running (no parent-death signal without `unsafe`). Everything the child prints is
//! hostile text: it is sanitized before it is shown, and only a bounded tail of it is kept.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::process::Stdio;

use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::sanitize;

/// The quick-tunnel tools hookscope can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    /// Cloudflare's quick tunnel (`*.trycloudflare.com`, no account needed).
    Cloudflared,
    /// ngrok (needs `ngrok config add-authtoken` once).
    Ngrok,
}

impl Tool {
    /// The executable's name, looked up on `PATH`.
    pub fn program(self) -> &'static str {
        match self {
            Tool::Cloudflared => "cloudflared",
            Tool::Ngrok => "ngrok",
        }
    }

    /// The arguments that open a tunnel to the listener at `addr` (a listener on every
    /// interface, `0.0.0.0` or `::`, is reached on loopback: not every system connects to an
    /// unspecified address).
    pub fn args(self, mut addr: SocketAddr) -> Vec<String> {
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        match self {
            Tool::Cloudflared => vec![
                "tunnel".into(),
                "--url".into(),
                format!("http://{addr}"),
                "--no-autoupdate".into(),
            ],
            Tool::Ngrok => vec![
                "http".into(),
                addr.to_string(),
                "--log".into(),
                "stdout".into(),
                "--log-format".into(),
                "json".into(),
            ],
        }
    }

    /// Where to get it.
    fn install_hint(self) -> &'static str {
        match self {
            Tool::Cloudflared => {
                "install it from https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/ (e.g. brew install cloudflared)"
            }
            Tool::Ngrok => {
                "install it from https://ngrok.com/download, then run ngrok config add-authtoken once"
            }
        }
    }
}

/// Where the tunnel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicState {
    /// Started; its URL is not in its log yet.
    Starting,
    /// Up: the public URL (sanitized).
    Ready(String),
    /// The child exited: how, and its last log lines (sanitized).
    Died {
        /// The exit status, in words.
        status: String,
        /// Its last lines, oldest first.
        last: Vec<String>,
    },
}

/// A running tool; [`Public::stop`] ends it, and so does dropping the handle.
pub struct Public {
    /// Which tool.
    pub tool: Tool,
    /// The tunnel's state.
    pub state: watch::Receiver<PublicState>,
    /// The child's process id.
    pub pid: Option<u32>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// How many of the child's last lines are kept to show when it dies.
const TAIL: usize = 5;
/// The longest line of the child's log that is kept; longer ones are cut.
const LINE_LIMIT: usize = 512;

/// Starts `tool` towards the listener at `addr`. A missing executable is a one-line error that
/// says where to get it; nothing is downloaded.
pub fn start(tool: Tool, addr: SocketAddr) -> anyhow::Result<Public> {
    let mut child = Command::new(tool.program())
        .args(tool.args(addr))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "--public {}: `{}` is not on PATH; {}",
                tool.program(),
                tool.program(),
                tool.install_hint()
            ),
            _ => anyhow::anyhow!(
                "--public {}: cannot start {}: {err}",
                tool.program(),
                tool.program()
            ),
        })?;
    let pid = child.id();
    let (lines_tx, lines) = mpsc::channel(64);
    for output in [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        tokio::spawn(read_lines(output, lines_tx.clone()));
    }
    drop(lines_tx);
    let (state_tx, state) = watch::channel(PublicState::Starting);
    let (stop, stopping) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(watch_child(tool, child, lines, state_tx, stopping));
    Ok(Public {
        tool,
        state,
        pid,
        stop: Some(stop),
        task: Some(task),
    })
}

impl Public {
    /// Kills the child (it holds no state worth a graceful stop; cloudflared would wait 30 s
    /// for its connections) and waits until it is gone.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(err) = task.await
        {
            tracing::error!(%err, "the tunnel child's task failed");
        }
    }
}

impl Drop for Public {
    fn drop(&mut self) {
        // An error exit: the task kills the child when it sees the sender gone; should the
        // runtime stop first, dropping the task drops the child, which kills it.
        self.stop.take();
    }
}

/// Reads `output` line by line into `lines`, each cut to [`LINE_LIMIT`] bytes.
async fn read_lines(output: Box<dyn AsyncRead + Send + Unpin>, lines: mpsc::Sender<String>) {
    let mut reader = BufReader::new(output);
    let mut line = Vec::new();
    loop {
        line.clear();
        // A line without an end is read in bounded pieces: a child that prints megabytes
        // without a newline cannot make us buffer them.
        match read_bounded(&mut reader, &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\r', '\n']);
                if lines.send(text.to_owned()).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads up to the next newline or [`LINE_LIMIT`] bytes, whichever comes first.
async fn read_bounded<R: AsyncBufRead + Unpin>(reader: &mut R, line: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut read = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(read);
        }
        let room = LINE_LIMIT.saturating_sub(line.len());
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) if at < room => (at + 1, true),
            _ if buf.len() >= room => (room, true),
            _ => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..take]);
        reader.consume(take);
        read += take;
        if done {
            return Ok(read);
        }
    }
}

/// Follows the child's log for its URL until it exits or is stopped.
async fn watch_child(
    tool: Tool,
    mut child: Child,
    mut lines: mpsc::Receiver<String>,
    state: watch::Sender<PublicState>,
    mut stopping: tokio::sync::oneshot::Receiver<()>,
) {
    let mut reader = UrlReader::new(tool);
    let mut tail = VecDeque::with_capacity(TAIL);
    let mut open = true;
    let status = loop {
        tokio::select! {
            line = lines.recv(), if open => match line {
                Some(line) => {
                    tracing::debug!(tool = tool.program(), line = %sanitize::line(&line), "tunnel log");
                    if let Some(url) = reader.feed(&line) {
                        state.send_replace(PublicState::Ready(url));
                    }
                    if tail.len() == TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(sanitize::line(&line).into_owned());
                }
                None => open = false,
            },
            exited = child.wait() => break exited,
            _ = &mut stopping => {
                if let Err(err) = child.start_kill() {
                    tracing::warn!(%err, "cannot kill {}", tool.program());
                }
                let _ = child.wait().await;
                return;
            }
        }
    };
    // Its last words may still be in the pipes.
    while let Ok(Some(line)) = tokio::time::timeout(std::time::Duration::from_millis(200), lines.recv()).await
    {
        if tail.len() == TAIL {
            tail.pop_front();
        }
        tail.push_back(sanitize::line(&line).into_owned());
    }
    let status = match status {
        Ok(status) => status.to_string(),
        Err(err) => format!("unknown ({err})"),
    };
    tracing::warn!(tool = tool.program(), %status, "the tunnel exited");
    state.send_replace(PublicState::Died {
        status,
        last: tail.into_iter().collect(),
    });
}

/// Finds the public URL in a tool's log, line by line.
#[derive(Debug)]
pub struct UrlReader {
    tool: Tool,
    /// cloudflared: the banner was seen, so the next URL is the tunnel's.
    banner: bool,
    found: bool,
}

impl UrlReader {
    /// A reader of `tool`'s log.
    pub fn new(tool: Tool) -> Self {
        Self {
            tool,
            banner: false,
            found: false,
        }
    }

    /// The public URL, sanitized, when `line` is the one that gives it (only the first time).
    ///
    /// ```
    /// use hookscope::public::{Tool, UrlReader};
    ///
    /// let mut reader = UrlReader::new(Tool::Cloudflared);
    /// let banner = "2026-01-01T00:00:00Z INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |";
    /// assert_eq!(reader.feed(banner), None);
    /// let url = "2026-01-01T00:00:00Z INF |  https://ab-cd.trycloudflare.com                                                         |";
    /// assert_eq!(reader.feed(url).as_deref(), Some("https://ab-cd.trycloudflare.com"));
    /// ```
    pub fn feed(&mut self, line: &str) -> Option<String> {
        if self.found {
            return None;
        }
        let url = match self.tool {
            Tool::Cloudflared if self.banner => first_url(line),
            Tool::Cloudflared => {
                self.banner = line.contains("Your quick Tunnel has been created");
                None
            }
            Tool::Ngrok => ngrok_url(line),
        }?;
        self.found = true;
        Some(sanitize::line(&url).into_owned())
    }
}

/// The first `https://` URL in `line`, up to a character no URL holds.
fn first_url(line: &str) -> Option<String> {
    let start = line.find("https://")?;
    let url: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(*c))
        .collect();
    (url.len() > "https://".len()).then_some(url)
}

/// The `url` of ngrok's `"msg":"started tunnel"` JSON line.
fn ngrok_url(line: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Record {
        msg: Option<String>,
        url: Option<String>,
    }
    let record: Record = serde_json::from_str(line.trim()).ok()?;
    match (record.msg.as_deref(), record.url) {
        (Some("started tunnel"), Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {
            Some(url)
        }
        _ => None,
    }
}

impl fmt::Display for PublicState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicState::Starting => f.write_str("starting…"),
            PublicState::Ready(url) => f.write_str(url),
            PublicState::Died { status, last } => match last.last() {
                Some(line) => write!(f, "exited ({status}): {line}"),
                None => write!(f, "exited ({status})"),
            },
        }
    }
}

/// Prints the URL on stderr when it is known ("register it with your provider") and, if the
/// child dies, that it did with its last lines: the headless form of the status bar's part.
pub fn print_states(public: &Public, listening: String) {
    let mut states = public.state.clone();
    let tool = public.tool.program();
    tokio::spawn(async move {
        loop {
            match states.borrow_and_update().clone() {
                PublicState::Starting => {}
                PublicState::Ready(url) => {
                    eprintln!("public URL: {url} ({tool}), register it with your provider")
                }
                PublicState::Died { status, last } => {
                    let mut text = format!(
                        "{tool} exited ({status}): no public URL any more; still listening on {listening}"
                    );
                    if !last.is_empty() {
                        text.push_str("; its last lines:");
                        for line in &last {
                            text.push_str(&format!("\n  {line}"));
                        }
                    }
                    eprintln!("{text}");
                }
            }
            if states.changed().await.is_err() {
                return;
            }
        }
    });
}

/// The tunnel's state as the status bar's text, kept current.
pub fn status_line(public: &Public) -> watch::Receiver<String> {
    let mut states = public.state.clone();
    let tool = public.tool.program();
    let line = move |state: &PublicState| match state {
        PublicState::Ready(url) => format!("public {url}"),
        other => format!("{tool} {other}"),
    };
    let (text, status) = watch::channel(line(&states.borrow()));
    tokio::spawn(async move {
        while states.changed().await.is_ok() {
            if text.send(line(&states.borrow_and_update())).is_err() {
                return;
            }
        }
    });
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudflared_url_comes_after_the_banner_only() {
        let mut reader = UrlReader::new(Tool::Cloudflared);
        for line in [
            "2026-01-01T00:00:00Z INF Thank you for trying Cloudflare Tunnel. ... (https://www.cloudflare.com/website-terms/) ...",
            "2026-01-01T00:00:00Z INF Requesting new quick Tunnel on trycloudflare.com...",
            "2026-01-01T00:00:00Z INF +--------------------------------------------------------------------------------------------+",
        ] {
            assert_eq!(reader.feed(line), None, "{line}");
        }
        assert_eq!(
            reader.feed("2026-01-01T00:00:00Z INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |"),
            None
        );
        assert_eq!(
            reader
                .feed("2026-01-01T00:00:00Z INF |  https://seasonal-deck-organisms-sf.trycloudflare.com                                      |")
                .as_deref(),
            Some("https://seasonal-deck-organisms-sf.trycloudflare.com")
        );
        assert_eq!(
            reader.feed("INF |  https://other.trycloudflare.com |"),
            None,
            "only the first"
        );
        // The JSON log format (TUNNEL_LOG_OUTPUT=json) says the same in its message field.
        let mut json = UrlReader::new(Tool::Cloudflared);
        json.feed(r#"{"level":"info","message":"|  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |"}"#);
        assert_eq!(
            json.feed(r#"{"level":"info","message":"|  https://a-b.trycloudflare.com  |"}"#)
                .as_deref(),
            Some("https://a-b.trycloudflare.com")
        );
    }

    #[test]
    fn ngrok_url_is_the_started_tunnel_lines() {
        let mut reader = UrlReader::new(Tool::Ngrok);
        assert_eq!(
            reader.feed(r#"{"addr":"127.0.0.1:8080","lvl":"info","msg":"starting web service","obj":"web","t":"2026-01-01T00:00:00Z"}"#),
            None
        );
        assert_eq!(reader.feed("not json https://x.example"), None);
        assert_eq!(
            reader
                .feed(r#"{"addr":"http://127.0.0.1:8080","lvl":"info","msg":"started tunnel","name":"command_line","obj":"tunnels","t":"2026-01-01T00:00:00Z","url":"https://1a2b-3c.ngrok-free.app"}"#)
                .as_deref(),
            Some("https://1a2b-3c.ngrok-free.app")
        );
    }

    #[test]
    fn a_listener_on_every_interface_is_reached_on_loopback() {
        let args = |addr: &str| Tool::Cloudflared.args(addr.parse().expect("an address"))[2].clone();
        assert_eq!(args("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(args("[::]:8080"), "http://[::1]:8080");
        assert_eq!(args("192.0.2.7:9000"), "http://192.0.2.7:9000");
        let ngrok = Tool::Ngrok.args("0.0.0.0:8080".parse().expect("an address"));
        assert_eq!(ngrok[1], "127.0.0.1:8080");
    }

    #[test]
    fn a_hostile_url_is_shown_escaped() {
        let mut reader = UrlReader::new(Tool::Ngrok);
        let url = reader
            .feed("{\"msg\":\"started tunnel\",\"url\":\"https://x\\u001b[2J.ngrok.app\"}")
            .expect("a url");
        assert!(!url.contains('\u{1b}'), "{url:?}");
        assert!(url.contains("\\x1b"), "{url:?}");
    }

    #[tokio::test]
    async fn lines_are_read_in_bounded_pieces() {
        let data = vec![b'a'; LINE_LIMIT * 3 + 10];
        let mut reader = BufReader::new(&data[..]);
        let mut line = Vec::new();
        let mut pieces = Vec::new();
        while read_bounded(&mut reader, &mut line).await.expect("read") > 0 {
            pieces.push(line.len());
            line.clear();
        }
        assert_eq!(pieces, vec![LINE_LIMIT, LINE_LIMIT, LINE_LIMIT, 10]);
    }
}
