//! End-to-end tests of the tunnel: the real `hookscope relay` and `hookscope listen --relay`
//! binaries and a local app, over loopback.
//!
//! The harness is in `relay_harness`; the hostile-input cases are in `relay_hostile.rs`.

mod common;
mod relay_harness;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{Listener, LocalApp, noise, post, send_raw, wait_for};
use relay_harness::{
    Relay, assert_exactly, body, client, create_token, dir, journaled, kill_when_journal_grows, send,
    wait_captures, wait_connected,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_arrive_byte_identical_in_order_and_are_forwarded() {
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let relay = Relay::start(&data, &[]);
    let app = LocalApp::start();
    let listener = client(
        &journal,
        &relay.url(),
        "alpha",
        &token,
        &["--forward", &app.url()],
    );
    wait_connected(&listener);
    for n in 0..1000 {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    let captures = wait_captures(&journal, 1000);
    assert_exactly(&captures, 0..1000, "alpha");
    let seen = wait_for("the app to get all 1000", Duration::from_secs(60), || {
        let seen = app.seen();
        (seen.len() >= 1000).then_some(seen)
    });
    for request in seen {
        let n: usize = request
            .header("x-seq")
            .and_then(|s| s.parse().ok())
            .expect("x-seq");
        assert!(request.body == body(n), "forwarded body of {n} changed");
    }
    assert!(listener.stderr_text().contains("relay: connected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_stream_and_restarted_gets_everything_once() {
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let relay = Relay::start(&data, &[]);
    // Queue a backlog first, so the client is killed while deliveries are in flight.
    for n in 0..2000 {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    let at_kill = kill_when_journal_grows(&journal, || {
        client(&journal, &relay.url(), "alpha", &token, &["--fsync"])
    });
    assert!(
        at_kill < 2000,
        "the client was not killed mid-stream ({at_kill} journaled)"
    );
    // Sent while no client is connected.
    for n in 2000..2100 {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    let second = client(&journal, &relay.url(), "alpha", &token, &[]);
    wait_connected(&second);
    let captures = wait_captures(&journal, 2100);
    // One more after everything: a late duplicate of the backlog would show before it.
    assert_eq!(send(relay.addr, "alpha", 2100).await, 202);
    let captures_after = wait_captures(&journal, 2101);
    assert!(
        captures.len() == 2100 && captures_after.len() == 2101,
        "a duplicate was journaled"
    );
    assert_exactly(&captures_after, 0..2101, "alpha");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_and_restarted_loses_nothing_acknowledged() {
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let mut relay = Relay::start(&data, &[]);
    let addr = relay.addr.to_string();
    // Queued with no client: only the data directory holds them when the relay dies.
    for n in 0..50 {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    relay.kill9();
    let mut relay = Relay::start_on(&addr, &data, &[]);
    let listener = client(&journal, &relay.url(), "alpha", &token, &[]);
    wait_connected(&listener);
    for n in 50..100 {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    // Killed under a connected client, which reconnects to the restarted relay by itself.
    relay.kill9();
    let relay = Relay::start_on(&addr, &data, &[]);
    for n in 100..150 {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    let captures = wait_captures(&journal, 150);
    assert_exactly(&captures, 0..150, "alpha");
    assert!(listener.stderr_text().contains("relay: reconnecting"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_queues_were_wiped_still_delivers_to_a_client_ahead_of_it() {
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let mut relay = Relay::start(&data, &[]);
    let addr = relay.addr.to_string();
    let listener = client(&journal, &relay.url(), "alpha", &token, &[]);
    wait_connected(&listener);
    for n in 0..20 {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    wait_captures(&journal, 20);
    // The operator wipes the queues (tokens kept); the relay numbers from 1 again while the
    // client, still running, has acknowledged up to 20.
    relay.kill9();
    for entry in std::fs::read_dir(&data).expect("data dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".queue") || name.ends_with(".acked") {
            std::fs::remove_file(entry.path()).expect("wipe");
        }
    }
    let relay = Relay::start_on(&addr, &data, &[]);
    for n in 20..30 {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    let captures = wait_captures(&journal, 30);
    assert_exactly(&captures, 0..30, "alpha");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_gets_401_and_channels_are_isolated() {
    let (dir, data, journal) = dir();
    let alpha = create_token(&data, "alpha");
    let beta = create_token(&data, "beta");
    let relay = Relay::start(&data, &[]);
    for (channel, token) in [("alpha", "wrong"), ("beta", alpha.as_str()), ("alpha", "")] {
        let request = format!(
            "GET /tunnel/{channel} HTTP/1.1\r\nHost: r\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Authorization: Bearer {token}\r\n\r\n"
        );
        let response = send_raw(relay.addr, request.as_bytes()).await.expect("answer");
        assert_eq!(response.status, 401, "{channel} with {token:?}");
    }
    // The binary reports it too.
    let refused = client(
        &dir.path().join("refused.jsonl"),
        &relay.url(),
        "beta",
        &alpha,
        &[],
    );
    wait_for("unauthorized", Duration::from_secs(20), || {
        refused
            .stderr_text()
            .contains("relay: unauthorized")
            .then_some(())
    });
    let beta_journal = dir.path().join("beta.jsonl");
    let alpha_client = client(&journal, &relay.url(), "alpha", &alpha, &[]);
    let beta_client = client(&beta_journal, &relay.url(), "beta", &beta, &[]);
    wait_connected(&alpha_client);
    wait_connected(&beta_client);
    for n in 0..20 {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    assert_eq!(send(relay.addr, "beta", 20).await, 202);
    assert_exactly(&wait_captures(&journal, 20), 0..20, "alpha");
    let beta_captures = wait_captures(&beta_journal, 1);
    assert_exactly(&beta_captures, 20..21, "beta");
    assert!(journaled(&dir.path().join("refused.jsonl")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_503_an_oversized_body_413_and_health_answers() {
    let (_dir, data, _journal) = dir();
    create_token(&data, "alpha");
    let relay = Relay::start(&data, &["--queue-limit", "3", "--max-body", "2KiB"]);
    for n in 0..3 {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    let full = send_raw(relay.addr, &post("/c/alpha/x", &[], b"{}"))
        .await
        .expect("answer");
    assert_eq!(full.status, 503);
    assert!(
        full.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("retry-after") && !v.is_empty())
    );
    let large = send_raw(relay.addr, &post("/c/alpha/x", &[], &[b'a'; 3000]))
        .await
        .expect("answer");
    assert_eq!(large.status, 413);
    let unknown = send_raw(relay.addr, &post("/c/nobody/x", &[], b"{}"))
        .await
        .expect("answer");
    assert_eq!(unknown.status, 404);
    let health = send_raw(relay.addr, b"GET /healthz HTTP/1.1\r\nHost: r\r\n\r\n")
        .await
        .expect("answer");
    assert_eq!((health.status, &health.body[..]), (200, &b"ok\n"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_mode_returns_the_local_apps_status_and_body() {
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let relay = Relay::start(&data, &["--respond", "sync", "--sync-timeout", "10s"]);
    let app = LocalApp::start_on(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::new(|_, _| (201, Duration::ZERO)),
    );
    let listener = client(
        &journal,
        &relay.url(),
        "alpha",
        &token,
        &["--forward", &app.url()],
    );
    wait_connected(&listener);
    let response = send_raw(relay.addr, &post("/c/alpha/hooks", &[], b"{\"a\":1}"))
        .await
        .expect("answer");
    assert_eq!(response.status, 201);
    assert_eq!(response.body, br#"{"received":0}"#);
    assert!(response.headers.iter().any(|(n, v)| n == "x-app" && v == "test"));
    assert_eq!(app.seen()[0].body, b"{\"a\":1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_mode_without_a_client_times_out_with_504() {
    let (_dir, data, _journal) = dir();
    create_token(&data, "alpha");
    let relay = Relay::start(&data, &["--respond", "sync", "--sync-timeout", "300ms"]);
    let response = send_raw(relay.addr, &post("/c/alpha/hooks", &[], b"{}"))
        .await
        .expect("answer");
    assert_eq!(response.status, 504);
}

/// Percentile `p` (0..=100) of sorted `values`.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Sends requests `range` to `base` (`http://addr/prefix`) from `tasks` keep-alive clients,
/// `rate` per second overall when given; returns when each was sent, by number.
async fn load(
    base: &str,
    range: std::ops::Range<usize>,
    tasks: usize,
    rate: Option<u32>,
) -> Vec<(usize, std::time::Instant)> {
    use hyper_util::client::legacy::Client;
    let client: Client<_, http_body_util::Full<bytes::Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let payload = bytes::Bytes::from(noise(1024, 3));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(range.start));
    let started = std::time::Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (client, payload, next, base) = (client.clone(), payload.clone(), next.clone(), base.to_owned());
        let end = range.end;
        let first = range.start;
        handles.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= end {
                    return sent;
                }
                if let Some(rate) = rate {
                    let due = started + Duration::from_secs_f64((n - first) as f64 / f64::from(rate));
                    tokio::time::sleep_until(due.into()).await;
                }
                let request = hyper::Request::post(format!("{base}/bench/{n}"))
                    .header("x-seq", n.to_string())
                    .body(http_body_util::Full::new(payload.clone()))
                    .expect("request");
                let at = std::time::Instant::now();
                let response = client.request(request).await.expect("answer");
                assert!(response.status().is_success(), "{}", response.status());
                sent.push((n, at));
            }
        }));
    }
    let mut sent = Vec::new();
    for handle in handles {
        sent.extend(handle.await.expect("sender"));
    }
    sent
}

/// Latencies from sending to the local app receiving, in order.
fn latencies(app: &LocalApp, sent: &[(usize, std::time::Instant)], count: usize) -> Vec<Duration> {
    let seen = wait_for("the app to get everything", Duration::from_secs(120), || {
        let seen = app.seen();
        (seen.len() >= count).then_some(seen)
    });
    let sent: std::collections::HashMap<usize, std::time::Instant> = sent.iter().copied().collect();
    let mut latencies: Vec<Duration> = seen
        .iter()
        .filter_map(|s| {
            let n: usize = s.header("x-seq")?.parse().ok()?;
            Some(s.at.saturating_duration_since(*sent.get(&n)?))
        })
        .collect();
    latencies.sort();
    latencies
}

/// The numbers in BENCHMARKS.md: `cargo test --release --test relay -- --ignored --nocapture`.
/// Throughput, and latency along each path in its own run; the latency it compares is a
/// difference of percentiles. The latency the relay adds per request is measured by
/// `scripts/relay_latency.py`, which sends each request's direct twin alongside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check; run in release"]
async fn bench_relay_against_direct() {
    const COUNT: usize = 5000;
    let (dir, data, journal) = dir();
    let token = create_token(&data, "bench");
    let relay = Relay::start(&data, &[]);

    // Throughput: 1 KB requests from 32 keep-alive senders, until the client has journaled all.
    let direct = Listener::start_with_journal(&dir.path().join("direct.jsonl"), &["--headless"]);
    let started = std::time::Instant::now();
    load(&format!("http://{}", direct.addr), 0..COUNT, 32, None).await;
    let direct_rate = COUNT as f64 / started.elapsed().as_secs_f64();
    // The relay alone, no client draining the queue: what ingress costs.
    let alone = Relay::start(&dir.path().join("alone"), &[]);
    create_token(&dir.path().join("alone"), "bench");
    let started = std::time::Instant::now();
    load(&format!("{}/c/bench", alone.url()), 0..COUNT, 32, None).await;
    println!(
        "relay ingress alone (no client): {:.0}/s accepted",
        COUNT as f64 / started.elapsed().as_secs_f64()
    );
    drop(alone);
    let listener = client(&journal, &relay.url(), "bench", &token, &[]);
    wait_connected(&listener);
    let started = std::time::Instant::now();
    load(&format!("{}/c/bench", relay.url()), 0..COUNT, 32, None).await;
    let accepted = started.elapsed();
    wait_captures(&journal, COUNT);
    let relay_rate = COUNT as f64 / started.elapsed().as_secs_f64();
    println!(
        "throughput, {COUNT} x 1 KB, 32 senders: direct {direct_rate:.0}/s journaled; relay {:.0}/s accepted (202), \
         {relay_rate:.0}/s journaled by the client",
        COUNT as f64 / accepted.as_secs_f64()
    );
    drop(listener);
    drop(direct);

    // Latency at 500/s, sender to local app, direct listen --forward against relay + tunnel.
    const PACED: usize = 2500;
    let app = LocalApp::start();
    let direct = Listener::start_with_journal(
        &dir.path().join("direct2.jsonl"),
        &["--headless", "--forward", &app.url()],
    );
    let sent = load(&format!("http://{}", direct.addr), 0..PACED, 16, Some(500)).await;
    let direct_latency = latencies(&app, &sent, PACED);
    drop(direct);
    let app = LocalApp::start();
    let listener = client(
        &dir.path().join("paced.jsonl"),
        &relay.url(),
        "bench",
        &token,
        &["--forward", &app.url()],
    );
    wait_connected(&listener);
    let sent = load(
        &format!("{}/c/bench", relay.url()),
        PACED..2 * PACED,
        16,
        Some(500),
    )
    .await;
    let relay_latency = latencies(&app, &sent, PACED);
    let show = |l: &[Duration]| format!("p50 {:?}, p99 {:?}", percentile(l, 50), percentile(l, 99));
    println!(
        "latency at 500/s to the local app: direct {}",
        show(&direct_latency)
    );
    println!(
        "latency at 500/s to the local app: relay  {}",
        show(&relay_latency)
    );
    // Each path is timed in its own run, so this is a difference of two runs' percentiles, not a
    // percentile of what the relay adds to a request (scripts/relay_latency.py measures that).
    println!(
        "relay's percentile minus direct's (two runs, not per request): p50 {:?}, p99 {:?}",
        percentile(&relay_latency, 50).saturating_sub(percentile(&direct_latency, 50)),
        percentile(&relay_latency, 99).saturating_sub(percentile(&direct_latency, 99)),
    );
    drop(listener);

    // The peer a user would pick instead: bore (a TCP tunnel), its server on loopback, in front
    // of the same `listen`. Same load, same measures.
    let Some(bore) = std::env::var_os("HOOKSCOPE_BENCH_BORE").map(PathBuf::from) else {
        println!("bore: skipped (set HOOKSCOPE_BENCH_BORE to a bore binary: cargo install bore-cli)");
        return;
    };
    let bored = Listener::start_with_journal(&dir.path().join("bore.jsonl"), &["--headless"]);
    let tunnel = Bore::start(&bore, bored.addr.port());
    let started = std::time::Instant::now();
    load(&format!("http://{}", tunnel.public), 0..COUNT, 32, None).await;
    wait_captures(&dir.path().join("bore.jsonl"), COUNT);
    println!(
        "throughput through bore: {:.0}/s journaled",
        COUNT as f64 / started.elapsed().as_secs_f64()
    );
    drop(tunnel);
    drop(bored);
    let app = LocalApp::start();
    let bored = Listener::start_with_journal(
        &dir.path().join("bore2.jsonl"),
        &["--headless", "--forward", &app.url()],
    );
    let tunnel = Bore::start(&bore, bored.addr.port());
    let sent = load(&format!("http://{}", tunnel.public), 0..PACED, 16, Some(500)).await;
    let bore_latency = latencies(&app, &sent, PACED);
    println!(
        "latency at 500/s to the local app: bore   {}",
        show(&bore_latency)
    );
    println!(
        "bore's percentile minus direct's (two runs, not per request): p50 {:?}, p99 {:?}",
        percentile(&bore_latency, 50).saturating_sub(percentile(&direct_latency, 50)),
        percentile(&bore_latency, 99).saturating_sub(percentile(&direct_latency, 99)),
    );
}

/// `bore server` on loopback and `bore local` exposing a port through it (bench only).
struct Bore {
    server: Child,
    local: Child,
    public: SocketAddr,
}

impl Bore {
    fn start(bore: &Path, port: u16) -> Self {
        let server = std::process::Command::new(bore)
            .args(["server", "--bind-addr", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bore server");
        // bore's control port is fixed (7835): wait until it accepts.
        wait_for("bore server", Duration::from_secs(10), || {
            std::net::TcpStream::connect("127.0.0.1:7835").ok()
        });
        let mut local = std::process::Command::new(bore)
            .args([
                "local",
                &port.to_string(),
                "--local-host",
                "127.0.0.1",
                "--to",
                "127.0.0.1",
            ])
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bore local");
        let stdout = local.stdout.take().expect("piped stdout");
        let mut public = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("bore output");
            // Escape sequences aside, the line ends `listening at 127.0.0.1:PORT`.
            let plain: String = line
                .split('\x1b')
                .map(|part| part.split_once('m').map_or(part, |(_, rest)| rest))
                .collect();
            if let Some(at) = plain.split("listening at ").nth(1) {
                public = at.trim().parse().ok();
                break;
            }
        }
        Self {
            server,
            local,
            public: public.expect("bore local's public address"),
        }
    }
}

impl Drop for Bore {
    fn drop(&mut self) {
        let _ = self.local.kill();
        let _ = self.server.kill();
        let _ = self.local.wait();
        let _ = self.server.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_over_its_rate_is_429_and_a_trusted_proxy_names_the_sender() {
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let relay = Relay::start(&data, &["--rate-limit", "2", "--trust-proxy"]);
    let listener = client(&journal, &relay.url(), "alpha", &token, &[]);
    wait_connected(&listener);
    let forwarded = post(
        "/c/alpha/x",
        &[("X-Forwarded-For", "203.0.113.7, 10.0.0.1")],
        b"{}",
    );
    // Sent one after the other until one is refused. The bucket holds 2 and refills 2 a second,
    // so however slow this machine, no more than 2 + 2 x (the time taken) can be accepted: the
    // bound is measured, not assumed (a fixed [202, 202, 429] failed whenever the third request
    // came half a second after the first).
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    while answers.len() < 200 {
        let answer = send_raw(relay.addr, &forwarded).await.expect("answer");
        let refused = answer.status == 429;
        answers.push(answer);
        if refused {
            break;
        }
    }
    let took = started.elapsed().as_secs_f64();
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    let accepted = statuses.iter().filter(|&&s| s == 202).count();
    assert_eq!(&statuses[..2], [202, 202], "a burst of the rate: {statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "never refused: {statuses:?}");
    assert!(
        accepted as f64 <= 2.0 + 2.0 * took,
        "{accepted} accepted in {took:.3}s at 2 a second with a burst of 2"
    );
    let refused = answers.last().expect("an answer");
    assert!(
        refused
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
    );
    let captures = wait_captures(&journal, accepted);
    // The proxy appended the last hop; the first is whatever the sender wrote.
    assert!(
        captures.iter().all(|c| c.remote_addr == "10.0.0.1"),
        "{captures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_certificate_made_in_the_test() {
    let (dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write cert");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write key");
    let (cert_arg, key_arg) = (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    );
    let relay = Relay::start(&data, &["--tls-cert", &cert_arg, "--tls-key", &key_arg]);
    let url = format!("https://localhost:{}", relay.addr.port());
    // The client over wss://, trusting the test's certificate.
    let listener = client(&journal, &url, "alpha", &token, &["--relay-ca", &cert_arg]);
    wait_connected(&listener);
    // A sender over HTTPS.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).expect("root");
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(relay.addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let body = noise(5000, 11);
    let request = post("/c/alpha/secure", &[("Connection", "close")], &body);
    tokio::io::AsyncWriteExt::write_all(&mut tls, &request)
        .await
        .expect("send");
    let mut answer = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut tls, &mut answer).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 202"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let captures = wait_captures(&journal, 1);
    assert_eq!(
        (captures[0].path.as_str(), &captures[0].body[..]),
        ("/secure", &body[..])
    );
    // Plain HTTP to the TLS port gets nowhere.
    assert!(
        send_raw(relay.addr, &post("/c/alpha/x", &[], b"{}"))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_on_a_connection_keeps_its_own_headers_whatever_came_before() {
    use tokio::io::AsyncWriteExt;
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let relay = Relay::start(&data, &[]);
    let listener = client(&journal, &relay.url(), "alpha", &token, &[]);
    wait_connected(&listener);
    // A health check, a request to an unknown channel, then a webhook, one after the other on
    // one keep-alive connection: the webhook must arrive with its own headers, in their case,
    // not the earlier requests'. (Each answer is read before the next request is sent: the
    // harness's reader is not made for pipelined answers.)
    let mut stream = tokio::net::TcpStream::connect(relay.addr).await.expect("connect");
    let requests = [
        b"GET /healthz HTTP/1.1\r\nHost: r\r\nX-Health: 1\r\n\r\n".to_vec(),
        post("/c/nobody/x", &[("X-Wrong-Channel", "1")], b"{}"),
        post("/c/alpha/x", &[("X-Mixed-Case", "kept")], b"{}"),
    ];
    let mut statuses = Vec::new();
    for request in &requests {
        stream.write_all(request).await.expect("send");
        let answer = tokio::time::timeout(Duration::from_secs(20), common::read_response(&mut stream))
            .await
            .unwrap_or_else(|_| panic!("no answer; answers so far: {statuses:?}"));
        statuses.push(answer.expect("answer").status);
    }
    assert_eq!(statuses, [200, 404, 202]);
    let captures = wait_captures(&journal, 1);
    let names: Vec<&str> = captures[0].headers.iter().map(|h| h.name.as_str()).collect();
    assert!(names.contains(&"X-Mixed-Case"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("x-health") || n.eq_ignore_ascii_case("x-wrong-channel"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_created_while_the_relay_runs_works_at_once() {
    let (_dir, data, journal) = dir();
    create_token(&data, "alpha");
    let relay = Relay::start(&data, &[]);
    assert_eq!(send(relay.addr, "beta", 0).await, 404, "no token for beta yet");
    // Again: a miss does not make the relay forget to look at the file later.
    assert_eq!(send(relay.addr, "beta", 0).await, 404);
    let beta = create_token(&data, "beta");
    assert_eq!(
        send(relay.addr, "beta", 1).await,
        202,
        "the new token file was read"
    );
    let listener = client(&journal, &relay.url(), "beta", &beta, &[]);
    wait_connected(&listener);
    let captures = wait_captures(&journal, 1);
    assert_exactly(&captures, 1..2, "beta");
}
