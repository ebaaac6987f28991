//! The deployment files in `deploy/` start the relay as they say: each command line they hold
//! (the systemd unit's `ExecStart`, the Caddy override in `deploy/README.md`, the container's
//! `CMD` and its documented `docker run`) is run against this build, on loopback, with the
//! address, data directory and certificate paths swapped for the test's; and the ports they
//! share (Caddy's upstream, the container's published and listening ports) agree.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn deploy(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The value of `--flag` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|at| args.get(at + 1))
        .map(String::as_str)
}

/// The port of an address such as `0.0.0.0:8080` or `127.0.0.1:7000`.
fn port(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("{addr:?} has no port"))
}

/// A certificate and key for `localhost`, written under `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write cert");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write key");
    (cert, key)
}

/// Runs `hookscope ARGS` (the words after the program) with `--addr` made `127.0.0.1:0` and
/// `--data-dir` a fresh directory, waits until it says where it listens, stops it with SIGTERM
/// and returns the scheme it announced. Every other flag is kept as written.
fn start_and_stop(args: &[String], replace: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let data = data.to_string_lossy().into_owned();
    let mut args: Vec<String> = args
        .iter()
        .map(|arg| {
            replace
                .iter()
                .fold(arg.clone(), |arg, (from, to)| arg.replace(from, to))
        })
        .collect();
    for (name, value) in [("--addr", "127.0.0.1:0"), ("--data-dir", data.as_str())] {
        let at = args
            .iter()
            .position(|arg| arg == name)
            .unwrap_or_else(|| panic!("{args:?} has no {name}"));
        args[at + 1] = value.to_owned();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookscope"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the relay");
    let (addr, stderr) = common::announced_address(&mut child);
    assert!(addr.ip().is_loopback(), "{addr}");
    // The address is handed over before its line is kept: wait for the line itself.
    let scheme = common::wait_for("the listening line", std::time::Duration::from_secs(10), || {
        let lines = stderr.lock().expect("stderr");
        lines.iter().find_map(|line| {
            let rest = line.split("listening on ").nth(1)?;
            Some(rest.split("://").next()?.to_owned())
        })
    });
    let said = stderr.lock().expect("stderr").join("\n");
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "{args:?} exited with {status}: {said}");
    scheme
}

/// The words of the first non-empty `ExecStart=` in `text`.
fn exec_start(text: &str) -> Vec<String> {
    let line = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ExecStart="))
        .find(|value| !value.trim().is_empty())
        .expect("an ExecStart with a command");
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn the_systemd_unit_starts_the_relay_over_https() {
    let unit = deploy("hookscope-relay.service");
    let words = exec_start(&unit);
    assert_eq!(words[0], "/usr/local/bin/hookscope", "{words:?}");
    assert_eq!(flag(&words, "--addr"), Some("0.0.0.0:443"));
    assert!(
        unit.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE"),
        "port 443 needs it"
    );
    assert!(unit.contains("LoadCredential=cert:") && unit.contains("LoadCredential=key:"));
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = certificate(dir.path());
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).expect("credentials dir");
    std::fs::copy(cert, credentials.join("cert")).expect("cert");
    std::fs::copy(key, credentials.join("key")).expect("key");
    let credentials = credentials.to_string_lossy().into_owned();
    let scheme = start_and_stop(&words[1..], &[("${CREDENTIALS_DIRECTORY}", credentials.as_str())]);
    assert_eq!(scheme, "https");
}

#[test]
fn behind_caddy_the_relay_listens_where_caddy_proxies_and_trusts_its_hop() {
    let caddy = deploy("Caddyfile");
    let upstream = caddy
        .lines()
        .find_map(|line| line.trim().strip_prefix("reverse_proxy "))
        .expect("a reverse_proxy line")
        .trim()
        .to_owned();
    let page = deploy("README.md");
    let words = exec_start(&page);
    assert_eq!(flag(&words, "--addr"), Some(upstream.as_str()), "{words:?}");
    assert!(upstream.starts_with("127.0.0.1:"), "loopback only: {upstream}");
    assert!(words.iter().any(|w| w == "--trust-proxy"), "{words:?}");
    assert_eq!(start_and_stop(&words[1..], &[]), "http");
}

/// The `["…", "…"]` array after `instruction` in the Containerfile.
fn exec_form(containerfile: &str, instruction: &str) -> Vec<String> {
    let line = containerfile
        .lines()
        .find_map(|line| line.strip_prefix(instruction))
        .unwrap_or_else(|| panic!("no {instruction}"));
    line.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|word| word.trim().trim_matches('"').to_owned())
        .collect()
}

#[test]
fn the_container_runs_the_relay_on_its_exposed_port_with_its_volume() {
    let file = deploy("Containerfile");
    assert_eq!(exec_form(&file, "ENTRYPOINT "), ["/hookscope"]);
    let cmd = exec_form(&file, "CMD ");
    let exposed = file
        .lines()
        .find_map(|line| line.strip_prefix("EXPOSE "))
        .and_then(|port| port.trim().parse::<u16>().ok())
        .expect("an EXPOSE line");
    assert_eq!(port(flag(&cmd, "--addr").expect("--addr")), exposed);
    assert_eq!(flag(&cmd, "--data-dir"), Some("/data"));
    assert!(file.contains("VOLUME /data"));
    assert!(
        !cmd.iter().any(|w| w == "--trust-proxy"),
        "not by default: {cmd:?}"
    );
    assert_eq!(start_and_stop(&cmd, &[]), "http");

    // The page's `docker run`: published on Caddy's upstream, to the container's port.
    let page = deploy("README.md");
    let run = page
        .split("docker run -d ")
        .nth(1)
        .expect("a docker run in the page")
        .replace("\\\n", " ");
    let run: Vec<String> = run
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let published = flag(&run, "-p").expect("-p");
    let (outside, inside) = published.rsplit_once(':').expect("HOST:CONTAINER");
    let caddy = deploy("Caddyfile");
    assert!(caddy.contains(&format!("reverse_proxy {outside}")), "{outside}");
    let image = run.iter().position(|w| w == "hookscope").expect("the image");
    let args = &run[image + 1..];
    assert_eq!(
        Some(port(flag(args, "--addr").expect("--addr"))),
        inside.parse().ok(),
        "{run:?}"
    );
    assert_eq!(start_and_stop(args, &[]), "http");
}
