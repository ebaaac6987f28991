//! Test harness: runs the real `hookscope` binary and talks raw HTTP/1.1 to it over loopback.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod pty;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use hookscope::capture::{Attempt, Capture};
use hookscope::codec::Record;
use hookscope::journal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The binary under test.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hookscope"))
}

/// A running `hookscope listen`.
pub struct Listener {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its journal.
    pub journal: PathBuf,
    child: Child,
    stderr: Followed,
    stdout: Option<thread::JoinHandle<Vec<u8>>>,
    _dir: Option<tempfile::TempDir>,
}

impl Listener {
    /// Starts `hookscope listen` on a free port with a journal in a fresh directory.
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("captures.jsonl");
        let mut listener = Self::start_with_journal(&journal, extra);
        listener._dir = Some(dir);
        listener
    }

    /// Starts `hookscope listen` on a free port, appending to `journal`.
    pub fn start_with_journal(journal: &Path, extra: &[&str]) -> Self {
        let mut child = binary()
            .args(["listen", "--addr", "127.0.0.1:0", "--out"])
            .arg(journal)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookscope");
        let stderr = follow(&mut child);
        let addr = stderr.addr;
        let mut out = child.stdout.take().expect("piped stdout");
        let stdout = thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = std::io::Read::read_to_end(&mut out, &mut bytes);
            bytes
        });
        Self {
            addr,
            journal: journal.to_owned(),
            child,
            stderr,
            stdout: Some(stdout),
            _dir: None,
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns stdout and stderr.
    pub fn stop(&mut self) -> (ExitStatus, String, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        self.wait()
    }

    /// Kills the process with SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    fn wait(&mut self) -> (ExitStatus, String, String) {
        let status = self.child.wait().expect("wait for hookscope");
        let stdout = self
            .stdout
            .take()
            .map(|t| t.join().expect("stdout reader"))
            .unwrap_or_default();
        // Its stdout was read to the end, so it has exited: every stderr line is on its way.
        self.stderr.wait_ended(Duration::from_secs(30));
        (
            status,
            String::from_utf8_lossy(&stdout).into_owned(),
            self.stderr.text(),
        )
    }

    /// Everything it printed on stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// Every capture in the journal, checking no line was skipped.
    pub fn captures(&self) -> Vec<Capture> {
        captures_in(&self.journal)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collects `child`'s stderr lines (it must be piped) and waits for the address it announces on
/// its `... listening on SCHEME://ADDR, ...` line, as `listen` and `relay` both do.
pub fn announced_address(child: &mut Child) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let followed = follow(child);
    (followed.addr, followed.lines)
}

/// A child's stderr as [`follow`] collects it.
pub struct Followed {
    /// The address it announced.
    pub addr: SocketAddr,
    /// Its stderr lines so far.
    pub lines: Arc<Mutex<Vec<String>>>,
    ended: mpsc::Receiver<()>,
}

impl Followed {
    /// Waits until its stderr has ended (the child has exited, and no child of its own holds
    /// the pipe open), every line collected; up to `limit`, after which the lines so far are
    /// all there is to see. The lines a program prints last (an error after its summary) are
    /// read by another thread than the test's: looking right after the exit can miss them.
    pub fn wait_ended(&self, limit: Duration) {
        let _ = self.ended.recv_timeout(limit);
    }

    /// Its stderr so far, one string.
    pub fn text(&self) -> String {
        self.lines.lock().expect("stderr lock").join("\n")
    }
}

/// [`announced_address`], also telling when stderr ends ([`Followed::wait_ended`]).
pub fn follow(child: &mut Child) -> Followed {
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (ready, address) = mpsc::channel();
    let (end, ended) = mpsc::channel();
    let lines = child.stderr.take().expect("piped stderr");
    let seen = stderr.clone();
    thread::spawn(move || {
        for line in BufReader::new(lines).lines().map_while(Result::ok) {
            let addr = line.split("listening on ").nth(1).map(|rest| {
                let url = rest.split(',').next().unwrap_or_default();
                url.split("://").nth(1).unwrap_or_default().to_owned()
            });
            // Kept before the address is handed over: once it is, the lines so far are all
            // there, the listening line too.
            seen.lock().expect("stderr lock").push(line);
            if let Some(addr) = addr {
                let _ = ready.send(addr);
            }
        }
        let _ = end.send(());
    });
    let addr = address
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("it did not start; stderr: {:?}", stderr.lock()));
    Followed {
        addr: addr.parse().expect("a socket address"),
        lines: stderr,
        ended,
    }
}

/// Every capture in a journal file, asserting that no line had to be skipped.
pub fn captures_in(path: &Path) -> Vec<Capture> {
    records_in(path)
        .into_iter()
        .filter_map(|record| match record {
            Record::Capture(capture) => Some(capture),
            Record::Attempt(_) => None,
        })
        .collect()
}

/// Every delivery attempt in a journal file, asserting that no line had to be skipped.
pub fn attempts_in(path: &Path) -> Vec<Attempt> {
    records_in(path)
        .into_iter()
        .filter_map(|record| match record {
            Record::Attempt(attempt) => Some(attempt),
            Record::Capture(_) => None,
        })
        .collect()
}

/// Every record in a journal file, asserting that no line had to be skipped.
pub fn records_in(path: &Path) -> Vec<Record> {
    let loaded = journal::load(path).expect("read journal");
    assert!(loaded.problems.is_empty(), "skipped lines: {:?}", loaded.problems);
    loaded.entries.into_iter().map(|entry| entry.record).collect()
}

/// Polls `check` every 20 ms until it returns `Some`, or panics with `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Writes `request` verbatim on a new connection and reads one response.
pub async fn send_raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<RawResponse> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    read_response(&mut stream).await
}

/// Reads one response (with a `Content-Length` body) from `stream`.
pub async fn read_response(stream: &mut TcpStream) -> std::io::Result<RawResponse> {
    let mut buffer = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = response.parse(&buffer) {
            let status = response.code.unwrap_or_default();
            let headers: Vec<(String, String)> = response
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = buffer[len..].to_vec();
            while body.len() < length {
                let mut chunk = [0u8; 8192];
                let read = stream.read(&mut chunk).await?;
                if read == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                body.extend_from_slice(&chunk[..read]);
            }
            body.truncate(length);
            return Ok(RawResponse {
                status,
                headers,
                body,
            });
        }
        let mut chunk = [0u8; 8192];
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// A POST of `body` to `path` with `Content-Length`, as bytes.
pub fn post(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A request as the local app received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method.
    pub method: String,
    /// Path and query as requested.
    pub target: String,
    /// Headers in the order hyper hands them over (names lowercased).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// When the request head arrived.
    pub at: std::time::Instant,
}

impl Seen {
    /// The first value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// What the local app answers: status and how long it waits first.
pub type Answer = Arc<dyn Fn(&Seen, usize) -> (u16, Duration) + Send + Sync>;

/// A local app under development: a hyper server on its own thread and runtime that records
/// every request and answers as told.
pub struct LocalApp {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl LocalApp {
    /// An app on a free port answering 200 `{"received":true}` to everything.
    pub fn start() -> Self {
        Self::start_on(
            "127.0.0.1:0".parse().expect("address"),
            Arc::new(|_, _| (200, Duration::ZERO)),
        )
    }

    /// An app on `addr` (port 0: a free one) answering with `answer`.
    pub fn start_on(addr: SocketAddr, answer: Answer) -> Self {
        Self::start_with(bound(addr), answer, None)
    }

    /// An app on a port kept with [`free_port`] until now, answering with `answer`.
    pub fn start_in(port: ReservedPort, answer: Answer) -> Self {
        // As any server's: the connections it accepts inherit it, and a port they leave in
        // TIME_WAIT can then be held again ([`ReservedPort::hold`]).
        port.socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        Self::start_with(port.socket, answer, None)
    }

    /// An HTTPS app on a free port answering 200 to everything, with the certificate of `tls`.
    pub fn start_https(tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(
            bound("127.0.0.1:0".parse().expect("address")),
            Arc::new(|_, _| (200, Duration::ZERO)),
            Some(tokio_rustls::TlsAcceptor::from(tls)),
        )
    }

    fn start_with(
        socket: tokio::net::TcpSocket,
        answer: Answer,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let addr = socket.local_addr().expect("local addr");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let log = seen.clone();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = socket.listen(1024).expect("the local app listens");
                loop {
                    let stream = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue,
                        },
                    };
                    let (log, answer, tls) = (log.clone(), answer.clone(), tls.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(
                            move |request: hyper::Request<hyper::body::Incoming>| {
                                let (log, answer) = (log.clone(), answer.clone());
                                async move {
                                    Ok::<_, std::convert::Infallible>(serve(request, &log, &answer).await)
                                }
                            },
                        );
                        let http = hyper::server::conn::http1::Builder::new();
                        let _ = match tls {
                            None => {
                                http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                    .await
                            }
                            // A client that gives up on the certificate ends it here.
                            Some(tls) => match tls.accept(stream).await {
                                Ok(stream) => {
                                    http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                        .await
                                }
                                Err(_) => return,
                            },
                        };
                    });
                }
            });
        });
        Self {
            addr,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The app's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL of an app started with [`LocalApp::start_https`].
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn serve(
    request: hyper::Request<hyper::body::Incoming>,
    log: &Mutex<Vec<Seen>>,
    answer: &Answer,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use http_body_util::BodyExt;
    let at = std::time::Instant::now();
    let (head, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let seen = Seen {
        method: head.method.to_string(),
        target: head
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: head
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body,
        at,
    };
    let index = {
        let mut log = log.lock().expect("lock");
        log.push(seen.clone());
        log.len() - 1
    };
    let (status, delay) = answer(&seen, index);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-app", "test")
        .body(http_body_util::Full::new(bytes::Bytes::from(format!(
            "{{\"received\":{index}}}"
        ))))
        .expect("response")
}

impl Drop for LocalApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A socket bound to `addr` for a server, with `SO_REUSEADDR` as `std`'s and tokio's listeners
/// set it.
fn bound(addr: SocketAddr) -> tokio::net::TcpSocket {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("bind the local app");
    socket
}

/// A loopback port kept for one test: bound but not listening, so that a connection to it is
/// refused, and no other socket can have it meanwhile (another test's server or an outgoing
/// connection, which a port merely seen free a moment ago could be given to). For an app that
/// is down, then comes up there ([`LocalApp::start_in`]), or a port nobody answers on.
pub struct ReservedPort {
    /// The port's address.
    pub addr: SocketAddr,
    socket: tokio::net::TcpSocket,
}

/// A port of 127.0.0.1 no one listens on, kept until the [`ReservedPort`] is dropped.
pub fn free_port() -> ReservedPort {
    // Without SO_REUSEADDR: no other socket may bind the port while this one holds it.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind a free port");
    let addr = socket.local_addr().expect("addr");
    ReservedPort { addr, socket }
}

impl ReservedPort {
    /// Keeps `addr` again once the app that listened there is gone (its connections' TIME_WAIT
    /// left behind is allowed, as for any server; a port the kernel hands out to `bind` or
    /// `connect` is never one held like this).
    pub fn hold(addr: SocketAddr) -> Self {
        Self {
            addr,
            socket: bound(addr),
        }
    }
}
