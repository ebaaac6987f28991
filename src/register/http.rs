//! One exchange with a platform's API through the one outgoing client ([`crate::http_client`],
//! `https://` with the public web roots): the request with its credentials and JSON body, the
//! answer's status and (bounded) body, within a timeout; a failure in words.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};

use super::api::{Credentials, Method, Request, Response};
use crate::http_client::{self, TlsOptions};

/// The most of an answer's body that is read: the APIs answer a few hundred bytes.
const BODY_LIMIT: usize = 1 << 20;

/// Why an exchange gave no answer to read, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing came back, or not whole (`connection refused`, `no answer within 15s`): the
    /// network, or the base URL, is what to check.
    Network(String),
    /// An answer came, but far larger than the API's: not the API, most likely.
    TooLarge(String),
}

/// Sends `request` with `credentials` and reads the answer, all within `timeout`; what went
/// wrong otherwise, in words.
pub async fn exchange(
    request: &Request,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<Response, Failure> {
    let built = build(request, credentials).map_err(Failure::Network)?;
    let host = built.uri().host().unwrap_or_default().to_owned();
    // The platforms' APIs are public: the web roots, no --ca, never --insecure.
    let tls = TlsOptions::default();
    let client = http_client::client(&tls).map_err(|e| Failure::Network(format!("{e:#}")))?;
    let exchange = async {
        let response = client
            .request(built)
            .await
            .map_err(|e| Failure::Network(http_client::describe(&e, &host, &tls)))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = Limited::new(response.into_body(), BODY_LIMIT)
            .collect()
            .await
            .map_err(|e| match e.is::<LengthLimitError>() {
                true => Failure::TooLarge(format!(
                    "answered {status} with a body over {} KiB, more than a webhooks API answers (is --api-base this API?)",
                    BODY_LIMIT / 1024
                )),
                false => Failure::Network(format!("the answer's body could not be read: {e}")),
            })?
            .to_bytes();
        Ok(Response {
            status,
            body: body.to_vec(),
            content_type,
        })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(Failure::Network(format!(
            "no answer within {}",
            crate::units::format_duration(timeout)
        ))),
    }
}

fn build(request: &Request, credentials: &Credentials) -> Result<hyper::Request<Full<Bytes>>, String> {
    let method = match request.method {
        Method::Get => hyper::Method::GET,
        Method::Post => hyper::Method::POST,
        Method::Patch => hyper::Method::PATCH,
        Method::Delete => hyper::Method::DELETE,
    };
    let uri: hyper::Uri = request
        .url
        .parse()
        .map_err(|_| "not a valid URL (check --api-base)".to_owned())?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err("not an http(s):// URL (check --api-base)".into());
    }
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::ACCEPT, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("hookscope/", env!("CARGO_PKG_VERSION")),
        );
    let mut authorization =
        hyper::header::HeaderValue::from_str(credentials.authorization()).map_err(|_| {
            format!(
                "the API credentials from {} hold characters a header cannot",
                credentials.source
            )
        })?;
    authorization.set_sensitive(true);
    builder = builder.header(hyper::header::AUTHORIZATION, authorization);
    let body = match &request.body {
        Some(body) => {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    builder
        .body(Full::new(body))
        .map_err(|e| format!("cannot build the request: {e}"))
}
