//! The README's examples, run: every command line in its ```sh and ```bash blocks is either run
//! here, by bash, against local listeners in a temporary directory and held to what the README
//! says of it, or listed in [`NOT_RUN`] with the reason. A new example that is neither fails
//! [`every_readme_example_is_run_or_listed_as_not_run`]: a promise in the README is a test.
//!
//! The commands run as written, with `hookscope` on `PATH` (a wrapper that records its process
//! id, then execs the binary under test) and these substitutions, so nothing needs a fixed port
//! or the internet:
//! - `cargo run [--release] --` is the binary under test (it is what cargo builds and runs);
//! - `listen` and `relay` get `--addr 127.0.0.1:0` (replacing a documented `--addr`), and the
//!   address each announces replaces `http://127.0.0.1:8080`;
//! - `http://127.0.0.1:3000` (the app you are developing) is a local app that records requests;
//! - the relay's `/var/lib/hookscope-relay` is `relay-data`, `https://relay.example.com` the local
//!   relay (serving a certificate made here, so the client also gets `--relay-ca fullchain.pem`),
//!   and `hst_...` the token `relay token create` printed;
//! - `$HOME` is a fresh directory, and `MILLICAST_SECRET`, `OPTIVIEW_SECRET` and `STRIPE_SECRET`
//!   are set, as the examples assume.

mod common;
#[path = "readme/sandbox.rs"]
mod sandbox;
#[path = "readme/steps.rs"]
mod steps;

use sandbox::Sandbox;
use steps::RUN;

/// The examples not run, and why.
const NOT_RUN: &[(&str, &str)] = &[
    ("cargo test", "runs this very suite"),
    (
        "cargo install --locked --path .",
        "builds a release binary for minutes and writes ~/.cargo/bin; what it installs is the binary run here",
    ),
    (
        "cargo fmt --check && cargo clippy --all-targets -- -D warnings",
        "lints the source (CI runs it)",
    ),
    ("bash .ci/run", "CI itself: the whole suite, for minutes"),
    (
        "cargo bench --bench ingest",
        "a benchmark of minutes; its figures are in BENCHMARKS.md",
    ),
    (
        "cargo bench --bench tui_scale",
        "a benchmark of minutes over a 1.5 GB journal; its figures are in BENCHMARKS.md",
    ),
    (
        "cargo bench --bench replay",
        "a benchmark of minutes; its figures are in BENCHMARKS.md",
    ),
    (
        "INSTA_UPDATE=always cargo test --lib tui::",
        "rewrites the inspector's snapshots in the source tree",
    ),
    (
        "cargo install cargo-fuzz",
        "downloads and builds a tool from crates.io (needs the internet)",
    ),
    (
        "RUSTC_BOOTSTRAP=1 cargo fuzz run signature_headers -- -max_total_time=60",
        "needs cargo-fuzz and a minute; the same harnesses run over crafted inputs in cargo test",
    ),
    (
        "RUSTC_BOOTSTRAP=1 cargo fuzz run filter_parser -- -max_total_time=60",
        "needs cargo-fuzz and a minute; the same harnesses run over crafted inputs in cargo test",
    ),
    (
        "RUSTC_BOOTSTRAP=1 cargo fuzz run export_quoting -- -max_total_time=60",
        "needs cargo-fuzz and a minute; the same harnesses run over crafted inputs in cargo test",
    ),
    (
        "RUSTC_BOOTSTRAP=1 cargo fuzz run output_escaping -- -max_total_time=60",
        "needs cargo-fuzz and a minute; the same harnesses run over crafted inputs in cargo test",
    ),
    (
        "hookscope listen --public cloudflared",
        "needs cloudflared and the internet; tests/public.rs runs it with a stand-in that prints cloudflared's log",
    ),
    (
        "hookscope listen --public ngrok",
        "needs ngrok, an account and the internet; tests/public.rs runs it with a stand-in that prints ngrok's JSON log",
    ),
    (
        "hookscope listen --smee https://smee.io/AbC123xyz",
        "needs smee.io (the internet); tests/smee.rs runs it against a local server speaking smee's protocol",
    ),
    (
        "hookscope listen --public cloudflared --register optiview",
        "needs an OptiView API token, cloudflared and the internet; tests/register.rs registers against a stand-in of OptiView's API",
    ),
    (
        "hookscope listen --relay https://relay.example.com --channel myapp --register millicast --events feeds,recording",
        "needs a Millicast API secret and the internet; tests/register.rs runs it through a local relay against a stand-in of Millicast's API",
    ),
    (
        "hookscope listen --public-url https://hooks.example.com --register optiview --events channel.created,engine.error",
        "needs an OptiView API token and the internet; tests/register.rs runs --public-url against a stand-in",
    ),
    (
        "hookscope registrations",
        "lists the user's own record of registrations; tests/register.rs runs it over a record of its own",
    ),
    (
        "hookscope registrations --cleanup",
        "removes webhooks at the platforms (credentials, the internet); tests/register.rs runs it against a stand-in",
    ),
    (
        "hookscope listen --forward https://localhost:3443 --ca \"$(mkcert -CAROOT)/rootCA.pem\"",
        "needs mkcert and an app serving https://localhost:3443; tests/https.rs forwards to an HTTPS app whose certificate a CA made in the test issued, with --ca that CA",
    ),
    (
        "hookscope listen --forward https://localhost:3443 --insecure",
        "needs an app serving https://localhost:3443; tests/https.rs forwards to an HTTPS app with --insecure and checks what says so",
    ),
    (
        "hookscope replay captures.jsonl --to https://localhost:3443 --ca \"$(mkcert -CAROOT)/rootCA.pem\"",
        "needs mkcert and an app serving https://localhost:3443; tests/https.rs replays to an HTTPS app with --ca, without it, and with --insecure",
    ),
    (
        "mkcert localhost 127.0.0.1",
        "needs mkcert; tests/readme.rs makes the same pair with rcgen before serving it",
    ),
    (
        "hookscope listen --smee new",
        "asks smee.io for a channel (the internet); tests/smee.rs creates one on a local stand-in",
    ),
];

/// The README, as it is now.
fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// Every command line of the README's ```sh and ```bash blocks: continuation lines joined,
/// comments left out.
fn readme_commands() -> Vec<String> {
    let readme = readme();
    let mut commands = Vec::new();
    let mut fence: Option<&str> = None;
    let mut pending = String::new();
    for line in readme.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            fence = match fence {
                None => Some(lang.trim()),
                Some(_) => None,
            };
            continue;
        }
        if !matches!(fence, Some("sh" | "bash")) {
            continue;
        }
        let code = without_comment(line).trim();
        match code.strip_suffix('\\') {
            Some(head) => pending.push_str(&format!("{} ", head.trim())),
            None if code.is_empty() && pending.is_empty() => {}
            None => {
                pending.push_str(code);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

/// `line` up to a `#` that starts a shell comment (at the start or after a blank, unquoted).
fn without_comment(line: &str) -> &str {
    let (mut single, mut double, mut blank) = (false, false, true);
    for (at, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if blank && !single && !double => return &line[..at],
            _ => {}
        }
        blank = c.is_whitespace();
    }
    line
}

#[test]
fn comments_are_cut_where_the_shell_cuts_them() {
    for (line, code) in [
        ("hookscope providers   # every sender", "hookscope providers   "),
        ("# on the relay machine", ""),
        (
            "hookscope listen --filter 'a #b' # c",
            "hookscope listen --filter 'a #b' ",
        ),
        ("echo \"x # y\" '\"' # z", "echo \"x # y\" '\"' "),
        ("curl http://h/#fragment", "curl http://h/#fragment"),
    ] {
        assert_eq!(without_comment(line), code, "{line}");
    }
}

#[test]
fn every_readme_example_is_run_or_listed_as_not_run() {
    let commands = readme_commands();
    assert!(commands.len() > 40, "{commands:#?}");
    let known = |command: &str| {
        RUN.iter().any(|(run, _)| *run == command) || NOT_RUN.iter().any(|(not, _)| *not == command)
    };
    let unaccounted: Vec<&String> = commands.iter().filter(|c| !known(c)).collect();
    assert!(
        unaccounted.is_empty(),
        "README examples neither run by tests/readme.rs nor listed in its NOT_RUN: {unaccounted:#?}"
    );
    // And nothing here is about an example the README no longer has.
    let stale: Vec<&str> = RUN
        .iter()
        .map(|(run, _)| *run)
        .filter(|run| !run.starts_with('('))
        .chain(NOT_RUN.iter().map(|(not, _)| *not))
        .filter(|listed| !commands.iter().any(|c| c == listed))
        .collect();
    assert!(stale.is_empty(), "listed, but not in the README: {stale:#?}");
}

#[test]
fn readme_examples_do_what_the_readme_says() {
    let mut sandbox = Sandbox::new();
    for (example, step) in RUN {
        eprintln!("readme: {example}");
        step(&mut sandbox, example);
    }
}
