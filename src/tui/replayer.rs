//! Replays from the inspector: a capture as it came, re-signed, or with a body edited in
//! `$EDITOR`, delivered once through a forwarder and journaled through the hub, so the attempt
//! comes back to the view (the list's App column, the Deliveries tab) like any other.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::analysis::Analyzer;
use crate::attempt::AttemptKind;
use crate::capture::Capture;
use crate::forward::{ForwardConfig, Forwarder};
use crate::http_client::TlsOptions;
use crate::hub::Hub;
use crate::replay::{self, ResignError};

use super::app::ReplayMode;

/// Starts replays; one forwarder per target, made on first use.
pub struct Replayer {
    hub: Hub,
    analyzer: Arc<Analyzer>,
    /// `listen --forward`'s settings (exact, preserve-host, timeout) for its own target.
    configured: Option<ForwardConfig>,
    /// How `https://` targets typed at the prompt are trusted (`--ca`, `--insecure`).
    tls: TlsOptions,
    forwarders: HashMap<String, Forwarder>,
}

impl Replayer {
    /// Replays journaled through `hub`, re-signed with `analyzer`'s keys; `configured` is the
    /// forwarding configuration of `listen --forward`, if any; `tls` how other `https://`
    /// targets are trusted.
    pub fn new(
        hub: Hub,
        analyzer: Arc<Analyzer>,
        configured: Option<ForwardConfig>,
        tls: TlsOptions,
    ) -> Self {
        Self {
            hub,
            analyzer,
            configured,
            tls,
            forwarders: HashMap::new(),
        }
    }

    fn forwarder(&mut self, target: &str) -> anyhow::Result<Forwarder> {
        if let Some(forwarder) = self.forwarders.get(target) {
            return Ok(forwarder.clone());
        }
        let config = match &self.configured {
            Some(config) if config.target == target => config.clone(),
            _ => ForwardConfig {
                tls: self.tls.clone(),
                ..ForwardConfig::new(target)
            },
        };
        let forwarder = Forwarder::new(config, self.analyzer.catalog())?;
        self.forwarders.insert(target.to_owned(), forwarder.clone());
        Ok(forwarder)
    }

    /// The hub replays are journaled through (and whose totals the status bar shows).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Prepares the request (re-signing it, or putting `edited` in as its body) and starts its
    /// delivery in the background. Returns the line for the status bar.
    pub fn start(
        &mut self,
        capture: &Capture,
        mode: ReplayMode,
        target: &str,
        edited: Option<Bytes>,
    ) -> String {
        let forwarder = match self.forwarder(target) {
            Ok(forwarder) => forwarder,
            Err(err) => return format!("cannot replay to {target}: {err:#}"),
        };
        let now = chrono::Utc::now();
        let (request, kind, signature, note) = match (mode, edited) {
            (ReplayMode::AsIs, _) => (capture.clone(), AttemptKind::Replay, Vec::new(), String::new()),
            (ReplayMode::Edited, None) => return "not replayed: the edited body could not be read".into(),
            (mode, edited) => {
                let (request, kind) = match edited {
                    Some(body) if mode == ReplayMode::Edited => {
                        (replay::with_body(capture, body), AttemptKind::Edited)
                    }
                    _ => (capture.clone(), AttemptKind::Resigned),
                };
                // `R` and `e` both re-sign: a request sent with a signature that no longer
                // matches it would only tell the app it is forged. Senders with no known
                // signature are sent as they are, and the status bar says so.
                match replay::resign(&request, &self.analyzer, now) {
                    Ok(fresh) => (fresh.request, kind, fresh.signature, String::new()),
                    Err(err @ (ResignError::UnknownSender | ResignError::NoneDocumented(_))) => {
                        (request, kind, Vec::new(), format!(" (not re-signed: {err})"))
                    }
                    Err(err) => return format!("not replayed: cannot re-sign: {err}"),
                }
            }
        };
        let hub = self.hub.clone();
        tokio::spawn(async move {
            let mut attempt = forwarder.send_once(&request, kind).await;
            attempt.signed_headers = signature;
            if let Err(err) = hub.record_attempt(attempt).await {
                tracing::warn!(%err, "cannot journal a replay's attempt");
            }
        });
        format!("{} to {target}…{note}", kind.name())
    }
}

/// Opens `capture`'s body in `$VISUAL`, `$EDITOR` or `vi` and returns it as saved. The caller
/// has handed the terminal over (left raw mode and the alternate screen).
pub fn edit_body(capture: &Capture) -> std::io::Result<Bytes> {
    let extension = match capture.content_type().as_deref() {
        Some(t) if t.contains("json") => "json",
        _ => "txt",
    };
    // The body may hold anything a sender wrote, and /tmp is shared: a file only this user can
    // read, under a name nobody could have made ready for us (create_new fails on a planted
    // file or symlink).
    let path = std::env::temp_dir().join(format!(
        "hookscope-edit-{}-{:016x}.{extension}",
        capture.id,
        rand::random::<u64>()
    ));
    {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path)?.write_all(&capture.body)?;
    }
    // An empty variable is as good as unset (`VISUAL= hookscope listen`).
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    // `code --wait`, `emacsclient -t`: the editor may come with arguments.
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let status = std::process::Command::new(program)
        .args(words)
        .arg(&path)
        .status();
    let body = match status {
        Ok(status) if status.success() => std::fs::read(&path).map(Bytes::from),
        Ok(status) => Err(std::io::Error::other(format!("{editor} exited with {status}"))),
        Err(err) => Err(std::io::Error::new(
            err.kind(),
            format!("cannot run {editor}: {err}"),
        )),
    };
    let _ = std::fs::remove_file(&path);
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Keys;
    use crate::journal::{Journal, WriteOptions};
    use crate::provider::Catalog;

    /// A target typed at the prompt is trusted as `--ca`/`--insecure` say, and `--forward`'s
    /// own target keeps its configuration (which carries the same options).
    #[tokio::test]
    async fn targets_typed_at_the_prompt_get_the_tls_options() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = Journal::open(&dir.path().join("j.jsonl"), WriteOptions::default()).expect("journal");
        let analyzer = Arc::new(Analyzer::new(Catalog::builtin(), Keys::default()));
        let hub = Hub::new(journal.appender(), analyzer.clone());
        let insecure = TlsOptions {
            ca: None,
            insecure: true,
        };
        let configured = ForwardConfig {
            exact: true,
            ..ForwardConfig::new("https://localhost:3443")
        };
        let mut replayer = Replayer::new(hub, analyzer, Some(configured), insecure.clone());
        let typed = replayer.forwarder("https://127.0.0.1:4443").expect("a forwarder");
        assert_eq!(typed.config().tls, insecure);
        assert!(!typed.config().exact);
        let forward = replayer.forwarder("https://localhost:3443").expect("a forwarder");
        assert!(forward.config().exact, "--forward's own configuration");
        // A --ca that cannot be read is said when the replay starts, not a panic.
        let mut unreadable = Replayer::new(
            replayer.hub.clone(),
            replayer.analyzer.clone(),
            None,
            TlsOptions {
                ca: Some(dir.path().join("missing.pem")),
                insecure: false,
            },
        );
        let err = unreadable
            .forwarder("https://localhost:1")
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("cannot read certificates from --ca"),
            "{err}"
        );
    }
}
