//! Parsing routes: what is accepted, and what each mistake is called.

use std::time::Duration;

use hyper::StatusCode;

use super::*;
use crate::capture::Capture;

fn route(text: &str) -> Result<Route, String> {
    let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
    Route::from_toml(2, value, &Catalog::builtin())
}

fn capture(path: &str, provider: Option<&str>, event: Option<&str>) -> Capture {
    let mut capture = crate::codec::tests::sample_capture();
    capture.path = path.into();
    capture.derived.provider = provider.map(str::to_owned);
    capture.derived.event_type = event.map(str::to_owned);
    capture
}

#[test]
fn matches_by_filter_and_by_path_glob() {
    let by_provider = route(
        r#"match = "provider:dyte type:meeting.*"
forward = "http://127.0.0.1:5000""#,
    )
    .expect("valid");
    assert!(
        by_provider
            .matcher
            .holds(&capture("/x", Some("dyte"), Some("meeting.started")))
    );
    assert!(
        !by_provider
            .matcher
            .holds(&capture("/x", Some("dyte"), Some("recording.done")))
    );
    assert_eq!(by_provider.label, "provider:dyte type:meeting.*");
    assert!(by_provider.decides());

    // Today's form: a case-sensitive glob on the path, naming a provider and deciding nothing else.
    let old = route("path = \"/Hooks/*\"\nprovider = \"aioz\"").expect("valid");
    assert!(old.matcher.holds(&capture("/Hooks/a", None, None)));
    assert!(!old.matcher.holds(&capture("/hooks/a", None, None)));
    assert!(!old.decides());
    assert_eq!(old.provider.as_deref(), Some("aioz"));
}

#[test]
fn forward_is_one_url_or_several_and_an_empty_list_is_nowhere() {
    let one = route("match = \"path:/a\"\nforward = \"http://127.0.0.1:1\"").expect("valid");
    assert_eq!(one.forward, Some(vec!["http://127.0.0.1:1".to_owned()]));
    let two = route("match = \"path:/a\"\nforward = [\"http://127.0.0.1:1\", \"http://127.0.0.1:2/x\"]\nretry = \"fixed:2x1s\"")
        .expect("valid");
    assert_eq!(two.forward.as_ref().map(Vec::len), Some(2));
    assert_eq!(
        two.retry.as_ref().map(ToString::to_string).as_deref(),
        Some("fixed:2x1s")
    );
    let nowhere = route("match = \"path:/a\"\nforward = []").expect("valid");
    assert_eq!(nowhere.forward, Some(vec![]));
    assert!(nowhere.decides());
    assert!(
        nowhere.describe().contains("not forwarded"),
        "{}",
        nowhere.describe()
    );
}

#[test]
fn respond_tables_become_answers() {
    let r = route(
        r#"match = "path:/fail/*"
respond = { status = 503, body = "busy", headers = { "Retry-After" = "7" }, delay = "400ms" }"#,
    )
    .expect("valid");
    let Some(Answer::Fixed(reply)) = r.answer else {
        panic!("{:?}", r.answer)
    };
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(&reply.body[..], b"busy");
    assert_eq!(reply.delay, Duration::from_millis(400));
    let names: Vec<&str> = reply.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["content-type", "retry-after"],
        "a content type guessed for the body"
    );
    assert_eq!(reply.headers[0].1, "text/plain; charset=utf-8");

    let app = route(
        r#"match = "provider:dyte"
forward = ["http://127.0.0.1:5000", "http://127.0.0.1:5001"]
respond = "app"
respond_timeout = "2s"
fallback = { status = 202, body = '{"queued":true}' }"#,
    )
    .expect("valid");
    let Some(Answer::App { timeout, fallback }) = app.answer else {
        panic!("{:?}", app.answer)
    };
    assert_eq!(timeout, Duration::from_secs(2));
    assert_eq!(fallback.status, StatusCode::ACCEPTED);
    assert_eq!(fallback.headers[0].1, "application/json");
    let default =
        route("match = \"path:/a\"\nforward = \"http://127.0.0.1:1\"\nrespond = \"app\"").expect("valid");
    assert!(matches!(
        default.answer,
        Some(Answer::App { timeout, ref fallback }) if timeout == respond::DEFAULT_RESPOND_TIMEOUT && fallback.status == 504
    ));
}

#[test]
fn failing_on_purpose() {
    let r = route("match = \"path:/a\"\nfail_first = 2\nfail_status = 500").expect("valid");
    let failing = r.failing.clone().expect("failing");
    assert_eq!(
        (failing.first, failing.rate, failing.status.as_u16()),
        (2, 0.0, 500)
    );
    assert!(r.decides(), "a failing route decides the answer");
    let rate = route("match = \"path:/a\"\nfail_rate = 0.3\nseed = 7").expect("valid");
    assert_eq!(rate.failing.map(|f| (f.first, f.seed)), Some((0, Some(7))));
}

#[test]
fn the_first_n_deliveries_of_each_event_fail_then_it_is_answered() {
    let failing = respond::failing(Some(2), None, None, None, "route 1")
        .expect("valid")
        .expect("some");
    let mut state = respond::FailState::new(failing);
    let mut event = capture("/a", Some("optiview"), Some("engine.error"));
    event.derived.event_id = Some("evt_1".into());
    let mut other = event.clone();
    other.derived.event_id = Some("evt_2".into());
    let failed: Vec<bool> = [&event, &other, &event, &other, &event, &event]
        .iter()
        .map(|c| state.fail(c).is_some())
        .collect();
    assert_eq!(failed, [true, true, true, true, false, false]);
}

#[test]
fn a_seeded_fail_rate_fails_the_same_deliveries_each_run() {
    let run = |seed| {
        let failing = respond::failing(None, Some(0.3), None, Some(seed), "route 1")
            .expect("valid")
            .expect("some");
        let mut state = respond::FailState::new(failing);
        (0..200)
            .map(|n| {
                let mut c = capture("/a", None, Some("x"));
                c.derived.event_id = Some(format!("evt_{n}"));
                state.fail(&c).is_some()
            })
            .collect::<Vec<bool>>()
    };
    assert_eq!(run(7), run(7));
    let failed = run(7).iter().filter(|f| **f).count();
    assert!((30..=90).contains(&failed), "{failed} of 200 at 0.3");
}

#[test]
fn every_mistake_names_the_route_and_the_key() {
    for (text, expected) in [
        (
            "match = \"path:/a\"\nforwrd = \"http://x\"",
            "route 2: unknown field `forwrd`",
        ),
        (
            "path = \"/a\"\nmatch = \"path:/a\"",
            "route 2: give `match` or `path`, not both",
        ),
        ("provider = \"aioz\"", "route 2: needs `match` (or `path`)"),
        (
            "match = \"pth:/a\"",
            "route 2, `match`: \"pth:/a\": at column 1: unknown field `pth`",
        ),
        (
            "match = \"dup\"\nforward = \"http://127.0.0.1:1\"",
            "route 2, `match`: \"dup\": a route matches each capture alone",
        ),
        (
            "match = \"status:5xx\"\nforward = \"http://127.0.0.1:1\"",
            "cannot be used",
        ),
        (
            "match = \"type:x\"\nprovider = \"aioz\"",
            "route 2, `match`: a route naming a provider matches the request as it arrived",
        ),
        (
            "match = \"path:/a\"\nprovider = \"nosuch\"",
            "route 2, `provider`: unknown provider \"nosuch\"",
        ),
        (
            "match = \"path:/a\"\nforward = \"127.0.0.1:3000\"",
            "route 2, `forward`: \"127.0.0.1:3000\": expected an http:// URL",
        ),
        (
            "match = \"path:/a\"\nforward = \"http://127.0.0.1:1\"\nretry = \"often\"",
            "route 2, `retry`: \"often\" is not a retry policy",
        ),
        (
            "match = \"path:/a\"\nrespond = \"app\"",
            "route 2, `respond`: \"app\" answers with the first forward target's response",
        ),
        (
            "match = \"path:/a\"\nrespond = \"yes\"",
            "route 2, `respond`: expected \"app\" or a table",
        ),
        (
            "match = \"path:/a\"\nrespond = { stauts = 500 }",
            "route 2, `respond`: unknown field `stauts`",
        ),
        (
            "match = \"path:/a\"\nrespond = { status = 99 }",
            "route 2, `respond`: status 99 is not 200 to 599",
        ),
        (
            "match = \"path:/a\"\nrespond = { status = 700 }",
            "status 700 is not 200 to 599",
        ),
        (
            "match = \"path:/a\"\nrespond = { headers = { \"Bad Name\" = \"1\" } }",
            "route 2, `respond`: \"Bad Name\" is not a valid header name",
        ),
        (
            "match = \"path:/a\"\nrespond = { headers = { \"X-A\" = \"a\\nb\" } }",
            "the value of \"X-A\" is not a valid header value",
        ),
        (
            "match = \"path:/a\"\nrespond = { headers = { \"Content-Length\" = \"1\" } }",
            "\"Content-Length\" is set by the connection",
        ),
        (
            "match = \"path:/a\"\nrespond = { delay = \"2h\" }",
            "route 2, `respond`: delay: \"2h\" is longer than the most, 60s",
        ),
        (
            "match = \"path:/a\"\nrespond = { delay = \"soon\" }",
            "route 2, `respond`: delay:",
        ),
        (
            "match = \"path:/a\"\nrespond = { status = 200 }\nrespond_timeout = \"1s\"",
            "route 2, `respond_timeout`: only for respond = \"app\"",
        ),
        (
            "match = \"path:/a\"\nforward = \"http://127.0.0.1:1\"\nrespond = \"app\"\nrespond_timeout = \"5m\"",
            "route 2, `respond_timeout`: \"5m\" is longer",
        ),
        (
            "match = \"path:/a\"\nforward = \"http://127.0.0.1:1\"\nrespond = \"app\"\nfallback = { delay = \"1s\" }",
            "route 2, `fallback`: a fallback has no `delay`",
        ),
        (
            "match = \"path:/a\"\nfail_rate = 1.5",
            "route 2, `fail_rate`: a fraction from 0 to 1",
        ),
        (
            "match = \"path:/a\"\nfail_first = 1\nfail_status = 200",
            "route 2, `fail_status`: 200 is not a failing status",
        ),
        (
            "match = \"path:/a\"\nfail_status = 500",
            "route 2, `fail_status`: only with fail_first or fail_rate",
        ),
        (
            "match = \"path:/a\"\nfail_first = 1\nseed = 3",
            "route 2, `seed`: chooses which deliveries fail_rate fails",
        ),
        (
            "name = \"a\\nb\"\nmatch = \"path:/a\"",
            "route 2, `name`: one line of 1 to 64 characters",
        ),
        ("name = \" \"\nmatch = \"path:/a\"", "route 2, `name`: one line"),
        (
            "match = \"path:/a\"\nrespond = { status = 503 }\nretry = \"exp:3\"",
            "route 2, `retry`: applies to the route's `forward` targets, and it has none",
        ),
        (
            "match = \"path:/a\"\nrespond = { status = 503, body = { error = \"busy\" } }",
            "route 2, `respond`: a body is text; JSON goes in single quotes, like body = '{\"error\":\"busy\"}'",
        ),
        (
            "match = \"path:/a\"\nrespond = { delay = 400 }",
            "route 2, `respond`: delay: 400 has no unit: write \"400ms\" or \"400s\"",
        ),
        (
            "match = \"path:/a\"\nforward = \"http://127.0.0.1:1\"\nrespond = \"app\"\nrespond_timeout = 5",
            "route 2, `respond_timeout`: 5 has no unit",
        ),
        (
            "match = \"path:/a\"\nforward = \"http://127.0.0.1:1\"\nrespond = \"app\"\nfallback = 202",
            "route 2, `fallback`: expected a table like { status = 202, body = \"accepted\" }",
        ),
        // A first-time user's guesses, each told what to write instead.
        (
            "match = \"/optiview/*\"\nforward = \"http://127.0.0.1:1\"",
            "route 2, `match`: \"/optiview/*\": `/optiview/*` alone would search the path, the event type and the body (what the sender writes); a path is `path:/optiview/*`",
        ),
        (
            "match = \"provider:dyte or provider:zoom\"\nforward = []",
            "`or` alone would search the path, the event type and the body (what the sender writes); every term must hold, and there is no `or`",
        ),
        (
            "match = \"path:/x/* and provider:dyte\"\nforward = []",
            "every term must hold already: leave out the `and`",
        ),
        (
            "match = \"not path:/x/*\"\nforward = []",
            "a term is negated with `!`, like `!path:/test/*`",
        ),
        (
            "match = \"!engine\"\nforward = []",
            "name the field, e.g. `body:engine` or `type:engine`",
        ),
        (
            "match = \"provider:dyet\"\nforward = \"http://127.0.0.1:1\"",
            "route 2, `match`: `provider:dyet`: no provider is named that; they are ",
        ),
        (
            "match = \"path:/a !provider:\\\"opti*vue\\\"\"\nforward = []",
            "`provider:opti*vue`: no provider is named that",
        ),
        (
            "match = \"provider:dyte\"",
            "route 2: does nothing when it matches: give it `provider`, `forward`, `respond` or `fail_first`",
        ),
        (
            "match = \"path:/a\"\nforward = \"http://127.0.0.1:1 http://127.0.0.1:2\"",
            "is not a URL (several targets are separated by commas)",
        ),
    ] {
        let err = route(text).expect_err(text);
        assert!(
            err.contains(expected),
            "{text:?}\n  gave {err}\n  expected {expected}"
        );
    }
}

#[test]
fn cli_routes() {
    let r = parse_cli_route(" provider:dyte  =>  http://127.0.0.1:5000 , http://127.0.0.1:5001/x ")
        .expect("valid");
    assert_eq!(r.label, "provider:dyte");
    assert_eq!(
        r.forward,
        Some(vec![
            "http://127.0.0.1:5000".to_owned(),
            "http://127.0.0.1:5001/x".to_owned()
        ])
    );
    assert!(r.matcher.holds(&capture("/", Some("dyte"), None)));
    for (bad, expected) in [
        ("provider:dyte", "expected 'MATCH => URL"),
        (" => http://127.0.0.1:1", "the match before `=>` is empty"),
        ("path:/a => ", "expected one URL or several"),
        ("path:/a => http://127.0.0.1:1,", "expected one URL or several"),
        ("path:/a => ftp://x", "expected an http:// URL"),
        ("late => http://127.0.0.1:1", "a route matches each capture alone"),
        (
            "path:/a => http://127.0.0.1:1 http://127.0.0.1:2",
            "several targets are separated by commas",
        ),
        ("/a/* => http://127.0.0.1:1", "a path is `path:/a/*`"),
    ] {
        let err = parse_cli_route(bad).expect_err(bad);
        assert!(err.contains(expected), "{bad:?} gave {err}");
    }
    // A match may hold `=>` (a JSON value); a URL cannot.
    let r = parse_cli_route("json:/a=>b => http://127.0.0.1:5000").expect("valid");
    assert_eq!(r.label, "json:/a=>b");
    // Globs and known names pass; the catalog is only there when the router is built, and a
    // provider no profile has is refused then, naming the flag.
    for good in ["provider:dyte", "provider:Opti*", "!provider:aioz path:/x"] {
        let routes = vec![parse_cli_route(&format!("{good} => http://127.0.0.1:1")).expect(good)];
        let catalog = Catalog::builtin();
        Router::new(
            routes,
            None,
            |t: &str| crate::forward::ForwardConfig::new(t),
            &catalog,
        )
        .expect(good);
    }
    // Two routes of one name: their attempts could not be told apart.
    let named = |n: usize| {
        let mut r = route(&format!("name = \"x\"\nmatch = \"path:/{n}\"\nforward = []")).expect("valid");
        r.origin = format!("route {n}");
        r
    };
    let err = Router::new(
        vec![named(1), named(2)],
        None,
        |t: &str| crate::forward::ForwardConfig::new(t),
        &Catalog::builtin(),
    )
    .expect_err("one name twice");
    assert_eq!(
        err,
        "route 1 and route 2 are both called \"x\": attempts record the route by its name; give one a `name` of its own"
    );
    // One match twice is an override (`--route` before the file's route), not a clash.
    let twice = vec![
        parse_cli_route("path:/a/* => http://127.0.0.1:1").expect("valid"),
        route("match = \"path:/a/*\"\nforward = []").expect("valid"),
    ];
    Router::new(
        twice,
        None,
        |t: &str| crate::forward::ForwardConfig::new(t),
        &Catalog::builtin(),
    )
    .expect("an override");
    let mut typo = parse_cli_route("provider:dyet => http://127.0.0.1:1").expect("parses");
    typo.origin = "--route 1".into();
    let err = Router::new(
        vec![typo],
        None,
        |t: &str| crate::forward::ForwardConfig::new(t),
        &Catalog::builtin(),
    )
    .expect_err("unknown provider");
    assert!(
        err.starts_with("--route 1 (provider:dyet), `match`: `provider:dyet`: no provider is named that"),
        "{err}"
    );
}

#[test]
fn descriptions_for_the_start_up_lines() {
    let r = route(
        r#"name = "optiview"
match = "provider:optiview"
forward = ["http://127.0.0.1:3000", "http://127.0.0.1:4000"]
retry = "exp:3"
respond = "app"
respond_timeout = "5s"
fail_first = 1"#,
    )
    .expect("valid");
    assert_eq!(
        r.describe(),
        "optiview (provider:optiview) → http://127.0.0.1:3000, http://127.0.0.1:4000 (retry exp:3) · answers app (else 504 after 5s) · fails the first 1 deliveries of each event with 503"
    );
    let r = route("match = \"path:/a\"\nfail_first = 0").expect("valid");
    assert!(
        r.describe().ends_with("· fails no delivery (fail_first = 0)"),
        "{}",
        r.describe()
    );
    let r = route("match = \"path:/fail/*\"\nrespond = { status = 503, body = \"busy\", delay = \"400ms\" }")
        .expect("valid");
    assert_eq!(
        r.describe(),
        "path:/fail/* → --forward · answers 503 \"busy\" after 400ms"
    );
}

#[test]
fn deliveries_follow_the_first_deciding_route_and_only_the_first_target_answers_the_sender() {
    use crate::forward::task::Dispatch;
    use crate::forward::{ForwardConfig, Forwarder};
    let catalog = Catalog::builtin();
    let routes = [
        route("match = \"path:/p/*\"\nprovider = \"aioz\"").expect("valid"),
        route(
            "name = \"app\"\nmatch = \"path:/*\"\nforward = [\"http://127.0.0.1:1/a\", \"http://127.0.0.1:2/b\"]\nrespond = \"app\"",
        )
        .expect("valid"),
        route("match = \"path:/none/*\"\nforward = []").expect("valid"),
        route("match = \"path:/quiet/*\"\nrespond = { status = 204 }").expect("valid"),
    ];
    // The last two alone first; then the first two, where the catch-all second decides.
    let (first, rest) = routes.split_at(2);
    let default = Forwarder::new(ForwardConfig::new("http://127.0.0.1:9"), &catalog).expect("valid");
    let config = |target: &str| ForwardConfig::new(target);
    let router = Router::new(rest.to_vec(), Some(default.clone()), config, &catalog).expect("valid");
    let targets = |router: &Router, path: &str| -> Vec<(String, Option<String>)> {
        router
            .deliveries(&capture(path, None, None))
            .iter()
            .map(|d| {
                (
                    d.forwarder.config().target.clone(),
                    d.route.as_deref().map(str::to_owned),
                )
            })
            .collect()
    };
    assert_eq!(targets(&router, "/none/x"), []);
    let default_only = vec![("http://127.0.0.1:9".to_owned(), None)];
    assert_eq!(
        targets(&router, "/quiet/x"),
        default_only,
        "no forward: --forward"
    );
    assert_eq!(
        targets(&router, "/elsewhere"),
        default_only,
        "no route: --forward"
    );
    assert!(
        router.expect(crate::capture::CaptureId::generate()).is_none(),
        "no app route"
    );

    let router = Router::new(first.to_vec(), Some(default), config, &catalog).expect("valid");
    let app = |to: &str| (to.to_owned(), Some("app".to_owned()));
    assert_eq!(
        targets(&router, "/p/x"),
        [app("http://127.0.0.1:1/a"), app("http://127.0.0.1:2/b")],
        "a route naming only a provider decides nothing"
    );
    let request = capture("/x", None, None);
    let waiter = router.expect(request.id).expect("an app route");
    let deliveries = router.deliveries(&request);
    assert!(
        deliveries[0].first.is_some(),
        "the first target answers the sender"
    );
    assert!(deliveries[1].first.is_none());
    drop((deliveries, waiter));
    // A sender that stopped waiting leaves nothing behind for a later delivery.
    drop(router.expect(request.id));
    assert!(router.deliveries(&request)[0].first.is_none());
}

#[tokio::test]
async fn an_informational_answer_from_the_app_is_not_passed_on() {
    use crate::attempt::Outcome;
    use crate::forward::task::Dispatch;
    let catalog = Catalog::builtin();
    let app =
        route("match = \"path:/*\"\nforward = \"http://127.0.0.1:1\"\nrespond = \"app\"").expect("valid");
    let router = Router::new(
        vec![app],
        None,
        |t: &str| crate::forward::ForwardConfig::new(t),
        &catalog,
    )
    .expect("valid");
    for (status, heard) in [(101, 504), (200, 200), (503, 503)] {
        let request = capture("/x", None, None);
        let waiter = router.expect(request.id);
        let first = router
            .deliveries(&request)
            .remove(0)
            .first
            .expect("the sender waits");
        let mut attempt = crate::codec::attempt::tests::sample_attempt();
        attempt.outcome = Outcome::Response {
            status,
            headers: vec![],
            body: bytes::Bytes::new(),
            truncated: false,
        };
        first.send(attempt).expect("still waiting");
        let answer = router.answer(&request, waiter).await.expect("the route answers");
        // A 101 would switch the sender's connection to a protocol nobody speaks on it.
        assert_eq!(answer.status().as_u16(), heard, "the app said {status}");
    }
    // An app that cannot be reached is not called slow.
    let request = capture("/x", None, None);
    let waiter = router.expect(request.id);
    let first = router
        .deliveries(&request)
        .remove(0)
        .first
        .expect("the sender waits");
    let mut refused = crate::codec::attempt::tests::sample_attempt();
    refused.outcome = Outcome::Failed("connection refused".into());
    first.send(refused).expect("still waiting");
    let answer = router.answer(&request, waiter).await.expect("the fallback");
    let body = http_body_util::BodyExt::collect(answer.into_body())
        .await
        .expect("a body")
        .to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body),
        "hookscope: no answer from the app to pass on within 10s (too slow, unreachable, or a body \
         past --forward-body-limit; its attempt says which)\n"
    );
}
