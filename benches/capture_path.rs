//! What one capture costs hookscope beyond what hyper does, stage by stage, in one process.
//!
//! `cargo bench --bench capture_path` times, over the same signed 1 KiB OptiView webhook the
//! `ingest` bench sends, each step `listen` takes for a request besides hyper's own work:
//!
//! - **tap**: recovering the head as sent (`tap::Scanner` over the raw request bytes);
//! - **capture**: building the [`Capture`] from the head and the body;
//! - **analyze**: provider detection, the event's facts and the signature verdict (no secret
//!   configured, as in the ingest bench: verdict `no-secret`);
//! - **encode**: the journal line;
//! - **print**: the headless printer's human line.
//!
//! Each stage is run in a loop for a fixed time and reported in ns per capture (median of 5
//! runs). These are the figures to move when the ingest bench's CPU per request must go down;
//! the ingest bench is the one that says whether it did.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookscope::analysis::Analyzer;
use hookscope::capture::{Capture, CaptureId, Derived, Via};
use hookscope::config::Keys;
use hookscope::provider::Catalog;
use hookscope::tap::Scanner;
use hookscope::{codec, headless};

#[path = "common/webhook.rs"]
mod webhook;

use webhook::{HOOK_PATH, dolby_signature, payload};

// The allocator the binary uses (src/main.rs), so allocation costs are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One request as the ingest bench's client sends it, headers and body.
fn raw_request() -> Vec<u8> {
    let created = 1_795_000_000;
    let body = payload(created);
    let signature = dolby_signature(created, &body);
    let head = format!(
        "POST {HOOK_PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         user-agent: hookscope-bench/1\r\ndolby-signature: {}\r\ncontent-length: {}\r\n\r\n",
        String::from_utf8_lossy(signature.as_bytes()),
        body.len()
    );
    [head.as_bytes(), &body[..]].concat()
}

/// Runs `step` for about `budget`, five times; returns the median ns per call.
fn time(budget: Duration, step: &mut dyn FnMut()) -> f64 {
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut calls = 0u64;
            while start.elapsed() < budget {
                for _ in 0..256 {
                    step();
                }
                calls += 256;
            }
            start.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("HOOKSCOPE_BENCH_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(400),
    );
    let raw = raw_request();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
        .expect("the request has a head");
    let body = Bytes::copy_from_slice(&raw[split..]);
    let analyzer = Arc::new(Analyzer::new(Catalog::builtin(), Keys::default()));

    let head = || {
        let mut scanner = Scanner::default();
        scanner.feed(&raw);
        scanner.next_head().expect("the scanner recognises the request")
    };
    let build = |head: hookscope::tap::RawHead| Capture {
        id: CaptureId::generate(),
        received_at: chrono::Utc::now(),
        remote_addr: "127.0.0.1:50412"
            .parse::<std::net::SocketAddr>()
            .map_or_else(|_| String::new(), |a| a.to_string()),
        via: Via::Direct,
        method: head.method,
        path: "/hooks/optiview".to_owned(),
        query: None,
        version: format!("{:?}", hyper::Version::HTTP_11),
        headers: head.headers,
        body: body.clone(),
        status: 200,
        note: None,
        derived: Derived::default(),
    };
    let mut capture = build(head());
    capture.derived = analyzer.analyze(&capture).0;
    assert_eq!(
        capture.derived.verdict.as_deref(),
        Some("no-secret"),
        "{:?}",
        capture.derived
    );
    assert_eq!(capture.derived.event_type.as_deref(), Some("channel.started"));

    // HOOKSCOPE_BENCH_STAGE=analyze (say) runs that stage alone, long enough to profile it.
    let only = std::env::var("HOOKSCOPE_BENCH_STAGE").ok();
    let run = |name: &str| only.as_deref().is_none_or(|only| only == name);
    let time = |name: &str, step: &mut dyn FnMut()| match run(name) {
        true => time(budget, step),
        false => 0.0,
    };
    let mut stages: [(&str, f64); 5] = [
        ("tap", time("tap", &mut || drop(black_box(head())))),
        ("capture", time("capture", &mut || drop(black_box(build(head()))))),
        (
            "analyze",
            time("analyze", &mut || {
                drop(black_box(analyzer.derive(black_box(&capture))))
            }),
        ),
        (
            "encode",
            time("encode", &mut || {
                drop(black_box(codec::encode_capture(black_box(&capture))))
            }),
        ),
        (
            "print",
            time("print", &mut || {
                drop(black_box(headless::human_line(black_box(&capture))))
            }),
        ),
    ];
    println!("capture_path: one signed 1 KiB OptiView webhook, ns per capture (median of 5 runs)");
    println!("| stage    |     ns |");
    println!("| -------- | ------:|");
    // The capture stage is timed with the tap in front of it (a head is consumed by each
    // capture); the tap's own time is taken out.
    let tap = stages[0].1;
    for (name, ns) in &mut stages {
        if *name == "capture" {
            *ns = (*ns - tap).max(0.0);
        }
        println!("| {name:<8} | {ns:>6.0} |");
    }
    let total: f64 = stages.iter().map(|(_, ns)| ns).sum();
    println!("| total    | {total:>6.0} |");
}
