//! The inspector driven like a person drives it: synthetic captures and key presses, each step
//! drawn to a `TestBackend` and snapshotted (times and ids masked), as gitui does.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::app::{App, Context, Effect, Focus, ReplayMode};
use super::store::{MEMORY_BUDGET, Store};
use super::ui;
use crate::analysis::Analyzer;
use crate::attempt::{Attempt, AttemptKind, Outcome};
use crate::capture::{Capture, CaptureId, Derived, Header, Via};
use crate::config::Keys;
use crate::provider::Catalog;
use crate::verify::{Request, Secret, SigningKey};

const SECRET: &str = "dolby_sec_test";

fn analyzer() -> Arc<Analyzer> {
    let catalog = Catalog::builtin();
    let keys = Keys::load(&catalog, &[("optiview".into(), SECRET.into())], None).expect("keys");
    Arc::new(Analyzer::new(catalog, keys))
}

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, second)
        .single()
        .expect("a valid time")
}

/// A capture as the server would hand it to the hub, analyzed like the hub does.
fn capture(n: u32, path: &str, headers: Vec<Header>, body: &[u8]) -> Arc<Capture> {
    let mut capture = Capture {
        id: format!("01KAW0000000000000000000{n:02}")
            .parse::<CaptureId>()
            .expect("a ulid"),
        received_at: at(n),
        remote_addr: "127.0.0.1:50412".into(),
        via: Via::Direct,
        method: "POST".into(),
        path: path.into(),
        query: None,
        version: "HTTP/1.1".into(),
        headers,
        body: Bytes::copy_from_slice(body),
        status: 200,
        note: None,
        derived: Derived::default(),
    };
    capture.derived = analyzer().analyze(&capture).0;
    Arc::new(capture)
}

/// An OptiView event signed with `secret` at the capture's own time.
fn optiview(n: u32, event: &str, secret: &str) -> Arc<Capture> {
    let body = format!(
        r#"{{"type":"{event}","created":{},"object":{{"type":"channel","id":"ch_{n}"}},"data":{{"status":"OFFLINE"}}}}"#,
        at(n).timestamp()
    );
    let catalog = Catalog::builtin();
    let profile = catalog.get("optiview").expect("optiview profile");
    let mut headers = vec![Header::new("Content-Type", "application/json")];
    let request = Request {
        method: "POST",
        path: "/hooks",
        headers: &headers,
        body: body.as_bytes(),
    };
    let key = SigningKey::Secret(Secret::new(secret));
    let signed =
        crate::verify::sign(&profile.scheme, &request, &key, at(n).timestamp(), "id").expect("signs");
    headers.extend(signed);
    capture(n, "/hooks", headers, body.as_bytes())
}

fn app(listen: bool) -> App {
    let context = Context {
        listen: listen.then(|| "http://127.0.0.1:8080".to_owned()),
        journal: "captures.jsonl".into(),
        ..Context::default()
    };
    App::new(Store::new(None), analyzer(), context)
}

fn session() -> App {
    let mut app = app(true);
    app.on_capture(optiview(1, "channel.stopped", SECRET));
    app.on_capture(optiview(2, "engine.error", "not-the-secret"));
    app.on_capture(capture(
        3,
        "/hooks/dolby",
        vec![
            Header::new("Content-Type", "application/json"),
            Header::new(
                "X-Millicast-Signature",
                "sha1=0123456789abcdef0123456789abcdef01234567",
            ),
        ],
        br#"{"type":"feeds","event":"started","timestamp":1795456803000,"data":{"streamId":"abc"}}"#,
    ));
    app.on_capture(capture(
        4,
        "/upload",
        vec![Header::new("Content-Type", "image/gif")],
        b"GIF89a\x40\x01\xb4\x00\x00\xff",
    ));
    app.on_tick(at(5));
    app
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
}

/// Draws `app` at `width`×`height` and returns the screen as text.
fn draw(app: &mut App, width: u16, height: u16) -> String {
    app.on_resize(width, height);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    app.before_draw();
    terminal.draw(|frame| ui::render(frame, app)).expect("draws");
    terminal.backend().to_string()
}

macro_rules! snapshot {
    ($name:expr, $screen:expr) => {
        insta::with_settings!({
            filters => vec![
                (r"\d\d:\d\d:\d\d\.\d{3}", "hh:mm:ss.mmm"),
                (r"\b\d\d:\d\d:\d\d\b", "hh:mm:ss"),
                (r"01KAW0000000000000000000\d\d", "[ULID....................]"),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $screen);
        });
    };
}

#[test]
fn empty_state_says_how_to_send_something() {
    snapshot!("empty", draw(&mut app(true), 100, 16));
}

#[test]
fn captures_appear_live_and_the_newest_is_followed() {
    let mut app = session();
    assert_eq!(app.selected, Some(3), "following the newest");
    snapshot!("live_list", draw(&mut app, 120, 30));
}

#[test]
fn each_detail_tab() {
    let mut app = session();
    press(&mut app, "g");
    assert_eq!(app.selected, Some(0));
    assert!(!app.follow, "moving away from the newest stops following");
    snapshot!("tab_body", draw(&mut app, 120, 30));
    press(&mut app, "2");
    assert_eq!(app.focus, Focus::Detail);
    snapshot!("tab_headers", draw(&mut app, 120, 30));
    press(&mut app, "3");
    snapshot!("tab_signature_valid", draw(&mut app, 120, 30));
    app.on_key(key(KeyCode::Tab));
    snapshot!("tab_deliveries", draw(&mut app, 120, 30));
    // Back to the list, down to the badly signed one: its signature tab explains why.
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.focus, Focus::List);
    press(&mut app, "j3");
    snapshot!("tab_signature_invalid", draw(&mut app, 120, 30));
    // The image upload shows its type and dimensions.
    app.on_key(key(KeyCode::Tab));
    app.on_key(key(KeyCode::Tab));
    press(&mut app, "jj1");
    let screen = draw(&mut app, 120, 30);
    assert!(screen.contains("image/gif image, 12 B, 320×180"), "{screen}");
}

#[test]
fn filter_narrows_live_and_points_at_mistakes() {
    let mut app = session();
    press(&mut app, "/sig:invalid");
    assert_eq!(app.view.len(), 1, "filtered as typed");
    snapshot!("filter_results", draw(&mut app, 120, 20));
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.filter_text, "sig:invalid");
    // A new capture that does not match stays out of the view; one that does comes in.
    app.on_capture(optiview(6, "channel.created", SECRET));
    assert_eq!(app.view.len(), 1);
    app.on_capture(optiview(7, "channel.deleted", "wrong"));
    assert_eq!(app.view.len(), 2);

    press(&mut app, "/");
    for _ in 0.."sig:invalid".len() {
        app.on_key(key(KeyCode::Backspace));
    }
    press(&mut app, "type:channel.* sig:bogus");
    assert!(app.filter_error.is_some());
    snapshot!("filter_error", draw(&mut app, 120, 20));
    // Esc clears the filter altogether.
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.filter_text, "");
    assert_eq!(app.view.len(), 6);
}

#[test]
fn help_overlay_lists_every_key() {
    let mut app = session();
    press(&mut app, "?");
    let screen = draw(&mut app, 100, 34);
    for binding in super::keymap::KEYMAP {
        assert!(
            screen.contains(binding.help),
            "{} missing from help",
            binding.help
        );
    }
    snapshot!("help", screen);
    press(&mut app, "x");
    assert!(!app.help, "any key closes it");
    assert!(!app.quit);
}

#[test]
fn help_overlay_lists_the_routes() {
    let mut app = session();
    app.routes = vec![
        "route 1: optiview (provider:optiview) → http://127.0.0.1:3000".into(),
        "--route 1: type:engine.* → http://127.0.0.1:4000".into(),
    ];
    press(&mut app, "?");
    let screen = draw(&mut app, 120, 40);
    assert!(
        screen.contains("routes, the first that matches decides:"),
        "{screen}"
    );
    for route in &app.routes {
        assert!(screen.contains(route.as_str()), "{route} missing from\n{screen}");
    }
    // Without routes, the overlay is as it was.
    app.routes.clear();
    assert!(!draw(&mut app, 120, 40).contains("routes,"));
}

#[test]
fn a_tiny_terminal_still_works() {
    let mut app = session();
    snapshot!("tiny_list", draw(&mut app, 40, 10));
    app.on_key(key(KeyCode::Tab));
    snapshot!("tiny_detail", draw(&mut app, 40, 10));
    for (w, h) in [(1, 1), (2, 3), (10, 4), (20, 2), (300, 5)] {
        draw(&mut app, w, h);
    }
    press(&mut app, "?");
    draw(&mut app, 12, 6);
}

#[test]
fn escape_sequences_in_a_payload_are_drawn_harmlessly() {
    let hostile = "\x1b]0;pwned\x07\x1b[2J\u{202e}evil\u{9b}31m\r\n";
    let mut app = app(true);
    app.on_capture(capture(
        1,
        "/hooks/\x1b[31mred",
        vec![
            Header::new("Content-Type", "text/plain"),
            Header::new("X-Evil\x1b[1m", format!("v{hostile}")),
        ],
        format!("body{hostile}more").as_bytes(),
    ));
    for tab in ["1", "2", "3", "4"] {
        press(&mut app, tab);
        let screen = draw(&mut app, 120, 24);
        assert!(
            !screen
                .chars()
                .any(|c| (c.is_control() && c != '\n') || matches!(c, '\u{202e}' | '\u{9b}')),
            "tab {tab}: {screen:?}"
        );
    }
    press(&mut app, "1");
    let screen = draw(&mut app, 120, 24);
    assert!(
        screen.contains(r"body\x1b]0;pwned\x07\x1b[2J\u{202e}evil\x9b31m"),
        "{screen}"
    );
    assert!(screen.contains(r"/hooks/\x1b[31mred"), "{screen}");
}

#[test]
fn pause_holds_the_view_and_clear_empties_it() {
    let mut app = session();
    press(&mut app, "p");
    app.on_capture(optiview(6, "channel.created", SECRET));
    assert_eq!(app.view.len(), 4, "paused: the view holds still");
    assert_eq!(app.store.len(), 5, "capture goes on");
    assert!(draw(&mut app, 120, 20).contains("PAUSED +1"));
    press(&mut app, "p");
    assert_eq!(app.view.len(), 5);
    assert_eq!(app.selected, Some(4), "still following");
    press(&mut app, "c");
    assert!(app.view.is_empty());
    app.on_capture(optiview(7, "channel.created", SECRET));
    assert_eq!(app.view.len(), 1, "new captures show after a clear");
    press(&mut app, "/");
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.view.len(), 1, "refiltering keeps the cleared ones out");
}

#[test]
fn copy_save_and_replay_are_effects() {
    let mut app = session();
    press(&mut app, "gy");
    let effects = app.take_effects();
    assert!(
        matches!(&effects[..], [Effect::Copy(script)] if script.contains("curl") && script.contains("Dolby-Signature")),
        "{effects:?}"
    );
    press(&mut app, "s");
    match &app.take_effects()[..] {
        [Effect::Save { path, body }] => {
            assert!(
                path.starts_with("hookscope-01KAW") && path.ends_with(".json"),
                "{path}"
            );
            assert!(body.starts_with(b"{\"type\":\"channel.stopped\""));
        }
        other => panic!("{other:?}"),
    }
    // No --forward: `r` asks where to, once.
    press(&mut app, "r");
    assert!(app.take_effects().is_empty());
    assert!(draw(&mut app, 100, 16).contains("replay to: http://127.0.0.1:3000"));
    for _ in 0..4 {
        app.on_key(key(KeyCode::Backspace));
    }
    press(&mut app, "9999");
    app.on_key(key(KeyCode::Enter));
    match &app.take_effects()[..] {
        [Effect::Replay(capture, ReplayMode::AsIs, target)] => {
            assert_eq!(capture.id, app.store.row(0).expect("row").id);
            assert_eq!(target, "http://127.0.0.1:9999");
        }
        other => panic!("{other:?}"),
    }
    press(&mut app, "R");
    assert!(
        matches!(&app.take_effects()[..], [Effect::Replay(_, ReplayMode::Resigned, t)] if t == "http://127.0.0.1:9999")
    );
    press(&mut app, "e");
    assert!(matches!(
        &app.take_effects()[..],
        [Effect::Replay(_, ReplayMode::Edited, _)]
    ));
    // A target that is not a URL is refused, and nothing is sent.
    let mut other = session();
    press(&mut other, "r");
    other.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    press(&mut other, "localhost:3000");
    other.on_key(key(KeyCode::Enter));
    assert!(other.take_effects().is_empty());
    assert!(
        other
            .message
            .as_deref()
            .is_some_and(|m| m.contains("not an http:// URL"))
    );
}

fn attempt(capture: &Capture, kind: AttemptKind, outcome: Outcome) -> Arc<Attempt> {
    Arc::new(Attempt {
        capture: capture.id,
        kind,
        number: 1,
        target: "http://127.0.0.1:3000/hooks".into(),
        started_at: capture.received_at,
        latency: std::time::Duration::from_millis(12),
        outcome,
        signed_headers: Vec::new(),
        route: None,
        insecure: false,
    })
}

#[test]
fn deliveries_show_in_the_list_and_their_tab() {
    let mut app = session();
    let first = app.store.capture(0).expect("held");
    app.on_attempt(attempt(
        &first,
        AttemptKind::Forward,
        Outcome::Failed("connection refused".into()),
    ));
    app.on_attempt(attempt(
        &first,
        AttemptKind::Replay,
        Outcome::Response {
            status: 500,
            headers: vec![Header::new("Content-Type", "application/json")],
            body: Bytes::from_static(br#"{"error":"boom \u001b[31m"}"#),
            truncated: false,
        },
    ));
    let second = app.store.capture(1).expect("held");
    app.on_attempt(attempt(
        &second,
        AttemptKind::Forward,
        Outcome::Failed("timed out after 30s".into()),
    ));
    press(&mut app, "g4");
    snapshot!("tab_deliveries_attempts", draw(&mut app, 120, 30));
    // status: sees the last delivery, and follows new attempts.
    app.on_key(key(KeyCode::Tab));
    press(&mut app, "/status:5xx");
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.view, vec![0]);
    let fixed = Outcome::Response {
        status: 200,
        headers: vec![],
        body: Bytes::new(),
        truncated: false,
    };
    app.on_attempt(attempt(&first, AttemptKind::Replay, fixed));
    assert!(app.view.is_empty(), "fixed: no longer a 5xx");
}

#[test]
fn mouse_selects_and_scrolls() {
    let mut app = session();
    draw(&mut app, 120, 30);
    let click = |column, row| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    // Row 0 is the status bar, then the list's border and header: the second capture is on row 4.
    app.on_mouse(click(20, 4));
    assert_eq!(app.selected, Some(1));
    let areas = ui::areas(app.size, &app);
    let detail = areas.detail.expect("room for the detail");
    // The tabs line is the detail's first inner row; "Headers" is the second title.
    app.on_mouse(click(detail.x + 12, detail.y + 1));
    assert_eq!((app.focus, app.tab), (Focus::Detail, 1));
    app.on_mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 20,
        row: 5,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(app.selected, Some(3));
}

#[test]
fn a_saved_journal_reads_bodies_back_and_searches_them_on_enter() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("captures.jsonl");
    // More body bytes than a keystroke's search reads back (the store's memory budget).
    let haystack = format!("needle in a haystack{}", " ".repeat(MEMORY_BUDGET as usize));
    let captures = [
        optiview(1, "channel.stopped", SECRET),
        optiview(2, "engine.error", SECRET),
        capture(3, "/plain", vec![], haystack.as_bytes()),
    ];
    let lines: Vec<u8> = captures
        .iter()
        .flat_map(|c| crate::codec::encode_capture(c))
        .collect();
    std::fs::write(&path, lines).expect("write the journal");
    let (store, problems) = Store::open(&path).expect("open");
    assert!(problems.is_empty());
    assert_eq!(store.on_disk(), 3, "nothing of a saved journal is held in memory");
    let mut app = App::new(store, analyzer(), Context::default());
    assert_eq!(
        app.selected,
        Some(0),
        "a saved journal opens at its first capture"
    );
    let detail = app
        .detail
        .as_ref()
        .and_then(|d| d.capture.clone())
        .expect("read back by offset");
    assert_eq!(detail.body, captures[0].body);
    // Index fields filter as you type; a body search waits for Enter.
    press(&mut app, "/type:engine.*");
    assert_eq!(app.view.len(), 1);
    for _ in 0.."type:engine.*".len() {
        app.on_key(key(KeyCode::Backspace));
    }
    press(&mut app, "needle");
    assert_eq!(app.view.len(), 3, "not yet: the bodies are on disk");
    assert!(draw(&mut app, 100, 16).contains("Enter searches 3 captures' bodies"));
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.view, vec![2]);
    assert_eq!(app.filter_text, "needle");
    press(&mut app, "3");
    assert!(draw(&mut app, 100, 16).contains("No provider recognised"));

    // A small journal's bodies are searched as the filter is typed.
    let small = dir.path().join("small.jsonl");
    let lines: Vec<u8> = captures[..2]
        .iter()
        .flat_map(|c| crate::codec::encode_capture(c))
        .collect();
    std::fs::write(&small, lines).expect("write the journal");
    let (store, _) = Store::open(&small).expect("open");
    let mut app = App::new(store, analyzer(), Context::default());
    press(&mut app, "/body:engine");
    assert_eq!(app.view, vec![1], "filtered as typed");
    assert!(!draw(&mut app, 100, 16).contains("Enter searches"));
}

#[test]
fn the_detail_scrolls_by_line_and_stops_at_the_end() {
    let mut app = app(true);
    let body: String = (0..100).map(|n| format!("line {n:03}\n")).collect();
    app.on_capture(capture(
        1,
        "/long",
        vec![Header::new("Content-Type", "text/plain")],
        body.as_bytes(),
    ));
    press(&mut app, "1");
    for _ in 0..10 {
        press(&mut app, "j");
    }
    let screen = draw(&mut app, 100, 30);
    // Two lines (the request line and a blank) come before the body.
    assert!(
        screen.contains("line 008") && !screen.contains("line 007"),
        "{screen}"
    );
    press(&mut app, "G");
    let screen = draw(&mut app, 100, 30);
    assert!(
        screen.contains("line 099") && screen.contains("line 086") && !screen.contains("line 085"),
        "a full last page: {screen}"
    );
    press(&mut app, "g");
    assert_eq!(app.scroll, 0);
}

#[test]
fn a_relayed_capture_says_so() {
    let mut app = app(true);
    let mut relayed = (*capture(1, "/hooks", vec![], b"{}")).clone();
    relayed.via = Via::Relay("dev".into());
    app.on_capture(Arc::new(relayed));
    let screen = draw(&mut app, 120, 24);
    assert!(
        screen.contains("from 127.0.0.1:50412 via relay:dev  answered 200"),
        "{screen}"
    );
}

#[test]
fn a_handshake_is_marked_in_the_list_said_in_the_detail_and_filtered() {
    let mut app = app(true);
    let mut handshake = (*capture(
        1,
        "/slack/events",
        vec![Header::new("Content-Type", "application/json")],
        br#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV","type":"url_verification"}"#,
    ))
    .clone();
    handshake.derived.handshake = Some("slack url_verification: answered the challenge".into());
    app.on_capture(Arc::new(handshake));
    app.on_capture(optiview(2, "channel.stopped", SECRET));
    app.on_tick(at(3));
    press(&mut app, "g");
    let screen = draw(&mut app, 100, 30);
    let row = screen
        .lines()
        .find(|l| l.contains("/slack/events"))
        .unwrap_or_default();
    assert!(row.contains("url_verification handshake"), "{screen}");
    let other = screen
        .lines()
        .find(|l| l.contains("channel.stopped"))
        .unwrap_or_default();
    assert!(!other.contains("handshake"), "{screen}");
    assert!(
        screen.contains("handshake: slack url_verification: answered the challenge"),
        "{screen}"
    );
    assert!(screen.contains("captured 2  shown 2"), "{screen}");
    app.apply_filter("handshake".into());
    let screen = draw(&mut app, 100, 30);
    assert!(screen.contains("captured 2  shown 1"), "{screen}");
    assert!(!screen.contains("channel.stopped"), "{screen}");
}

#[test]
fn no_color_draws_without_colours() {
    let colours = |app: &mut App| {
        app.on_resize(120, 30);
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).expect("a test terminal");
        app.before_draw();
        terminal.draw(|frame| ui::render(frame, app)).expect("draws");
        terminal
            .backend()
            .buffer()
            .content
            .iter()
            .filter(|cell| cell.fg != ratatui::style::Color::Reset || cell.bg != ratatui::style::Color::Reset)
            .count()
    };
    let mut app = session();
    app.no_color = false;
    assert!(colours(&mut app) > 0, "the inspector has colours to take away");
    app.no_color = true;
    assert_eq!(colours(&mut app), 0, "NO_COLOR: no cell has a colour");
}

/// A live view that falls behind the hub's broadcast (a backlog of 4, never read while 300
/// captures are journaled) still ends up listing every capture of the session, in journal
/// order, none from an earlier session in the same file, with each readable back by offset:
/// whether it takes whole captures or their summaries (as `listen`'s inspector does).
#[tokio::test(flavor = "current_thread")]
async fn a_view_that_falls_behind_still_lists_every_capture_in_order() {
    falls_behind_and_lists_every_capture(false).await;
    falls_behind_and_lists_every_capture(true).await;
}

async fn falls_behind_and_lists_every_capture(listed: bool) {
    use crate::hub::{Hub, HubEvent};
    use crate::journal::{Journal, WriteOptions};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("captures.jsonl");
    // An earlier session's capture: the file is appended to, and that one is not this view's.
    let old = capture(59, "/earlier-session", vec![], b"{}");
    std::fs::write(&path, crate::codec::encode_capture(&old)).expect("seed");
    let journal = Journal::open(&path, WriteOptions::default()).expect("journal");
    let hub = Hub::with_backlog(journal.appender(), analyzer(), 4);
    let mut events = match listed {
        true => hub.subscribe_listed(),
        false => hub.subscribe(),
    };
    let store = Store::live(&path).with_budget(16 * 1024);
    let mut app = App::new(store, analyzer(), Context::default());
    let mut sent = Vec::new();
    for n in 0..300u32 {
        let mut capture = (*capture(n % 60, &format!("/hooks/{n}"), vec![], b"{\"k\":1}")).clone();
        capture.id = CaptureId::generate();
        sent.push(capture.path.clone());
        hub.record(capture).await.expect("journaled");
        if n == 150 {
            // Drain once midway, as the inspector does between frames.
            drain(&mut app, &mut events);
        }
    }
    drain(&mut app, &mut events);
    let paths: Vec<String> = (0..app.store.len())
        .map(|i| app.store.row(i).expect("a row").path().to_owned())
        .collect();
    assert_eq!(
        paths, sent,
        "every capture, in journal order, nothing from before (summaries: {listed})"
    );
    assert_eq!(app.missed, 0);
    assert!(app.caught_up > 0, "the view did fall behind and caught up");
    assert_eq!(app.view.len(), 300);
    // The whole capture of every row comes back: the old ones from the journal by offset.
    for index in [0, 150, 299] {
        let whole = app.store.capture(index).expect("readable");
        assert_eq!(whole.path, sent[index]);
    }
    assert!(
        app.store.on_disk() >= 290,
        "memory holds a few, not all: {}",
        app.store.on_disk()
    );
    journal.close().await;

    // As the inspector takes the hub's events: in batches, catching up between them.
    fn drain(app: &mut App, events: &mut tokio::sync::broadcast::Receiver<HubEvent>) {
        loop {
            let (taken, _) = crate::tui::take_batch(events, app);
            while app.is_catching_up() {
                app.catch_up();
            }
            if taken == 0 {
                break;
            }
        }
    }
}

#[test]
fn empty_views_say_why_they_are_empty() {
    // An empty journal: no "1/0".
    let mut empty = App::new(Store::new(None), analyzer(), Context::default());
    let screen = draw(&mut empty, 100, 20);
    assert!(screen.contains(" Captures 0 "), "{screen}");
    assert!(!screen.contains("1/0"), "{screen}");
    assert!(screen.contains("This journal holds no captures."), "{screen}");
    // Cleared with no filter: not "Nothing matches the filter.".
    let mut app = session();
    press(&mut app, "c");
    let screen = draw(&mut app, 120, 30);
    assert!(screen.contains(" Captures 0 "), "{screen}");
    assert!(screen.contains("Cleared: new captures appear here"), "{screen}");
    assert!(!screen.contains("Nothing matches the filter."), "{screen}");
    // With a filter that matches nothing, that is what it says.
    let mut app = session();
    app.apply_filter("type:nothing.like.this".into());
    let screen = draw(&mut app, 120, 30);
    assert!(screen.contains("Nothing matches the filter."), "{screen}");
}

#[test]
fn a_smaller_window_still_shows_every_row_that_fits() {
    let mut app = session();
    draw(&mut app, 100, 20);
    let screen = draw(&mut app, 40, 10);
    // Reported: after 100x20 to 40x10 one row of three showed, over empty lines, until g/G.
    let rows = screen.lines().filter(|l| l.contains("POST")).count();
    assert_eq!(rows, 4, "every capture fits in 40x10:\n{screen}");
}

#[test]
fn columns_size_from_their_content_and_mark_what_they_cut() {
    let long = "distribution.security.keys.rotated.everywhere";
    let mut app = session();
    app.on_capture(optiview(9, long, SECRET));
    // The list's part of each row (at these widths the detail, showing the long event's body,
    // is beside it).
    let list_part = |screen: &str| -> String {
        screen
            .lines()
            .filter_map(|l| l.split('│').nth(1))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for width in [160, 250] {
        let screen = draw(&mut app, width, 30);
        assert!(
            list_part(&screen).contains(long),
            "{width} columns: the whole event name:\n{screen}"
        );
        if width == 250 {
            assert!(
                screen.contains("Provider") && screen.contains("Signature"),
                "{screen}"
            );
        }
    }
    for width in [40, 80, 120, 140] {
        let screen = draw(&mut app, width, 30);
        let list: Vec<&str> = screen.lines().filter(|l| l.contains("10:00:0")).collect();
        assert_eq!(list.len(), 5, "{width} columns: every row:\n{screen}");
        // Whatever is shown of the long name is whole or says it was cut.
        if let Some(row) = list.iter().find(|l| l.contains("distribution")) {
            assert!(row.contains(long) || row.contains('…'), "{width} columns: {row}");
        }
        assert!(
            list.iter().all(|l| l.contains("/hooks") || l.contains("/upload")),
            "{width}: the path stays:\n{screen}"
        );
    }
    // A long name is cut before its column is dropped: at 80 columns (and in the list of a
    // 140-column split) every row still says what event it is.
    for width in [80, 140] {
        let screen = draw(&mut app, width, 30);
        // The list's part of a row: the split puts the detail's beside it.
        let row = screen
            .lines()
            .filter_map(|l| l.split('│').nth(1))
            .find(|l| l.contains("10:00:0") && l.contains("distribution"))
            .unwrap_or_else(|| panic!("{width}: the long event is shown:\n{screen}"));
        let shown = row
            .split_whitespace()
            .find(|w| w.starts_with("distribution"))
            .unwrap_or_else(|| panic!("{width}: {row}"));
        assert!(
            shown.ends_with('…') && shown.chars().count() >= 16,
            "{width}: {row}"
        );
        assert!(screen.contains("channel.stopped"), "{width}:\n{screen}");
    }
}

#[test]
fn the_replay_prompts_answer_is_not_a_forward_target() {
    let mut app = session();
    press(&mut app, "g");
    press(&mut app, "r");
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    press(&mut app, "http://127.0.0.1:9999");
    app.on_key(key(KeyCode::Enter));
    assert!(
        matches!(&app.take_effects()[..], [Effect::Replay(_, ReplayMode::AsIs, t)] if t == "http://127.0.0.1:9999")
    );
    // Another capture, never delivered: nothing forwards, so there is nothing it waits for.
    press(&mut app, "j4");
    let screen = draw(&mut app, 100, 20);
    assert!(!screen.contains("Not delivered to"), "{screen}");
    assert!(!screen.contains("→ http://127.0.0.1:9999"), "{screen}");
    snapshot!("tab_deliveries_after_a_replay_prompt", screen);
    // The answer holds for the session.
    press(&mut app, "R");
    assert!(
        matches!(&app.take_effects()[..], [Effect::Replay(_, ReplayMode::Resigned, t)] if t == "http://127.0.0.1:9999")
    );
    // With --forward, an undelivered capture does wait for it.
    let context = Context {
        listen: Some("http://127.0.0.1:8080".into()),
        forward: Some("http://127.0.0.1:3000".into()),
        ..Context::default()
    };
    let mut forwarding = App::new(Store::new(None), analyzer(), context);
    forwarding.on_capture(optiview(1, "channel.stopped", SECRET));
    press(&mut forwarding, "4");
    let screen = draw(&mut forwarding, 100, 20);
    assert!(
        screen.contains("Not delivered to http://127.0.0.1:3000 yet."),
        "{screen}"
    );
}

/// The status bar's scenes: a live session following, one forwarding through a relay that
/// is paused and missed captures, and a saved journal with a long path.
fn status_scenes() -> Vec<(&'static str, App)> {
    let live = session();
    let context = Context {
        listen: Some("http://127.0.0.1:8080".into()),
        journal: "captures.jsonl".into(),
        forward: Some("http://127.0.0.1:3000/webhooks".into()),
        relay: Some("reconnecting in 4s (connection refused) · wss://relay.example.com channel dev".into()),
        ..Context::default()
    };
    let mut busy = App::new(Store::new(None), analyzer(), context);
    for n in 1..=3 {
        busy.on_capture(optiview(n, "channel.stopped", SECRET));
    }
    busy.on_tick(at(4));
    press(&mut busy, "p");
    busy.on_capture(optiview(4, "engine.error", SECRET));
    busy.missed = 12;
    busy.journaled = Some(1234);
    let context = Context {
        journal: "/home/dev/projects/acme-webhooks/captures-2026-11-23.jsonl".into(),
        ..Context::default()
    };
    let mut saved = App::new(Store::new(None), analyzer(), context);
    saved.on_capture(optiview(1, "channel.stopped", SECRET));
    saved.on_capture(optiview(2, "engine.error", SECRET));
    vec![("live", live), ("busy", busy), ("saved", saved)]
}

#[test]
fn the_status_bar_gives_way_least_important_first() {
    for width in [40, 80, 100] {
        let mut lines = Vec::new();
        for (name, mut app) in status_scenes() {
            let screen = draw(&mut app, width, 12);
            let status = screen.lines().next().expect("a status line").to_owned();
            lines.push(format!("{name:<5} {status}"));
        }
        snapshot!(format!("status_bar_{width}"), lines.join("\n"));
    }
}

#[test]
fn the_status_bar_is_never_cut_mid_word_without_a_mark() {
    for (name, app) in status_scenes() {
        let words: std::collections::HashSet<String> = super::status::every_form(&app)
            .iter()
            .flat_map(|form| form.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let shown = app.view.len();
        let captured = app.journaled.unwrap_or(app.store.len() as u64);
        for width in 12..=250 {
            let line = super::status::line(&app, width);
            let text = line.to_string();
            assert!(line.width() <= width, "{name} at {width}: {text:?}");
            for word in text.split_whitespace() {
                assert!(
                    words.contains(word) || word.ends_with('…'),
                    "{name} at {width}: {word:?} cut without a mark in {text:?}"
                );
            }
            if width >= 40 {
                // What stays: the counts, the view's state, where captures come from.
                assert!(
                    text.contains(&format!("{shown}/{captured}"))
                        || text.contains(&format!("captured {captured}  shown {shown}")),
                    "{name} at {width}: {text:?}"
                );
                assert!(
                    app.paused.is_none() || text.contains("PAUSED +1"),
                    "{name} at {width}: {text:?}"
                );
                assert!(
                    app.paused.is_some() || !app.follow || text.contains("follow"),
                    "{name} at {width}: {text:?}"
                );
                assert!(
                    app.context.listen.is_none() || text.contains("127.0.0.1:8080"),
                    "{name} at {width}: {text:?}"
                );
                assert!(
                    app.missed == 0 || width < 60 || text.contains("12 missed"),
                    "{name} at {width}: {text:?}"
                );
            }
        }
    }
}

/// Draws `app` and returns what the caret under the filter points at (the prompt's cell right
/// above the `^`, or the arrow that says the mistake is off screen), and the screen.
fn caret_target(app: &mut App, width: u16, height: u16) -> (Option<String>, String) {
    app.on_resize(width, height);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    app.before_draw();
    terminal.draw(|frame| ui::render(frame, app)).expect("draws");
    let buffer = terminal.backend().buffer().clone();
    let screen = terminal.backend().to_string();
    let bar = ui::areas(app.size, app).bar;
    if bar.height < 2 {
        return (None, screen);
    }
    let pointer = (bar.x..bar.x + bar.width)
        .map(|x| (x, buffer[(x, bar.y + 1)].symbol()))
        .find(|(_, symbol)| ["^", "←", "→"].contains(symbol));
    let target = pointer.map(|(x, symbol)| match symbol {
        "^" => buffer[(x, bar.y)].symbol().to_owned(),
        arrow => arrow.to_owned(),
    });
    (target, screen)
}

#[test]
fn a_filter_error_is_pointed_at_with_a_caret_while_typing() {
    let mut app = session();
    press(&mut app, "/type:channel.* sig:bogus");
    let (target, screen) = caret_target(&mut app, 80, 20);
    assert_eq!(target.as_deref(), Some("b"), "{screen}");
    snapshot!("filter_error_caret_80", screen);
    // Narrow: the message goes under the caret, broken between words.
    let (target, screen) = caret_target(&mut app, 40, 20);
    assert_eq!(target.as_deref(), Some("b"), "{screen}");
    snapshot!("filter_error_caret_40", screen);
    // Fixed: the caret and its lines go, the list has its rows back.
    let with_error = ui::areas(app.size, &app).list.height;
    for _ in 0.."bogus".len() {
        app.on_key(key(KeyCode::Backspace));
    }
    press(&mut app, "valid");
    let (target, screen) = caret_target(&mut app, 40, 20);
    assert_eq!(target, None, "{screen}");
    assert!(!screen.contains("no verdict"), "{screen}");
    assert!(ui::areas(app.size, &app).list.height > with_error);
}

#[test]
fn the_caret_counts_the_columns_characters_are_drawn_in() {
    let width_of = |text: &str| ratatui::text::Span::raw(text).width();
    // An escaped control character takes four columns, a CJK character two, and a filter
    // longer than the bar scrolls: the caret is under the mistake each time.
    for (typed, width) in [
        ("body:\u{1b} sig:bogus", 80),
        ("type:日本語 sig:bogus", 80),
        ("type:channel.* provider:optiview path:/hooks/* sig:bogus", 40),
    ] {
        let mut app = session();
        press(&mut app, "/");
        press(&mut app, typed);
        assert!(app.filter_error.is_some(), "{typed}");
        let (target, screen) = caret_target(&mut app, width, 20);
        assert_eq!(target.as_deref(), Some("b"), "{typed}:\n{screen}");
        // The cursor back at the start: the caret follows the text when both fit, else an
        // arrow at the edge says the mistake is further right.
        app.on_key(key(KeyCode::Home));
        let (target, screen) = caret_target(&mut app, width, 20);
        let expected = match width_of(typed) < width as usize - 3 {
            true => "b",
            false => "→",
        };
        assert_eq!(
            target.as_deref(),
            Some(expected),
            "{typed}, cursor home:\n{screen}"
        );
        // The cursor at the end of a long filter, the mistake at its start.
        if expected == "→" {
            let mut app = session();
            press(&mut app, "/sig:bogus ");
            press(&mut app, typed);
            let (target, screen) = caret_target(&mut app, width, 20);
            assert_eq!(target.as_deref(), Some("←"), "{screen}");
        }
    }
}

#[test]
fn the_bottom_bar_fits_its_width() {
    let mut app = session();
    for width in [40, 80] {
        let screen = draw(&mut app, width, 12);
        let bar = screen.lines().last().expect("a bar").to_owned();
        assert!(bar.contains("? help") && bar.contains("q quit"), "{bar}");
        // Whole hints only.
        let text = bar.trim_matches('"').trim_end();
        assert!(text.ends_with("quit") || text.ends_with("save"), "{bar}");
    }
    app.message = Some(
        "journaling to /home/dev/projects/acme-webhooks/captures.jsonl; verifying signatures: optiview"
            .into(),
    );
    let screen = draw(&mut app, 40, 12);
    let bar = screen.lines().last().expect("a bar").to_owned();
    assert_eq!(bar, "\"journaling to /home/dev/projects/acme-w…\"");
}

#[test]
fn narrow_tabs_are_shortened_and_still_clicked_where_they_are_drawn() {
    for (width, shown, clicked) in [(40, "4 Deliv", "Deliv"), (32, " 1 Body  2  3  4 ", " 4 ")] {
        let mut app = session();
        let screen = draw(&mut app, width, 24);
        assert!(screen.contains(shown), "{width}:\n{screen}");
        let detail = ui::areas(app.size, &app).detail.expect("a detail pane");
        let tabs = screen.lines().nth(detail.y as usize + 1).expect("the tab line");
        let column = tabs.find(clicked).expect("the tab") + clicked.len() / 2;
        // The line is quoted: one column less, and the border before the tabs counts.
        let column = tabs[..column].chars().count() as u16 - 1;
        app.on_mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row: detail.y + 1,
            modifiers: KeyModifiers::NONE,
        });
        assert_eq!((app.focus, app.tab), (Focus::Detail, 3), "{width}: {tabs}");
    }
}

/// `listen`'s inspector lists each capture from the summary the hub makes on the recording
/// thread; `open` and the catch-up list them from whole captures. Both make the same rows:
/// every field, the interned strings, `dup` and `late`, and a delivery's status (an attempt
/// published after its capture's summary).
#[tokio::test(flavor = "current_thread")]
async fn rows_from_summaries_are_the_rows_of_whole_captures() {
    use crate::hub::Hub;
    use crate::journal::{Journal, WriteOptions};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("captures.jsonl");
    let journal = Journal::open(&path, WriteOptions::default()).expect("journal");
    let hub = Hub::new(journal.appender(), analyzer());
    let (mut wholes, mut summaries) = (hub.subscribe(), hub.subscribe_listed());
    let mut sent = Vec::new();
    for n in 0..6 {
        // Signed, once each, then again (dup) and an older one about the same object (late).
        sent.push((*optiview(10 + n, "channel.stopped", SECRET)).clone());
    }
    sent.push((*optiview(12, "channel.stopped", SECRET)).clone());
    let mut late = (*optiview(5, "channel.started", "wrong secret")).clone();
    late.body = Bytes::from(
        String::from_utf8_lossy(&late.body)
            .replace("ch_5", "ch_13")
            .into_bytes(),
    );
    sent.push(late);
    let mut relayed = (*capture(
        30,
        "/caf\u{e9}",
        vec![Header::new("content-type", "Text/Plain; q=1")],
        b"x",
    ))
    .clone();
    relayed.query = Some("a=1&b=%20".into());
    relayed.via = Via::Relay("team".into());
    relayed.method = "PUT".into();
    sent.push(relayed);
    sent.push((*capture(31, "/ping", vec![], b"")).clone());
    sent.push((*capture(32, "/ping", vec![], b"")).clone());
    let mut recorded = Vec::new();
    for mut capture in sent {
        capture.id = CaptureId::generate();
        recorded.push(hub.record(capture).await.expect("journaled"));
    }
    hub.record_attempt(
        (*attempt(
            &recorded[1],
            AttemptKind::Forward,
            Outcome::Response {
                status: 502,
                headers: vec![],
                body: Bytes::new(),
                truncated: false,
            },
        ))
        .clone(),
    )
    .await
    .expect("journaled");
    let mut from_wholes = App::new(Store::live(&path), analyzer(), Context::default());
    let mut from_summaries = App::new(Store::live(&path), analyzer(), Context::default());
    crate::tui::take_batch(&mut wholes, &mut from_wholes);
    crate::tui::take_batch(&mut summaries, &mut from_summaries);
    let rows = |app: &App| -> Vec<String> {
        (0..app.store.len())
            .map(|i| {
                let row = app.store.row(i).expect("a row");
                let text = |sym| app.store.text(sym).to_owned();
                format!(
                    "{} {} {} {:?} {} {} {:?} {:?} {:?} {:?} {} {} {:?} {} {} {:?}",
                    row.id,
                    row.received_at,
                    row.target,
                    row.path(),
                    text(row.method),
                    text(row.via),
                    row.provider.map(text),
                    row.event_type.map(text),
                    row.verdict.map(text),
                    row.signed_form.map(text),
                    row.caveat,
                    row.handshake,
                    row.content_type.map(text),
                    row.body_size,
                    row.status,
                    row.marks,
                )
            })
            .collect()
    };
    let (expected, got) = (rows(&from_wholes), rows(&from_summaries));
    assert_eq!(got, expected);
    assert_eq!(got.len(), 11);
    let marks: Vec<_> = (0..11)
        .map(|i| from_summaries.store.row(i).expect("row").marks)
        .collect();
    assert!(marks[6].dup && !marks[2].dup, "the repeat is a dup: {marks:?}");
    assert!(marks[7].late, "the older event is late: {marks:?}");
    assert!(!marks[10].dup, "identical pings are not dups: {marks:?}");
    assert_eq!(marks[1].delivery, Some(502));
    assert!(
        got[8].contains("/caf\u{e9}?a=1&b=%20 \"/caf\u{e9}\" PUT relay:team"),
        "{}",
        got[8]
    );
    assert!(got[8].contains("Some(\"text/plain\")"), "{}", got[8]);
    // And the whole capture of a summary's row reads back from the journal.
    let whole = from_summaries.store.capture(8).expect("readable");
    assert_eq!(whole.body, Bytes::from_static(b"x"));
    journal.close().await;
}

/// A live inspector as `listen` runs it: a hub journaling to a file that holds an earlier
/// session, the app listing each capture from the summary the hub publishes
/// ([`crate::hub::Hub::subscribe_listed`]), reading the capture back from the journal when it
/// is shown. Each step is fed to it and to an app holding the same captures in memory.
struct Live {
    hub: crate::hub::Hub,
    events: tokio::sync::broadcast::Receiver<crate::hub::HubEvent>,
    journal: Option<crate::journal::Journal>,
    app: App,
    memory: App,
    dir: tempfile::TempDir,
}

impl Live {
    fn start() -> Self {
        use crate::journal::{Journal, WriteOptions};
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("captures.jsonl");
        // An earlier session: never listed, never matched.
        let mut earlier = (*capture(40, "/earlier", vec![], b"needle OFFLINE streamId")).clone();
        earlier.id = CaptureId::generate();
        std::fs::write(&path, crate::codec::encode_capture(&earlier)).expect("seed");
        let journal = Journal::open(&path, WriteOptions::default()).expect("journal");
        let hub = crate::hub::Hub::new(journal.appender(), analyzer());
        let events = hub.subscribe_listed();
        let context = Context {
            listen: Some("http://127.0.0.1:8080".to_owned()),
            journal: "captures.jsonl".into(),
            ..Context::default()
        };
        let app = App::new(Store::live(&path), analyzer(), context.clone());
        let memory = App::new(Store::new(None), analyzer(), context);
        Self {
            hub,
            events,
            journal: Some(journal),
            app,
            memory,
            dir,
        }
    }

    /// `capture` arrives: journaled and listed live, and handed whole to the other app.
    async fn arrive(&mut self, capture: Arc<Capture>) {
        self.hub.record((*capture).clone()).await.expect("journaled");
        crate::tui::take_batch(&mut self.events, &mut self.app);
        self.memory.on_capture(capture);
    }

    async fn attempt(&mut self, attempt: Arc<Attempt>) {
        self.hub
            .record_attempt((*attempt).clone())
            .await
            .expect("journaled");
        crate::tui::take_batch(&mut self.events, &mut self.app);
        self.memory.on_attempt(attempt);
    }

    /// Presses `keys` in both and asserts that they draw the same screen.
    fn press(&mut self, keys: &str, step: &str) -> String {
        press(&mut self.app, keys);
        press(&mut self.memory, keys);
        self.same(step)
    }

    fn key(&mut self, code: KeyCode, step: &str) -> String {
        self.app.on_key(key(code));
        self.memory.on_key(key(code));
        self.same(step)
    }

    fn same(&mut self, step: &str) -> String {
        let (live, memory) = (draw(&mut self.app, 120, 30), draw(&mut self.memory, 120, 30));
        assert_eq!(
            live, memory,
            "{step}: the live inspector (summaries, read back from the journal) differs from \
             captures held in memory"
        );
        assert_eq!(self.app.view, self.memory.view, "{step}");
        live
    }
}

/// Everything the inspector shows of a live capture is what it showed when it held the capture
/// in memory: every detail tab (the body, headers whose values are not UTF-8, the signature's
/// explanation, the deliveries), every filter (index fields as you type; headers, bodies, JSON
/// fields and bare words too, as you type, while the session is small), `dup`, `late`,
/// `status:`, pause, clear and follow, and hostile strings (a 64 KiB target, a content type with
/// control characters, a relay's channel).
#[tokio::test(flavor = "current_thread")]
async fn a_live_capture_shows_and_filters_as_one_held_in_memory() {
    let mut live = Live::start();
    live.arrive(optiview(1, "channel.stopped", SECRET)).await;
    live.arrive(optiview(2, "engine.error", "not-the-secret")).await;
    live.arrive(capture(
        3,
        "/hooks/dolby",
        vec![
            Header::new("Content-Type", "application/json"),
            Header::new("X-Latin1", Bytes::from_static(b"caf\xe9 \x1b[31m")),
        ],
        br#"{"type":"feeds","event":"started","data":{"streamId":"needle"}}"#,
    ))
    .await;
    live.arrive(capture(
        4,
        "/upload",
        vec![Header::new("Content-Type", "IMAGE/GIF;\x1b]0;x\x07 q=\r\n1")],
        b"GIF89a\x40\x01\xb4\x00\x00\xff",
    ))
    .await;
    let mut huge = (*capture(5, &format!("/{}", "p".repeat(64 * 1024)), vec![], b"{}")).clone();
    huge.query = Some(format!("q={}\u{1b}[2J", "é".repeat(32 * 1024)));
    huge.via = Via::Relay("team-1".into());
    huge.method = "PUT".into();
    live.arrive(Arc::new(huge)).await;
    // The same event again (dup), and an older one about the same channel (late).
    let mut again = (*optiview(1, "channel.stopped", SECRET)).clone();
    again.id = "01KAW000000000000000000006".parse().expect("a ulid");
    live.arrive(Arc::new(again)).await;
    let mut late = (*optiview(0, "channel.started", SECRET)).clone();
    late.body = Bytes::from(
        String::from_utf8_lossy(&late.body)
            .replace("ch_0", "ch_1")
            .into_bytes(),
    );
    late.derived = analyzer().analyze(&late).0;
    live.arrive(Arc::new(late)).await;
    let first = live.app.store.capture(0).expect("read back");
    live.attempt(attempt(
        &first,
        AttemptKind::Forward,
        Outcome::Response {
            status: 502,
            headers: vec![Header::new("Content-Type", "text/plain")],
            body: Bytes::from_static(b"bad gateway \x1b[31m"),
            truncated: false,
        },
    ))
    .await;
    live.app.on_tick(at(9));
    live.memory.on_tick(at(9));
    live.same("listed, following the newest");

    let screen = live.press("g", "the first");
    assert!(screen.contains("\"type\": \"channel.stopped\""), "{screen}");
    // Copied as curl, saved, replayed: the capture read back, as the one held.
    live.app.replay_target = Some("http://127.0.0.1:9".into());
    live.memory.replay_target = live.app.replay_target.clone();
    live.press("ysrRe", "copied, saved, replayed");
    let (done, held) = (live.app.take_effects(), live.memory.take_effects());
    assert_eq!(done.len(), 5, "{done:?}");
    assert_eq!(format!("{done:?}"), format!("{held:?}"));
    let screen = live.press("3", "its signature");
    assert!(screen.contains("HMAC-SHA256"), "{screen}");
    live.press("4", "its deliveries");
    live.key(KeyCode::Tab, "back to the list");
    live.press("jj2", "a header that is not UTF-8");
    live.press("1", "the JSON body");
    for n in 0..5 {
        live.press("j", &format!("row {n}"));
        for tab in ["2", "3", "4", "1"] {
            live.press(tab, &format!("row {n}, tab {tab}"));
        }
    }
    live.key(KeyCode::Tab, "the list");

    let filters = [
        "sig:invalid",
        "needle",
        "OFFLINE",
        "body:needle",
        "json:/data/status=OFFLINE",
        "json:/data/streamId=needle",
        "header:x-latin1",
        "header:content-type=image/*",
        "header:dolby-signature !type:channel.started",
        "dup",
        "late",
        "status:5xx",
        "status:none",
        "via:relay:*",
        "method:put",
        "path:/p*",
        "earlier",
    ];
    for filter in filters {
        let screen = live.press(&format!("/{filter}"), &format!("typing {filter}"));
        assert!(!screen.contains("Enter searches"), "{filter}: {screen}");
        live.key(KeyCode::Enter, &format!("{filter} applied"));
        assert_eq!(live.app.filter_text, filter);
        live.key(KeyCode::Esc, &format!("{filter} left"));
        live.press("/", &format!("{filter} cleared"));
        live.key(KeyCode::Esc, &format!("{filter} cleared"));
    }
    let views: Vec<usize> = filters
        .iter()
        .map(|f| {
            live.app.apply_filter((*f).to_owned());
            live.app.view.len()
        })
        .collect();
    // None matches the earlier session's capture, and each finds what it is for.
    assert_eq!(
        views,
        [2, 1, 4, 1, 4, 1, 1, 1, 3, 1, 1, 1, 6, 1, 1, 1, 0],
        "{filters:?}"
    );
    live.app.apply_filter(String::new());

    // A body filter in force as captures arrive, paused, resumed, cleared.
    live.press("/needle", "needle again");
    live.key(KeyCode::Enter, "needle in force");
    live.press("p", "paused");
    live.arrive(capture(10, "/a", vec![], b"a needle")).await;
    live.arrive(capture(11, "/b", vec![], b"no")).await;
    live.same("arrived while paused");
    live.press("p", "resumed");
    live.press("c", "cleared");
    live.arrive(capture(12, "/c", vec![], b"needle")).await;
    live.same("arrived after a clear");
    live.press("f", "follow off");
    live.arrive(capture(13, "/d", vec![], b"needle")).await;
    live.same("not followed");
    assert_eq!(live.app.view.len(), 2);

    if let Some(journal) = live.journal.take() {
        journal.close().await;
    }
}

/// A view that fell behind reads what it missed from the journal, attempts too; what the hub
/// published meanwhile is still in its subscription after the catch-up ends. A capture listed
/// twice is passed over; an attempt must be too, or its delivery shows twice.
#[tokio::test(flavor = "current_thread")]
async fn an_attempt_read_by_a_catch_up_and_published_is_shown_once() {
    use crate::hub::Hub;
    use crate::journal::{Journal, WriteOptions};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("captures.jsonl");
    let journal = Journal::open(&path, WriteOptions::default()).expect("journal");
    let hub = Hub::with_backlog(journal.appender(), analyzer(), 4);
    let mut events = hub.subscribe_listed();
    let mut app = App::new(Store::live(&path), analyzer(), Context::default());
    let failed = |capture: &Capture| {
        (*attempt(
            capture,
            AttemptKind::Forward,
            Outcome::Failed("connection refused".into()),
        ))
        .clone()
    };
    for n in 0..10 {
        let mut capture = (*optiview(n, "channel.stopped", SECRET)).clone();
        capture.id = CaptureId::generate();
        let capture = hub.record(capture).await.expect("journaled");
        hub.record_attempt(failed(&capture)).await.expect("journaled");
    }
    crate::tui::take_batch(&mut events, &mut app);
    assert!(app.is_catching_up(), "it fell behind");
    // Published after the view fell behind, before its catch-up reads the journal's end.
    let mut late = (*optiview(10, "channel.stopped", SECRET)).clone();
    late.id = CaptureId::generate();
    let late = hub.record(late).await.expect("journaled");
    hub.record_attempt(failed(&late)).await.expect("journaled");
    while app.is_catching_up() {
        app.catch_up();
    }
    crate::tui::take_batch(&mut events, &mut app);
    assert_eq!(app.store.len(), 11);
    for i in 0..app.store.len() {
        let id = app.store.row(i).expect("a row").id;
        assert_eq!(app.store.attempts(id).len(), 1, "row {i}'s one attempt");
    }
    journal.close().await;
}

/// Closes the journal `live` writes to, as the test ends.
async fn close(mut live: Live) {
    if let Some(journal) = live.journal.take() {
        journal.close().await;
    }
}

/// Deliveries a relay hands over together are journaled with one write
/// ([`crate::hub::Hub::record_all`]); the inspector lists each from its summary and reads each
/// back at its own line: the detail of each row is that row's capture.
#[tokio::test(flavor = "current_thread")]
async fn relayed_captures_journaled_together_each_read_back_at_their_own_line() {
    let mut live = Live::start();
    let batch: Vec<Capture> = (0..3u32)
        .map(|n| {
            let mut capture = (*optiview(20 + n, "channel.stopped", SECRET)).clone();
            capture.via = Via::Relay("team".into());
            capture
        })
        .collect();
    live.hub.record_all(batch.clone()).await.expect("journaled");
    crate::tui::take_batch(&mut live.events, &mut live.app);
    for capture in batch {
        live.memory.on_capture(Arc::new(capture));
    }
    assert_eq!(live.app.store.len(), 3);
    for i in 0..3 {
        let (read, held) = (
            live.app.store.capture(i).expect("read back"),
            live.memory.store.capture(i).expect("held"),
        );
        assert_eq!((read.id, &read.body), (held.id, &held.body), "row {i}");
    }
    live.same("three relayed");
    live.press("g3", "the first's signature");
    close(live).await;
}

/// `hookscope replay captures.jsonl` may append its attempts to the journal a listener is
/// writing to (it does not take the listener's lock). The offsets the hub hands out for the
/// listener's next captures are still where their lines start: the inspector reads each back.
#[tokio::test(flavor = "current_thread")]
async fn a_capture_after_another_writers_append_reads_back_at_its_own_line() {
    use crate::journal::{Journal, WriteOptions};

    let mut live = Live::start();
    live.arrive(optiview(1, "channel.stopped", SECRET)).await;
    let first = live.app.store.capture(0).expect("read back");
    let replay = Journal::open(&live.dir.path().join("captures.jsonl"), WriteOptions::default())
        .expect("a second writer, as replay opens it");
    let replayed = attempt(
        &first,
        AttemptKind::Replay,
        Outcome::Failed("connection refused".into()),
    );
    replay
        .appender()
        .append(crate::codec::encode_attempt(&replayed))
        .await
        .expect("appended");
    replay.close().await;
    live.arrive(optiview(2, "engine.error", SECRET)).await;
    live.arrive(optiview(3, "channel.created", SECRET)).await;
    for i in 0..3 {
        let read = live.app.store.capture(i).expect("read back at its offset");
        assert_eq!(read.id, live.app.store.row(i).expect("a row").id, "row {i}");
    }
    live.press("k", "the second");
    close(live).await;
}

/// A journal emptied under a listener (`: > captures.jsonl`) goes on growing from its start:
/// an earlier row's offset then points at a later capture's line. The inspector says it cannot
/// read that row back rather than show (and replay, on `r`) another capture in its place.
#[tokio::test(flavor = "current_thread")]
async fn a_row_whose_line_now_holds_another_capture_is_not_shown_as_it() {
    let mut live = Live::start();
    live.arrive(optiview(1, "channel.stopped", SECRET)).await;
    let path = live.dir.path().join("captures.jsonl");
    let journaled = std::fs::read(&path).expect("the journal");
    let earlier = journaled
        .iter()
        .position(|&b| b == b'\n')
        .expect("the earlier session's line");
    // Emptied, and the earlier session's line written back: row 0's offset is the next line's.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|file| file.set_len(0))
        .expect("emptied");
    std::fs::write(&path, &journaled[..=earlier]).expect("written back");
    live.arrive(optiview(2, "engine.error", SECRET)).await;
    let first = live.app.store.row(0).expect("a row").id;
    match live.app.store.capture(0) {
        Ok(read) => assert_eq!(read.id, first, "row 0 shows another capture"),
        Err(err) => assert!(err.to_string().contains("journal"), "{err}"),
    }
    press(&mut live.app, "g");
    let screen = draw(&mut live.app, 120, 30);
    assert!(screen.contains("channel.stopped"), "row 0 is listed: {screen}");
    assert!(!screen.contains("\"type\": \"engine.error\""), "{screen}");
    live.app.replay_target = Some("http://127.0.0.1:9".into());
    press(&mut live.app, "r");
    assert!(live.app.take_effects().is_empty(), "nothing to replay");
    if let Some(journal) = live.journal.take() {
        journal.close().await;
    }
}

/// A handshake the listener answered is marked on its live row, explained in its detail (read
/// back from the journal, which keeps what the listener did) and found by `handshake`.
#[tokio::test(flavor = "current_thread")]
async fn a_live_handshake_is_marked_explained_and_filtered() {
    let mut live = Live::start();
    let mut handshake = (*capture(
        1,
        "/slack/events",
        vec![Header::new("Content-Type", "application/json")],
        br#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV","type":"url_verification"}"#,
    ))
    .clone();
    handshake.derived.handshake = Some("slack url_verification: answered the challenge".into());
    // As the listener's route decides it: after analysis, before the capture is journaled.
    let recorded = live
        .hub
        .record_with(handshake.clone(), |capture| {
            capture.derived.handshake = handshake.derived.handshake.clone();
        })
        .await
        .expect("journaled");
    crate::tui::take_batch(&mut live.events, &mut live.app);
    live.memory.on_capture(recorded.0);
    live.arrive(optiview(2, "channel.stopped", SECRET)).await;
    let screen = live.press("g", "the handshake");
    assert!(
        screen.contains("handshake: slack url_verification: answered the challenge"),
        "{screen}"
    );
    live.press("/handshake", "filtered");
    assert_eq!(live.app.view, vec![0]);
    if let Some(journal) = live.journal.take() {
        journal.close().await;
    }
}
