//! The walk through the README: each example run in turn, in a [`Sandbox`], and held to what
//! the README says of it.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hookscope::capture::Capture;

use crate::common;
use crate::readme;
use crate::sandbox::{Sandbox, header, post};

/// A step of the walk through the README: the example it runs (or, in parentheses, what it
/// does between examples) and how.
pub type Step = (&'static str, fn(&mut Sandbox, &str));

/// The examples run, in an order where each finds what it needs (a journal, a key, a token).
pub const RUN: &[Step] = &[
    // Quick start: a listener, and the documented curl sent to it.
    ("cargo run --release -- listen", |s, example| {
        let server = s.serve(example);
        assert!(
            server.stderr().contains("journaling to captures.jsonl"),
            "{}",
            server.stderr()
        );
        s.listener = Some(server);
    }),
    (
        "curl -X POST 'http://127.0.0.1:8080/hooks/dolby?env=dev' -H 'Content-Type: application/json' -H 'X-Millicast-Signature: sha1=9b1f0e0a0f3f7c6f6a1f6c5c3e0c1a2b3c4d5e6f' -d '{\"type\":\"feeds\",\"event\":\"started\",\"timestamp\":1700000000000,\"data\":{\"streamId\":\"abc\"}}'",
        |s, example| {
            let out = s.run(example, 0);
            assert_eq!(out.stdout, "{\"ok\":true}", "what listen answers by default");
        },
    ),
    // Providers, samples and keys, sent to the quick start's listener.
    ("hookscope providers", |s, example| {
        let out = s.run(example, 0);
        for name in ["millicast", "optiview", "dyte", "aioz", "stripe"] {
            assert!(out.stdout.contains(name), "{name}: {}", out.stdout);
        }
    }),
    ("hookscope providers optiview", |s, example| {
        let out = s.run(example, 0);
        assert!(out.stdout.contains("engine.error"), "{}", out.stdout);
    }),
    (
        "hookscope send optiview engine.error --to http://127.0.0.1:8080/hooks --secret dolby_sec_test",
        |s, example| {
            let out = s.run(example, 0);
            assert!(
                out.stdout.contains("optiview engine.error -> 200"),
                "{}",
                out.stdout
            );
        },
    ),
    (
        "hookscope send millicast --to http://127.0.0.1:8080/ --secret \"$MILLICAST_SECRET\"",
        |s, example| {
            let out = s.run(example, 0);
            let sent = out.stdout.lines().filter(|l| l.starts_with("millicast ")).count();
            assert!(sent >= 20, "every millicast event: {}", out.stdout);
        },
    ),
    (
        "hookscope send optiview engine.error --to http://127.0.0.1:8080/ --set /data/status=OFFLINE",
        |s, example| {
            let out = s.run(example, 0);
            // Word for word as the README quotes it.
            let told = "optiview: no secret configured; signing with its test secret \
                        dolby_sec_hookscope_test (give your receiver the same: --secret \
                        optiview=dolby_sec_hookscope_test)";
            assert!(out.stderr.contains(told), "{}", out.stderr);
        },
    ),
    (
        "hookscope send --all --to http://127.0.0.1:8080/",
        |s, example| {
            // "`send --all` leaves out the handshakes (listen answers them itself) and says how
            // to send one alone": every other event is answered 2xx, and the run exits 0.
            let out = s.run(example, 0);
            for provider in [
                "millicast",
                "optiview",
                "stripe",
                "github",
                "aioz",
                "zoom",
                "meta",
            ] {
                let sent = out.stdout.lines().any(|l| l.starts_with(&format!("{provider} ")));
                assert!(sent, "{provider}: {}", out.stdout);
            }
            let failed: Vec<&str> = out.stdout.lines().filter(|l| !l.contains(" -> 2")).collect();
            assert!(failed.is_empty(), "{}", out.stdout);
            for handshake in ["slack url_verification", "zoom endpoint.url_validation"] {
                assert!(!out.stdout.contains(handshake), "{}", out.stdout);
                assert!(
                    out.stderr.contains(&format!("hookscope send {handshake}")),
                    "{}",
                    out.stderr
                );
            }
            // "Dyte needs a private key: without one its events are refused (skipped, with the
            // reason, under --all)".
            assert!(out.stderr.contains("dyte: skipped: no key"), "{}", out.stderr);
        },
    ),
    ("(stop the quick start's listener)", |s, _| {
        let out = s.listener.take().expect("the quick start's listener").stop();
        // The curl's headless line, as the README shows it (less its time of day).
        let shown = readme()
            .lines()
            .find(|line| line.contains("  POST    /hooks/dolby?env=dev  "))
            .map(|line| line[line.find("  POST").unwrap_or(0)..].to_owned())
            .expect("the README's headless line");
        let printed = out.stdout.lines().find(|l| l.contains("/hooks/dolby?env=dev"));
        assert_eq!(
            printed.map(|l| &l[l.find("  POST").unwrap_or(0)..]),
            Some(&shown[..])
        );
        assert!(out.stderr.contains("captured "), "the summary: {}", out.stderr);
        // The one capture signed with dolby_sec_test, for `verify` to find all valid.
        let valid = s
            .captures()
            .into_iter()
            .find(|c| c.path == "/hooks" && c.derived.provider.as_deref() == Some("optiview"))
            .expect("the optiview capture sent to /hooks");
        std::fs::write(s.path("valid.jsonl"), hookscope::codec::encode_capture(&valid)).expect("valid.jsonl");
    }),
    ("hookscope keygen dyte", |s, example| {
        s.run(example, 0);
        assert!(
            s.path("dyte-private.pem").exists(),
            "the key `send dyte --key` takes"
        );
    }),
    (
        "hookscope log captures.jsonl --filter 'type:engine.* json:/data/status=OFFLINE'",
        |s, example| {
            let out = s.run(example, 0);
            let lines: Vec<&str> = out.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
            assert!(!lines.is_empty(), "the engine.error sent with --set");
            for line in lines {
                assert!(line.contains("optiview engine."), "{line}");
            }
        },
    ),
    // What listen does.
    (
        "hookscope listen --filter 'provider:optiview !sig:valid'",
        |s, example| {
            let before = s.captures().len();
            let server = s.serve(example);
            s.send_sample(&server, "optiview", "engine.error");
            s.send_sample(&server, "millicast", "feeds.started");
            let out = server.stop();
            assert!(out.stdout.contains("optiview engine.error"), "{}", out.stdout);
            assert!(!out.stdout.contains("millicast"), "{}", out.stdout);
            assert_eq!(s.captures().len(), before + 2, "all is journaled");
        },
    ),
    ("hookscope listen --json | jq .path", |s, example| {
        let server = s.serve(example);
        let answer = post(server.addr, "/hooks/printed-by-jq", &[], b"{}");
        assert_eq!(answer.status, 200);
        let out = server.stop();
        assert_eq!(out.stdout.trim(), "\"/hooks/printed-by-jq\"", "{}", out.stderr);
    }),
    (
        "hookscope listen --addr 127.0.0.1:9000 --out today.jsonl",
        |s, example| {
            let server = s.serve(example);
            post(server.addr, "/today", &[], b"{}");
            server.stop();
            let today = common::captures_in(&s.path("today.jsonl"));
            assert_eq!(today.len(), 1);
            assert_eq!(today[0].path, "/today");
        },
    ),
    (
        "hookscope listen --respond-status 202 --respond-body '' --respond-header 'X-Env: dev'",
        |s, example| {
            let server = s.serve(example);
            let answer = post(server.addr, "/hooks", &[], b"{}");
            server.stop();
            assert_eq!(answer.status, 202);
            assert_eq!(answer.header("x-env").as_deref(), Some("dev"));
            assert!(answer.body.is_empty(), "{:?}", answer.body);
        },
    ),
    ("RUST_LOG=hookscope=debug cargo run -- listen", |s, example| {
        let server = s.serve(example);
        post(server.addr, "/hooks", &[], b"{}");
        let out = server.stop();
        assert!(out.stderr.contains("DEBUG"), "logs go to stderr: {}", out.stderr);
    }),
    // Forward.
    (
        "hookscope listen --forward http://127.0.0.1:3000/api",
        |s, example| {
            let server = s.serve(example);
            post(server.addr, "/hooks?a=1", &[], b"{}");
            let seen = s.app_wait(1, &server);
            let out = server.stop();
            assert_eq!(
                seen[0].target, "/api/hooks?a=1",
                "POST /hooks?a=1 → /api/hooks?a=1"
            );
            // "  → 200 12ms http://127.0.0.1:3000/api/hooks?a=1"
            let delivered = format!("ms {}/api/hooks?a=1", s.app.url());
            assert!(
                out.stdout
                    .lines()
                    .any(|l| l.starts_with("  → 200 ") && l.ends_with(&delivered)),
                "{}",
                out.stdout
            );
        },
    ),
    (
        "hookscope listen --forward http://127.0.0.1:3000/in --forward-exact",
        |s, example| {
            let server = s.serve(example);
            post(server.addr, "/hooks?a=1", &[], b"{}");
            let seen = s.app_wait(1, &server);
            server.stop();
            assert_eq!(seen[0].target, "/in", "always /in, as given");
        },
    ),
    (
        "hookscope listen --forward http://127.0.0.1:3000 --retry fixed:3x3s --forward-timeout 5s",
        |s, example| {
            s.control.fail_next(1, 503);
            let server = s.serve(example);
            post(server.addr, "/hooks", &[], b"{}");
            let seen = s.app_wait(2, &server);
            server.stop();
            let gap = seen[1].at - seen[0].at;
            assert!(gap >= Duration::from_millis(2900), "retried 3 s later: {gap:?}");
        },
    ),
    (
        "hookscope listen --forward http://127.0.0.1:3000 --retry provider",
        |s, example| {
            // Dyte retries any non-2xx, a 404 too (after 1 s); a 404 is not retried otherwise.
            s.control.fail_next(1, 404);
            let server = s.serve(example);
            s.send_sample(&server, "dyte", "meeting.started");
            let seen = s.app_wait(2, &server);
            server.stop();
            assert!(seen[1].header("dyte-signature").is_some());
            let gap = seen[1].at - seen[0].at;
            assert!(gap >= Duration::from_millis(950), "retried 1 s later: {gap:?}");
        },
    ),
    // Routes: a route on the command line, the rest to --forward.
    (
        "hookscope listen --route 'provider:millicast => http://127.0.0.1:3000/millicast' --forward http://127.0.0.1:3000/rest",
        |s, example| {
            let server = s.serve(example);
            s.send_sample(&server, "millicast", "feeds.started");
            post(server.addr, "/hooks", &[], b"{}");
            let mut seen: Vec<String> = s.app_wait(2, &server).into_iter().map(|r| r.target).collect();
            let out = server.stop();
            seen.sort();
            assert_eq!(seen, ["/millicast/hooks", "/rest/hooks"]);
            let line = format!("--route 1: provider:millicast → {}/millicast", s.app.url());
            assert!(
                out.stderr.lines().any(|l| l == line),
                "{line:?} not in {}",
                out.stderr
            );
            assert!(
                out.stdout.contains("/millicast/hooks [route provider:millicast]"),
                "{}",
                out.stdout
            );
        },
    ),
    // Handshakes: a listener with Zoom's secret and Meta's verify token, checked as they check.
    (
        "hookscope listen --secret zoom=zoom_secret_token --verify-token meta=my-verify-token",
        |s, example| {
            s.listener = Some(s.serve(example));
        },
    ),
    (
        "curl 'http://127.0.0.1:8080/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=my-verify-token'",
        |s, example| {
            let out = s.run(example, 0);
            assert_eq!(out.stdout, "1158201444", "\"The curl prints 1158201444\"");
        },
    ),
    (
        "hookscope send zoom endpoint.url_validation --to http://127.0.0.1:8080/zoom --secret zoom_secret_token",
        |s, example| {
            let out = s.run(example, 0);
            assert!(
                out.stdout.starts_with("zoom endpoint.url_validation -> 200 OK"),
                "{}",
                out.stdout
            );
        },
    ),
    ("(stop the handshakes' listener)", |s, _| {
        let out = s.listener.take().expect("the handshakes' listener").stop();
        let marked: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.contains("  handshake 200: "))
            .collect();
        assert_eq!(marked.len(), 2, "{}", out.stdout);
        assert!(
            marked[1].ends_with(
                "handshake 200: zoom endpoint.url_validation: answered plainToken and encryptedToken"
            ),
            "{}",
            out.stdout
        );
    }),
    // Relay: a relay with a certificate made here, a token, and a listener behind it.
    (
        "hookscope relay token create --channel myapp --data-dir /var/lib/hookscope-relay",
        |s, example| {
            let out = s.run(example, 0);
            let token = out.stdout.trim().to_owned();
            assert!(token.starts_with("hst_"), "printed once: {}", out.stdout);
            s.token = Some(token);
        },
    ),
    (
        "hookscope relay --addr 0.0.0.0:443 --data-dir /var/lib/hookscope-relay --tls-cert fullchain.pem --tls-key key.pem",
        |s, example| {
            let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
            std::fs::write(s.path("fullchain.pem"), made.cert.pem()).expect("cert");
            std::fs::write(s.path("key.pem"), made.signing_key.serialize_pem()).expect("key");
            s.relay = Some(s.serve(example));
        },
    ),
    (
        "hookscope listen --relay https://relay.example.com --channel myapp --token hst_... --forward http://127.0.0.1:3000",
        |s, example| {
            let server = s.serve(example);
            let relay = s.relay.take().expect("the relay");
            let url = format!("https://localhost:{}/c/myapp/hooks/relayed", relay.addr.port());
            let sender = Command::new("curl")
                .args([
                    "-sS",
                    "--cacert",
                    "fullchain.pem",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                ])
                .args([
                    "-H",
                    "Content-Type: application/json",
                    "-d",
                    "{\"relayed\":true}",
                    &url,
                ])
                .current_dir(s.dir.path())
                .output()
                .expect("run curl");
            assert_eq!(String::from_utf8_lossy(&sender.stdout), "202", "{sender:?}");
            let seen = s.app_wait(1, &server);
            assert_eq!(seen[0].target, "/hooks/relayed");
            assert_eq!(seen[0].body, b"{\"relayed\":true}");
            let out = server.stop();
            assert!(out.stdout.contains("/hooks/relayed"), "{}", out.stdout);
            relay.stop();
        },
    ),
    // The relay's files after that: one channel, its one client (named after this machine) has
    // the one request, and the queue holds nothing.
    (
        "hookscope relay status --data-dir /var/lib/hookscope-relay",
        |s, example| {
            let out = s.run(example, 0);
            let lines: Vec<&str> = out.stdout.lines().collect();
            assert_eq!(
                lines.first().copied(),
                Some("channel myapp: 0 requests queued (0 B of bodies), numbered up to 1"),
                "{}",
                out.stdout
            );
            assert!(
                lines
                    .get(1)
                    .is_some_and(|l| l.starts_with("  CLIENT  ") || l.contains(" HAS UP TO "))
            );
            let client: Vec<&str> = lines
                .get(2)
                .map(|l| l.split_whitespace().collect())
                .unwrap_or_default();
            assert_eq!(client.get(1..3), Some(&["1", "0"][..]), "{}", out.stdout);
            assert_eq!(client.last(), Some(&"known"), "{}", out.stdout);
        },
    ),
    // Replay: the app fails Stripe's deliveries at first.
    (
        "hookscope replay captures.jsonl --to http://127.0.0.1:3000",
        |s, example| {
            s.control.fail_stripe.store(true, Ordering::SeqCst);
            let captures = s.captures().len();
            let stripe = s.count(|c| c.derived.provider.as_deref() == Some("stripe"));
            let out = s.run(example, 1);
            s.control.fail_stripe.store(false, Ordering::SeqCst);
            let summary = format!("replayed {captures} captures to {} in ", s.app.url());
            assert!(out.stderr.contains(&summary), "{}", out.stderr);
            assert!(out.stderr.contains(&format!("{stripe} × 500")), "{}", out.stderr);
            let failed = format!(
                "hookscope: {stripe} of {captures} deliveries failed (--allow-failures to exit 0 anyway)"
            );
            assert!(out.stderr.contains(&failed), "{}", out.stderr);
            s.app.take();
        },
    ),
    (
        "hookscope replay captures.jsonl --to http://127.0.0.1:3000 --filter 'provider:stripe status:5xx'",
        |s, example| {
            let stripe = s.count(|c| c.derived.provider.as_deref() == Some("stripe"));
            let out = s.run(example, 0);
            assert!(
                out.stderr.contains(&format!("replayed {stripe} captures")),
                "{}",
                out.stderr
            );
            let seen = s.app.take();
            assert_eq!(seen.len(), stripe, "what the app failed on, and only that");
            assert!(seen.iter().all(|r| r.header("stripe-signature").is_some()));
        },
    ),
    (
        "hookscope replay captures.jsonl --to http://127.0.0.1:3000 --resign --secret stripe=env:STRIPE_SECRET",
        |s, example| {
            let captured: Vec<String> = s
                .captures()
                .iter()
                .filter_map(|c| header(c, "stripe-signature"))
                .collect();
            // The others have no secret here: not sent, counted, and the exit status says so.
            let out = s.run(example, 1);
            assert!(out.stderr.contains("not re-signed, not sent"), "{}", out.stderr);
            let resigned: Vec<String> = s
                .app
                .take()
                .iter()
                .filter_map(|r| r.header("stripe-signature"))
                .collect();
            assert_eq!(resigned.len(), captured.len());
            assert!(resigned.iter().all(|sig| !captured.contains(sig)), "signed again");
        },
    ),
    (
        "hookscope replay captures.jsonl --to http://127.0.0.1:3000 --in-order --rate 5 --retry exp:3",
        |s, example| {
            // Five a second: four captures, not the whole journal, keep it short.
            let first: Vec<String> = s.journal_text().lines().take(4).map(str::to_owned).collect();
            std::fs::write(s.path("ordered.jsonl"), first.join("\n") + "\n").expect("ordered.jsonl");
            let bodies: Vec<Vec<u8>> = common::captures_in(&s.path("ordered.jsonl"))
                .into_iter()
                .map(|c| c.body.to_vec())
                .collect();
            // Each first attempt 200 ms after the one before (less a little for the clocks; the
            // retry is not paced), as the app sees them: a busy machine can hold one request
            // back on its way there by tens of ms (at 10/s, 36 ms after the one before was seen
            // beside four busy loops). Up to three rounds; without the pace there is none.
            let mut paced = Vec::new();
            while paced.len() < 3
                && !paced
                    .iter()
                    .any(|gaps: &Vec<Duration>| gaps.iter().all(|gap| *gap >= Duration::from_millis(180)))
            {
                s.control.fail_next(1, 503);
                s.run(&example.replace("captures.jsonl", "ordered.jsonl"), 0);
                let seen = s.app.take();
                // The first failed once and was retried before the second went: journal order.
                let order: Vec<&[u8]> = seen.iter().map(|r| &r.body[..]).collect();
                let expected: Vec<&[u8]> = [0, 0, 1, 2, 3].map(|i| &bodies[i][..]).to_vec();
                assert_eq!(order, expected);
                let gap = |a: usize, b: usize| seen[b].at - seen[a].at;
                assert!(
                    gap(0, 1) >= Duration::from_millis(950),
                    "retried after 1 s: {:?}",
                    gap(0, 1)
                );
                paced.push([(0, 2), (2, 3), (3, 4)].map(|(a, b)| gap(a, b)).to_vec());
            }
            assert!(
                paced
                    .iter()
                    .any(|gaps| gaps.iter().all(|gap| *gap >= Duration::from_millis(180))),
                "5/s: first attempts apart by {paced:?}"
            );
        },
    ),
    (
        "hookscope replay captures.jsonl --to http://127.0.0.1:3000 --resign --secret optiview=env:OPTIVIEW_SECRET --key dyte-private.pem",
        |s, example| {
            let out = s.run(example, 1);
            assert!(out.stderr.contains("not re-signed, not sent"), "{}", out.stderr);
            let seen = s.app.take();
            assert!(
                seen.iter().any(|r| r.header("dyte-signature").is_some()),
                "dyte, by its key"
            );
            assert!(
                seen.iter().any(|r| r.header("dolby-signature").is_some()),
                "optiview"
            );
        },
    ),
    // Saved journals, with deliveries in them now.
    ("hookscope log captures.jsonl", |s, example| {
        let out = s.run(example, 0);
        let captures = s.captures().len();
        // A capture's line starts with its time; its deliveries are indented under it.
        let lines = out
            .stdout
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
            .count();
        assert_eq!(lines, captures, "one line a capture: {}", out.stdout);
    }),
    (
        "hookscope log captures.jsonl --json | jq 'select(.status != 200)'",
        |s, example| {
            let out = s.run(example, 0);
            let printed: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&out.stdout)
                .into_iter()
                .collect::<Result<_, _>>()
                .expect("JSON values");
            // Captures only: the journal's failed deliveries (status 500) are not among them.
            let expected = s.count(|c| c.status != 200);
            assert!(expected > 0, "the 202s answered with --respond-status");
            assert_eq!(printed.len(), expected, "{}", out.stdout);
            assert!(printed.iter().all(|v| v["kind"] == "capture"), "{}", out.stdout);
        },
    ),
    (
        "hookscope verify captures.jsonl --secret optiview=env:OPTIVIEW_SECRET",
        |s, example| {
            // Exit 0 only if all valid: the one capture signed with the secret...
            let out = s.run(&example.replace("captures.jsonl", "valid.jsonl"), 0);
            assert!(out.stderr.contains("1 of 1 captures valid"), "{}", out.stderr);
            // ...and not the journal, where most were signed with other secrets.
            let out = s.run(example, 1);
            assert!(out.stderr.contains("captures are not valid"), "{}", out.stderr);
        },
    ),
    // Export.
    (
        "hookscope export captures.jsonl --format har --out hooks.har",
        |s, example| {
            s.run(example, 0);
            let har: serde_json::Value =
                serde_json::from_slice(&std::fs::read(s.path("hooks.har")).expect("hooks.har"))
                    .expect("JSON");
            let entries = har["log"]["entries"].as_array().map_or(0, Vec::len);
            assert_eq!(entries, s.captures().len());
        },
    ),
    (
        "hookscope export captures.jsonl --format curl --filter 'provider:stripe' --out replay.sh",
        |s, example| {
            s.run(example, 0);
            assert!(s.path("replay.sh").exists());
        },
    ),
    ("bash replay.sh http://127.0.0.1:3000", |s, example| {
        let out = s.run(example, 0);
        let seen = s.app.take();
        let stripe: Vec<Capture> = s
            .captures()
            .into_iter()
            .filter(|c| c.derived.provider.as_deref() == Some("stripe"))
            .collect();
        assert_eq!(out.stdout.lines().filter(|l| *l == "200").count(), stripe.len());
        // Byte for byte.
        let bodies: Vec<&[u8]> = seen.iter().map(|r| &r.body[..]).collect();
        let captured: Vec<&[u8]> = stripe.iter().map(|c| &c.body[..]).collect();
        assert_eq!(bodies, captured);
    }),
    (
        "hookscope export captures.jsonl --format http --out hooks.http",
        |s, example| {
            s.run(example, 0);
            let http = std::fs::read_to_string(s.path("hooks.http")).expect("hooks.http");
            assert!(http.contains("###") && http.contains("POST "), "{http}");
        },
    ),
    // Install.
    (
        "mkdir -p ~/.local/share/bash-completion/completions ~/.zfunc ~/.local/share/man/man1",
        |s, example| {
            s.run(example, 0);
        },
    ),
    (
        "hookscope completions bash > ~/.local/share/bash-completion/completions/hookscope",
        |s, example| {
            s.run(example, 0);
            let script = s.home_file(".local/share/bash-completion/completions/hookscope");
            assert!(script.contains("complete -F"), "a bash completion script");
        },
    ),
    ("hookscope completions zsh > ~/.zfunc/_hookscope", |s, example| {
        s.run(example, 0);
        assert!(s.home_file(".zfunc/_hookscope").starts_with("#compdef hookscope"));
    }),
    (
        "hookscope man > ~/.local/share/man/man1/hookscope.1",
        |s, example| {
            s.run(example, 0);
            assert!(
                s.home_file(".local/share/man/man1/hookscope.1")
                    .contains(".TH hookscope")
            );
        },
    ),
    // HTTPS: the pair mkcert makes (made here, as mkcert would: mkcert is not at hand), served,
    // and a webhook sent over it trusting the certificate. Last: its capture joins the journal.
    (
        "(make localhost+1.pem and localhost+1-key.pem as mkcert localhost 127.0.0.1 would)",
        |s, _| {
            let key = rcgen::KeyPair::generate().expect("key");
            let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
            let params = rcgen::CertificateParams::new(names).expect("params");
            let cert = params.self_signed(&key).expect("certificate");
            std::fs::write(s.path("localhost+1.pem"), cert.pem()).expect("cert");
            std::fs::write(s.path("localhost+1-key.pem"), key.serialize_pem()).expect("key");
        },
    ),
    (
        "hookscope listen --tls-cert localhost+1.pem --tls-key localhost+1-key.pem",
        |s, example| {
            let server = s.serve(example);
            let said = format!(
                "hookscope listening on https://{}, journaling to captures.jsonl",
                server.addr
            );
            assert!(server.stderr().contains(&said), "{}", server.stderr());
            let to = format!("https://localhost:{}/hooks/tls", server.addr.port());
            let sent = s.run(
                &format!("hookscope send optiview engine.error --to {to} --ca localhost+1.pem"),
                0,
            );
            assert!(
                sent.stdout.contains("optiview engine.error -> 200"),
                "{}",
                sent.stdout
            );
            server.stop();
            let capture = s.captures().pop().expect("a capture");
            assert_eq!(
                (capture.path.as_str(), capture.version.as_str()),
                ("/hooks/tls", "HTTP/2.0")
            );
        },
    ),
];
