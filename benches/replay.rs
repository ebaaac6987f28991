//! Replay benchmark: how fast `hookscope replay` delivers 10,000 captures to a local hyper app,
//! as a ratio to a plain load generator sending the same requests to the same app in the same run.
//!
//! ```sh
//! cargo bench --bench replay
//! cargo bench --bench replay -- --captures 20000 --concurrency 32 --rounds 5
//! ```
//!
//! The app is this binary re-executed with `--app`: hyper 1.x with `hyper_util`'s auto builder on
//! a multi-thread runtime, reading each body and answering 200 `{"ok":true}`. The journal is
//! generated here: N captures of a 1 KiB JSON webhook, each with its own path (`/hooks/N`) and
//! five headers. Per round:
//!
//! - **plain**: this process sends the same N requests (method, path, headers, body) with
//!   `hyper_util`'s pooled client (the client the forwarder uses), `--concurrency` at a time;
//! - **replay**: `hookscope replay JOURNAL --to APP --concurrency C`, timed from spawn to exit,
//!   so the figure includes process start, reading and filtering the journal, and appending one
//!   attempt record per delivery to it. After each run the journal must hold exactly N attempts,
//!   all 200: that is the proof every capture was delivered and journaled.
//!
//! The two alternate, round after round, so machine noise hits both; the figure to read is the
//! ratio of throughputs (replay / plain). A round counts only when both sides delivered everything:
//! the plain client got N 200s and the journal holds N attempts, all 200. A round that fails
//! either check is printed, marked excluded, and left out of the median and the best; the bench
//! then exits non-zero.

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use hookscope::capture::{Capture, CaptureId, Derived, Header, Via};
use hookscope::codec::{self, Record};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// The argument that turns this binary into the local app.
const APP_FLAG: &str = "--app";

fn run_app() -> ExitCode {
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread().enable_all().build() else {
        eprintln!("app: no runtime");
        return ExitCode::FAILURE;
    };
    runtime.block_on(async {
        let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
            eprintln!("app: cannot bind");
            return ExitCode::FAILURE;
        };
        match listener.local_addr() {
            Ok(addr) => println!("{addr}"),
            Err(_) => return ExitCode::FAILURE,
        }
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    let _ = request.into_body().collect().await;
                    let mut response = Response::new(Full::new(Bytes::from_static(br#"{"ok":true}"#)));
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// The captures every round sends.
fn captures(n: usize) -> Vec<Capture> {
    let filler = "x".repeat(900);
    (0..n)
        .map(|i| {
            let body = format!(r#"{{"type":"channel.started","created":1700000000,"id":"evt_{i:08}","data":{{"pad":"{filler}"}}}}"#);
            Capture {
                id: CaptureId::generate(),
                received_at: Utc::now(),
                remote_addr: "203.0.113.7:443".into(),
                via: Via::Direct,
                method: "POST".into(),
                path: format!("/hooks/{i}"),
                query: None,
                version: "HTTP/1.1".into(),
                headers: vec![
                    Header::new("Host", "hooks.example"),
                    Header::new("Content-Type", "application/json"),
                    Header::new("User-Agent", "bench-sender/1.0"),
                    Header::new("X-Event-Id", format!("evt_{i:08}")),
                    Header::new("Content-Length", body.len().to_string()),
                ],
                body: Bytes::from(body),
                status: 200,
                note: None,
                derived: Derived::default(),
            }
        })
        .collect()
}

/// The plain load generator: the same requests, `concurrency` at a time; returns the 200s.
async fn plain(addr: SocketAddr, captures: Arc<Vec<Capture>>, concurrency: usize) -> usize {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, ok, captures) = (client.clone(), next.clone(), ok.clone(), captures.clone());
            tokio::spawn(async move {
                while let Some(capture) = captures.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut builder = Request::post(format!("http://{addr}{}", capture.path));
                    for header in capture
                        .headers
                        .iter()
                        .filter(|h| !hookscope::export::is_hop_by_hop(&h.name))
                    {
                        builder = builder.header(header.name.as_str(), header.value.as_ref());
                    }
                    let Ok(request) = builder.body(Full::new(capture.body.clone())) else {
                        continue;
                    };
                    if let Ok(response) = client.request(request).await {
                        let status = response.status();
                        if response.into_body().collect().await.is_ok() && status.is_success() {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    ok.load(Ordering::Relaxed)
}

/// The attempts in `journal`, and how many of them were answered 200.
fn attempts(journal: &Path) -> (usize, usize) {
    let Ok(loaded) = hookscope::journal::load(journal) else {
        return (0, 0);
    };
    let attempts: Vec<_> = loaded
        .entries
        .into_iter()
        .filter_map(|e| match e.record {
            Record::Attempt(a) => Some(a),
            Record::Capture(_) => None,
        })
        .collect();
    let ok = attempts.iter().filter(|a| a.status() == Some(200)).count();
    (attempts.len(), ok)
}

fn setting(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == APP_FLAG) {
        return run_app();
    }
    let n = setting(&args, "--captures", 10_000);
    let concurrency = setting(&args, "--concurrency", 32);
    let rounds = setting(&args, "--rounds", 3);

    let Ok(exe) = std::env::current_exe() else {
        return ExitCode::FAILURE;
    };
    let Ok(mut app) = Command::new(exe).arg(APP_FLAG).stdout(Stdio::piped()).spawn() else {
        eprintln!("cannot start the app");
        return ExitCode::FAILURE;
    };
    let addr: Option<SocketAddr> = app
        .stdout
        .take()
        .and_then(|out| BufReader::new(out).lines().next())
        .and_then(|line| line.ok()?.parse().ok());
    let Some(addr) = addr else {
        let _ = app.kill();
        eprintln!("the app did not say where it listens");
        return ExitCode::FAILURE;
    };
    let Ok(dir) = tempfile::tempdir() else {
        let _ = app.kill();
        return ExitCode::FAILURE;
    };
    let captures = Arc::new(captures(n));
    let lines: Vec<u8> = captures.iter().flat_map(codec::encode_capture).collect();
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread().enable_all().build() else {
        let _ = app.kill();
        return ExitCode::FAILURE;
    };

    println!(
        "replay bench: {n} captures of ~1 KiB, concurrency {concurrency}, {rounds} rounds, app at {addr}"
    );
    println!("| round | plain req/s | replay req/s | replay / plain | check |");
    println!("| ----: | ----------: | -----------: | -------------: | ----- |");
    // Only rounds whose checks passed: a round that lost deliveries measures something else.
    let mut ratios = Vec::new();
    let mut excluded = 0;
    let mut failed = false;
    for round in 1..=rounds {
        let started = Instant::now();
        let ok = runtime.block_on(plain(addr, captures.clone(), concurrency));
        let plain_rate = ok as f64 / started.elapsed().as_secs_f64();
        let plain_ok = ok == n;

        let journal = dir.path().join(format!("round{round}.jsonl"));
        if std::fs::write(&journal, &lines).is_err() {
            failed = true;
            break;
        }
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_hookscope"))
            .arg("replay")
            .arg(&journal)
            .args([
                "--to",
                &format!("http://{addr}"),
                "--concurrency",
                &concurrency.to_string(),
            ])
            .stderr(Stdio::null())
            .status();
        let elapsed = started.elapsed();
        let (journaled, answered) = attempts(&journal);
        let check_ok = status.is_ok_and(|s| s.success()) && journaled == n && answered == n;
        let replay_rate = n as f64 / elapsed.as_secs_f64();
        let ratio = replay_rate / plain_rate;
        let check = match (plain_ok, check_ok) {
            (true, true) => {
                ratios.push(ratio);
                format!("ok: plain {ok} 200s; journal {journaled} attempts, all 200")
            }
            _ => {
                excluded += 1;
                format!(
                    "FAILED, excluded: plain {ok} of {n} 200s; journal {journaled} attempts, {answered} 200s"
                )
            }
        };
        failed |= !(plain_ok && check_ok);
        println!("| {round} | {plain_rate:.0} | {replay_rate:.0} | {ratio:.2} | {check} |");
    }
    let _ = app.kill();
    let _ = app.wait();
    ratios.sort_by(f64::total_cmp);
    let counted = ratios.len();
    let median = match counted {
        0 => None,
        _ if counted % 2 == 1 => Some(ratios[counted / 2]),
        _ => Some((ratios[counted / 2 - 1] + ratios[counted / 2]) / 2.0),
    };
    match (median, ratios.last()) {
        (Some(median), Some(best)) => println!(
            "replay / plain throughput over the {counted} rounds whose checks passed \
             ({excluded} failed, excluded): median {median:.2}, best {best:.2}"
        ),
        _ => println!("replay / plain throughput: no round passed its checks ({excluded} failed)"),
    }
    match failed {
        true => ExitCode::FAILURE,
        false => ExitCode::SUCCESS,
    }
}
