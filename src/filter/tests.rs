//! Table tests for the filter parser, matcher and tracker.

use super::*;
use crate::capture::{CaptureId, Derived, Header, Via};
use bytes::Bytes;

fn capture() -> Capture {
    Capture {
        id: CaptureId::generate(),
        received_at: Utc::now(),
        remote_addr: "127.0.0.1:1".into(),
        via: Via::Direct,
        method: "POST".into(),
        path: "/hooks/optiview".into(),
        query: None,
        version: "HTTP/1.1".into(),
        headers: vec![Header::new("Dolby-Signature", "t=1,h=ab"), Header::new("Content-Type", "application/json")],
        body: Bytes::from_static(
            br#"{"type":"engine.error","created":1700000000,"object":{"type":"engine","id":"eng_1"},"data":{"status":"OFFLINE","count":3,"live":false}}"#,
        ),
        status: 200,
        note: None,
        derived: Derived {
            provider: Some("optiview".into()),
            event_type: Some("engine.error".into()),
            event_time: chrono::TimeZone::timestamp_opt(&Utc, 1_700_000_000, 0).single(),
            event_id: None,
            object: Some("eng_1".into()),
            verdict: Some("valid".into()),
            verdict_detail: None,
            ..Derived::default()
        },
    }
}

#[test]
fn a_bare_word_searches_path_event_type_and_body_each() {
    let mut c = capture();
    c.path = "/in".into();
    c.body = Bytes::from_static(br#"{"k":"v"}"#);
    c.derived.event_type = Some("channel.stopped".into());
    for (word, expected) in [
        ("stopped", true),
        ("STOPPED", true),
        ("/in", true),
        ("\"k\"", true),
        ("absent", false),
    ] {
        let filter = Filter::parse(word).expect("parses");
        assert_eq!(filter.matches(&c, &Marks::default()), expected, "{word}");
    }
}

#[test]
fn signed_form_caveat_and_the_old_name_of_none_documented() {
    let mut c = capture();
    c.derived.signed_form = Some("raw".into());
    for (text, expected) in [
        ("form:raw", true),
        ("form:json-*", false),
        ("caveat", false),
        ("!caveat", true),
    ] {
        let filter = Filter::parse(text).expect("parses");
        assert_eq!(filter.matches(&c, &Marks::default()), expected, "{text}");
    }
    c.derived.caveat = Some("matched the raw bytes only".into());
    assert!(
        Filter::parse("caveat sig:valid")
            .expect("parses")
            .matches(&c, &Marks::default())
    );
    assert!(Filter::parse("form:nope").is_err());
    // `handshake`: what the listener answered for the user, not a word searched in the body.
    c.body = Bytes::from_static(br#"{"handshake":1}"#);
    for (text, expected) in [("handshake", false), ("!handshake", true)] {
        let filter = Filter::parse(text).expect("parses");
        assert_eq!(filter.matches(&c, &Marks::default()), expected, "{text}");
    }
    c.derived.handshake = Some("slack url_verification: answered the challenge".into());
    for (text, expected) in [("handshake", true), ("!handshake", false)] {
        let filter = Filter::parse(text).expect("parses");
        assert_eq!(filter.matches(&c, &Marks::default()), expected, "{text}");
    }
    assert!(Filter::parse("handshake").expect("parses").reads_analysis());
    // Journals written before the rename say not-signed-by-design; both names find both.
    for stored in ["none-documented", "not-signed-by-design"] {
        c.derived.verdict = Some(stored.into());
        for term in ["sig:none-documented", "sig:not-signed-by-design", "sig:none-*"] {
            let filter = Filter::parse(term).expect("parses");
            assert!(filter.matches(&c, &Marks::default()), "{term} on {stored}");
        }
    }
}

#[test]
fn terms_match_as_documented() {
    let c = capture();
    let delivered = Marks {
        delivery: Some(503),
        ..Marks::default()
    };
    let cases: &[(&str, &Marks, bool)] = &[
        ("", &Marks::default(), true),
        ("type:engine.*", &Marks::default(), true),
        ("type:channel.*", &Marks::default(), false),
        ("type:ENGINE.ERROR", &Marks::default(), true),
        ("provider:optiview sig:valid", &Marks::default(), true),
        ("type:engine.* sig:valid", &Marks::default(), true),
        ("type:engine.* sig:invalid", &Marks::default(), false),
        ("sig:no-*", &Marks::default(), false),
        ("method:post", &Marks::default(), true),
        ("!method:get", &Marks::default(), true),
        ("path:/hooks/*", &Marks::default(), true),
        ("path:/other/*", &Marks::default(), false),
        ("via:direct", &Marks::default(), true),
        ("via:relay:*", &Marks::default(), false),
        ("header:dolby-signature", &Marks::default(), true),
        ("header:Dolby-Signature=t=1*", &Marks::default(), true),
        ("header:x-missing", &Marks::default(), false),
        ("!header:x-missing", &Marks::default(), true),
        ("body:offline", &Marks::default(), true),
        (r#"body:"\"status\":\"OFFLINE\"""#, &Marks::default(), true),
        ("body:\"status\":\"OFFLINE\"", &Marks::default(), false), // quotes quote: status:OFFLINE
        ("json:/data/status=OFFLINE", &Marks::default(), true),
        ("json:/data/status=off*", &Marks::default(), true),
        ("json:/data/status=ONLINE", &Marks::default(), false),
        ("json:/data/count=3", &Marks::default(), true),
        ("json:/data/live=false", &Marks::default(), true),
        ("json:/data/missing", &Marks::default(), false),
        ("json:/object", &Marks::default(), true),
        ("status:none", &Marks::default(), true),
        ("status:5xx", &Marks::default(), false),
        ("status:5xx", &delivered, true),
        ("status:503", &delivered, true),
        ("status:2xx", &delivered, false),
        ("status:none", &delivered, false),
        ("dup", &Marks::default(), false),
        (
            "dup",
            &Marks {
                dup: true,
                ..Marks::default()
            },
            true,
        ),
        (
            "late",
            &Marks {
                late: true,
                ..Marks::default()
            },
            true,
        ),
        ("!late", &Marks::default(), true),
        ("engine", &Marks::default(), true),
        ("optiview", &Marks::default(), true),
        ("eng_1", &Marks::default(), true),
        ("nowhere", &Marks::default(), false),
        ("engine nowhere", &Marks::default(), false),
        ("\"engine.error\" !dup", &Marks::default(), true),
    ];
    for (text, marks, expected) in cases {
        let filter = Filter::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(filter.matches(&c, marks), *expected, "{text:?}");
    }
}

#[test]
fn errors_say_where_and_what() {
    let cases = [
        ("colour:red", 0, "unknown field `colour`"),
        ("type:engine.* sig:bogus", 18, "no verdict is `bogus`"),
        ("status:2yy", 7, "is not a status"),
        ("status:600", 7, "is not a status"),
        ("!", 1, "`!` needs a term"),
        ("type:", 5, "`type:` needs a value"),
        ("json:data", 5, "needs a JSON pointer"),
        ("header:=x", 7, "needs a header name"),
        ("body:\"unclosed", 5, "unclosed quote"),
        ("ok  !colour:x", 5, "unknown field `colour`"),
    ];
    for (text, position, message) in cases {
        match Filter::parse(text) {
            Ok(filter) => panic!("{text:?} parsed as {filter:?}"),
            Err(err) => {
                assert_eq!(err.position, position, "{text:?}: {err}");
                assert!(err.message.contains(message), "{text:?}: {err}");
            }
        }
    }
    let err = Filter::parse("sig:bogus").expect_err("bad verdict");
    assert_eq!(err.to_string(), format!("at column 5: {}", err.message));
}

#[test]
fn only_dup_and_late_need_the_tracker() {
    for (text, needs) in [
        ("", false),
        ("type:a sig:valid", false),
        ("dup", true),
        ("!late path:/x", true),
    ] {
        assert_eq!(
            Filter::parse(text).expect("parses").needs_tracker(),
            needs,
            "{text}"
        );
    }
}

#[test]
fn a_filter_keeps_its_text_and_says_what_it_reads() {
    let text = " type:a  body:\"x y\" ";
    assert_eq!(Filter::parse(text).expect("parses").text(), text);
    for (text, empty, deliveries, request) in [
        ("", true, false, false),
        ("   ", true, false, false),
        (
            "type:a provider:b method:post path:/x via:direct sig:valid form:raw caveat dup late",
            false,
            false,
            false,
        ),
        ("status:5xx", false, true, false),
        ("!status:none", false, true, false),
        ("header:x-a=1", false, false, true),
        ("body:x", false, false, true),
        ("!json:/a", false, false, true),
        ("word", false, false, true),
    ] {
        let filter = Filter::parse(text).expect("parses");
        assert_eq!(filter.is_empty(), empty, "{text}");
        assert_eq!(filter.reads_deliveries(), deliveries, "{text}");
        assert_eq!(filter.needs_request(), request, "{text}");
    }
}

#[test]
fn letters_outside_ascii_match_in_either_case() {
    let mut c = capture();
    c.body = Bytes::from_static("{\"city\":\"ZÜRICH\"}".as_bytes());
    for (text, expected) in [
        ("body:zürich", true),
        ("zÜrich", true),
        ("body:ZÜRICH", true),
        ("body:zurich", false),
    ] {
        let filter = Filter::parse(text).expect("parses");
        assert_eq!(filter.matches(&c, &Marks::default()), expected, "{text}");
    }
}

#[test]
fn quoted_values_keep_their_spaces() {
    let mut c = capture();
    c.body = Bytes::from_static(b"the stream \"ended\" now");
    assert!(
        Filter::parse(r#"body:"stream \"ended\"""#)
            .expect("parses")
            .matches(&c, &Marks::default())
    );
    assert!(
        !Filter::parse(r#"body:"stream  ended""#)
            .expect("parses")
            .matches(&c, &Marks::default())
    );
}

#[test]
fn the_tracker_marks_duplicates_and_late_events() {
    let mut tracker = Tracker::default();
    let first = capture();
    assert_eq!(tracker.observe(&first), Marks::default());
    // The same event again (same type and body, no idempotency key): a dup, not late.
    let again = tracker.observe(&first);
    assert!(again.dup && !again.late);
    // A newer event about the same object, then an older one: the older is late.
    let mut newer = capture();
    newer.body = Bytes::from_static(br#"{"type":"engine.playing"}"#);
    newer.derived.event_type = Some("engine.playing".into());
    newer.derived.event_time = first
        .derived
        .event_time
        .map(|t| t + chrono::Duration::seconds(30));
    assert_eq!(tracker.observe(&newer), Marks::default());
    let mut older = capture();
    older.body = Bytes::from_static(br#"{"type":"engine.starting"}"#);
    older.derived.event_type = Some("engine.starting".into());
    older.derived.event_time = first
        .derived
        .event_time
        .map(|t| t - chrono::Duration::seconds(30));
    let marks = tracker.observe(&older);
    assert!(marks.late && !marks.dup);
    // Late is against the newest seen, not the first: between the first and the newer, late;
    // at the newest's own time, not.
    let mut between = older.clone();
    between.body = Bytes::from_static(br#"{"type":"engine.paused"}"#);
    between.derived.event_type = Some("engine.paused".into());
    between.derived.event_time = first
        .derived
        .event_time
        .map(|t| t + chrono::Duration::seconds(10));
    assert!(tracker.observe(&between).late);
    let mut tied = newer.clone();
    tied.body = Bytes::from_static(br#"{"type":"engine.stopped"}"#);
    tied.derived.event_type = Some("engine.stopped".into());
    assert_eq!(tracker.observe(&tied), Marks::default());
    // Idempotency keys decide when there is one, whatever the body.
    let mut keyed = capture();
    keyed.derived.event_id = Some("evt_1".into());
    keyed.derived.object = None;
    assert!(!tracker.observe(&keyed).dup);
    keyed.body = Bytes::from_static(b"{}");
    assert!(tracker.observe(&keyed).dup);
    // Unrecognised requests are not events: identical ones are not dups.
    let mut plain = capture();
    plain.derived = Derived::default();
    tracker.observe(&plain);
    assert!(!tracker.observe(&plain).dup);
}

#[test]
fn arbitrary_text_never_panics() {
    let alphabet = [
        "!", ":", "\"", "\\", " ", "=", "/", "*", "type", "sig", "json", "status", "é", "x", "5xx",
        "\u{202e}",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let c = capture();
    for len in 0..3000usize {
        let text: String = (0..len % 23)
            .map(|_| crate::testing::pick(&mut state, &alphabet[..]))
            .collect();
        if let Ok(filter) = Filter::parse(&text) {
            let _ = filter.matches(&c, &Marks::default());
        }
    }
}
