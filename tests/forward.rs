//! `listen --forward`: every capture delivered to a real local app (a hyper server in the test),
//! each attempt journaled; the app being slow, failing or down is shown and never fatal.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Listener, LocalApp, attempts_in, free_port, noise, post, send_raw, wait_for};
use hookscope::capture::{Attempt, AttemptKind, Outcome};

const PATIENCE: Duration = Duration::from_secs(20);

/// Waits until the listener's journal holds `n` attempts.
fn attempts(listener: &Listener, n: usize) -> Vec<Attempt> {
    wait_for(&format!("{n} attempts"), PATIENCE, || {
        let attempts = attempts_in(&listener.journal);
        (attempts.len() >= n).then_some(attempts)
    })
}

#[tokio::test]
async fn deliveries_are_byte_identical_with_joined_paths_and_no_hop_by_hop_headers() {
    let app = LocalApp::start();
    let base = format!("{}/api", app.url());
    let mut listener = Listener::start(&["--headless", "--forward", &base]);
    let body = noise(70_000, 5);
    let request = post(
        "/hooks/dolby?a=1&b=%20",
        &[
            ("X-Second", "2"),
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "hop"),
            ("Keep-Alive", "timeout=5"),
            ("X-First", "1"),
            ("X-Second-Again", "3"),
        ],
        &body,
    );
    let response = send_raw(listener.addr, &request).await.expect("send");
    assert_eq!(response.status, 200);
    // The same request chunked: the body still arrives byte for byte, with a length of its own.
    let chunked = b"POST /chunked HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n\x00\xff\r\n0\r\n\r\n";
    assert_eq!(send_raw(listener.addr, chunked).await.expect("send").status, 200);

    let attempts = attempts(&listener, 2);
    let captures = listener.captures();
    for attempt in &attempts {
        assert_eq!((attempt.kind, attempt.number), (AttemptKind::Forward, 1));
        assert!(captures.iter().any(|c| c.id == attempt.capture));
        match &attempt.outcome {
            Outcome::Response {
                status,
                headers,
                body,
                truncated,
            } => {
                assert_eq!(*status, 200);
                assert!(headers.iter().any(|h| h.name == "x-app"), "{headers:?}");
                assert!(body.starts_with(b"{\"received\":"), "{body:?}");
                assert!(!truncated);
            }
            Outcome::Failed(error) => panic!("delivery failed: {error}"),
        }
    }
    let targets: Vec<&str> = attempts.iter().map(|a| a.target.as_str()).collect();
    assert!(
        targets.contains(&format!("{base}/hooks/dolby?a=1&b=%20").as_str()),
        "{targets:?}"
    );

    let seen = app.seen();
    assert_eq!(seen.len(), 2);
    let hook = seen
        .iter()
        .find(|s| s.target.starts_with("/api/hooks"))
        .expect("the hook");
    assert_eq!(hook.target, "/api/hooks/dolby?a=1&b=%20");
    assert_eq!(hook.method, "POST");
    assert!(hook.body == body, "body changed on the way");
    let names: Vec<&str> = hook.headers.iter().map(|(n, _)| n.as_str()).collect();
    for hop in ["connection", "keep-alive", "x-private", "transfer-encoding"] {
        assert!(!names.contains(&hop), "{hop} was forwarded: {names:?}");
    }
    let position = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name} was not forwarded: {names:?}"))
    };
    assert!(
        position("x-second") < position("x-first"),
        "order kept: {names:?}"
    );
    assert!(
        position("x-first") < position("x-second-again"),
        "order kept: {names:?}"
    );
    assert_eq!(
        hook.header("host"),
        Some(app.addr.to_string()),
        "the target's Host"
    );
    assert_eq!(hook.header("content-length"), Some(body.len().to_string()));
    let chunked = seen
        .iter()
        .find(|s| s.target == "/api/chunked")
        .expect("the chunked one");
    assert_eq!(chunked.body, b"abc\x00\xff");

    let (status, stdout, stderr) = listener.stop();
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("  → 200 "), "{stdout}");
    assert!(stderr.contains("forwarded 2 captures (2 attempts)"), "{stderr}");
    // `log` shows the attempts under their captures.
    let log = common::binary()
        .arg("log")
        .arg(&listener.journal)
        .output()
        .expect("log");
    assert!(String::from_utf8_lossy(&log.stdout).matches("  → 200 ").count() == 2);
}

#[tokio::test]
async fn forward_exact_and_preserve_host() {
    let app = LocalApp::start();
    let target = format!("{}/only/here", app.url());
    let listener = Listener::start(&[
        "--headless",
        "--forward",
        &target,
        "--forward-exact",
        "--preserve-host",
    ]);
    send_raw(listener.addr, &post("/hooks?x=1", &[], b"{}"))
        .await
        .expect("send");
    let attempts = attempts(&listener, 1);
    assert_eq!(attempts[0].target, target);
    let seen = app.seen();
    assert_eq!(seen[0].target, "/only/here");
    assert_eq!(
        seen[0].header("host").as_deref(),
        Some("test"),
        "the captured Host"
    );
}

#[tokio::test]
async fn a_slow_app_times_out_and_capture_goes_on() {
    use std::sync::atomic::{AtomicU64, Ordering};
    // A debug build on two loaded cores can take a while over a fast attempt: the timeout is set
    // from a fast attempt measured here first, and the slow app waits far longer than it.
    let slow_ms = Arc::new(AtomicU64::new(0));
    let wait = slow_ms.clone();
    let slow: common::Answer = Arc::new(move |seen, _| match seen.target.as_str() {
        "/slow" => (200, Duration::from_millis(wait.load(Ordering::SeqCst))),
        _ => (200, Duration::ZERO),
    });
    let app = LocalApp::start_on("127.0.0.1:0".parse().expect("addr"), slow);
    let probe = Listener::start(&["--headless", "--forward", &app.url()]);
    send_raw(probe.addr, &post("/fast", &[], b"0"))
        .await
        .expect("send");
    let fast_latency = attempts(&probe, 1)[0].latency;
    drop(probe);
    // 20 fast attempts' time, at least 300 ms; whole seconds past one, as `timed out after` reads.
    let millis = (fast_latency * 20).max(Duration::from_millis(300)).as_millis() as u64;
    let (flag, timeout) = match millis {
        0..1000 => (format!("{millis}ms"), Duration::from_millis(millis)),
        _ => {
            let seconds = millis.div_ceil(1000);
            (format!("{seconds}s"), Duration::from_secs(seconds))
        }
    };
    slow_ms.store(timeout.as_millis() as u64 * 10, Ordering::SeqCst);

    let listener = Listener::start(&["--headless", "--forward", &app.url(), "--forward-timeout", &flag]);
    let response = send_raw(listener.addr, &post("/slow", &[], b"1"))
        .await
        .expect("send");
    assert_eq!(
        response.status, 200,
        "the sender is answered at once, whatever the app does"
    );
    send_raw(listener.addr, &post("/fast", &[], b"2"))
        .await
        .expect("send");
    let attempts = attempts(&listener, 2);
    let slow = attempts
        .iter()
        .find(|a| a.target.ends_with("/slow"))
        .expect("slow attempt");
    assert_eq!(slow.outcome, Outcome::Failed(format!("timed out after {flag}")));
    assert!(
        slow.latency >= timeout - Duration::from_millis(10),
        "{:?}",
        slow.latency
    );
    let fast = attempts
        .iter()
        .find(|a| a.target.ends_with("/fast"))
        .expect("fast attempt");
    assert_eq!(
        fast.status(),
        Some(200),
        "{fast:?} (a fast attempt took {fast_latency:?} before)"
    );
}

#[tokio::test]
async fn retries_are_counted_and_spaced_as_the_policy_says() {
    // 503, 503, then 200 for /flaky; 404 always for /missing.
    let flaky = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = flaky.clone();
    let answer: common::Answer = Arc::new(move |seen, _| match seen.target.as_str() {
        "/missing" => (404, Duration::ZERO),
        _ => match count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 | 1 => (503, Duration::ZERO),
            _ => (200, Duration::ZERO),
        },
    });
    let app = LocalApp::start_on("127.0.0.1:0".parse().expect("addr"), answer);
    let listener = Listener::start(&["--headless", "--forward", &app.url(), "--retry", "fixed:3x200ms"]);
    send_raw(listener.addr, &post("/flaky", &[], b"{}"))
        .await
        .expect("send");
    let flaky_attempts = attempts(&listener, 3);
    assert_eq!(
        flaky_attempts.len(),
        3,
        "stops at the first 2xx: {flaky_attempts:?}"
    );
    let numbers: Vec<u32> = flaky_attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let statuses: Vec<Option<u16>> = flaky_attempts.iter().map(Attempt::status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
    for pair in flaky_attempts.windows(2) {
        let gap = (pair[1].started_at - pair[0].started_at)
            .to_std()
            .expect("ordered");
        assert!(
            gap >= Duration::from_millis(190),
            "retries 200 ms apart, got {gap:?}"
        );
    }
    let seen = app.seen();
    assert!(seen[2].at.duration_since(seen[1].at) >= Duration::from_millis(190));
    // How long a retry takes to come here, measured on this machine now: a retry that was going
    // to come would have come within a few of these.
    let retry_gap = seen[1]
        .at
        .duration_since(seen[0].at)
        .max(seen[2].at.duration_since(seen[1].at));
    let long_enough = (retry_gap * 5).max(Duration::from_secs(1));

    // Stops at the first 2xx: no fourth request to /flaky, however long we wait for one.
    std::thread::sleep(long_enough);
    let flaky_seen = app.seen().iter().filter(|s| s.target == "/flaky").count();
    assert_eq!(flaky_seen, 3, "a 200 ends the retries");

    // A 4xx is the app saying the request is wrong: not retried.
    send_raw(listener.addr, &post("/missing", &[], b"{}"))
        .await
        .expect("send");
    let all = attempts(&listener, 4);
    let missing: Vec<&Attempt> = all.iter().filter(|a| a.target.ends_with("/missing")).collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].status(), Some(404));
    std::thread::sleep(long_enough);
    let missing_seen = app.seen().iter().filter(|s| s.target == "/missing").count();
    assert_eq!(missing_seen, 1, "a 404 is not retried (waited {long_enough:?})");
    assert_eq!(attempts_in(&listener.journal).len(), 4);
}

#[tokio::test]
async fn an_app_that_is_down_then_comes_up_loses_nothing() {
    // Kept for this test until the app starts there: nothing else may answer on it meanwhile.
    let port = free_port();
    let addr = port.addr;
    let url = format!("http://{addr}");
    let mut listener = Listener::start(&["--headless", "--forward", &url, "--retry", "fixed:10x300ms"]);
    let response = send_raw(listener.addr, &post("/first", &[], b"{\"n\":1}"))
        .await
        .expect("send");
    assert_eq!(response.status, 200, "captured even though the app is down");
    let refused = attempts(&listener, 1);
    assert_eq!(refused[0].outcome, Outcome::Failed("connection refused".into()));

    // The developer starts the app; the retries reach it.
    let app = LocalApp::start_in(port, Arc::new(|_, _| (200, Duration::ZERO)));
    let delivered = wait_for("a delivered retry", PATIENCE, || {
        let attempts = attempts_in(&listener.journal);
        attempts
            .iter()
            .any(|a| a.status() == Some(200))
            .then_some(attempts)
    });
    let last = delivered.last().expect("an attempt");
    assert!(last.number >= 2, "{delivered:?}");
    assert!(
        delivered[..delivered.len() - 1]
            .iter()
            .all(|a| a.status().is_none())
    );
    assert_eq!(app.seen()[0].body, b"{\"n\":1}");

    // Down again: shown, not fatal.
    drop(app);
    let _down = common::ReservedPort::hold(addr);
    let response = send_raw(listener.addr, &post("/second", &[], b"{\"n\":2}"))
        .await
        .expect("send");
    assert_eq!(response.status, 200);
    wait_for("a refused attempt for /second", PATIENCE, || {
        attempts_in(&listener.journal)
            .iter()
            .any(|a| a.target.ends_with("/second") && a.status().is_none())
            .then_some(())
    });
    let (status, stdout, stderr) = listener.stop();
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("  ✗ connection refused"), "{stdout}");
    assert_eq!(listener.captures().len(), 2, "nothing captured is lost");
}

#[tokio::test]
async fn aioz_is_retried_on_any_non_2xx_as_its_docs_say() {
    // 004: "If your server does not return a 2xx status code, our service will retry".
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookscope.toml");
    std::fs::write(&config, "[[routes]]\npath = \"/aioz/*\"\nprovider = \"aioz\"\n").expect("config");
    let answer: common::Answer = Arc::new(|_, n| (if n == 0 { 400 } else { 200 }, Duration::ZERO));
    let app = LocalApp::start_on("127.0.0.1:0".parse().expect("addr"), answer);
    let config = config.to_string_lossy().into_owned();
    let listener = Listener::start(&[
        "--headless",
        "--forward",
        &app.url(),
        "--retry",
        "provider",
        "--config",
        &config,
    ]);
    let body = br#"{"type":"encoding.failed","media_id":"m1"}"#;
    send_raw(listener.addr, &post("/aioz/hook", &[], body))
        .await
        .expect("send");
    let all = attempts(&listener, 2);
    let statuses: Vec<Option<u16>> = all.iter().map(Attempt::status).collect();
    assert_eq!(statuses[..2], [Some(400), Some(200)], "the 400 is retried");
    assert_eq!(all[1].number, 2);
    let gap = (all[1].started_at - all[0].started_at).to_std().expect("ordered");
    assert!(
        gap >= Duration::from_millis(2900),
        "3 s apart, as AIOZ retries: {gap:?}"
    );
}

/// An app that reads each request off the wire itself, because hyper (as `LocalApp` uses it)
/// lowercases header names: records every request head as sent, and answers with the bytes
/// `respond` gives for the request's target. Keeps connections alive as the forwarder's pool
/// expects.
struct WireApp {
    addr: std::net::SocketAddr,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl WireApp {
    fn start(respond: fn(&str) -> Vec<u8>) -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the app");
        let addr = listener.local_addr().expect("addr");
        let heads: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let log = heads.clone();
        // Detached: the thread blocks in accept until the test binary exits.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buffer = Vec::new();
                    loop {
                        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                            let mut chunk = [0u8; 8192];
                            match stream.read(&mut chunk) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                        let length: usize = head
                            .lines()
                            .filter_map(|l| l.split_once(':'))
                            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                            .and_then(|(_, v)| v.trim().parse().ok())
                            .unwrap_or(0);
                        while buffer.len() < end + 4 + length {
                            let mut chunk = [0u8; 8192];
                            match stream.read(&mut chunk) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buffer.drain(..end + 4 + length);
                        let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                        log.lock().expect("lock").push(head);
                        if stream.write_all(&respond(&target)).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, heads }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request head received so far, as sent (request line and header lines).
    fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }
}

fn ok_response(_target: &str) -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()
}

#[tokio::test]
async fn header_names_go_out_title_case_same_names_together_in_order_and_no_hop_by_hop() {
    let app = WireApp::start(ok_response);
    let listener = Listener::start(&["--headless", "--forward", &app.url()]);
    // As a sender wrote them: lowercase names, one name twice with another between, and every
    // hop-by-hop header the README names (TE, Upgrade, Proxy-Connection, Keep-Alive, Connection
    // and the header Connection lists).
    let request = post(
        "/hooks",
        &[
            ("x-lower-case", "a"),
            ("X-Multi", "1"),
            ("x-other", "o"),
            ("x-multi", "2"),
            ("TE", "trailers"),
            ("Upgrade", "websocket"),
            ("Proxy-Connection", "keep-alive"),
            ("Keep-Alive", "timeout=5"),
            // Names no other hop-by-hop header, so each is dropped for its own sake.
            ("Connection", "X-Private"),
            ("X-Private", "p"),
            ("x-last", "z"),
        ],
        b"{}",
    );
    assert_eq!(send_raw(listener.addr, &request).await.expect("send").status, 200);
    let head = wait_for("the forwarded request", PATIENCE, || app.heads().pop());
    let lines: Vec<&str> = head.lines().skip(1).collect();
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    for name in &names {
        let title_case = name.split('-').all(|word| {
            let mut chars = word.chars();
            chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| !c.is_ascii_uppercase())
        });
        assert!(title_case, "{name:?} is not title case: {head}");
    }
    assert!(lines.contains(&"X-Lower-Case: a"), "{head}");
    // Both X-Multi headers, one after the other, in the order they came.
    let first = lines.iter().position(|l| *l == "X-Multi: 1");
    let second = lines.iter().position(|l| *l == "X-Multi: 2");
    assert!(
        first.is_some() && second == first.map(|i| i + 1),
        "same-name headers not sent together, in order: {head}"
    );
    let other = lines.iter().position(|l| *l == "X-Other: o");
    assert!(other.is_some_and(|o| o > first.unwrap_or(usize::MAX)), "{head}");
    assert!(lines.contains(&"X-Last: z"), "{head}");
    for hop in [
        "te",
        "upgrade",
        "proxy-connection",
        "keep-alive",
        "connection",
        "x-private",
        "transfer-encoding",
    ] {
        assert!(
            !names.iter().any(|n| n.eq_ignore_ascii_case(hop)),
            "{hop} was forwarded: {head}"
        );
    }
}

/// Answers of known sizes: `/over` 40 bytes, `/exact` 16, `/chunked` three chunks of 10.
fn sized_response(target: &str) -> Vec<u8> {
    let digits = "0123456789";
    match target {
        "/over" => format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{}",
            digits.repeat(4)
        ),
        "/exact" => "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\nabcdefghijklmnop".to_owned(),
        _ => format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
            format!("a\r\n{digits}\r\n").repeat(3)
        ),
    }
    .into_bytes()
}

#[tokio::test]
async fn a_response_body_over_the_limit_is_journaled_cut_at_the_limit() {
    let app = WireApp::start(sized_response);
    let listener = Listener::start(&[
        "--headless",
        "--forward",
        &app.url(),
        "--forward-body-limit",
        "16",
    ]);
    for path in ["/over", "/exact", "/chunked"] {
        let response = send_raw(listener.addr, &post(path, &[], b"{}"))
            .await
            .expect("send");
        assert_eq!(response.status, 200);
    }
    let all = attempts(&listener, 3);
    let kept = |path: &str| -> (Vec<u8>, bool) {
        let attempt = all
            .iter()
            .find(|a| a.target.ends_with(path))
            .expect("its attempt");
        match &attempt.outcome {
            Outcome::Response {
                status: 200,
                body,
                truncated,
                ..
            } => (body.to_vec(), *truncated),
            other => panic!("{path}: {other:?}"),
        }
    };
    assert_eq!(kept("/over"), (b"0123456789012345".to_vec(), true));
    assert_eq!(
        kept("/exact"),
        (b"abcdefghijklmnop".to_vec(), false),
        "at the limit is whole"
    );
    // Over several frames, the limit is on what was kept in all.
    assert_eq!(kept("/chunked"), (b"0123456789012345".to_vec(), true));
}

/// The most requests the app held at once, counting each as held from its arrival until
/// `hold` later (it answers no sooner).
fn most_at_once(arrivals: &[std::time::Instant], hold: Duration) -> usize {
    arrivals
        .iter()
        .map(|&at| {
            arrivals
                .iter()
                .filter(|&&other| other <= at && at < other + hold)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn no_more_than_max_in_flight_attempts_reach_the_app_at_once() {
    use std::sync::atomic::{AtomicU64, Ordering};
    // The app holds each request `hold_ms` before answering; 0 while measuring the baseline.
    let hold_ms = Arc::new(AtomicU64::new(0));
    let hold = hold_ms.clone();
    let answer: common::Answer =
        Arc::new(move |_, _| (200, Duration::from_millis(hold.load(Ordering::SeqCst))));
    let app = LocalApp::start_on("127.0.0.1:0".parse().expect("addr"), answer);
    let listener = Listener::start(&["--headless", "--forward", &app.url(), "--max-in-flight", "2"]);

    // Baseline: how long from sending a capture to its arrival at the app, on this machine now.
    let started = std::time::Instant::now();
    send_raw(listener.addr, &post("/baseline", &[], b"{}"))
        .await
        .expect("send");
    let arrived = wait_for("the baseline delivery", PATIENCE, || {
        app.seen().first().map(|s| s.at)
    });
    let baseline = arrived.duration_since(started);
    attempts(&listener, 1); // answered: it holds no slot from here on
    // All the captures below are sent within a few baselines; without a limit they would all be
    // at the app well within the hold.
    let held = (baseline * 20).max(Duration::from_millis(300));
    hold_ms.store(held.as_millis() as u64, Ordering::SeqCst);

    let sends: Vec<_> = (0..6)
        .map(|n| {
            let addr = listener.addr;
            tokio::spawn(async move { send_raw(addr, &post(&format!("/held/{n}"), &[], b"{}")).await })
        })
        .collect();
    for send in sends {
        assert_eq!(send.await.expect("task").expect("send").status, 200);
    }
    attempts(&listener, 7);
    let arrivals: Vec<std::time::Instant> = app
        .seen()
        .iter()
        .filter(|s| s.target.starts_with("/held/"))
        .map(|s| s.at)
        .collect();
    assert_eq!(arrivals.len(), 6);
    // A third request can only arrive once one of the first two was answered, after its hold.
    assert_eq!(most_at_once(&arrivals, held), 2, "held {held:?} each");
}
