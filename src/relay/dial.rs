//! Dialing the relay: TCP, TLS for `wss://`, and the websocket handshake with the bearer token.
//!
//! The handshake is written here rather than left to tungstenite, which logs the request it writes
//! (headers and all) at trace level: `RUST_LOG=trace` would print the token. Nothing here logs the
//! request, and [`Token`]'s `Debug` is masked.

use std::path::Path;

use anyhow::Context as _;
use hyper::header::HeaderValue;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::relay::token::Token;

/// The TLS setup for `wss://`: the public web roots, plus `ca` when given.
fn tls_config(ca: Option<&Path>) -> anyhow::Result<std::sync::Arc<rustls::ClientConfig>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = ca {
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("cannot read the CA certificate {}", ca.display()))?;
        for cert in certs {
            roots.add(cert).context("unusable CA certificate")?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("no usable TLS versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

/// The tunnel's websocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why no websocket came of dialing.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The relay answered `401`: the token does not grant the channel.
    #[error("unauthorized")]
    Unauthorized,
    /// Anything else: the URL, the network, TLS, an answer that is not an upgrade.
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

/// Dials `url` (`ws://` or `wss://`, TLS trusting the web roots and `ca`) and upgrades to a
/// websocket with `token`.
pub async fn connect(url: &str, token: &Token, ca: Option<&Path>) -> Result<Socket, DialError> {
    let uri: tungstenite::http::Uri = url.parse().context("invalid relay URL")?;
    let tls = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(anyhow::anyhow!("invalid relay URL {url}: not http(s) or ws(s)").into()),
    };
    let host = uri.host().context("the relay URL has no host")?;
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = match uri.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let tcp = TcpStream::connect((bare_host, port))
        .await
        .context("cannot reach the relay")?;
    let stream = if tls {
        let name = rustls_pki_types::ServerName::try_from(bare_host.to_owned())
            .context("the relay's host is not a name TLS can check")?;
        let connector = tokio_rustls::TlsConnector::from(tls_config(ca)?);
        let tls = connector
            .connect(name, tcp)
            .await
            .context("TLS with the relay failed")?;
        MaybeTlsStream::Rustls(tls)
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    upgrade(stream, &authority, target, token).await
}

/// The longest handshake answer read from the relay.
const MAX_HANDSHAKE: usize = 16 * 1024;

/// The client half of the websocket handshake on `stream`, with the bearer token. Nothing here
/// logs the request.
pub async fn upgrade<S>(
    mut stream: S,
    host: &str,
    target: &str,
    token: &Token,
) -> Result<WebSocketStream<S>, DialError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // A token with a line break would add headers of its own.
    HeaderValue::from_str(token.expose()).context("the token is not a valid header value")?;
    let key = tungstenite::handshake::client::generate_key();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nAuthorization: Bearer {}\r\n\r\n",
        token.expose()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .and(stream.flush().await)
        .context("cannot write to the relay")?;
    let mut answer = Vec::new();
    loop {
        let mut chunk = [0u8; 2048];
        let read = stream
            .read(&mut chunk)
            .await
            .context("cannot read the relay's answer")?;
        if read == 0 {
            return Err(anyhow::anyhow!("the relay closed the connection during the handshake").into());
        }
        answer.extend_from_slice(&chunk[..read]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let length = match response.parse(&answer) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) if answer.len() < MAX_HANDSHAKE => continue,
            Ok(httparse::Status::Partial) => {
                return Err(anyhow::anyhow!("the relay's answer to the handshake is too long").into());
            }
            Err(err) => return Err(anyhow::anyhow!("the relay's answer is not HTTP ({err})").into()),
        };
        match response.code {
            Some(101) => {}
            Some(401) => return Err(DialError::Unauthorized),
            code => {
                let reason = crate::sanitize::line(response.reason.unwrap_or_default()).into_owned();
                let code = code.unwrap_or_default();
                return Err(
                    anyhow::anyhow!("the relay answered {code} {reason} instead of a websocket").into(),
                );
            }
        }
        let accept = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
            .map(|h| h.value);
        if accept != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
            return Err(
                anyhow::anyhow!("the relay's websocket handshake is wrong (Sec-WebSocket-Accept)").into(),
            );
        }
        // Frames that came with the answer are the websocket's.
        let rest = answer.split_off(length);
        return Ok(WebSocketStream::from_partially_read(stream, rest, Role::Client, None).await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handshake over an in-memory pipe: the token goes in the header, a 401 is told apart,
    /// a wrong accept key is refused.
    #[tokio::test]
    async fn the_handshake_carries_the_token_and_checks_the_answer() {
        async fn relay_side(answer: impl FnOnce(&str) -> String) -> (String, Result<(), String>) {
            let (client, mut server) = tokio::io::duplex(4096);
            let token = Token::new("hst_secret");
            let dial = tokio::spawn(async move {
                upgrade(client, "relay:7000", "/tunnel/a", &token)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            });
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                server.read_exact(&mut byte).await.expect("read");
                request.push(byte[0]);
            }
            let request = String::from_utf8(request).expect("text");
            let key = request
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .expect("key")
                .to_owned();
            server.write_all(answer(&key).as_bytes()).await.expect("answer");
            (request, dial.await.expect("task"))
        }
        let (request, dialed) = relay_side(|key| {
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            )
        })
        .await;
        assert!(
            request.starts_with("GET /tunnel/a HTTP/1.1\r\nHost: relay:7000\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nAuthorization: Bearer hst_secret\r\n"));
        assert_eq!(dialed, Ok(()));
        let (_, dialed) =
            relay_side(|_| "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".into()).await;
        assert_eq!(dialed, Err("unauthorized".into()));
        let (_, dialed) =
            relay_side(|_| "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: wrong\r\n\r\n".into())
                .await;
        assert!(dialed.expect_err("refused").contains("Sec-WebSocket-Accept"));
    }
}
