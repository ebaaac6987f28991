//! Where the README's examples run: a temporary directory with `hookscope` on `PATH`, a local
//! app standing in for the one you develop, the servers the examples start, and the
//! substitutions that point the examples at them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use hookscope::capture::Capture;

use crate::common::{self, LocalApp, Seen};

/// What the app under development is told to answer.
#[derive(Default)]
pub struct Control {
    /// Answer `fail_status` to this many requests.
    fail_next: AtomicUsize,
    fail_status: AtomicU16,
    /// Answer 500 to Stripe's requests.
    pub fail_stripe: AtomicBool,
}

impl Control {
    pub fn fail_next(&self, n: usize, status: u16) {
        self.fail_status.store(status, Ordering::SeqCst);
        self.fail_next.store(n, Ordering::SeqCst);
    }

    fn answer(&self, seen: &Seen) -> u16 {
        let failing = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return self.fail_status.load(Ordering::SeqCst);
        }
        match self.fail_stripe.load(Ordering::SeqCst) && seen.header("stripe-signature").is_some() {
            true => 500,
            false => 200,
        }
    }
}

/// The local app, and how many of its requests the walk has looked at.
pub struct App {
    app: LocalApp,
    taken: usize,
}

impl App {
    pub fn url(&self) -> String {
        self.app.url()
    }

    /// The requests received since the last take.
    pub fn take(&mut self) -> Vec<Seen> {
        let seen = self.app.seen();
        let new = seen[self.taken..].to_vec();
        self.taken = seen.len();
        new
    }
}

/// A temporary directory where the examples run, with what they talk to.
pub struct Sandbox {
    /// The examples' working directory.
    pub dir: tempfile::TempDir,
    /// The app `http://127.0.0.1:3000` stands for.
    pub app: App,
    /// What the app answers.
    pub control: Arc<Control>,
    /// The quick start's listener, while it runs.
    pub listener: Option<Server>,
    /// The relay, while it runs.
    pub relay: Option<Server>,
    /// The token `relay token create` printed.
    pub token: Option<String>,
}

/// What a finished command printed, and its exit status.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code, when it exited.
    pub status: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["bin", "home", "state", "config"] {
            std::fs::create_dir(dir.path().join(sub)).expect("sandbox directory");
        }
        // `hookscope` on PATH: records its pid (for SIGTERM) in $HOOKSCOPE_PIDS, then is the binary.
        let wrapper = dir.path().join("bin/hookscope");
        let script = format!(
            "#!/bin/sh\necho $$ >> \"$HOOKSCOPE_PIDS\"\nexec '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_hookscope")
        );
        std::fs::write(&wrapper, script).expect("wrapper");
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&wrapper, mode).expect("chmod");
        let control = Arc::new(Control::default());
        let answer = control.clone();
        let app = LocalApp::start_on(
            "127.0.0.1:0".parse().expect("address"),
            Arc::new(move |seen, _| (answer.answer(seen), Duration::ZERO)),
        );
        Self {
            dir,
            app: App { app, taken: 0 },
            control,
            listener: None,
            relay: None,
            token: None,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn home_file(&self, name: &str) -> String {
        std::fs::read_to_string(self.path("home").join(name)).unwrap_or_else(|err| panic!("~/{name}: {err}"))
    }

    pub fn journal_text(&self) -> String {
        std::fs::read_to_string(self.path("captures.jsonl")).expect("captures.jsonl")
    }

    pub fn captures(&self) -> Vec<Capture> {
        common::captures_in(&self.path("captures.jsonl"))
    }

    pub fn count(&self, which: impl Fn(&Capture) -> bool) -> usize {
        self.captures().iter().filter(|c| which(c)).count()
    }

    /// Waits until the app has received `n` requests since the last look through `server`,
    /// and takes them.
    pub fn app_wait(&mut self, n: usize, server: &Server) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.app.app.seen().len() < self.app.taken + n {
            assert!(
                Instant::now() < deadline,
                "{}: the app did not get {n} requests; stderr:\n{}",
                server.example,
                server.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
        self.app.take()
    }

    /// The example as this sandbox runs it (see the module's documentation).
    pub fn substitute(&self, example: &str) -> String {
        let mut line = example
            .replace("cargo run --release -- ", "hookscope ")
            .replace("cargo run -- ", "hookscope ")
            .replace("--addr 127.0.0.1:9000", "--addr 127.0.0.1:0")
            .replace("--addr 0.0.0.0:443", "--addr 127.0.0.1:0")
            .replace("http://127.0.0.1:3000", &self.app.url())
            .replace("/var/lib/hookscope-relay", "relay-data");
        if line.contains("hookscope listen") && !line.contains("--addr") {
            line = line.replace("hookscope listen", "hookscope listen --addr 127.0.0.1:0");
        }
        if let Some(listener) = &self.listener {
            line = line.replace("http://127.0.0.1:8080", &format!("http://{}", listener.addr));
        }
        if let Some(relay) = &self.relay {
            let url = format!("https://localhost:{} --relay-ca fullchain.pem", relay.addr.port());
            line = line.replace("https://relay.example.com", &url);
        }
        if let Some(token) = &self.token {
            line = line.replace("hst_...", token);
        }
        line
    }

    fn bash(&self, example: &str, pids: &Path) -> Command {
        let line = self.substitute(example);
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("bash");
        command
            .args(["-o", "pipefail", "-c", &line])
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("HOME", self.path("home"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("HOOKSCOPE_PIDS", pids)
            .env("MILLICAST_SECRET", "bWlsbGljYXN0LXJlYWRtZS1zZWNyZXQ=")
            .env("OPTIVIEW_SECRET", "dolby_sec_test")
            .env("STRIPE_SECRET", "whsec_readme_test")
            .env_remove("RUST_LOG")
            .env_remove("HOOKSCOPE_RELAY_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs a command to its end and checks its exit status.
    pub fn run(&self, example: &str, status: i32) -> Outcome {
        let pids = self.path("pids-run");
        let _ = std::fs::remove_file(&pids);
        let mut child = self.bash(example, &pids).spawn().expect("run bash");
        let stdout = read_all(child.stdout.take());
        let stderr = read_all(child.stderr.take());
        let deadline = Instant::now() + Duration::from_secs(60);
        let exit = loop {
            if let Some(exit) = child.try_wait().expect("wait") {
                break exit;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{example}: still running after 60 s");
            }
            thread::sleep(Duration::from_millis(10));
        };
        let outcome = Outcome {
            status: exit.code(),
            signal: std::os::unix::process::ExitStatusExt::signal(&exit),
            stdout: stdout.join().expect("stdout"),
            stderr: stderr.join().expect("stderr"),
        };
        assert_eq!(
            (outcome.status, outcome.signal),
            (Some(status), None),
            "{example}\n  ran as: {}\n{outcome:#?}",
            self.substitute(example)
        );
        outcome
    }

    /// Starts a server (`listen`, `relay`) and waits for the address it announces.
    pub fn serve(&self, example: &str) -> Server {
        // A file of its own: a relay and a listener can run at once.
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let pids = self.path(&format!("pids-{}", SERVERS.fetch_add(1, Ordering::SeqCst)));
        let mut child = self.bash(example, &pids).spawn().expect("run bash");
        let stdout = read_all(child.stdout.take());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (announce, announced) = mpsc::channel();
        let input = child.stderr.take().expect("piped stderr");
        let seen = lines.clone();
        let stderr = thread::spawn(move || {
            for line in BufReader::new(input).lines().map_while(Result::ok) {
                let address = line.split("listening on ").nth(1).map(|rest| {
                    let url = rest.split(',').next().unwrap_or_default();
                    url.split("://").nth(1).unwrap_or_default().to_owned()
                });
                seen.lock().expect("stderr lock").push(line);
                if let Some(address) = address {
                    let _ = announce.send(address);
                }
            }
        });
        let Ok(addr) = announced.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("{example}: no address announced; stderr: {:?}", lines.lock());
        };
        Server {
            example: example.to_owned(),
            addr: addr.parse().expect("a socket address"),
            child,
            pids,
            stdout,
            stderr,
            lines,
        }
    }

    /// `hookscope send PROVIDER EVENT` to `server` (Dyte with the key `keygen` made).
    pub fn send_sample(&self, server: &Server, provider: &str, event: &str) {
        let mut send = common::binary();
        send.args([
            "send",
            provider,
            event,
            "--to",
            &format!("http://{}/hooks", server.addr),
        ]);
        if provider == "dyte" {
            send.args(["--key", "dyte-private.pem"]);
        }
        let out = send
            .current_dir(self.dir.path())
            .output()
            .expect("run hookscope send");
        assert!(out.status.success(), "{out:?}");
    }
}

/// Reads a pipe to its end on a thread of its own.
fn read_all(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    let mut pipe = pipe.expect("a piped stream");
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A server started by an example, until it is stopped.
pub struct Server {
    example: String,
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    /// The file the wrapper wrote the process ids of the hookscope it ran to.
    pids: PathBuf,
    stdout: thread::JoinHandle<String>,
    stderr: thread::JoinHandle<()>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn stderr(&self) -> String {
        self.lines.lock().expect("stderr lock").join("\n")
    }

    /// SIGTERM to the hookscope it runs; it must exit 0.
    pub fn stop(mut self) -> Outcome {
        let pids = std::fs::read_to_string(&self.pids).expect("the wrapper's pid file");
        for pid in pids.lines() {
            // listen and relay announce their address before they watch for SIGTERM, and one
            // sent in between ends them as it would any program (exit by signal, no summary).
            // Wait until the kernel says SIGTERM is caught.
            let deadline = Instant::now() + Duration::from_secs(20);
            while !catches_sigterm(pid) {
                assert!(
                    Instant::now() < deadline,
                    "{}: never caught SIGTERM",
                    self.example
                );
                thread::sleep(Duration::from_millis(5));
            }
            let sent = Command::new("kill").args(["-TERM", pid]).status().expect("kill");
            assert!(sent.success(), "kill -TERM {pid}");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "{}: did not stop on SIGTERM",
                self.example
            );
            thread::sleep(Duration::from_millis(10));
        };
        self.stderr.join().expect("stderr reader");
        let outcome = Outcome {
            status: exit.code(),
            signal: std::os::unix::process::ExitStatusExt::signal(&exit),
            stdout: self.stdout.join().expect("stdout"),
            stderr: self.lines.lock().expect("stderr lock").join("\n"),
        };
        assert_eq!(
            (outcome.status, outcome.signal),
            (Some(0), None),
            "{}: {outcome:#?}",
            self.example
        );
        outcome
    }
}

/// Whether process `pid` has a handler for SIGTERM (bit 14 of `SigCgt` in its status).
fn catches_sigterm(pid: &str) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let caught = status.lines().find_map(|line| line.strip_prefix("SigCgt:"));
    caught
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << 14) != 0)
}

/// A response read off the wire.
pub struct Answer {
    /// The status code.
    pub status: u16,
    headers: Vec<(String, String)>,
    /// The body's bytes.
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        let found = self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.clone())
    }
}

/// A JSON POST of `body` to `target` on one connection, closed after the answer.
pub fn post(addr: SocketAddr, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut request = format!(
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    stream.write_all(body).expect("send body");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read the answer");
    let mut parsed = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut parsed);
    let Ok(httparse::Status::Complete(head)) = response.parse(&bytes) else {
        panic!("no answer: {:?}", String::from_utf8_lossy(&bytes));
    };
    Answer {
        status: response.code.unwrap_or_default(),
        headers: response
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
            .collect(),
        body: bytes[head..].to_vec(),
    }
}

/// A captured header's value, as text.
pub fn header(capture: &Capture, name: &str) -> Option<String> {
    let found = capture.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name));
    found.map(|h| String::from_utf8_lossy(&h.value).into_owned())
}
