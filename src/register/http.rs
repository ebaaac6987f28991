//! One exchange with a platform's API through the one outgoing client ([`crate::http_client`],
//! `https://` with the public web roots): the request with its credentials and JSON body, the
//! answer's status and (bounded) body, within a timeout; a failure in words.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};

use super::api::{Credentials, Method, Request, Response};
use crate::http_client::{self, TlsOptions};

/// The most of an answer's body that is read: the APIs answer a few hundred bytes.
const BODY_LIMIT: usize = 1 << 20;

/// Sends `request` with `credentials` and reads the answer, all within `timeout`. The error is
/// what went wrong, in words (`connection refused`, `no answer within 10s`).
pub async fn exchange(
    request: &Request,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<Response, String> {
    let built = build(request, credentials)?;
    let host = built.uri().host().unwrap_or_default().to_owned();
    // The platforms' APIs are public: the web roots, no --ca, never --insecure.
    let tls = TlsOptions::default();
    let client = http_client::client(&tls).map_err(|e| format!("{e:#}"))?;
    let exchange = async {
        let response = client
            .request(built)
            .await
            .map_err(|e| http_client::describe(&e, &host, &tls))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), BODY_LIMIT)
            .collect()
            .await
            .map_err(|e| format!("the answer's body could not be read: {e}"))?
            .to_bytes();
        Ok(Response {
            status,
            body: body.to_vec(),
        })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no answer within {}",
            crate::units::format_duration(timeout)
        )),
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
