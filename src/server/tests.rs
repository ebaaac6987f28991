//! Unit tests of the listener's pure parts, and of what hyper answers on its own.

use super::*;

#[test]
fn versions_are_written_as_hyper_names_them() {
    use hyper::Version;
    for version in [
        Version::HTTP_09,
        Version::HTTP_10,
        Version::HTTP_11,
        Version::HTTP_2,
        Version::HTTP_3,
    ] {
        assert_eq!(version_text(version), format!("{version:?}"));
    }
}

#[test]
fn targets_keep_their_authority_apart_and_connect_keeps_its_target() {
    let parts = |method: Method, target: &str| {
        let uri: Uri = target.parse().expect("a target");
        target_of(&method, &uri)
    };
    let own = |path: &str, query: Option<&str>, authority: Option<&str>| {
        (
            path.to_owned(),
            query.map(str::to_owned),
            authority.map(str::to_owned),
        )
    };
    assert_eq!(parts(Method::POST, "/a/b?x=1"), own("/a/b", Some("x=1"), None));
    assert_eq!(
        parts(Method::POST, "http://evil.example:8080/p?q=1"),
        own("/p", Some("q=1"), Some("evil.example:8080"))
    );
    assert_eq!(
        parts(Method::CONNECT, "example.com:443"),
        own("example.com:443", None, None)
    );
    assert_eq!(parts(Method::OPTIONS, "*"), own("*", None, None));
}

/// What hyper, configured as the listener configures it, writes for `input` and the error its
/// connection ends with.
async fn hyper_refuses(input: &[u8]) -> (Option<u16>, Option<ConnectionError>) {
    let (mut client, server) = tokio::io::duplex(2 * 1024 * 1024);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(None);
    let service = service_fn(|_request| async { Ok::<_, Infallible>(plain(StatusCode::OK, "served")) });
    let connection =
        tokio::spawn(async move { builder.serve_connection(TokioIo::new(server), service).await });
    client.write_all(input).await.expect("write");
    client.shutdown().await.expect("shutdown");
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.expect("read");
    let status = answer
        .strip_prefix(b"HTTP/1.1 ")
        .and_then(|rest| std::str::from_utf8(&rest[..3]).ok())
        .and_then(|code| code.parse().ok());
    (status, connection.await.expect("joined").err())
}

#[tokio::test]
async fn the_status_read_from_hyper_errors_is_the_one_hyper_writes() {
    let mut long_uri = b"GET /".to_vec();
    long_uri.extend(std::iter::repeat_n(b'a', 70_000));
    long_uri.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    let mut big_header = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    big_header.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big_header.extend_from_slice(b"\r\n\r\n");
    let mut many_headers = b"GET / HTTP/1.1\r\n".to_vec();
    for n in 0..150 {
        many_headers.extend_from_slice(format!("X-{n}: v\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"\r\n");
    let cases: [(&str, &[u8], Option<u16>); 12] = [
        ("non-UTF-8 path", b"GET /caf\xe9 HTTP/1.1\r\n\r\n", Some(400)),
        (
            "control byte in a path",
            b"GET /a\x01b HTTP/1.1\r\n\r\n",
            Some(400),
        ),
        (
            "control byte in a header",
            b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            Some(400),
        ),
        ("bad method", b"G@T / HTTP/1.1\r\n\r\n", Some(400)),
        ("bad version", b"GET / HTTP/9.9\r\n\r\n", Some(400)),
        (
            "two lengths",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            Some(400),
        ),
        (
            "signed length",
            b"POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nab",
            Some(400),
        ),
        (
            "final coding not chunked",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nab",
            Some(400),
        ),
        ("URI too long", &long_uri, Some(414)),
        ("header too large", &big_header, Some(431)),
        ("too many headers", &many_headers, Some(431)),
        ("closed mid-head", b"POST / HTTP/1.1\r\nHo", None),
    ];
    for (what, input, expected) in cases {
        let (written, err) = hyper_refuses(input).await;
        assert_eq!(written, expected, "{what}: what hyper wrote");
        let err = err.unwrap_or_else(|| panic!("{what}: the connection ends with an error"));
        let read = refused::hyper_answer(&*err).map(|status| status.as_u16());
        assert_eq!(read, expected, "{what}: read from {err}");
    }
}
