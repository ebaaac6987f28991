//! The one HTTP(S) client every outgoing request goes through: forwarding and routes' targets,
//! `replay --to`, `send --to`, the inspector's replay, and calls to providers' APIs.
//!
//! [`client`] builds a hyper-util client over hyper-rustls that speaks `http://` and `https://`
//! (HTTP/1.1, and h2 where the server offers it by ALPN), trusting the public web roots plus the
//! certificates of `--ca`, or, with `--insecure`, any certificate. [`TlsOptions`] is also the
//! clap group of those two flags (`#[command(flatten)] tls: TlsOptions`). When a request fails,
//! [`describe`] says why in one sentence a developer recognises, with what to do: `connection
//! refused`, or `the certificate of 127.0.0.1 is not trusted (...): pass --ca PATH ...`.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hookscope::http_client::{self, TlsOptions};
//!
//! let tls = TlsOptions::default(); // the web roots; or { ca: Some(path), insecure: false }
//! let client = http_client::client(&tls)?;
//! let request = hyper::Request::post("https://api.example/v1/hooks")
//!     .body(Full::new(Bytes::from_static(b"{}")))?;
//! match client.request(request).await {
//!     Ok(response) => println!("{}", response.status()),
//!     Err(err) => eprintln!("{}", http_client::describe(&err, "api.example", &tls)),
//! }
//! # Ok(())
//! # }
//! ```

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Uri;
use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::tls::Refusal;

/// How `https://` servers are trusted; the `--ca` and `--insecure` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct TlsOptions {
    /// Trust the certificates in this PEM file for https:// targets, besides the public web
    /// roots: a local CA (mkcert's is $(mkcert -CAROOT)/rootCA.pem) or the app's own
    /// self-signed certificate.
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Do not verify https:// targets' certificates at all (said in the status bar and in every
    /// delivery made so).
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
}

/// What `listen` and `replay` print first with `--insecure`.
pub const INSECURE: &str = "INSECURE (--insecure): https:// certificates are not verified, so whoever \
                            answers is taken for the app; every delivery made so is journaled with \
                            \"insecure\":true";

/// The client: `http://` and `https://`, connections kept and shared between clones.
pub type HttpClient = Client<HttpsConnector<Dialer>, Full<Bytes>>;

/// A client trusting as `tls` says. Fails only when `--ca` cannot be read or holds no
/// certificate, with a sentence naming the file.
pub fn client(tls: &TlsOptions) -> anyhow::Result<HttpClient> {
    let config = crate::tls::client_config(tls.ca.as_deref(), tls.insecure, "--ca")?;
    let mut tcp = HttpConnector::new();
    // https:// URLs reach the TLS layer; and no Nagle: TLS records and h2 frames are small
    // writes, and each waited for the peer's delayed ACK (~40 ms a request).
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(Dialer(tcp));
    Ok(Client::builder(TokioExecutor::new())
        // Senders' headers go on in the case they came in, as far as HTTP/1.1 lets us.
        .http1_title_case_headers(true)
        .build(connector))
}

/// The TCP connector under TLS: an `http://` connection whose first bytes from the app are a TLS
/// record (a rustls-based app that speaks only HTTPS answers plain HTTP with a TLS alert; an
/// OpenSSL-based one resets the connection, which cannot be told from any other reset) fails with
/// [`AnsweredInTls`], which [`describe`] names, instead of hyper's `invalid HTTP version parsed`.
#[derive(Debug, Clone)]
pub struct Dialer(HttpConnector);

type BoxError = Box<dyn StdError + Send + Sync>;

impl tower_service::Service<Uri> for Dialer {
    type Response = Sniffed<TokioIo<tokio::net::TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let sniffing = uri.scheme() == Some(&hyper::http::uri::Scheme::HTTP);
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            Ok(Sniffed { io, sniffing })
        })
    }
}

/// An app's answer to plain HTTP began with a TLS record: it speaks only HTTPS.
#[derive(Debug)]
pub struct AnsweredInTls;

impl std::fmt::Display for AnsweredInTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("answered in TLS")
    }
}

impl StdError for AnsweredInTls {}

/// A connection whose first bytes are looked at, on `http://` only (over `https://` they are
/// TLS's own).
#[derive(Debug)]
pub struct Sniffed<T> {
    io: T,
    sniffing: bool,
}

impl<T: Read + Unpin> Read for Sniffed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.sniffing {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let mut first = [0u8; 4096];
        let len = buf.remaining().min(first.len());
        let mut read = ReadBuf::new(&mut first[..len]);
        ready!(Pin::new(&mut this.io).poll_read(cx, read.unfilled()))?;
        this.sniffing = false;
        let filled = read.filled();
        // A TLS record: alert (21) or handshake (22), then version 3.x (SSL 3.0 to TLS 1.3's 3.4).
        if let [0x15 | 0x16, 0x03, 0..=4, ..] = filled {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, AnsweredInTls)));
        }
        buf.put_slice(filled);
        Poll::Ready(Ok(()))
    }
}

impl<T: Write + Unpin> Write for Sniffed<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

impl<T: Connection> Connection for Sniffed<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

/// Why a request to `host` failed, as one sentence with what to do where something can be done:
/// `connection refused`, `connection reset`, `the certificate of HOST is not trusted (...): pass
/// --ca PATH ... or --insecure`, `HOST did not answer in TLS ...`.
pub fn describe(err: &(dyn StdError + 'static), host: &str, tls: &TlsOptions) -> String {
    if let Some(refused) = find::<rustls::Error>(err) {
        return tls_failure(refused, host, tls);
    }
    if find::<AnsweredInTls>(err).is_some() {
        let host = crate::sanitize::line(host);
        return format!("{host} answered in TLS: it serves HTTPS, so use https:// instead of http://");
    }
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            let known = match io.kind() {
                io::ErrorKind::ConnectionRefused => Some("connection refused"),
                io::ErrorKind::ConnectionReset => Some("connection reset"),
                io::ErrorKind::ConnectionAborted => Some("connection aborted"),
                io::ErrorKind::TimedOut => Some("connection timed out"),
                io::ErrorKind::AddrNotAvailable => Some("address not available"),
                _ => None,
            };
            if let Some(known) = known {
                return known.to_owned();
            }
            // An io::Error wrapping another (hyper-rustls wraps every failure so) is named by
            // what it wraps.
            match io.get_ref() {
                Some(inner) if inner.is::<io::Error>() => {
                    current = Some(inner);
                    continue;
                }
                _ => return crate::sanitize::line(&io.to_string()).into_owned(),
            }
        }
        if let Some(hyper) = err.downcast_ref::<hyper::Error>()
            && hyper.is_incomplete_message()
        {
            return "connection closed before a complete response".into();
        }
        current = err.source();
    }
    // Nothing better known: the whole chain, outermost first, made one safe line.
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        text.push_str(": ");
        text.push_str(&next.to_string());
        source = next.source();
    }
    crate::sanitize::line(&text).into_owned()
}

/// The first `E` in `err`'s chain, looking inside io::Errors (whose `source` skips what they
/// wrap).
fn find<'a, E: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<E>() {
            return Some(found);
        }
        current = match err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner),
            None => err.source(),
        };
    }
    None
}

/// A TLS failure with `host` in words, with what to do.
fn tls_failure(err: &rustls::Error, host: &str, tls: &TlsOptions) -> String {
    let host = crate::sanitize::line(host);
    let why = match err {
        rustls::Error::InvalidCertificate(why) => why,
        rustls::Error::InvalidMessage(_) => {
            return format!(
                "{host} did not answer in TLS: if it serves plain HTTP, use http:// instead of https://"
            );
        }
        other => {
            let other = crate::sanitize::line(&other.to_string()).into_owned();
            return format!("TLS with {host} failed: {other}");
        }
    };
    let mkcert = "mkcert: $(mkcert -CAROOT)/rootCA.pem";
    let subject = format!("the certificate of {host}");
    match Refusal::of(why) {
        Refusal::Untrusted(cause) => match &tls.ca {
            None => format!("{subject} is not trusted ({cause}): pass --ca PATH ({mkcert}) or --insecure"),
            Some(ca) => format!(
                "{subject} is not trusted ({cause}, and neither in --ca {} nor issued by it): give --ca \
                 the CA that issued it ({mkcert}) or the certificate itself, or pass --insecure",
                crate::sanitize::line(&ca.display().to_string())
            ),
        },
        Refusal::WrongName(presented) => {
            let names = match presented.is_empty() {
                true => String::new(),
                false => format!(" (it names {presented})"),
            };
            format!(
                "{subject} is not valid for {host}{names}: use a name it names in the URL, or reissue \
                 it for {host} (mkcert {host}), or pass --insecure"
            )
        }
        Refusal::Expired => {
            format!("{subject} has expired: renew it (or check this machine's clock), or pass --insecure")
        }
        Refusal::NotValidYet => {
            format!("{subject} is not valid yet: check this machine's clock, or pass --insecure")
        }
        Refusal::Other(other) => format!("{subject} was refused ({other}): check it, or pass --insecure"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_named_plainly() {
        let tls = TlsOptions::default();
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(describe(&refused, "h", &tls), "connection refused");
        let wrapped = io::Error::other(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(describe(&wrapped, "h", &tls), "connection reset");
        // A refusal found under other errors is named as such.
        #[derive(Debug)]
        struct Outer(io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let nested = Outer(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(describe(&nested, "h", &tls), "connection refused");
        // Nothing known: the whole chain, outermost first.
        let unknown = Outer(io::Error::new(io::ErrorKind::InvalidData, "bad"));
        assert_eq!(describe(&unknown, "h", &tls), "bad");
        // A certificate refusal under two io::Errors, as hyper-rustls wraps it.
        let certificate = Outer(io::Error::other(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        )));
        assert_eq!(
            describe(&certificate, "127.0.0.1", &tls),
            "the certificate of 127.0.0.1 is not trusted (issued by a CA this machine does not \
             trust): pass --ca PATH (mkcert: $(mkcert -CAROOT)/rootCA.pem) or --insecure"
        );
    }

    #[test]
    fn certificate_refusals_say_what_to_do_in_one_line() {
        use rustls::CertificateError as E;
        let with_ca = TlsOptions {
            ca: Some("ca.pem".into()),
            insecure: false,
        };
        let cases = [
            (
                E::UnknownIssuer,
                TlsOptions::default(),
                "not trusted (issued by a CA",
            ),
            (
                E::UnknownIssuer,
                with_ca.clone(),
                "neither in --ca ca.pem nor issued by it",
            ),
            (
                E::NotValidForName,
                with_ca,
                "not valid for localhost: use a name it names",
            ),
            (E::Expired, TlsOptions::default(), "has expired: renew it"),
            (
                E::NotValidYet,
                TlsOptions::default(),
                "check this machine's clock",
            ),
            (E::BadSignature, TlsOptions::default(), "refused (BadSignature)"),
        ];
        for (err, tls, says) in cases {
            let text = tls_failure(&rustls::Error::InvalidCertificate(err.clone()), "localhost", &tls);
            assert!(text.contains(says), "{err:?}: {text}");
            assert!(text.ends_with("--insecure"), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
        let plain = tls_failure(
            &rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            "127.0.0.1",
            &TlsOptions::default(),
        );
        assert!(plain.contains("use http:// instead of https://"), "{plain}");
    }
}
