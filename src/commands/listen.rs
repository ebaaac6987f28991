//! `hookscope listen`: capture, journal, print; until Ctrl-C or SIGTERM.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::Context as _;
use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderValue};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::capture::{CaptureId, Via};
use crate::relay::client::{self, Answer, TunnelConfig, TunnelState};
use crate::relay::token::valid_channel;

use crate::cli::ListenArgs;
use crate::forward::{self, ForwardConfig, Forwarder};
use crate::headless::{self, Format};
use crate::hub::Hub;
use crate::journal::{Journal, WriteOptions};
use crate::server::{self, ServerConfig};
use crate::tui::{self, App, store::Store};
use crate::units::format_size;

/// Runs the listener until a shutdown signal, then flushes the journal and prints a summary.
pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let mut config = server_config(&args)?;
    // Checked before anything is opened: a bad --client-name leaves no journal behind.
    let client_name = args
        .relay
        .as_ref()
        .map(|_| client::client_name(args.client_name.as_deref()))
        .transpose()?;
    let (analyzer, configured) = args.keys.analyzer_with(&args.verify_tokens)?;
    let analyzer = Arc::new(analyzer);
    config.handshakes = (!args.no_handshakes).then(|| Arc::new(crate::handshake::Handshakes::new(&analyzer)));
    let forwarder = match &args.forward {
        Some(target) => Some(Forwarder::new(forward_config(&args, target), analyzer.catalog())?),
        None => None,
    };
    let router = router(&args, &analyzer, forwarder.clone())?;
    config.routes = router.clone();
    // `--register`'s credentials, events and public URL, checked before anything starts (#18).
    let registering = crate::register::Plan::from_args(&args, analyzer.catalog())?;
    // Ids already journaled from the relay channel: a redelivery of one of them is a duplicate.
    let relayed = match &args.relay {
        Some(_) => relayed_ids(&args.out, args.channel.as_deref().unwrap_or_default())?,
        None => HashSet::new(),
    };
    refuse_a_file_that_is_not_a_journal(&args.out)?;
    let options = WriteOptions {
        fsync: args.fsync,
        exclusive: true,
    };
    let journal = Journal::open(&args.out, options)
        .with_context(|| format!("cannot open journal {}", args.out.display()))?;
    if journal.repaired_tail() {
        eprintln!(
            "note: {} ended in a torn line (an earlier crash?); appending after it",
            args.out.display()
        );
    }
    let (listener, addr) = super::bind(args.addr).await?;
    // A quick tunnel's child process (#16); dropped on an error exit, it is killed.
    let public = args
        .public
        .map(|tool| crate::public::start(tool, addr))
        .transpose()?;
    // The webhooks of --register, once the public URL is known (the tunnel's may take a moment);
    // their secrets join the keys before the analyzer is shared, so the first capture is
    // verified with them. Dropped on an error exit, the session removes them.
    let (analyzer, configured, registered) = match registering {
        Some(plan) => {
            let mut with_secrets = (*analyzer).clone();
            let session = plan.register(public.as_ref(), &mut with_secrets).await?;
            let configured = with_secrets.keys().summary();
            (Arc::new(with_secrets), configured, Some(session))
        }
        None => (analyzer, configured, None),
    };

    let hub = Hub::new(journal.appender(), analyzer.clone());
    // Taken before any source starts: the printer or the inspector sees every capture, even
    // one a smee or relay client records before they are set up. The inspector takes each
    // capture's summary, made on the recording thread, and reads the rest from the journal;
    // whole captures when there is none to read back (`--out /dev/null`, a pipe).
    let readable = std::fs::metadata(&args.out).is_ok_and(|m| m.is_file());
    let events = match args.interactive() && readable {
        true => hub.subscribe_listed(),
        false => hub.subscribe(),
    };
    let smee = match &args.smee {
        Some(arg) => Some(start_smee(arg, &args, hub.clone()).await?),
        None => None,
    };
    let forwarding_to = forwarder.as_ref().map(|f| {
        let config = f.config();
        format!(
            "forwarding to {} (retry {}, timeout {:?})",
            crate::sanitize::url(&config.target),
            config.retry,
            config.timeout
        )
    });
    // Then a line per route: `route 1: provider:dyte → http://127.0.0.1:5000`.
    let forwarding_to = crate::routes::start_up_lines(forwarding_to, router.as_deref());
    let answer = match forwarder.is_some() {
        true => Answer::Forwarded,
        false => Answer::Fixed {
            status: config.status.as_u16(),
            headers: config
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: config.body.clone(),
        },
    };
    // Handshakes the listener answered are not forwarded: their sender has its answer.
    let answered = |dispatch: Arc<dyn forward::task::Dispatch>| -> Arc<dyn forward::task::Dispatch> {
        match args.no_handshakes {
            true => dispatch,
            false => Arc::new(crate::handshake::NotForwarded(dispatch)),
        }
    };
    let forwarding = match (&router, forwarder) {
        (Some(router), _) => Some(forward::task::spawn_dispatch(
            answered(router.clone()),
            hub.clone(),
        )),
        (None, forwarder) => {
            forwarder.map(|f| forward::task::spawn_dispatch(answered(Arc::new(f)), hub.clone()))
        }
    };
    let tunnel = match (&args.relay, &args.channel, &args.token) {
        (Some(relay), Some(channel), Some(token)) => {
            anyhow::ensure!(valid_channel(channel), "invalid channel name {channel:?}");
            anyhow::ensure!(
                ["http://", "https://", "ws://", "wss://"]
                    .iter()
                    .any(|s| relay.starts_with(s)),
                "--relay {}: expected an http(s):// or ws(s):// URL",
                crate::register::without_userinfo(relay)
            );
            let config = TunnelConfig {
                relay: relay.clone(),
                channel: channel.clone(),
                client_name: client_name.clone().unwrap_or_default(),
                named_by_host: args.client_name.is_none(),
                token: token.clone(),
                heartbeat: Duration::from_secs(10),
                min_backoff: Duration::from_millis(250),
                max_backoff: Duration::from_secs(30),
                healthy_after: Duration::from_secs(30),
                answer,
                ca: args.relay_ca.clone(),
            };
            Some(client::spawn(config, hub.clone(), relayed))
        }
        _ => None,
    };
    let relay_label = args.relay.as_ref().map(|url| {
        let channel = args.channel.as_deref().unwrap_or_default();
        let name = client_name.as_deref().unwrap_or_default();
        // Its user info (a password, a token), if the URL holds one, is on no line (#18).
        format!(
            "{} channel {channel} as {name}",
            crate::register::without_userinfo(url)
        )
    });
    // Two laptops of one host name (`ubuntu`) would take the channel from each other.
    let host_name_notice = client_name
        .as_deref()
        .and_then(|name| client::host_name_notice(args.client_name.as_deref(), name));
    let started = Instant::now();
    let interactive = args.interactive();
    let mut printer = None;
    if interactive {
        let context = tui::Context {
            listen: Some(format!("{}://{addr}", scheme(&args))),
            journal: args.out.display().to_string(),
            forward: args.forward.clone(),
            relay: relay_label.as_ref().map(|label| format!("connecting · {label}")),
            insecure: args.tls.insecure,
            public: ways_in_status(&public, &smee)
                .into_iter()
                .chain(registered.as_ref().map(crate::register::Session::status_line))
                .collect(),
        };
        let relay_states = match (&tunnel, &relay_label) {
            (Some(tunnel), Some(label)) => Some(relay_status(tunnel.state.clone(), label.clone())),
            _ => None,
        };
        let app_analyzer = analyzer.clone();
        let mut app = App::new(Store::live(&args.out), analyzer, context);
        app.apply_filter(args.filter.text().to_owned());
        app.routes = crate::routes::start_up_lines(None, router.as_deref())
            .map(|lines| lines.lines().map(str::to_owned).collect())
            .unwrap_or_default();
        app.message = Some(format!(
            "journaling to {}; verifying signatures: {configured}",
            args.out.display()
        ));
        if let (Some(message), Some(notice)) = (&mut app.message, &host_name_notice) {
            message.push_str(&format!("; {notice}"));
        }
        // The server stops when the inspector quits or a signal arrives, whichever is first.
        let (quit, quitting) = tokio::sync::watch::channel(());
        let signalled = shutdown_signal();
        let inspector_signalled = shutdown_signal();
        let server = tokio::spawn(server::serve(listener, config, hub.clone(), async move {
            let mut quitting = quitting;
            tokio::select! {
                () = signalled => {}
                _ = quitting.changed() => {}
            }
        }));
        let configured = args
            .forward
            .as_deref()
            .map(|target| forward_config(&args, target));
        let replayer = tui::Replayer::new(hub.clone(), app_analyzer, configured, args.tls.clone());
        let shown = tui::run(
            app,
            Some(events),
            Some(replayer),
            relay_states,
            inspector_signalled,
        )
        .await;
        drop(quit);
        server.await.context("the server task failed")?;
        shown?;
    } else {
        let format = match args.json {
            true => Format::Json,
            false => Format::Human,
        };
        let signalled = shutdown_signal();
        eprintln!(
            "hookscope listening on {}://{addr}, journaling to {}",
            scheme(&args),
            args.out.display()
        );
        if args.tls.insecure {
            eprintln!("{}", crate::http_client::INSECURE);
        }
        eprintln!("verifying signatures: {configured}");
        for line in registered.iter().flat_map(crate::register::Session::lines) {
            eprintln!("registered {line} (removed at exit)");
        }
        if let Some(line) = &forwarding_to {
            eprintln!("{line}");
        }
        if let Some(public) = &public {
            crate::public::print_states(public, format!("http://{addr}"));
        }
        if let Some(smee) = &smee {
            crate::smee::print_status(smee, smee.url.clone());
        }
        if let Some(notice) = &host_name_notice {
            eprintln!("{notice}");
        }
        if let (Some(tunnel), Some(label)) = (&tunnel, &relay_label) {
            print_tunnel_states(tunnel.state.clone(), label.clone());
        }
        printer = Some(
            headless::spawn_printer(events, format, args.filter.clone())
                .context("cannot start the printer")?,
        );
        server::serve(listener, config, hub.clone(), signalled).await;
    }

    // The session's webhooks are removed first, while the ways in still work (#18).
    let removed = match registered {
        Some(registered) => registered.finish().await,
        None => Ok(()),
    };
    if let Some(tunnel) = tunnel {
        tunnel.stop().await;
    }
    if let Some(public) = public {
        public.stop().await;
    }
    if let Some(smee) = smee {
        smee.stop().await;
    }
    // Deliveries in progress get a moment to finish and journal their attempts.
    let forwarded = match forwarding {
        Some(forwarding) => Some(forwarding.finish(args.forward_timeout.min(FORWARD_GRACE)).await),
        None => None,
    };
    let totals = hub.totals();
    drop(hub); // the printer ends once the last hub handle is gone
    let stats = journal.close().await;
    tracing::debug!(lines = stats.lines, commits = stats.commits, "journal closed");
    if let Some(printer) = printer {
        // The printer prints what it still has, unless stdout is not being read (a full pipe):
        // then the session ends without those lines, which are in the journal.
        let deadline = Instant::now() + PRINTER_GRACE;
        while !printer.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match printer.is_finished() {
            true if printer.join().is_err() => tracing::error!("the printer thread panicked"),
            true => {}
            false => eprintln!(
                "stdout is not being read: its last lines were not printed (every capture is in \
                 the journal)"
            ),
        }
    }
    let failed = match stats.failed {
        0 => String::new(),
        n => format!(", {n} NOT journaled (write errors, answered 503)"),
    };
    if std::io::stderr().is_terminal() && !interactive {
        eprintln!(); // after the terminal's echoed ^C
    }
    if let Some(summary) = forwarded {
        let mut line = format!(
            "forwarded {} capture{} ({} attempt{})",
            summary.deliveries,
            if summary.deliveries == 1 { "" } else { "s" },
            totals.attempts,
            if totals.attempts == 1 { "" } else { "s" },
        );
        if summary.missed > 0 {
            line.push_str(&format!(
                ", {} missed (forwarding fell behind; replay them)",
                summary.missed
            ));
        }
        if summary.abandoned > 0 {
            line.push_str(&format!(", {} abandoned at shutdown", summary.abandoned));
        }
        eprintln!("{line}");
    }
    eprintln!(
        "captured {} request{} ({} of bodies) in {:.1?} into {}{failed}",
        totals.captures,
        if totals.captures == 1 { "" } else { "s" },
        format_size(totals.body_bytes),
        started.elapsed(),
        args.out.display(),
    );
    // A webhook left registered is a failure to say, in the exit code too (#18).
    removed.map_err(anyhow::Error::msg)
}

/// Prints a line on stderr each time the tunnel's state changes.
fn print_tunnel_states(mut states: tokio::sync::watch::Receiver<TunnelState>, label: String) {
    tokio::spawn(async move {
        loop {
            let state = states.borrow_and_update().clone();
            if state != TunnelState::Connecting {
                eprintln!("relay: {state} ({label})");
            }
            if states.changed().await.is_err() {
                return;
            }
        }
    });
}

/// The tunnel's state as the status bar's text, kept current.
fn relay_status(
    mut states: tokio::sync::watch::Receiver<TunnelState>,
    label: String,
) -> tokio::sync::watch::Receiver<String> {
    let (text, status) = tokio::sync::watch::channel(format!("connecting · {label}"));
    tokio::spawn(async move {
        loop {
            let state = states.borrow_and_update().clone();
            if text.send(format!("{state} · {label}")).is_err() || states.changed().await.is_err() {
                return;
            }
        }
    });
    status
}

/// The ids of the captures in `journal` that came through relay `channel` (none if the
/// journal does not exist yet).
fn relayed_ids(journal: &std::path::Path, channel: &str) -> anyhow::Result<HashSet<CaptureId>> {
    if !journal.exists() {
        return Ok(HashSet::new());
    }
    let loaded = crate::journal::load(journal)
        .with_context(|| format!("cannot read {} for relay deduplication", journal.display()))?;
    Ok(loaded
        .entries
        .into_iter()
        .filter_map(|entry| match entry.record {
            crate::codec::Record::Capture(c) if c.via == Via::Relay(channel.to_owned()) => Some(c.id),
            _ => None,
        })
        .collect())
}

/// The longest shutdown waits for deliveries in progress.
const FORWARD_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// How long, at exit, the printer may take to print what it still has before the session ends
/// without it (stdout nobody reads blocks it for ever).
const PRINTER_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

fn forward_config(args: &ListenArgs, target: &str) -> ForwardConfig {
    ForwardConfig {
        exact: args.forward_exact,
        preserve_host: args.preserve_host,
        timeout: args.forward_timeout,
        retry: args.retry.clone(),
        max_in_flight: args.max_in_flight as usize,
        body_limit: usize::try_from(args.forward_body_limit).unwrap_or(usize::MAX),
        tls: args.tls.clone(),
        ..ForwardConfig::new(target)
    }
}

/// The routes of `--route` and the configuration file, when any decides deliveries or answers
/// (routes that only name a provider are the analyzer's alone).
fn router(
    args: &ListenArgs,
    analyzer: &crate::analysis::Analyzer,
    default: Option<Forwarder>,
) -> anyhow::Result<Option<Arc<crate::routes::Router>>> {
    let flags = args
        .routes
        .iter()
        .enumerate()
        .map(|(index, route)| crate::routes::Route {
            origin: format!("--route {}", index + 1),
            ..route.clone()
        });
    let routes: Vec<_> = flags.chain(analyzer.keys().routes.iter().cloned()).collect();
    if !routes.iter().any(crate::routes::Route::decides) {
        return Ok(None);
    }
    let router = crate::routes::Router::new(
        routes,
        default,
        |target| forward_config(args, target),
        analyzer.catalog(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(Arc::new(router)))
}

fn server_config(args: &ListenArgs) -> anyhow::Result<ServerConfig> {
    let status = StatusCode::from_u16(args.respond_status).context("invalid --respond-status")?;
    let body = Bytes::from(args.respond_body.clone());
    let mut headers = args.respond_header.clone();
    if !headers.iter().any(|(name, _)| name == CONTENT_TYPE) && !body.is_empty() {
        let content_type = match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(_) => "application/json",
            Err(_) => "text/plain; charset=utf-8",
        };
        headers.insert(0, (CONTENT_TYPE, HeaderValue::from_static(content_type)));
    }
    Ok(ServerConfig {
        status,
        body,
        headers,
        max_body: args.max_body,
        read_timeout: args.read_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections.map(|n| n as usize),
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                let mut tls = crate::tls::server_config(cert, key)?;
                tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                Some(Arc::new(tls))
            }
            _ => None,
        },
        ..ServerConfig::default()
    })
}

/// `https` with `--tls-cert`, else `http`: how senders reach the listener.
fn scheme(args: &ListenArgs) -> &'static str {
    match args.tls_cert.is_some() {
        true => "https",
        false => "http",
    }
}

/// Completes at the first Ctrl-C or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: a server that says where it listens and only then starts
/// watching would die of a SIGTERM sent in between (status 143, no summary, nothing flushed
/// beyond the journal).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn wait(signal: std::io::Result<Signal>, name: &str) {
            match signal {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot watch for {name}");
                    std::future::pending::<()>().await;
                }
            }
        }
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            tokio::select! {
                () = wait(interrupt, "Ctrl-C") => {}
                () = wait(terminate, "SIGTERM") => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot watch for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}

/// `--out` names a file that exists and is something else (notes, a HAR, another tool's log):
/// appending captures to it would damage it. A journal, an empty file, or one whose only line is
/// torn (a crash before the first record was whole) are fine.
fn refuse_a_file_that_is_not_a_journal(path: &std::path::Path) -> anyhow::Result<()> {
    let Ok(mut reader) = crate::journal::JournalReader::open(path) else {
        return Ok(()); // missing: it will be created; unreadable: opening it says so
    };
    // The first line decides: a journal that later took damage is still a journal.
    match reader.next_entry() {
        Ok(None) | Ok(Some(Ok(_))) => Ok(()),
        Ok(Some(Err(problem))) if matches!(problem.kind, crate::journal::ProblemKind::Torn(_)) => Ok(()),
        Ok(Some(Err(_))) | Err(_) => anyhow::bail!(
            "{} is not a hookscope journal (its first line is not a capture or attempt record); \
             choose another --out, or move the file away",
            path.display()
        ),
    }
}

/// Starts receiving `--smee`'s channel, creating it first for `new` (its URL is printed).
async fn start_smee(arg: &str, args: &ListenArgs, hub: Hub) -> anyhow::Result<crate::smee::Smee> {
    let url = match crate::smee::new_channel_url(arg) {
        Some(new) => {
            let url = crate::smee::create_channel(&new).await?;
            eprintln!("smee channel: {url} (send your webhooks there; --smee {url} receives it again)");
            url
        }
        None => arg.to_owned(),
    };
    let limit = usize::try_from(args.max_body)
        .unwrap_or(usize::MAX)
        .saturating_mul(2)
        .saturating_add(1 << 20);
    crate::smee::spawn(crate::smee::SmeeConfig::new(&url, limit), hub)
}

/// The status bar's lines for `--public` and `--smee`.
fn ways_in_status(
    public: &Option<crate::public::Public>,
    smee: &Option<crate::smee::Smee>,
) -> Vec<tokio::sync::watch::Receiver<String>> {
    let mut lines = Vec::new();
    if let Some(public) = public {
        lines.push(crate::public::status_line(public));
    }
    if let Some(smee) = smee {
        lines.push(crate::smee::status_line(smee, smee.url.clone()));
    }
    lines
}
