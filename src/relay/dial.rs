//! Dialing the relay: TCP, TLS for `wss://`, and the websocket handshake with the bearer token.
//!
//! The handshake is written here rather than left to tungstenite, which logs the request it writes
//! (headers and all) at trace level: `RUST_LOG=trace` would print the token. Nothing here logs the
//! request, and [`Token`]'s `Debug` is masked.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use hyper::header::HeaderValue;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use rustls::CertificateError;
use rustls_pki_types::ServerName;

use crate::tls::Refusal;

use crate::relay::token::Token;

/// The TLS setup for `wss://`: the public web roots, plus the certificates in `ca` when given,
/// which are also pinned ([`crate::tls::client_config`]).
fn tls_config(ca: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    Ok(Arc::new(crate::tls::client_config(ca, false, "--relay-ca")?))
}

/// Why a relay certificate was refused and what to do about it, in one line: the cause once,
/// then the remedy. A retry will not change it, so the client retries slowly.
pub fn certificate_advice(err: &CertificateError, host: &str, ca: Option<&Path>) -> String {
    let untrusted = |cause: &str| match ca {
        Some(ca) => format!(
            "{cause}, and neither --relay-ca {} nor issued by it; give --relay-ca the relay's \
             --tls-cert (or the CA that issued it)",
            ca.display()
        ),
        None => format!(
            "{cause}; trust it with --relay-ca CERT.pem (the relay's --tls-cert, or the CA that \
             issued it)"
        ),
    };
    match Refusal::of(err) {
        Refusal::Untrusted(cause) => untrusted(cause),
        Refusal::WrongName(presented) => {
            let names = match presented.is_empty() {
                true => String::new(),
                false => format!(" (it names {presented})"),
            };
            format!(
                "not valid for {host}{names}; use a name it names in --relay, or reissue it with \
                 {host} in its subjectAltName"
            )
        }
        Refusal::Expired => "expired; renew it on the relay (or check this machine's clock)".to_owned(),
        Refusal::NotValidYet => "not valid yet; check this machine's clock".to_owned(),
        Refusal::Other(other) => format!("{other}; check the relay's --tls-cert and --relay-ca here"),
    }
}

/// The tunnel's websocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why no websocket came of dialing.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The relay answered `401`: the token does not grant the channel.
    #[error("unauthorized")]
    Unauthorized,
    /// The relay's certificate was refused: why, and what to do ([`certificate_advice`]).
    #[error("certificate refused: {0}")]
    Certificate(String),
    /// Anything else: the URL, the network, TLS, an answer that is not an upgrade (worth
    /// retrying soon).
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
        let name = ServerName::try_from(bare_host.to_owned())
            .context("the relay's host is not a name TLS can check")?;
        let connector = tokio_rustls::TlsConnector::from(tls_config(ca)?);
        match connector.connect(name, tcp).await {
            Ok(tls) => MaybeTlsStream::Rustls(tls),
            Err(err) => {
                let refused = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
                if let Some(rustls::Error::InvalidCertificate(why)) = refused {
                    return Err(DialError::Certificate(certificate_advice(why, bare_host, ca)));
                }
                return Err(anyhow::Error::new(err)
                    .context("TLS with the relay failed")
                    .into());
            }
        }
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
    use crate::tls::Pinned;
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls_pki_types::{CertificateDer, UnixTime};

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

    /// A self-signed certificate for `names`, marked as a CA as `openssl req -x509` marks one.
    fn self_signed(names: &[&str], ca: bool) -> (rcgen::Certificate, rcgen::KeyPair) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let key = rcgen::KeyPair::generate().expect("key");
        (params.self_signed(&key).expect("certificate"), key)
    }

    fn pinned(certs: &[&CertificateDer<'static>]) -> Pinned {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = certs.iter().map(|c| (*c).clone()).collect();
        Pinned::new(rustls::RootCertStore::empty(), certs, provider).expect("verifier")
    }

    fn verify(verifier: &Pinned, cert: &CertificateDer<'_>, name: &str) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name.to_owned()).expect("name");
        verifier
            .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .map(drop)
    }

    #[test]
    fn a_self_signed_ca_certificate_given_as_relay_ca_is_pinned_and_its_name_still_checked() {
        let (cert, _key) = self_signed(&["localhost", "127.0.0.1"], true);
        let verifier = pinned(&[cert.der()]);
        assert_eq!(verify(&verifier, cert.der(), "localhost"), Ok(()));
        assert_eq!(verify(&verifier, cert.der(), "127.0.0.1"), Ok(()));
        let wrong = verify(&verifier, cert.der(), "relay.example").expect_err("another host");
        assert!(
            matches!(
                wrong,
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{wrong:?}"
        );
        // What webpki alone says of it, trusted as a root: the issue this pin is for.
        let webpki = verify(
            &Pinned {
                pinned: Vec::new(),
                ..pinned(&[cert.der()])
            },
            cert.der(),
            "localhost",
        )
        .expect_err("webpki refuses a CA as the server's own certificate");
        assert!(
            format!("{wrong:?} {webpki:?}").contains("CaUsedAsEndEntity"),
            "{webpki:?}"
        );
        // Another self-signed certificate is not the pinned one.
        let (other, _key) = self_signed(&["localhost"], true);
        assert!(verify(&verifier, other.der(), "localhost").is_err());
    }

    #[test]
    fn a_certificate_issued_by_the_given_ca_is_verified_as_usual() {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
        let verifier = pinned(&[ca.der()]);
        assert_eq!(verify(&verifier, leaf.der(), "localhost"), Ok(()));
        assert!(verify(&verifier, leaf.der(), "relay.example").is_err());
        // Expired, it is refused (a pinned certificate too: see the tls module's tests).
        leaf_params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        leaf_params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        let expired = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
        let refused = verify(&verifier, expired.der(), "localhost").expect_err("expired");
        assert!(
            matches!(
                refused,
                rustls::Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. }
                )
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn refused_certificates_say_what_to_do_in_one_line_without_repeating_the_cause() {
        let ca = Path::new("relay.pem");
        let cases = [
            (
                CertificateError::UnknownIssuer,
                None,
                "trust it with --relay-ca CERT.pem",
            ),
            (
                CertificateError::UnknownIssuer,
                Some(ca),
                "give --relay-ca the relay's --tls-cert",
            ),
            (
                CertificateError::NotValidForName,
                None,
                "not valid for localhost; use a name it names",
            ),
            (CertificateError::Expired, None, "expired; renew it on the relay"),
            (CertificateError::NotValidYet, None, "check this machine's clock"),
            (
                CertificateError::BadSignature,
                None,
                "BadSignature; check the relay's --tls-cert",
            ),
        ];
        for (err, ca, says) in cases {
            let advice = certificate_advice(&err, "localhost", ca);
            assert!(advice.contains(says), "{err:?}: {advice}");
            assert!(!advice.contains('\n'), "{advice}");
            let parts: Vec<&str> = advice.split([':', ';']).map(str::trim).collect();
            assert!(
                parts.windows(2).all(|w| w[0] != w[1]),
                "a cause repeated: {advice}"
            );
        }
    }
}
