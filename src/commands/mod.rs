//! The subcommands' glue: each turns parsed arguments into a running job.

pub mod docs;
pub mod export;
pub mod keygen;
pub mod listen;
pub mod log;
pub mod open;
pub mod providers;
pub mod registrations;
pub mod relay;
pub mod replay;
pub mod send;
pub mod verify;

/// Binds `addr` for a server command, with the one-line errors both servers give.
async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<(tokio::net::TcpListener, std::net::SocketAddr)> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener
        .local_addr()
        .context("cannot read the listening address")?;
    Ok((listener, bound))
}
