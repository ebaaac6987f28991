//! `hookscope relay`: serve the tunnel's public side, or create a channel token.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::cli::{RelayArgs, RelayCommand, TokenCommand};
use crate::relay::server::{self, Relay, RelayConfig};
use crate::relay::token;

/// How often each side of a tunnel proves it is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Runs the relay until a shutdown signal, or runs a token command.
pub fn run(args: RelayArgs) -> anyhow::Result<()> {
    match args.command {
        Some(RelayCommand::Token(TokenCommand::Create { channel, store })) => {
            let file = store.token_file();
            let token = token::create(&file, &channel)?;
            // The one place a token is ever shown: it is not stored anywhere but its hash.
            println!("{}", token.expose());
            eprintln!(
                "token for channel {channel} created; its hash is in {} (the token is not stored: keep it now)",
                file.display()
            );
            Ok(())
        }
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve(args))
        }
    }
}

async fn serve(args: RelayArgs) -> anyhow::Result<()> {
    let config = RelayConfig {
        data_dir: args.store.data_dir.clone(),
        tokens: args.store.token_file(),
        queue_limit: args.queue_limit.max(1),
        max_body: args.max_body,
        respond: args.respond,
        sync_timeout: args.sync_timeout,
        heartbeat: HEARTBEAT,
        rate_limit: args.rate_limit,
        trust_proxy: args.trust_proxy,
    };
    let relay: Arc<Relay> = Relay::open(config)?;
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    eprintln!(
        "hookscope relay listening on http://{addr}, data in {}",
        args.store.data_dir.display()
    );
    server::serve(listener, relay, crate::commands::listen::shutdown_signal()).await;
    eprintln!("relay stopped");
    Ok(())
}
