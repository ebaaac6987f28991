//! Ingest throughput and latency of `hookscope listen --headless` (journal on) against a bare
//! hyper server that only reads the body and answers 200, in the same run, with 1 KB JSON bodies.
//!
//! Run: `cargo bench --bench ingest` (settings: HOOKSCOPE_BENCH_SECS, HOOKSCOPE_BENCH_CONNS,
//! HOOKSCOPE_BENCH_ROUNDS). Both servers are separate processes (the bare one is this binary
//! re-executed with `--bare-server`), driven alternately by the same keep-alive load client, so
//! machine noise hits both; the figure to read is the ratio.

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

/// A realistic 1 KB webhook: a Dolby OptiView engine event, padded to 1024 bytes.
fn payload() -> Bytes {
    let mut body = String::from(
        r#"{"type":"engine.error","created":1763830032,"object":{"type":"engine","id":"eng_4f2a9c1b7d3e"},"data":{"channelId":"ch_9b1e77aa0c42","name":"Primary engine","region":"europe-west","status":"error","error":{"code":"INGEST_TIMEOUT","message":"No input received for 30 seconds"},"note":""#,
    );
    while body.len() < 1024 - 3 {
        body.push('x');
    }
    body.push_str("\"}}");
    Bytes::from(body)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The baseline: read the whole body, answer 200 `{"ok":true}`.
async fn bare_server() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the bare server");
    println!("{}", listener.local_addr().expect("address"));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|request: Request<hyper::body::Incoming>| async move {
                let _ = request.into_body().collect().await;
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(br#"{"ok":true}"#))))
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Requests answered and their latencies.
struct Run {
    ok: u64,
    errors: u64,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

/// `connections` keep-alive connections sending back to back until `deadline`.
async fn load(addr: SocketAddr, connections: usize, duration: Duration, body: Bytes) -> Run {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let body = body.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let (mut ok, mut errors) = (0u64, 0u64);
                let Ok(stream) = TcpStream::connect(addr).await else {
                    return (0, 1, latencies);
                };
                let _ = stream.set_nodelay(true);
                let Ok((mut sender, connection)) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
                else {
                    return (0, 1, latencies);
                };
                tokio::spawn(connection);
                while Instant::now() < deadline {
                    let request = Request::post("/hooks/optiview")
                        .header("host", "127.0.0.1")
                        .header("content-type", "application/json")
                        .body(Full::new(body.clone()))
                        .expect("a valid request");
                    let sent = Instant::now();
                    match sender.send_request(request).await {
                        Ok(response) => {
                            let good = response.status().is_success();
                            let _ = response.into_body().collect().await;
                            latencies.push(sent.elapsed());
                            if good { ok += 1 } else { errors += 1 }
                        }
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (ok, errors, latencies)
            })
        })
        .collect();
    let mut run = Run {
        ok: 0,
        errors: 0,
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        if let Ok((ok, errors, latencies)) = task.await {
            run.ok += ok;
            run.errors += errors;
            run.latencies.extend(latencies);
        }
    }
    run.elapsed = started.elapsed();
    run
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    match sorted.len() {
        0 => Duration::ZERO,
        n => sorted[((n as f64 * p) as usize).min(n - 1)],
    }
}

/// Reads lines from `child`'s stream until one yields an address.
fn address_from(lines: impl BufRead, find: impl Fn(&str) -> Option<String>) -> SocketAddr {
    for line in lines.lines().map_while(Result::ok) {
        if let Some(addr) = find(&line) {
            return addr.parse().expect("a socket address");
        }
    }
    panic!("the server exited before saying where it listens");
}

struct Server {
    name: &'static str,
    addr: SocketAddr,
    child: Child,
    sent_ok: u64,
}

fn main() {
    if std::env::args().any(|a| a == "--bare-server") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(bare_server());
        return;
    }
    let seconds: u64 = env_or("HOOKSCOPE_BENCH_SECS", 5);
    let connections: usize = env_or("HOOKSCOPE_BENCH_CONNS", 32);
    let rounds: usize = env_or("HOOKSCOPE_BENCH_ROUNDS", 2);
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("captures.jsonl");

    let mut bare = Command::new(std::env::current_exe().expect("this binary"))
        .arg("--bare-server")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the bare server");
    let bare_addr = address_from(BufReader::new(bare.stdout.take().expect("stdout")), |l| {
        Some(l.trim().to_owned())
    });
    let mut hookscope = Command::new(env!("CARGO_BIN_EXE_hookscope"))
        .args(["listen", "--headless", "--addr", "127.0.0.1:0", "--out"])
        .arg(
            std::env::var_os("HOOKSCOPE_BENCH_OUT")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| journal.clone()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hookscope");
    let stderr = BufReader::new(hookscope.stderr.take().expect("stderr"));
    let hookscope_addr = address_from(stderr, |l| {
        l.split("listening on http://")
            .nth(1)
            .map(|rest| rest.split(',').next().unwrap_or_default().to_owned())
    });
    let mut servers = [
        Server {
            name: "bare hyper",
            addr: bare_addr,
            child: bare,
            sent_ok: 0,
        },
        Server {
            name: "hookscope listen",
            addr: hookscope_addr,
            child: hookscope,
            sent_ok: 0,
        },
    ];

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let body = payload();
    println!(
        "ingest: {} B JSON bodies, {connections} keep-alive connections, {seconds} s per run after 1 s warm-up, {rounds} rounds",
        body.len()
    );
    println!(
        "{:<18} {:>6} {:>10} {:>9} {:>9} {:>7}",
        "server", "round", "req/s", "p50", "p99", "errors"
    );
    let mut best = [0.0f64; 2];
    for round in 1..=rounds {
        for (index, server) in servers.iter_mut().enumerate() {
            let warm = runtime.block_on(load(
                server.addr,
                connections,
                Duration::from_secs(1),
                body.clone(),
            ));
            let mut run = runtime.block_on(load(
                server.addr,
                connections,
                Duration::from_secs(seconds),
                body.clone(),
            ));
            server.sent_ok += warm.ok + run.ok;
            run.latencies.sort_unstable();
            let rate = run.ok as f64 / run.elapsed.as_secs_f64();
            best[index] = best[index].max(rate);
            println!(
                "{:<18} {:>6} {:>10.0} {:>9.2?} {:>9.2?} {:>7}",
                server.name,
                round,
                rate,
                percentile(&run.latencies, 0.50),
                percentile(&run.latencies, 0.99),
                run.errors
            );
        }
    }
    println!("best-of ratio hookscope / bare: {:.2}", best[1] / best[0]);

    // Stop hookscope cleanly and check that the journal was on: one line per acknowledged request.
    let pid = servers[1].child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = servers[1].child.wait();
    let _ = servers[0].child.kill();
    let _ = servers[0].child.wait();
    let lines = std::fs::read(&journal)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0);
    println!(
        "journal check: {lines} records for {} acknowledged requests: {}",
        servers[1].sent_ok,
        if lines as u64 == servers[1].sent_ok {
            "ok"
        } else {
            "MISMATCH"
        }
    );
}
