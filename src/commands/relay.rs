//! `hookscope relay`: serve the tunnel's public side, create a channel token, or show the
//! channels' clients and backlog (`relay status`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::{RelayArgs, RelayCommand, TokenCommand};
use crate::limits;
use crate::relay::connections::Timeouts;
use crate::relay::server::{self, Relay, RelayConfig};
use crate::relay::{private, status, token};

/// How often each side of a tunnel proves it is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Runs the relay until a shutdown signal, or runs a token command.
pub fn run(args: RelayArgs) -> anyhow::Result<()> {
    match args.command {
        Some(RelayCommand::Token(TokenCommand::Create { channel, store })) => {
            let file = store.token_file();
            if store.tokens.is_none() {
                // The token file lives in the data directory: that one is the relay's to keep
                // private.
                private::create_dir(&store.data_dir)
                    .with_context(|| format!("cannot create {}", store.data_dir.display()))?;
                private::tighten(&store.data_dir);
            }
            let token = token::create(&file, &channel)?;
            // The one place a token is ever shown: it is not stored anywhere but its hash.
            println!("{}", token.expose());
            eprintln!(
                "token for channel {channel} created; its hash is in {} (the token is not stored: keep it now)",
                file.display()
            );
            Ok(())
        }
        Some(RelayCommand::Status { data_dir }) => {
            print!("{}", status::report(&data_dir, chrono::Utc::now())?);
            Ok(())
        }
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve(args))
        }
    }
}

async fn serve(args: RelayArgs) -> anyhow::Result<()> {
    // A file named on purpose and missing is a typo or a missing mount, not "no tokens yet".
    if let Some(tokens) = &args.store.tokens {
        std::fs::metadata(tokens).with_context(|| {
            format!(
                "--tokens {}: cannot use this file (create it with `hookscope relay token create --tokens FILE`)",
                tokens.display()
            )
        })?;
    }
    let max_connections = match args.max_connections {
        Some(max) => usize::try_from(max).unwrap_or(usize::MAX),
        None => limits::default_max(limits::descriptor_limit()),
    };
    let config = RelayConfig {
        data_dir: args.store.data_dir.clone(),
        tokens: args.store.token_file(),
        queue_limit: args.queue_limit.max(1),
        queue_bytes: args.queue_bytes,
        max_body: args.max_body,
        respond: args.respond,
        sync_timeout: args.sync_timeout,
        heartbeat: HEARTBEAT,
        rate_limit: args.rate_limit,
        trust_proxy: args.trust_proxy,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
            _ => None,
        },
        timeouts: Timeouts {
            read: args.read_timeout,
            idle: args.idle_timeout,
        },
        max_connections,
        client_ttl: args.client_ttl,
    };
    let relay: Arc<Relay> = Relay::open(config)?;
    let (listener, addr) = super::bind(args.addr).await?;
    let scheme = if args.tls_cert.is_some() { "https" } else { "http" };
    let signalled = crate::commands::listen::shutdown_signal();
    eprintln!(
        "hookscope relay listening on {scheme}://{addr}, data in {}, at most {max_connections} connections",
        args.store.data_dir.display()
    );
    server::serve(listener, relay, signalled).await;
    eprintln!("relay stopped");
    Ok(())
}

/// A rustls server configuration from PEM files ([`crate::tls::server_config`]).
fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    Ok(Arc::new(crate::tls::server_config(cert, key)?))
}
