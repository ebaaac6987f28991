//! Ingest benchmark: requests/s and p50/p99 latency of the real `hookscope listen --headless`
//! binary (journal on, stdout to /dev/null) against a bare hyper 1.x server that only reads the
//! whole body and answers 200, in the same run, with signed 1 KiB JSON webhooks (POST).
//!
//! Run it with:
//!
//! ```sh
//! cargo bench --bench ingest
//! cargo bench --bench ingest -- --secs 10 --conns 64 --rounds 3    # or with the env vars below
//! ```
//!
//! Settings (a flag wins over its environment variable):
//!
//! | flag          | variable                    | default | meaning                              |
//! | ------------- | --------------------------- | ------- | ------------------------------------ |
//! | `--secs N`    | `HOOKSCOPE_BENCH_SECS`      | 5       | measured seconds per run             |
//! | `--warmup N`  | `HOOKSCOPE_BENCH_WARMUP`    | 1       | warm-up seconds before each run      |
//! | `--conns N`   | `HOOKSCOPE_BENCH_CONNS`     | 32      | keep-alive connections of the client |
//! | `--rounds N`  | `HOOKSCOPE_BENCH_ROUNDS`    | 2       | rounds of (bare, hookscope)          |
//! | `--out PATH`  | `HOOKSCOPE_BENCH_OUT`       | temp    | hookscope's journal (`/dev/null` ok) |
//! | `--unsigned`  | `HOOKSCOPE_BENCH_UNSIGNED=1`| off     | no `Dolby-Signature` (no provider)   |
//! | `--bin PATH`  | `HOOKSCOPE_BENCH_BIN`       | this    | another hookscope build (A/B runs);  |
//! |               |                             |         | relative to the package root         |
//! | `--inspector` | `HOOKSCOPE_BENCH_INSPECTOR=1`| off    | headless against the live inspector  |
//! | `--pin`       | `HOOKSCOPE_BENCH_PIN=1`     | off     | servers on CPU 0, the client on CPU 1|
//! | `--rate N`    | `HOOKSCOPE_BENCH_RATE`      | off     | N requests/s on a fixed schedule     |
//!
//! `--rate` measures latency at a given load instead of throughput (issue #17: p50/p99 at a
//! fixed rate, e.g. 5000): each connection sends its share on a schedule; a request held past
//! its time by the last answer counts from when it was due, so a server that falls behind its
//! schedule shows it, and one sent on time from when it is sent.
//!
//! `--pin` (Linux, `taskset` from util-linux) runs each server on the first CPU and this load
//! client on the second, so that a server's CPU per request is not mixed with the client's
//! scheduling on the same core; the figure to read is then the servers' CPU per request and its
//! ratio (issue #17's restated target: hookscope at most 1.5x the bare server's).
//!
//! `--inspector` compares hookscope with itself: `listen --headless` is the baseline, and the
//! contender is `listen` with its inspector drawing on a 160x45 pseudo-terminal (whose output
//! this bench reads and throws away, as a terminal would show it), both journaling. It measures
//! what the inspector costs the capture path behind the real HTTP server (issue #20's target:
//! req/s with the inspector at least 0.90 of headless). While the load runs, the bench types `?`
//! into the inspector's terminal every half second and times until the help overlay is drawn
//! (then types `?` again to close it): whether keys still answer under load.
//!
//! The body is an OptiView-like `channel.started` event signed as OptiView signs
//! (`Dolby-Signature`), so hookscope detects the provider and analyzes every capture as it would
//! in real use (no secret is configured, so the verdict is `no-secret`). `--unsigned` and
//! `--out /dev/null` are diagnostics that take the analysis, respectively the disk, out.
//!
//! Both servers are separate processes: hookscope is `CARGO_BIN_EXE_hookscope` (or `--bin`)
//! started with `listen --headless --addr 127.0.0.1:0 --out <tempdir>/captures.jsonl`, and the
//! bare server is this very binary re-executed with `--bare-server`. One load client (this process, hyper's
//! HTTP/1.1 client on a multi-thread tokio runtime) drives them alternately, bare then
//! hookscope, round after round, so that machine noise hits both; the figure to read is the
//! ratio. After every hookscope run the journal must hold exactly one line per 200 the client
//! received (warm-up included): that is the proof the journal was on. The exit status is
//! non-zero when a check fails or a request errs.
//!
//! Columns: `req/s` counts 200s in the measured window; `p50`/`p99` are per-request latencies
//! (request sent to response body read); `CPU/req` is the server's user+system CPU time per
//! answer and `client` the load client's (from /proc, Linux only), which do not depend on how
//! the shared cores were split and so are the steadier figures on a small machine.

use std::convert::Infallible;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

#[path = "common/webhook.rs"]
mod webhook;

use webhook::{BODY_SIZE, HOOK_PATH, dolby_signature, payload};

/// The argument that turns this binary into the bare baseline server.
const BARE_SERVER_FLAG: &str = "--bare-server";

/// What the bare server answers, the same bytes hookscope answers by default.
const ANSWER: &[u8] = br#"{"ok":true}"#;

/// How long hookscope gets to exit after SIGTERM (its own grace period is 5 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// How the bench is configured (see the table in the header).
#[derive(Debug, Clone)]
struct Settings {
    /// Measured duration of one run.
    measured: Duration,
    /// Warm-up before each measured run, on the same connections.
    warmup: Duration,
    /// Keep-alive connections of the load client.
    connections: usize,
    /// Rounds of (bare, hookscope).
    rounds: usize,
    /// Where hookscope journals, when not in the temporary directory.
    out: Option<PathBuf>,
    /// Send no signature header, so hookscope recognises no provider and skips its analysis:
    /// a diagnostic, to tell the analysis' share of the cost.
    unsigned: bool,
    /// The hookscope binary to run, when not this build's (an older build, to compare).
    bin: Option<PathBuf>,
    /// Compare `listen --headless` with `listen` and its inspector on a pseudo-terminal,
    /// instead of the bare server with `listen --headless`.
    inspector: bool,
    /// Servers on CPU 0, the load client on CPU 1.
    pin: bool,
    /// Requests per second in all, on a fixed schedule, instead of as fast as answers come:
    /// for latency at a given load (each latency counts from when the request was due, so a
    /// server that falls behind is not flattered by the client waiting for it).
    rate: Option<usize>,
}

impl Settings {
    /// Reads the settings from the environment, then from `args`; unknown arguments (cargo
    /// passes `--bench`) are ignored, malformed values are an error.
    fn from_env_and_args(args: &[String]) -> Result<Self, String> {
        let mut settings = Settings {
            measured: setting("HOOKSCOPE_BENCH_SECS", Duration::from_secs(5), parse_seconds)?,
            warmup: setting("HOOKSCOPE_BENCH_WARMUP", Duration::from_secs(1), parse_seconds)?,
            connections: setting("HOOKSCOPE_BENCH_CONNS", 32, parse_count)?,
            rounds: setting("HOOKSCOPE_BENCH_ROUNDS", 2, parse_count)?,
            out: env("HOOKSCOPE_BENCH_OUT").map(PathBuf::from),
            unsigned: env("HOOKSCOPE_BENCH_UNSIGNED").is_some_and(|value| value != "0"),
            bin: env("HOOKSCOPE_BENCH_BIN").map(PathBuf::from),
            inspector: env("HOOKSCOPE_BENCH_INSPECTOR").is_some_and(|value| value != "0"),
            pin: env("HOOKSCOPE_BENCH_PIN").is_some_and(|value| value != "0"),
            rate: env("HOOKSCOPE_BENCH_RATE")
                .map(|text| parse_count("HOOKSCOPE_BENCH_RATE", &text))
                .transpose()?,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            if flag == "--unsigned" {
                settings.unsigned = true;
                continue;
            }
            if flag == "--inspector" {
                settings.inspector = true;
                continue;
            }
            if flag == "--pin" {
                settings.pin = true;
                continue;
            }
            if ![
                "--secs", "--warmup", "--conns", "--rounds", "--out", "--bin", "--rate",
            ]
            .contains(&flag)
            {
                continue; // `--bench` from cargo, or anything meant for someone else
            }
            let value = inline
                .or_else(|| args.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))?;
            match flag {
                "--secs" => settings.measured = parse_seconds(flag, &value)?,
                "--warmup" => settings.warmup = parse_seconds(flag, &value)?,
                "--conns" => settings.connections = parse_count(flag, &value)?,
                "--rounds" => settings.rounds = parse_count(flag, &value)?,
                "--bin" => settings.bin = Some(PathBuf::from(value)),
                "--rate" => settings.rate = Some(parse_count(flag, &value)?),
                _ => settings.out = Some(PathBuf::from(value)),
            }
        }
        if settings.measured.is_zero() {
            return Err("the measured duration must be more than 0 s".into());
        }
        Ok(settings)
    }
}

/// An environment variable, if set and not empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// The setting in environment variable `var` parsed with `parse`, or `default` when unset.
fn setting<T>(var: &str, default: T, parse: fn(&str, &str) -> Result<T, String>) -> Result<T, String> {
    env(var).map_or(Ok(default), |text| parse(var, &text))
}

/// Parses a number of seconds, fractions allowed; `name` is for the error.
fn parse_seconds(name: &str, text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| format!("{name}: {text:?} is not a number of seconds"))
}

/// Parses a positive whole number; `name` is for the error.
fn parse_count(name: &str, text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name}: {text:?} is not a positive whole number")),
    }
}

/// The baseline, run in a child process: read the whole body, answer 200 `{"ok":true}`.
///
/// The same `hyper_util` auto builder hookscope uses, on a default multi-thread runtime, and
/// nothing else: no capture, no journal, no printer. Prints its address on stdout.
fn run_bare_server() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the bare server needs a tokio runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the bare server cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("the bare server's listener has an address");
        println!("{addr}");
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    eprintln!("bare server: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true); // as hookscope does; a failure only costs latency
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    let status = match request.into_body().collect().await {
                        Ok(_) => StatusCode::OK,
                        Err(_) => StatusCode::BAD_REQUEST,
                    };
                    let mut response = Response::new(Full::new(Bytes::from_static(ANSWER)));
                    *response.status_mut() = status;
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    Ok::<_, Infallible>(response)
                });
                // A connection ending in an error (a client cut off) is not the baseline's business.
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// A server running as a child process; killed on drop, so a failing bench leaves nothing behind.
struct ServerProcess {
    /// How the server is named in the table.
    name: &'static str,
    /// The process.
    child: Process,
    /// Where it listens.
    addr: SocketAddr,
    /// For a server on a pseudo-terminal: its keyboard, and when the help overlay was last seen
    /// drawn (how the bench times a key's answer under load).
    keys: Option<Keys>,
    /// Collects the rest of the stream its address came on (hookscope: stderr), so the server
    /// never writes into a closed pipe; yields those lines once the process is gone.
    output: Option<JoinHandle<Vec<String>>>,
}

/// The process behind a server: a plain child, or one drawing on a pseudo-terminal.
enum Process {
    /// Started with `std::process::Command`, its output piped.
    Plain(Child),
    /// Started on a pseudo-terminal (hookscope's inspector), whose master end is kept open.
    Terminal {
        child: Box<dyn portable_pty::Child + Send + Sync>,
        _master: Box<dyn portable_pty::MasterPty + Send>,
    },
}

impl Process {
    /// Its process id.
    fn id(&self) -> u32 {
        match self {
            Process::Plain(child) => child.id(),
            Process::Terminal { child, .. } => child.process_id().unwrap_or(0),
        }
    }

    /// `Some(exited successfully)` once it has exited.
    fn try_wait(&mut self) -> io::Result<Option<(bool, String)>> {
        match self {
            Process::Plain(child) => Ok(child
                .try_wait()?
                .map(|status| (status.success(), status.to_string()))),
            Process::Terminal { child, .. } => Ok(child
                .try_wait()?
                .map(|status| (status.success(), status.to_string()))),
        }
    }

    /// Kills it and waits for it, best effort (it may exit in between).
    fn kill(&mut self) {
        match self {
            Process::Plain(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Process::Terminal { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// What the inspector draws on the help overlay's last line and nowhere else.
const HELP_MARKER: &[u8] = b"mouse:";

/// The keyboard of a server drawing on a pseudo-terminal, and the times its help overlay was
/// seen drawn.
#[derive(Clone)]
struct Keys {
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    help_drawn: Arc<Mutex<std::sync::mpsc::Receiver<Instant>>>,
}

impl Keys {
    /// Until `stop`, every half second: types `?` and times how long the help overlay takes to
    /// be drawn, then types `?` again to close it. Returns the times (a key that got no answer
    /// within 5 s counts as 5 s).
    fn probe(self, stop: Arc<std::sync::atomic::AtomicBool>) -> JoinHandle<Vec<Duration>> {
        thread::spawn(move || {
            let mut times = Vec::new();
            let Ok(drawn) = self.help_drawn.lock() else {
                return times;
            };
            let type_key = |key: &[u8]| {
                self.writer
                    .lock()
                    .map(|mut w| w.write_all(key).and_then(|()| w.flush()).is_ok())
                    .unwrap_or(false)
            };
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(500));
                while drawn.try_recv().is_ok() {}
                let typed = Instant::now();
                if !type_key(b"?") {
                    break;
                }
                let answered = drawn.recv_timeout(Duration::from_secs(5));
                times.push(answered.map_or(Duration::from_secs(5), |at| at.saturating_duration_since(typed)));
                type_key(b"?");
            }
            times
        })
    }
}

/// `n probes, median M, longest L` of key answer times.
fn key_summary(mut times: Vec<Duration>) -> String {
    times.sort();
    match (times.get(times.len() / 2), times.last()) {
        (Some(median), Some(longest)) => format!(
            "{} keys typed, help drawn after a median {:.1} ms, longest {:.1} ms",
            times.len(),
            median.as_secs_f64() * 1e3,
            longest.as_secs_f64() * 1e3
        ),
        _ => "no key typed".into(),
    }
}

impl ServerProcess {
    /// Starts `command` and reads `stream` (the child's stdout or stderr, piped) until `parse`
    /// finds the listening address in a line.
    fn start(
        name: &'static str,
        mut command: Command,
        stream: impl FnOnce(&mut Child) -> Option<Box<dyn Read + Send>>,
        parse: fn(&str) -> Option<&str>,
    ) -> Self {
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name} ({command:?}): {err}"));
        let stream = stream(&mut child).unwrap_or_else(|| panic!("{name}'s output is not piped"));
        let mut lines = BufReader::new(stream).lines();
        let mut seen = Vec::new();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let addr = parse(&line).map(|text| {
                        text.parse::<SocketAddr>()
                            .unwrap_or_else(|err| panic!("{name} printed {text:?}, not an address: {err}"))
                    });
                    seen.push(line);
                    if let Some(addr) = addr {
                        break addr;
                    }
                }
                Some(Err(err)) => panic!("cannot read {name}'s output: {err}"),
                None => {
                    let status = child.wait();
                    panic!(
                        "{name} exited ({status:?}) before saying where it listens; it said:\n{}",
                        seen.join("\n")
                    );
                }
            }
        };
        let output = thread::spawn(move || {
            seen.extend(lines.map_while(Result::ok));
            seen
        });
        Self {
            name,
            child: Process::Plain(child),
            addr,
            output: Some(output),
            keys: None,
        }
    }

    /// Starts `program args... --addr 127.0.0.1:PORT` on a `cols`x`rows` pseudo-terminal, reads
    /// and discards what it draws, and waits until it accepts connections on PORT (a port this
    /// bench found free: an inspector prints no address line to read).
    fn start_on_terminal(name: &'static str, program: &Path, args: &[&str], cols: u16, rows: u16) -> Self {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap_or_else(|err| panic!("cannot find a free port for {name}: {err}"));
        let pair = portable_pty::native_pty_system()
            .openpty(portable_pty::PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap_or_else(|err| panic!("cannot open a pseudo-terminal for {name}: {err}"));
        let mut command = match PINNED.get().copied().unwrap_or(false) {
            true => {
                let mut command = portable_pty::CommandBuilder::new("taskset");
                command.args(["-c", SERVER_CPU]);
                command.arg(program);
                command
            }
            false => portable_pty::CommandBuilder::new(program),
        };
        command.args(args);
        command.args(["--addr", &addr.to_string()]);
        command.env("TERM", "xterm-256color");
        command.cwd(std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")));
        let child = pair
            .slave
            .spawn_command(command)
            .unwrap_or_else(|err| panic!("cannot start {name} on a pseudo-terminal: {err}"));
        drop(pair.slave);
        let mut reader = pair
            .master
            .try_clone_reader()
            .unwrap_or_else(|err| panic!("cannot read {name}'s terminal: {err}"));
        let writer = pair
            .master
            .take_writer()
            .unwrap_or_else(|err| panic!("cannot type into {name}'s terminal: {err}"));
        // A terminal that is not read stops the program at its next frame: read it all, and
        // tell when the help overlay's last line is drawn.
        let (seen, help_drawn) = std::sync::mpsc::channel();
        let output = thread::spawn(move || {
            let mut buffer = vec![0u8; 64 * 1024];
            let mut carried = 0;
            while let Ok(n) = reader.read(&mut buffer[carried..]) {
                if n == 0 {
                    break;
                }
                let end = carried + n;
                if buffer[..end].windows(HELP_MARKER.len()).any(|w| w == HELP_MARKER) {
                    let _ = seen.send(Instant::now());
                    carried = 0;
                    continue;
                }
                // Keep the tail: the marker may straddle two reads.
                let keep = (HELP_MARKER.len() - 1).min(end);
                buffer.copy_within(end - keep..end, 0);
                carried = keep;
            }
            Vec::new()
        });
        let mut server = Self {
            name,
            child: Process::Terminal {
                child,
                _master: pair.master,
            },
            addr,
            output: Some(output),
            keys: Some(Keys {
                writer: Arc::new(Mutex::new(writer)),
                help_drawn: Arc::new(Mutex::new(help_drawn)),
            }),
        };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some((_, status))) = server.child.try_wait() {
                panic!("{name} exited ({status}) before listening on {addr}");
            }
            if Instant::now() > deadline {
                server.child.kill();
                panic!("{name} did not listen on {addr} within {STOP_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Asks the server to stop with SIGTERM (as a service manager would), waits for it and
    /// returns what it printed on the stream its address came on.
    fn terminate(&mut self) -> Result<Vec<String>, String> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|err| format!("cannot run kill(1) for {}: {err}", self.name))?;
        if !sent.success() {
            return Err(format!("kill -TERM {pid} ({}) failed: {sent}", self.name));
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some((true, _))) => break,
                Ok(Some((false, status))) => return Err(format!("{} exited with {status}", self.name)),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    return Err(format!(
                        "{} still running {STOP_TIMEOUT:?} after SIGTERM",
                        self.name
                    ));
                }
                Err(err) => return Err(format!("cannot wait for {}: {err}", self.name)),
            }
        }
        let output = self.output.take().map(JoinHandle::join).transpose();
        output
            .map(Option::unwrap_or_default)
            .map_err(|_| format!("the thread reading {}'s output panicked", self.name))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.child.kill();
        }
    }
}

/// What one load run saw, all connections together.
#[derive(Debug, Default)]
struct Tally {
    /// 200 answers during the warm-up.
    warmup_ok: u64,
    /// 200 answers during the measured window.
    ok: u64,
    /// Answers other than 200, warm-up included.
    not_ok: u64,
    /// Requests that got no answer (connection refused, reset...), warm-up included.
    errors: u64,
    /// The first error, to tell what went wrong.
    first_error: Option<String>,
    /// Latency of every answer in the measured window: request sent to body received.
    latencies: Vec<Duration>,
}

impl Tally {
    /// Counts an error, keeping the first one's text.
    fn error(&mut self, what: &str, err: impl std::fmt::Display) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| format!("{what}: {err}"));
    }

    /// Adds another connection's tally to this one.
    fn merge(&mut self, other: Tally) {
        self.warmup_ok += other.warmup_ok;
        self.ok += other.ok;
        self.not_ok += other.not_ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies.extend(other.latencies);
    }
}

/// The request every connection sends, over and over.
#[derive(Clone)]
struct Webhook {
    /// The JSON body.
    body: Bytes,
    /// Its `Dolby-Signature` header, unless unsigned.
    signature: Option<HeaderValue>,
}

impl Webhook {
    /// A POST of the body with the headers OptiView sends.
    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::post(HOOK_PATH)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("user-agent", "hookscope-bench/1");
        if let Some(signature) = &self.signature {
            request = request.header("dolby-signature", signature.clone());
        }
        request
            .body(Full::new(self.body.clone()))
            .expect("the webhook request is well-formed")
    }
}

/// One keep-alive connection sending `webhook` back to back: warm-up until `measure_from`,
/// measured until `until`. A request is only sent before `until`; the last one is awaited.
async fn drive_connection(
    addr: SocketAddr,
    webhook: Webhook,
    measure_from: Instant,
    until: Instant,
    schedule: Option<(Instant, Duration)>,
) -> Tally {
    let mut tally = Tally::default();
    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => {
            tally.error("connect", err);
            return tally;
        }
    };
    if let Err(err) = stream.set_nodelay(true) {
        tally.error("set_nodelay", err);
        return tally;
    }
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(handshake) => handshake,
        Err(err) => {
            tally.error("handshake", err);
            return tally;
        }
    };
    let connection = tokio::spawn(connection);
    let mut due = schedule.map(|(first, _)| first);
    loop {
        if let Err(err) = sender.ready().await {
            tally.error("connection closed", err);
            break;
        }
        // On a schedule, a request the last answer held past its time counts from when it was
        // due (the server's delay, not hidden by the client waiting for it); one sent on time
        // counts from when it is sent (the timer's millisecond lateness is the client's own).
        let sent = match (&mut due, schedule) {
            (Some(at), Some((_, interval))) => {
                let this = *at;
                *at += interval;
                match Instant::now() >= this {
                    true => this,
                    false => {
                        tokio::time::sleep_until(this.into()).await;
                        Instant::now()
                    }
                }
            }
            _ => Instant::now(),
        };
        if sent >= until {
            break;
        }
        let response = match sender.send_request(webhook.request()).await {
            Ok(response) => response,
            Err(err) => {
                tally.error("request", err);
                break;
            }
        };
        let status = response.status();
        if let Err(err) = response.into_body().collect().await {
            tally.error("response body", err);
            break;
        }
        let latency = sent.elapsed();
        let measured = sent >= measure_from;
        match (status == StatusCode::OK, measured) {
            (true, true) => tally.ok += 1,
            (true, false) => tally.warmup_ok += 1,
            (false, _) => tally.not_ok += 1,
        }
        if measured {
            tally.latencies.push(latency);
        }
    }
    drop(sender); // lets the connection close
    let _ = connection.await; // its outcome is already in the tally
    tally
}

/// The result of one measured run.
struct Run {
    /// Counts and latencies.
    tally: Tally,
    /// The measured window: from the end of the warm-up until the last answer.
    window: Duration,
}

impl Run {
    /// 200 answers per second of the measured window.
    fn rate(&self) -> f64 {
        self.tally.ok as f64 / self.window.as_secs_f64()
    }

    /// The latency below which a fraction `p` of the answers came (nearest rank).
    fn percentile(&self, p: f64) -> Duration {
        let sorted = &self.tally.latencies;
        match sorted.len() {
            0 => Duration::ZERO,
            n => sorted[((n as f64 * p).ceil() as usize).clamp(1, n) - 1],
        }
    }
}

/// Runs `settings.connections` connections against `addr`: warm-up, then the measured window.
async fn load(addr: SocketAddr, settings: &Settings, webhook: &Webhook) -> Run {
    let measure_from = Instant::now() + settings.warmup;
    let until = measure_from + settings.measured;
    // With --rate, each connection sends its share on a schedule, the connections' schedules
    // staggered so that the requests are spread evenly.
    let interval = settings
        .rate
        .map(|rate| Duration::from_secs_f64(settings.connections as f64 / rate as f64));
    let start = Instant::now();
    let tasks: Vec<_> = (0..settings.connections)
        .map(|n| {
            let schedule = interval.map(|interval| {
                let offset = interval.mul_f64(n as f64 / settings.connections as f64);
                (start + offset, interval)
            });
            tokio::spawn(drive_connection(
                addr,
                webhook.clone(),
                measure_from,
                until,
                schedule,
            ))
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        match task.await {
            Ok(connection) => tally.merge(connection),
            Err(err) => tally.error("client task", err),
        }
    }
    let window = measure_from.elapsed();
    tally.latencies.sort_unstable();
    Run { tally, window }
}

/// Counts the lines of a journal, reading it in chunks (it grows to gigabytes).
fn count_lines(path: &Path) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok(lines),
            n => lines += buffer[..n].iter().filter(|&&byte| byte == b'\n').count() as u64,
        }
    }
}

/// The journal line check after a hookscope run: lines in the file against 200s received.
fn journal_check(journal: Option<&Path>, acknowledged: u64) -> (bool, String) {
    let Some(path) = journal else {
        return (true, "skipped (--out)".into());
    };
    match count_lines(path) {
        Ok(lines) if lines == acknowledged => (true, format!("ok, {} lines", thousands(lines))),
        Ok(lines) => (
            false,
            format!(
                "MISMATCH: {} lines, {} 200s",
                thousands(lines),
                thousands(acknowledged)
            ),
        ),
        Err(err) => (false, format!("cannot read {}: {err}", path.display())),
    }
}

/// Checks the journal's last record is one of our webhooks, answered 200 and analyzed as
/// expected (OptiView when signed): the lines counted are this bench's captures.
fn check_last_record(path: &Path, provider: Option<&str>) -> Result<String, String> {
    let file = File::open(path).map_err(|err| format!("cannot open {}: {err}", path.display()))?;
    let mut last = None;
    for line in BufReader::with_capacity(1 << 20, file).lines() {
        last = Some(line.map_err(|err| format!("cannot read {}: {err}", path.display()))?);
    }
    let last = last.ok_or("the journal is empty")?;
    let record: serde_json::Value =
        serde_json::from_str(&last).map_err(|err| format!("the last line is not JSON: {err}"))?;
    let field = |name: &str| record.get(name).cloned().unwrap_or(serde_json::Value::Null);
    let (size, status, found) = (field("body_size"), field("status"), field("provider"));
    let text = format!("body_size {size}, status {status}, provider {found}");
    match size == BODY_SIZE && status == 200 && found.as_str() == provider {
        true => Ok(format!("last record: {text}")),
        false => Err(format!("unexpected last record: {text}")),
    }
}

/// CPU time a process has used so far (user + system, all threads), from /proc on Linux.
struct CpuClock {
    /// Clock ticks per second (`getconf CLK_TCK`).
    ticks_per_second: f64,
}

impl CpuClock {
    /// A clock, if this system has /proc and `getconf`.
    fn new() -> Option<Self> {
        let output = Command::new("getconf").arg("CLK_TCK").output().ok()?;
        let ticks = String::from_utf8(output.stdout)
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()?;
        (ticks > 0.0 && Path::new("/proc/self/stat").exists()).then_some(Self {
            ticks_per_second: ticks,
        })
    }

    /// CPU time used by process `pid` so far.
    fn used(&self, pid: u32) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        self.used_from(&stat)
    }

    /// CPU time used so far by each thread of process `pid`, by thread id, with its name.
    fn threads(&self, pid: u32) -> std::collections::HashMap<u32, (String, Duration)> {
        let mut threads = std::collections::HashMap::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return threads;
        };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            let name = stat
                .split_once('(')
                .and_then(|(_, rest)| rest.rsplit_once(')'))
                .map_or("?", |(name, _)| name);
            if let Some(used) = self.used_from(&stat) {
                threads.insert(tid, (name.to_owned(), used));
            }
        }
        threads
    }

    /// The user + system time in a `stat` line of /proc.
    fn used_from(&self, stat: &str) -> Option<Duration> {
        // The command name may hold spaces and parentheses: the fields start after the last ')'.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Duration::try_from_secs_f64((utime + stime) / self.ticks_per_second).ok()
    }
}

/// The CPU each group of threads (by name) used between two [`CpuClock::threads`] readings,
/// per answer, largest first: `tokio-rt-worker 14.2 µs, hookscope 4.1 µs, printer 1.3 µs`.
fn per_thread(
    before: &std::collections::HashMap<u32, (String, Duration)>,
    after: &std::collections::HashMap<u32, (String, Duration)>,
    answers: u64,
) -> String {
    let mut groups: Vec<(String, Duration)> = Vec::new();
    for (tid, (name, used)) in after {
        let since = used.saturating_sub(before.get(tid).map_or(Duration::ZERO, |(_, used)| *used));
        match groups.iter_mut().find(|(group, _)| group == name) {
            Some((_, total)) => *total += since,
            None => groups.push((name.clone(), since)),
        }
    }
    groups.sort_by_key(|group| std::cmp::Reverse(group.1));
    groups
        .iter()
        .filter(|(_, used)| !used.is_zero())
        .map(|(name, used)| {
            format!(
                "{name} {}",
                micros((answers > 0).then(|| used.div_f64(answers as f64)))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats a latency for the table: microseconds below a millisecond, else milliseconds.
fn latency(duration: Duration) -> String {
    match duration.as_micros() {
        0..1000 => format!("{} µs", duration.as_micros()),
        _ => format!("{:.2} ms", duration.as_secs_f64() * 1e3),
    }
}

/// Formats a CPU time per request in microseconds, `?` when unknown.
fn micros(duration: Option<Duration>) -> String {
    duration.map_or("?".into(), |duration| {
        format!("{:.1} µs", duration.as_secs_f64() * 1e6)
    })
}

/// Formats a whole number with thousands separators.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The CPU model, from /proc/cpuinfo where there is one.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// One row of the results.
struct Row {
    /// Which server: 0 bare, 1 hookscope.
    server: usize,
    /// Which round, from 1.
    round: usize,
    /// 200 answers per second.
    rate: f64,
    /// Median latency.
    p50: Duration,
    /// 99th percentile latency.
    p99: Duration,
    /// The server's CPU time per answer, warm-up included, when it could be read.
    cpu_per_request: Option<Duration>,
    /// The load client's CPU time per answer, likewise.
    client_per_request: Option<Duration>,
}

/// The columns of the results table: name, width, right-aligned.
const COLUMNS: [(&str, usize, bool); 11] = [
    ("server", 16, false),
    ("round", 5, true),
    ("req/s", 7, true),
    ("p50", 7, true),
    ("p99", 7, true),
    ("CPU/req", 7, true),
    ("client", 7, true),
    ("200s", 9, true),
    ("non-200", 7, true),
    ("errors", 6, true),
    ("journal check", 18, false),
];

/// Prints one line of the results table (Markdown, aligned for the terminal too).
fn table_line(cells: [&str; 11]) {
    let mut line = String::from("|");
    for ((_, width, right), cell) in COLUMNS.iter().zip(cells) {
        match right {
            true => line.push_str(&format!(" {cell:>width$} |")),
            false => line.push_str(&format!(" {cell:<width$} |")),
        }
    }
    println!("{line}");
}

/// Prints the table's header and its Markdown separator line.
fn table_header() {
    table_line(COLUMNS.map(|(name, _, _)| name));
    let mut line = String::from("|");
    for (_, width, right) in COLUMNS {
        match right {
            true => line.push_str(&format!(" {}:|", "-".repeat(width))),
            false => line.push_str(&format!(" {} |", "-".repeat(width))),
        }
    }
    println!("{line}");
}

/// Whether servers run on CPU 0 and the load client on CPU 1 (`--pin`).
static PINNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The CPU servers are pinned to under `--pin`, and the load client's.
const SERVER_CPU: &str = "0";
const CLIENT_CPU: &str = "1";

/// A command running `program`, on [`SERVER_CPU`] under `--pin` (through `taskset`, which
/// execs it: the pid is the server's).
fn server_command(program: &Path) -> Command {
    match PINNED.get().copied().unwrap_or(false) {
        true => {
            let mut command = Command::new("taskset");
            command.args(["-c", SERVER_CPU]).arg(program);
            command
        }
        false => Command::new(program),
    }
}

/// Pins this process, every thread it has and every one it makes after, to [`CLIENT_CPU`].
fn pin_load_client() -> Result<(), String> {
    let pid = std::process::id().to_string();
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", CLIENT_CPU, &pid])
        .stdout(Stdio::null())
        .status()
        .map_err(|err| format!("--pin needs taskset (util-linux): {err}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("taskset -a -p -c {CLIENT_CPU} {pid} failed: {status}")),
    }
}

/// The bare hyper server: this binary, re-executed with [`BARE_SERVER_FLAG`].
fn start_bare_server() -> ServerProcess {
    let mut bare = server_command(&std::env::current_exe().expect("cannot find this bench's own executable"));
    bare.arg(BARE_SERVER_FLAG)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    ServerProcess::start(
        "bare hyper",
        bare,
        |child| {
            child
                .stdout
                .take()
                .map(|out| Box::new(out) as Box<dyn Read + Send>)
        },
        |line| Some(line.trim()),
    )
}

/// `program listen --headless --addr 127.0.0.1:0 --out journal`, stdout to /dev/null.
fn start_headless(name: &'static str, program: &Path, journal: &Path) -> ServerProcess {
    let mut hookscope = server_command(program);
    hookscope
        .args(["listen", "--headless", "--addr", "127.0.0.1:0", "--out"])
        .arg(journal)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    ServerProcess::start(
        name,
        hookscope,
        |child| {
            child
                .stderr
                .take()
                .map(|err| Box::new(err) as Box<dyn Read + Send>)
        },
        |line| {
            let rest = line.strip_prefix("hookscope listening on http://")?;
            Some(rest.split_once(',').map_or(rest, |(addr, _)| addr))
        },
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == BARE_SERVER_FLAG) {
        return run_bare_server();
    }
    let settings = match Settings::from_env_and_args(&args) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("ingest bench: {err}");
            return ExitCode::FAILURE;
        }
    };
    let dir = tempfile::tempdir().expect("cannot create a temporary directory for the journal");
    let journal_path = settings
        .out
        .clone()
        .unwrap_or_else(|| dir.path().join("captures.jsonl"));
    // Lines are only counted in a journal of our own: `--out` may be /dev/null or a FIFO.
    let journal = settings.out.is_none().then_some(journal_path.as_path());
    if journal_path.is_file() {
        eprintln!(
            "ingest bench: {} already exists; give a new path",
            journal_path.display()
        );
        return ExitCode::FAILURE;
    }
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    let body = payload(created);
    let webhook = Webhook {
        signature: (!settings.unsigned).then(|| dolby_signature(created, &body)),
        body,
    };
    let cpu_clock = CpuClock::new();
    let _ = PINNED.set(settings.pin);
    if settings.pin {
        if thread::available_parallelism().map_or(0, usize::from) < 2 {
            eprintln!("ingest bench: --pin needs two CPUs");
            return ExitCode::FAILURE;
        }
        if let Err(err) = pin_load_client() {
            eprintln!("ingest bench: {err}");
            return ExitCode::FAILURE;
        }
    }

    let program = settings
        .bin
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hookscope")));
    // The baseline and the contender, run alternately; the contender's journal is checked.
    let (baseline, mut hookscope) = match settings.inspector {
        false => (
            start_bare_server(),
            start_headless("hookscope listen", &program, &journal_path),
        ),
        true => {
            let headless = dir.path().join("headless.jsonl");
            let out = journal_path.to_string_lossy().into_owned();
            (
                start_headless("listen --headless", &program, &headless),
                ServerProcess::start_on_terminal(
                    "listen + inspector",
                    &program,
                    &["listen", "--out", &out],
                    160,
                    45,
                ),
            )
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the load client needs a tokio runtime");
    println!(
        "ingest: POST {} {} B JSON ({}), {} keep-alive HTTP/1.1 connections{}, {:?} warm-up + {:?} \
         measured per run, {} round(s) of {} then {}",
        HOOK_PATH,
        webhook.body.len(),
        match settings.unsigned {
            false => "OptiView channel.started with Dolby-Signature",
            true => "OptiView channel.started, UNSIGNED",
        },
        settings.connections,
        settings
            .rate
            .map_or(String::from(" as fast as answered"), |rate| format!(
                " at {rate} req/s in all on a fixed schedule (a late request's latency from when it was due)"
            )),
        settings.warmup,
        settings.measured,
        settings.rounds,
        baseline.name,
        hookscope.name,
    );
    println!(
        "machine: {} CPUs ({}), {}",
        thread::available_parallelism().map_or(0, usize::from),
        cpu_model(),
        match settings.pin {
            true => "pinned: each server on CPU 0, the load client on CPU 1 (taskset)",
            false => "shared by the load client and both servers",
        }
    );
    println!(
        "hookscope: {} --out {}",
        program.display(),
        journal_path.display()
    );
    println!();
    table_header();

    let mut failed = false;
    let mut rows = Vec::new();
    let mut hookscope_acknowledged = 0u64;
    let mut errors = Vec::new();
    let mut thread_lines = Vec::new();
    for round in 1..=settings.rounds {
        for (index, server) in [&baseline, &hookscope].into_iter().enumerate() {
            // CPU time of the server and of this process (the load client) over the run.
            let pids = [server.child.id(), std::process::id()];
            let cpu = || pids.map(|pid| cpu_clock.as_ref().and_then(|clock| clock.used(pid)));
            let threads = || {
                cpu_clock
                    .as_ref()
                    .map(|clock| clock.threads(server.child.id()))
                    .unwrap_or_default()
            };
            let (before, threads_before) = (cpu(), threads());
            // An inspector is typed at while it is under load: does it answer?
            let stop_keys = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let prober = server.keys.clone().map(|keys| keys.probe(stop_keys.clone()));
            let run = runtime.block_on(load(server.addr, &settings, &webhook));
            let (after, threads_after) = (cpu(), threads());
            stop_keys.store(true, std::sync::atomic::Ordering::Relaxed);
            if let Some(times) = prober.and_then(|p| p.join().ok()) {
                thread_lines.push(format!(
                    "{} round {round}, under load: {}",
                    server.name,
                    key_summary(times)
                ));
            }
            let answers = run.tally.warmup_ok + run.tally.ok + run.tally.not_ok;
            thread_lines.push(format!(
                "{} round {round}, CPU per request by thread: {}",
                server.name,
                per_thread(&threads_before, &threads_after, answers)
            ));
            let [cpu_per_request, client_per_request] = [0, 1].map(|i| match (before[i], after[i]) {
                (Some(before), Some(after)) if answers > 0 => {
                    Some(after.saturating_sub(before).div_f64(answers as f64))
                }
                _ => None,
            });
            let check = match index {
                1 => {
                    hookscope_acknowledged += run.tally.warmup_ok + run.tally.ok;
                    let (ok, text) = journal_check(journal, hookscope_acknowledged);
                    failed |= !ok;
                    text
                }
                _ => "-".into(),
            };
            failed |= run.tally.errors > 0 || run.tally.not_ok > 0 || run.tally.ok == 0;
            if let Some(error) = &run.tally.first_error {
                errors.push(format!("{} round {round}: {error}", server.name));
            }
            let row = Row {
                server: index,
                round,
                rate: run.rate(),
                p50: run.percentile(0.50),
                p99: run.percentile(0.99),
                cpu_per_request,
                client_per_request,
            };
            table_line([
                server.name,
                &round.to_string(),
                &thousands(row.rate.round() as u64),
                &latency(row.p50),
                &latency(row.p99),
                &micros(row.cpu_per_request),
                &micros(row.client_per_request),
                &thousands(run.tally.ok),
                &run.tally.not_ok.to_string(),
                &run.tally.errors.to_string(),
                &check,
            ]);
            rows.push(row);
        }
    }
    drop(runtime);

    println!();
    for line in &thread_lines {
        println!("{line}");
    }
    println!();
    for error in &errors {
        println!("first error, {error}");
    }
    let ratio = |numerator: f64, denominator: f64| match denominator > 0.0 {
        true => format!("{:.2}", numerator / denominator),
        false => "?".into(),
    };
    for round in 1..=settings.rounds {
        let of = |server: usize| rows.iter().find(|row| row.server == server && row.round == round);
        if let (Some(bare), Some(hook)) = (of(0), of(1)) {
            let cpu = match (hook.cpu_per_request, bare.cpu_per_request) {
                (Some(hook), Some(bare)) => ratio(hook.as_secs_f64(), bare.as_secs_f64()),
                _ => "?".into(),
            };
            println!(
                "round {round}: {} / {}: req/s {}, p50 {}x, p99 {}x, CPU per request {}x",
                hookscope.name,
                baseline.name,
                ratio(hook.rate, bare.rate),
                ratio(hook.p50.as_secs_f64(), bare.p50.as_secs_f64()),
                ratio(hook.p99.as_secs_f64(), bare.p99.as_secs_f64()),
                cpu,
            );
        }
    }
    let best = |server: usize| {
        rows.iter()
            .filter(|row| row.server == server)
            .map(|row| row.rate)
            .fold(0.0f64, f64::max)
    };
    let (best_bare, best_hookscope) = (best(0), best(1));
    // Against the bare server the restated target is CPU per request (#17); against headless,
    // the inspector's cost in req/s (#20).
    let target = if settings.inspector { 0.90 } else { 0.80 };
    println!(
        "best-of ratio {} / {}: {} ({} / {} req/s); target >= {target:.2}: {}",
        hookscope.name,
        baseline.name,
        ratio(best_hookscope, best_bare),
        thousands(best_hookscope.round() as u64),
        thousands(best_bare.round() as u64),
        if best_hookscope >= target * best_bare {
            "met"
        } else {
            "NOT met"
        }
    );

    // Stop hookscope as a service manager would; it must flush and say how many it captured.
    match hookscope.terminate() {
        Ok(said) => {
            let summary = said.iter().find(|line| line.starts_with("captured "));
            println!(
                "hookscope at exit: {}",
                summary.map_or("(no summary line)", String::as_str)
            );
            for line in said
                .iter()
                .filter(|line| line.contains("WARN") || line.contains("ERROR"))
            {
                println!("hookscope: {line}");
            }
        }
        Err(err) => {
            println!("hookscope did not stop cleanly: {err}");
            failed = true;
        }
    }
    let (ok, text) = journal_check(journal, hookscope_acknowledged);
    failed |= !ok;
    println!(
        "journal check after exit: {text} for {} 200s received",
        thousands(hookscope_acknowledged)
    );
    if let Some(path) = journal {
        let provider = (!settings.unsigned).then_some("optiview");
        match check_last_record(path, provider) {
            Ok(text) => println!("journal check: {text}"),
            Err(text) => {
                println!("journal check: {text}");
                failed = true;
            }
        }
    }
    drop(baseline);
    match failed {
        true => {
            println!("FAILED: a check did not pass or requests failed (see above)");
            ExitCode::FAILURE
        }
        false => ExitCode::SUCCESS,
    }
}
