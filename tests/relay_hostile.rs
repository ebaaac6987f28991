//! The relay under hostile or careless input (issue #13): revoked tokens, file modes and
//! delivered payloads left on disk, acks of what was never delivered, the bearer token in trace
//! logs, malformed token files, idle and trickling connections under a low descriptor limit.
//! Real binaries over loopback, as in `tests/relay.rs`.

mod common;
mod relay_harness;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use hookscope::relay::protocol::{self, ClientMessage, ServerMessage};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use common::{announced_address, binary, post, send_raw, wait_for};
use relay_harness::{
    Relay, assert_exactly, client, create_token, dir, journaled, send, wait_captures, wait_connected,
};

/// How long a change may take to show before a test gives up (the promise is about a second).
const DEADLINE: Duration = Duration::from_secs(10);

/// The status of a websocket upgrade of `/tunnel/<channel>` with `token`, on a new connection.
async fn tunnel_status(relay: std::net::SocketAddr, channel: &str, token: &str) -> u16 {
    let request = format!(
        "GET /tunnel/{channel} HTTP/1.1\r\nHost: r\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    send_raw(relay, request.as_bytes()).await.expect("answer").status
}

/// Polls an async check every 50 ms until it holds, or panics after [`DEADLINE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_token_stops_working_at_once_and_its_live_tunnel_is_closed_with_the_reason() {
    let (dir, data, journal) = dir();
    let alpha = create_token(&data, "alpha");
    let beta = create_token(&data, "beta");
    let relay = Relay::start(&data, &[]);
    let alpha_client = client(&journal, &relay.url(), "alpha", &alpha, &[]);
    let beta_journal = dir.path().join("beta.jsonl");
    let beta_client = client(&beta_journal, &relay.url(), "beta", &beta, &[]);
    wait_connected(&alpha_client);
    wait_connected(&beta_client);
    assert_eq!(send(relay.addr, "alpha", 0).await, 202);
    wait_captures(&journal, 1);

    // Revoked as an editor would: the file truncated and written again, alpha's line gone.
    let tokens = data.join("tokens");
    let kept: String = std::fs::read_to_string(&tokens)
        .expect("read")
        .lines()
        .filter(|line| !line.starts_with("alpha "))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&tokens, kept).expect("revoke");

    // The running session is closed with the reason, which the client shows.
    wait_for("the tunnel to be closed as revoked", DEADLINE, || {
        alpha_client
            .stderr_text()
            .contains("relay: refused: the token for this channel was revoked")
            .then_some(())
    });
    // New tunnels and new requests are refused.
    eventually("a new tunnel with the revoked token to get 401", || async {
        tunnel_status(relay.addr, "alpha", &alpha).await == 401
    })
    .await;
    eventually("ingress to the channel to get 404", || async {
        send(relay.addr, "alpha", 1).await == 404
    })
    .await;
    // The token kept works on, its session untouched by the rewrite.
    assert_eq!(send(relay.addr, "beta", 2).await, 202);
    assert_exactly(&wait_captures(&beta_journal, 1), 2..3, "beta");
    let beta_log = beta_client.stderr_text();
    assert!(
        !beta_log.contains("refused") && !beta_log.contains("reconnecting"),
        "{beta_log}"
    );
    assert_eq!(
        journaled(&journal).len(),
        1,
        "nothing reached alpha after its revocation"
    );
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_files_are_private_and_the_queue_keeps_no_delivered_payload() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_dir, data, journal) = dir();
    // Made private when created, not tightened afterwards (when others could already look).
    let created = binary()
        .args(["relay", "token", "create", "--channel", "alpha", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run token create");
    let said = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success() && !said.contains("tightened"), "{said}");
    let token = String::from_utf8(created.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("tokens")), 0o600, "the token file");
    let mut relay = Relay::start(&data, &[]);
    let addr = relay.addr.to_string();
    let listener = client(&journal, &relay.url(), "alpha", &token, &[]);
    wait_connected(&listener);
    let marker = b"PAYLOAD-THAT-MUST-NOT-STAY";
    for n in 0..3 {
        let request = post(&format!("/c/alpha/hooks/{n}"), &[("X-Signature", "sig")], marker);
        assert_eq!(send_raw(relay.addr, &request).await.expect("answer").status, 202);
    }
    wait_captures(&journal, 3);
    let (queue, acked) = (data.join("alpha.queue"), data.join("alpha.acked"));
    wait_for(
        "the queue file to be emptied once all is acknowledged",
        DEADLINE,
        || {
            let held = std::fs::read(&queue).expect("queue file");
            (!held.windows(marker.len()).any(|w| w == marker) && acked.exists()).then_some(())
        },
    );
    let clients = data.join("alpha.clients");
    assert_eq!(
        (mode(&queue), mode(&acked), mode(&clients)),
        (0o600, 0o600, 0o600)
    );
    assert!(
        !relay.stderr_text().contains("tightened"),
        "{}",
        relay.stderr_text()
    );

    // Files an older version left readable are tightened, with a warning, on start; and the
    // emptied queue still numbers on after its ack (a request numbered 1 again would be taken
    // by the client for one it has already journaled, and dropped).
    relay.kill9();
    for (path, loose) in [
        (&data, 0o755),
        (&data.join("tokens"), 0o644),
        (&queue, 0o644),
        (&clients, 0o644),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(loose)).expect("loosen");
    }
    let relay = Relay::start_on(&addr, &data, &[]);
    assert_eq!(
        (
            mode(&data),
            mode(&data.join("tokens")),
            mode(&queue),
            mode(&clients)
        ),
        (0o700, 0o600, 0o600, 0o600)
    );
    let warned = relay.stderr_text();
    assert_eq!(warned.matches("permissions tightened").count(), 4, "{warned}");
    assert_eq!(send(relay.addr, "alpha", 3).await, 202);
    let captures = wait_captures(&journal, 4);
    assert_eq!(captures[3].path, "/hooks/3");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A hand-driven tunnel session: upgraded with `token`, hello sent with `resume_after`.
async fn raw_session(relay: &Relay, channel: &str, token: &str, resume_after: u64) -> Socket {
    let url = format!("ws://{}/tunnel/{channel}", relay.addr);
    let mut request = url.into_client_request().expect("request");
    let bearer = format!("Bearer {token}").parse().expect("header");
    request.headers_mut().insert("authorization", bearer);
    let (mut ws, _) = tokio_tungstenite::client_async(
        request,
        tokio_tungstenite::MaybeTlsStream::Plain(
            tokio::net::TcpStream::connect(relay.addr).await.expect("connect"),
        ),
    )
    .await
    .expect("upgrade");
    let hello = ClientMessage::Hello {
        resume_after,
        client: None,
    };
    let hello = protocol::encode(&hello, b"");
    ws.send(Message::Binary(hello)).await.expect("hello");
    ws
}

/// The next message from the relay: a protocol message, or the close frame's code and reason.
async fn next(ws: &mut Socket) -> Result<ServerMessage, (CloseCode, String)> {
    loop {
        let message = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("the relay said nothing")
            .expect("the socket ended without a close frame")
            .expect("a frame");
        match message {
            Message::Binary(frame) => return Ok(protocol::decode(frame).expect("a server message").0),
            Message::Close(Some(frame)) => return Err((frame.code, frame.reason.to_string())),
            Message::Close(None) => panic!("closed without a reason"),
            _ => {}
        }
    }
}

/// Reads deliveries until `seq`; returns the first one's number.
async fn deliveries_until(ws: &mut Socket, seq: u64) -> u64 {
    let mut first = None;
    loop {
        match next(ws).await {
            Ok(ServerMessage::Deliver { seq: got, .. }) => {
                first.get_or_insert(got);
                if got == seq {
                    return first.unwrap_or(got);
                }
            }
            Ok(_) => {}
            Err(closed) => panic!("closed: {closed:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_of_requests_never_delivered_are_refused_and_drop_nothing() {
    const QUEUED: usize = 520; // past the delivery window (512): some are never sent
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let relay = Relay::start(&data, &[]);
    for n in 0..QUEUED {
        assert_eq!(send(relay.addr, "alpha", n).await, 202);
    }
    // A first session takes the window, 1..=512, and goes away without acknowledging.
    let mut ws = raw_session(&relay, "alpha", &token, 0).await;
    assert!(matches!(
        next(&mut ws).await,
        Ok(ServerMessage::Welcome { resume_after: 0, .. })
    ));
    assert_eq!(deliveries_until(&mut ws, 512).await, 1);
    drop(ws);
    // Resuming after 515, never delivered, is not an ack of 513..=515: delivery starts over.
    let mut ws = raw_session(&relay, "alpha", &token, 515).await;
    assert!(
        matches!(
            next(&mut ws).await,
            Ok(ServerMessage::Welcome { resume_after: 0, .. })
        ),
        "the relay took a resume point it never delivered as an ack"
    );
    assert_eq!(deliveries_until(&mut ws, 512).await, 1);
    // An ack far beyond what was delivered closes the session with a protocol error.
    let ack = protocol::encode(&ClientMessage::Ack { seq: 1 << 63 }, b"");
    ws.send(Message::Binary(ack)).await.expect("ack");
    let closed = loop {
        match next(&mut ws).await {
            Ok(_) => continue,
            Err(closed) => break closed,
        }
    };
    assert_eq!(closed.0, CloseCode::Protocol, "{closed:?}");
    assert!(closed.1.contains("beyond the last delivery"), "{closed:?}");
    // Nothing was dropped: a real client gets every request.
    let listener = client(&journal, &relay.url(), "alpha", &token, &[]);
    wait_connected(&listener);
    assert_exactly(&wait_captures(&journal, QUEUED), 0..QUEUED, "alpha");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_is_in_no_log_even_at_trace() {
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let trace = [("RUST_LOG", "trace")];
    let relay = Relay::start_with_env("127.0.0.1:0", &data, &[], &trace);
    let mut listen = binary()
        .args(["listen", "--addr", "127.0.0.1:0", "--headless", "--out"])
        .arg(&journal)
        .args(["--relay", &relay.url(), "--channel", "alpha", "--token", &token])
        .envs(trace)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn listen");
    let (_, stderr) = announced_address(&mut listen);
    let logged = || stderr.lock().expect("lock").join("\n");
    wait_for("the tunnel to connect", DEADLINE * 2, || {
        logged().contains("relay: connected").then_some(())
    });
    assert_eq!(send(relay.addr, "alpha", 0).await, 202);
    wait_captures(&journal, 1);
    let _ = listen.kill();
    let _ = listen.wait();
    let (client_log, relay_log) = (logged(), relay.stderr_text());
    // The check means something only if trace logging did happen on both sides.
    assert!(client_log.contains("TRACE") && relay_log.contains("TRACE"));
    assert!(
        client_log.contains("tungstenite"),
        "the websocket library's traces are on"
    );
    let secret = token.trim_start_matches("hst_");
    for (side, log) in [("listen", &client_log), ("relay", &relay_log)] {
        let leak = log.lines().find(|line| line.contains(secret));
        assert!(leak.is_none(), "{side} logged the token: {leak:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_token_line_is_skipped_and_new_tokens_still_work() {
    use sha2::Digest as _;
    let (_dir, data, journal) = dir();
    create_token(&data, "alpha");
    let tokens = data.join("tokens");
    let append = |text: &str| {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&tokens)
            .expect("open");
        file.write_all(text.as_bytes()).expect("append");
    };
    append("alpha not-a-hash\n");
    // It starts all the same, and says which line it skipped.
    let relay = Relay::start(&data, &[]);
    assert!(
        relay.stderr_text().contains("token file line 2"),
        "{}",
        relay.stderr_text()
    );
    assert_eq!(send(relay.addr, "alpha", 0).await, 202);
    // `token create` will not bury a new line behind a bad one.
    let before = std::fs::read(&tokens).expect("read");
    let refused = binary()
        .args(["relay", "token", "create", "--channel", "beta", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run token create");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && refused.stdout.is_empty(), "{said}");
    assert!(said.contains("malformed at line 2"), "{said}");
    assert_eq!(std::fs::read(&tokens).expect("read"), before, "nothing written");
    // A token added by hand while the relay runs works at once, bad line or not.
    let beta = "hst_added_by_hand";
    append(&format!("beta {}\n", hex::encode(sha2::Sha256::digest(beta))));
    assert_eq!(send(relay.addr, "beta", 1).await, 202);
    let listener = client(&journal, &relay.url(), "beta", beta, &[]);
    wait_connected(&listener);
    assert_exactly(&wait_captures(&journal, 1), 1..2, "beta");
}

#[tokio::test]
async fn a_relay_given_a_missing_token_file_refuses_to_start() {
    let (dir, data, _journal) = dir();
    let missing = dir.path().join("no-such-tokens");
    let mut relay = binary()
        .args(["relay", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--tokens")
        .arg(&missing)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the relay");
    let deadline = std::time::Instant::now() + DEADLINE;
    let exited = loop {
        if let Some(status) = relay.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = relay.kill();
            let _ = relay.wait();
            panic!("the relay started without its token file");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut relay.stderr.take().expect("stderr"), &mut said).expect("read");
    assert!(!exited.success(), "{said}");
    assert!(
        said.contains("no-such-tokens") && !said.contains("listening on"),
        "{said}"
    );
}

/// What a trickling sender sends slowly.
#[derive(Debug, Clone, Copy)]
enum Trickled {
    /// Its head, a header line every 250 ms, without end.
    Head,
    /// A whole head, then its body a byte every 250 ms.
    Body,
}

/// Trickles a request; returns what the relay answered (empty if it only closed), once a
/// whole answer head has come, the relay has closed, or `limit` has passed.
async fn trickle(relay: std::net::SocketAddr, what: Trickled, limit: Duration) -> Vec<u8> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(mut stream) = tokio::net::TcpStream::connect(relay).await else {
        return Vec::new();
    };
    let (start, drip): (&[u8], &[u8]) = match what {
        Trickled::Head => (b"POST /c/alpha/slow HTTP/1.1\r\nHost: r\r\n", b"X-Slow: 1\r\n"),
        Trickled::Body => (
            b"POST /c/alpha/slow HTTP/1.1\r\nHost: r\r\nContent-Length: 100000\r\n\r\n",
            b"x",
        ),
    };
    let _ = stream.write_all(start).await;
    let mut answer = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 1024];
        tokio::select! {
            read = stream.read(&mut chunk) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            },
            _ = tick.tick() => {
                // Writes may fail once the relay has answered and closed: the read tells.
                let _ = stream.write_all(drip).await;
            }
            () = &mut deadline => break,
        }
    }
    answer
}

/// Opens `count` connections to `relay` one after the other, sending nothing; gives up after
/// 30 s (a relay that stops accepting then fails the test elsewhere, in bounded time). Not all
/// at once: past the kernel's accept queue (128) a client can think itself connected to a
/// server that dropped it, which tells nothing about the relay.
async fn connect_idle(relay: std::net::SocketAddr, count: usize) -> Vec<tokio::net::TcpStream> {
    let mut idle = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        for _ in 0..count {
            idle.push(tokio::net::TcpStream::connect(relay).await.expect("connect"));
        }
    })
    .await;
    idle
}

/// How many of `sockets` the relay has closed.
fn closed(sockets: &[tokio::net::TcpStream]) -> usize {
    sockets
        .iter()
        .filter(|socket| {
            let mut byte = [0u8; 1];
            !matches!(socket.try_read(&mut byte), Err(err) if err.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count()
}

/// Issue #13: 20,600 idle sockets exhausted the relay's descriptors (real senders timed out,
/// a warning every 50 ms) and a head trickled a line at a time was never cut. Under a limit of
/// 256 descriptors, with more idle sockets than that and trickled requests holding places, a
/// real sender keeps getting its 202 and the tunnel keeps delivering.
///
/// Caught: the cap not derived from the limit (the fallback 1024: "accept failed"); idle
/// connections not shed at the cap (senders wait out --idle-timeout); no head deadline, no
/// body deadline (the trickled requests never answered 408).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_trickling_connections_under_a_low_descriptor_limit_starve_no_sender_nor_the_tunnel() {
    const IDLE: usize = 600;
    const TRICKLING: usize = 60;
    const SENT: usize = 20;
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let relay = Relay::start_with_descriptors(&data, &["--read-timeout", "2s"], &[], 256);
    // A quarter of the descriptors is kept back for the rest.
    wait_for("the relay's cap", DEADLINE, || {
        let said = relay.stderr_text();
        said.contains("listening on").then_some(())?;
        assert!(said.contains("at most 192 connections"), "{said}");
        Some(())
    });
    let listener = client(&journal, &relay.url(), "alpha", &token, &[]);
    wait_connected(&listener);
    let started = std::time::Instant::now();
    let idle = connect_idle(relay.addr, IDLE).await;
    let tricklers: Vec<_> = (0..TRICKLING)
        .map(|n| {
            let what = [Trickled::Head, Trickled::Body][n % 2];
            (
                what,
                tokio::spawn(trickle(relay.addr, what, Duration::from_secs(30))),
            )
        })
        .collect();
    // Each request on a new connection, behind the flood in the relay's backlog.
    for n in 0..SENT {
        let status = tokio::time::timeout(Duration::from_secs(15), send(relay.addr, "alpha", n)).await;
        assert_eq!(
            status,
            Ok(202),
            "request {n}, {:?} into the flood",
            started.elapsed()
        );
    }
    let served = started.elapsed();
    assert_exactly(&wait_captures(&journal, SENT), 0..SENT, "alpha");
    for (what, trickler) in tricklers {
        let answer = trickler.await.expect("trickler");
        assert!(
            answer.starts_with(b"HTTP/1.1 408 "),
            "a trickled {what:?} got {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    let cut = started.elapsed();
    let log = relay.stderr_text();
    assert!(!log.contains("accept failed"), "out of descriptors: {log}");
    assert!(
        !listener.stderr_text().contains("reconnecting"),
        "{}",
        listener.stderr_text()
    );
    assert_eq!(idle.len(), IDLE, "the relay took every connection in the end");
    eprintln!(
        "{SENT} served in {served:?} behind {IDLE} idle and {TRICKLING} trickling connections; \
         trickled requests all answered 408 by {cut:?}; {} idle sockets closed to make room",
        closed(&idle)
    );
}

/// With `--max-connections` above the descriptor limit, accepts fail for want of descriptors:
/// the relay says so once, pauses, closes idle connections, and says how many failed once it
/// accepts again, instead of a warning every 50 ms; and it keeps serving.
///
/// Caught: a warning per failed accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_accepts_are_told_once_with_a_count_and_the_relay_keeps_serving() {
    const IDLE: usize = 600;
    let (_dir, data, journal) = dir();
    let token = create_token(&data, "alpha");
    let relay = Relay::start_with_descriptors(&data, &["--max-connections", "5000"], &[], 256);
    let listener = client(&journal, &relay.url(), "alpha", &token, &[]);
    wait_connected(&listener);
    let _idle = connect_idle(relay.addr, IDLE).await;
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(15), send(relay.addr, "alpha", 0)).await,
        Ok(202)
    );
    wait_for("the first failure told", DEADLINE, || {
        relay.stderr_text().contains("accept failed").then_some(())
    });
    // Quiet for a second, then a sender: the burst is over and told with its count.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(15), send(relay.addr, "alpha", 1)).await,
        Ok(202)
    );
    wait_for("the burst's count", DEADLINE, || {
        relay
            .stderr_text()
            .contains("accepting again after failures")
            .then_some(())
    });
    // Summed over however many bursts a loaded machine made of the flood.
    let failures: u64 = relay
        .stderr_text()
        .lines()
        .filter_map(|line| line.split(" failures=").nth(1))
        .map(|rest| {
            let count = rest.split_whitespace().next().unwrap_or_default();
            count
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("no count in {rest:?}"))
        })
        .sum();
    let log = relay.stderr_text();
    let lines = log
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("accept"))
        .count();
    assert!(
        failures > 10,
        "only {failures} failures: the test did not exhaust descriptors"
    );
    // One burst, told when it began and when it ended; a loaded machine may see the flood as
    // two or three bursts, never a line per failure.
    assert!(
        lines <= 6 && lines as u64 * 10 <= failures,
        "{failures} failures told in {lines} lines:\n{log}"
    );
    assert_exactly(&wait_captures(&journal, 2), 0..2, "alpha");
}
