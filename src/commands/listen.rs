//! `hookscope listen`: capture, journal, print; until Ctrl-C or SIGTERM.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::Context as _;
use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use tokio::net::TcpListener;

use crate::analysis::Analyzer;
use crate::cli::ListenArgs;
use crate::config::Keys;
use crate::forward::{self, ForwardConfig, Forwarder};
use crate::headless::{self, Format};
use crate::hub::Hub;
use crate::journal::{Journal, WriteOptions};
use crate::provider::{Catalog, user_dir};
use crate::server::{self, ServerConfig};
use crate::units::format_size;

/// Runs the listener until a shutdown signal, then flushes the journal and prints a summary.
pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let config = server_config(&args)?;
    let catalog = Catalog::load(user_dir().as_deref()).map_err(|e| anyhow::anyhow!(e))?;
    let keys = Keys::load(&catalog, &args.keys.secrets, args.keys.config.as_deref())
        .map_err(|e| anyhow::anyhow!(e))?;
    let configured = keys.summary();
    let analyzer = std::sync::Arc::new(Analyzer::new(catalog, keys));
    let forwarder = match &args.forward {
        Some(target) => Some(Forwarder::new(forward_config(&args, target), analyzer.catalog())?),
        None => None,
    };
    let journal = Journal::open(&args.out, WriteOptions { fsync: args.fsync })
        .with_context(|| format!("cannot open journal {}", args.out.display()))?;
    if journal.repaired_tail() {
        eprintln!(
            "note: {} ended in a torn line (an earlier crash?); appending after it",
            args.out.display()
        );
    }
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;

    // The interactive view arrives with the TUI; until then every mode prints lines.
    let format = match args.json {
        true => Format::Json,
        false => Format::Human,
    };
    let interactive = std::io::stdout().is_terminal() && !args.headless && !args.json;
    eprintln!(
        "hookscope listening on http://{addr}, journaling to {}{}",
        args.out.display(),
        if interactive { " (Ctrl-C to stop)" } else { "" }
    );
    eprintln!("verifying signatures: {configured}");
    if let Some(forwarder) = &forwarder {
        eprintln!(
            "forwarding to {} (retry {}, timeout {:?})",
            forwarder.config().target,
            forwarder.config().retry,
            forwarder.config().timeout
        );
    }

    let hub = Hub::new(journal.appender(), analyzer);
    let printer = headless::spawn_printer(hub.subscribe(), format, args.filter.clone())
        .context("cannot start the printer")?;
    let forwarding = forwarder.map(|f| forward::task::spawn(f, hub.clone()));
    let started = Instant::now();
    server::serve(listener, config, hub.clone(), shutdown_signal()).await;

    // Deliveries in progress get a moment to finish and journal their attempts.
    let forwarded = match forwarding {
        Some(forwarding) => Some(forwarding.finish(args.forward_timeout.min(FORWARD_GRACE)).await),
        None => None,
    };
    let totals = hub.totals();
    drop(hub); // the printer ends once the last hub handle is gone
    let stats = journal.close().await;
    tracing::debug!(lines = stats.lines, commits = stats.commits, "journal closed");
    if printer.join().is_err() {
        tracing::error!("the printer thread panicked");
    }
    let failed = match stats.failed {
        0 => String::new(),
        n => format!(", {n} NOT journaled (write errors, answered 503)"),
    };
    if std::io::stderr().is_terminal() {
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
    Ok(())
}

/// The longest shutdown waits for deliveries in progress.
const FORWARD_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

fn forward_config(args: &ListenArgs, target: &str) -> ForwardConfig {
    ForwardConfig {
        exact: args.forward_exact,
        preserve_host: args.preserve_host,
        timeout: args.forward_timeout,
        retry: args.retry.clone(),
        max_in_flight: args.max_in_flight as usize,
        body_limit: usize::try_from(args.forward_body_limit).unwrap_or(usize::MAX),
        ..ForwardConfig::new(target)
    }
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
        ..ServerConfig::default()
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot watch for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot watch for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
