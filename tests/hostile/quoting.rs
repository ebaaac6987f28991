//! What export quoting must hold for any capture, checked without a shell: shared by
//! `tests/hostile.rs` (seeded random captures, a sample of them also run through bash) and the
//! fuzz target `export_quoting` (`fuzz/fuzz_targets/export_quoting.rs`).
//!
//! - a shell word is printable ASCII and decodes (as bash decodes `$'…'`) to exactly its bytes;
//! - a comment holds no line break and, in a script, no character a shell would act on;
//! - the curl script and command are printable ASCII lines, none of which starts with sender
//!   text, and read back (words decoded) to the capture's method, target, headers and body;
//! - the `.http` file shows no control or bidi character, has one request line per capture in
//!   the escaped form, headers that are the capture's, `{{` only in `{{base}}`, and a body that
//!   is the capture's, inline or in its file.
#![allow(dead_code)] // the fuzz target and the tests use different parts

use hookscope::capture::{Capture, Header};
use hookscope::codec::{Record, decode_line};
use hookscope::export::{self, quote};

/// A capture of the given fields; everything else fixed.
pub fn capture(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    provider: Option<&str>,
    event_type: Option<&str>,
) -> Capture {
    const LINE: &str = r#"{"v":1,"kind":"capture","id":"01KAW00000000000000000000A","received_at":"2026-11-23T10:00:00Z","remote_addr":"127.0.0.1:50412","via":"direct","method":"POST","path":"/","version":"HTTP/1.1","headers":[],"body_encoding":"utf8","body":"","body_size":0,"status":200}"#;
    let Ok(Record::Capture(mut capture)) = decode_line(LINE.as_bytes()) else {
        panic!("the template line decodes");
    };
    capture.method = method.to_owned();
    capture.path = path.to_owned();
    capture.query = query.map(str::to_owned);
    capture.headers = headers.into_iter().map(|(n, v)| Header::new(n, v)).collect();
    capture.body = body.into();
    capture.derived.provider = provider.map(str::to_owned);
    capture.derived.event_type = event_type.map(str::to_owned);
    capture
}

/// A capture made of arbitrary bytes (the fuzzer's input): fields split at `0xfe`, text
/// fields read as UTF-8 with replacement, header values and the body kept as bytes.
pub fn capture_from_bytes(data: &[u8]) -> Capture {
    let fields: Vec<&[u8]> = data.split(|&b| b == 0xfe).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    let text = |i: usize| String::from_utf8_lossy(field(i)).into_owned();
    let (method, path, query, provider, event) = (text(0), text(1), text(2), text(3), text(4));
    let body = field(5).to_vec();
    let headers = (6..fields.len())
        .step_by(2)
        .map(|i| (text(i), field(i + 1).to_vec()))
        .collect();
    capture(
        &method,
        &path,
        (!query.is_empty()).then_some(query.as_str()),
        headers,
        body,
        (!provider.is_empty()).then_some(provider.as_str()),
        (!event.is_empty()).then_some(event.as_str()),
    )
}

/// Decodes the bash word at the start of `text` made of `'…'`, `$'…'` and `"$NAME"` /
/// `"${NAME:-…}"` parts (variables are kept as `${NAME}`), up to a space or the end. Returns the
/// bytes and the rest; `None` for anything else (unquoted shell syntax).
pub fn shell_word(text: &str) -> Option<(Vec<u8>, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() && bytes[at] != b' ' {
        match bytes[at] {
            b'$' if bytes.get(at + 1) == Some(&b'\'') => {
                at += 2;
                loop {
                    match *bytes.get(at)? {
                        b'\'' => break,
                        b'\\' => {
                            let (decoded, used) = match *bytes.get(at + 1)? {
                                b'\\' => (b'\\', 2),
                                b'\'' => (b'\'', 2),
                                b'n' => (b'\n', 2),
                                b't' => (b'\t', 2),
                                b'r' => (b'\r', 2),
                                b'x' => {
                                    let hex = std::str::from_utf8(bytes.get(at + 2..at + 4)?).ok()?;
                                    (u8::from_str_radix(hex, 16).ok()?, 4)
                                }
                                _ => return None,
                            };
                            out.push(decoded);
                            at += used;
                        }
                        // What `shell_word` writes between the quotes: printable ASCII but `!`.
                        b @ 0x20..=0x7e if b != b'!' => {
                            out.push(b);
                            at += 1;
                        }
                        _ => return None,
                    }
                }
                at += 1;
            }
            b'\'' => {
                let end = at + 1 + text[at + 1..].find('\'')?;
                out.extend_from_slice(&bytes[at + 1..end]);
                at = end + 1;
            }
            b'"' => {
                let end = at + 1 + text[at + 1..].find('"')?;
                let inner = &text[at + 1..end];
                let name = inner.strip_prefix("${").and_then(|v| v.strip_suffix('}'));
                let name = name
                    .map(|n| n.split(":-").next().unwrap_or(n))
                    .or(inner.strip_prefix('$'))?;
                if !name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                    return None;
                }
                out.extend_from_slice(format!("${{{name}}}").as_bytes());
                at = end + 1;
            }
            // Bare words only from hookscope's own text: flags, curl's format, `@-`.
            b if b.is_ascii_alphanumeric() || b"-_.:@/%{}=".contains(&b) => {
                out.push(b);
                at += 1;
            }
            _ => return None,
        }
    }
    Some((out, text[at..].trim_start_matches(' ')))
}

/// Every word of a logical line, decoded; panics on anything [`shell_word`] refuses.
fn words(line: &str) -> Vec<Vec<u8>> {
    let mut rest = line;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let Some((word, next)) = shell_word(rest) else {
            panic!("not a plain word at `{rest}` in:\n{line}");
        };
        out.push(word);
        rest = next;
    }
    out
}

/// What a replay must carry: method, target, headers (in order, hop-by-hop left out), body.
pub type Essence = (Vec<u8>, Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>, Vec<u8>);

/// A request header as curl will send it: valid HTTP only.
pub fn replayable(header: &Header) -> bool {
    !export::is_hop_by_hop(&header.name)
        && quote::is_token(&header.name)
        && !header.value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

/// The essence of `capture` as a replay must reproduce it.
pub fn essence(capture: &Capture) -> Essence {
    let headers = capture
        .headers
        .iter()
        .filter(|h| replayable(h))
        .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
        .collect();
    (
        capture.method.as_bytes().to_vec(),
        capture.target().into_bytes(),
        headers,
        capture.body.to_vec(),
    )
}

/// The request a curl command of ours sends, read from its words (`None` when it says the
/// capture is not replayed).
fn curl_essence(lines: &[&str], prefix: &[u8]) -> Option<Essence> {
    let mut body = None;
    let mut command = None;
    for line in lines {
        if let Some(rest) = line.strip_prefix("printf '%s' '") {
            let b64 = rest
                .strip_suffix("' | base64 -d | \\")
                .unwrap_or_else(|| panic!("a base64 pipe: {line}"));
            body = Some(base64_decode(b64));
        } else if line.starts_with("curl ") {
            command = Some(*line);
        }
    }
    let words = words(command?);
    let mut essence: Essence = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut at = 1;
    while at < words.len() {
        let (flag, value) = (&words[at], words.get(at + 1));
        let value = || value.cloned().unwrap_or_else(|| panic!("a value after {flag:?}"));
        match flag.as_slice() {
            b"-sS" | b"-g" | b"--data-binary" => at += 1,
            b"-o" | b"-w" => at += 2,
            b"-I" => {
                essence.0 = b"HEAD".to_vec();
                at += 1;
            }
            b"-X" => {
                essence.0 = value();
                at += 2;
            }
            b"-H" => {
                // `Name: value`, `Name;` (empty), or `Name:` (one of curl's own, switched off).
                let header = value();
                match header.windows(2).position(|w| w == b": ") {
                    Some(colon) => essence
                        .2
                        .push((header[..colon].to_vec(), header[colon + 2..].to_vec())),
                    None => match header.strip_suffix(b";") {
                        Some(name) => essence.2.push((name.to_vec(), Vec::new())),
                        None => assert!(header.ends_with(b":"), "a header: {header:?}"),
                    },
                }
                at += 2;
            }
            b"--request-target" => {
                let target = value();
                essence.1 = target.strip_prefix(prefix).expect("the base path first").to_vec();
                assert!(words[at + 2].starts_with(b"${BASE"), "the URL is the base");
                at += 3;
            }
            b"--data-raw" => {
                essence.3 = value();
                at += 2;
            }
            b"@-" => {
                essence.3 = body.take().expect("a body on the pipe");
                at += 1;
            }
            other => panic!("unexpected word {:?}", String::from_utf8_lossy(other)),
        }
    }
    Some(essence)
}

/// The lines of a script with `\` continuations joined.
fn logical_lines(script: &str) -> Vec<String> {
    script
        .replace(" \\\n  ", " ")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Checks the curl script and the copied command of `capture`; panics on a violation.
pub fn check_curl(capture: &Capture) {
    let script = export::curl_script(std::slice::from_ref(capture));
    let command = export::curl_command(capture);
    for (text, prefix) in [(&script, &b"${BASE_PATH}"[..]), (&command, &b""[..])] {
        assert!(
            text.bytes().all(|b| b == b'\n' || (0x20..0x7f).contains(&b)),
            "printable ASCII lines only:\n{text}"
        );
        let lines = logical_lines(text);
        for line in &lines {
            // Every line starts with hookscope's text; sender text is never first.
            let ours = [
                "#!/usr/bin/env bash",
                "# ",
                "set -euo pipefail",
                "BASE=",
                "case ",
                "BASE_PATH=",
            ]
            .iter()
            .any(|start| line.starts_with(start))
                || line.starts_with("curl -sS -o /dev/null -w '%{http_code}\\n' -g ")
                || line.starts_with("printf '%s' '")
                || line.is_empty();
            assert!(ours, "a line that is not hookscope's: {line}\n{text}");
            let preamble = ["# Replays captured", "# Generated by", "# A path in BASE_URL"];
            if let Some(comment) = line.strip_prefix("# ")
                && !preamble.iter().any(|p| line.starts_with(p))
            {
                check_shell_comment(comment);
            }
        }
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let replayed = curl_essence(&lines, prefix);
        let expected = essence(capture);
        let nul = expected.0.contains(&0) || expected.1.contains(&0);
        match replayed {
            Some(replayed) if !nul => assert_eq!(replayed, expected, "the replay differs:\n{text}"),
            None if nul => {}
            other => panic!("replayed {other:?} for a capture with NUL {nul}:\n{text}"),
        }
    }
}

/// Checks a comment line's text: printable, nothing a shell acts on, no line break. (Braces
/// only come from escapes, `\u{202e}`: hex digits, no comma, so no brace expansion.)
fn check_shell_comment(comment: &str) {
    assert!(
        comment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " -_.,:/+=@%\\{}".contains(c)),
        "a comment with shell syntax: {comment}"
    );
}

/// Checks the `.http` file of `capture`; panics on a violation.
pub fn check_http(capture: &Capture) {
    let (text, files) = export::http_file(std::slice::from_ref(capture), "bodies");
    assert!(
        !text
            .chars()
            .any(|c| c != '\t' && c != '\n' && hookscope::sanitize::is_unsafe(c)),
        "a control or bidi character:\n{text}"
    );
    assert_eq!(
        text.matches("{{").count(),
        text.matches("{{base}}").count(),
        "{{{{ from the sender:\n{text}"
    );
    let lines: Vec<&str> = text.split('\n').collect();
    let separators: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("###"))
        .collect();
    assert_eq!(separators.len(), 1, "one request:\n{text}");
    let mut at = separators[0];
    for comment in [&capture.method, &capture.target()] {
        assert!(lines[at].contains(&quote::http_comment(comment)), "{text}");
    }
    at += 1;
    while lines[at].starts_with("# ") {
        at += 1;
    }
    let request_line = format!(
        "{} {{{{base}}}}{}",
        quote::http_method(&capture.method),
        quote::http_target(&capture.target())
    );
    assert_eq!(lines[at], request_line, "{text}");
    at += 1;
    let shown: Vec<(&str, &[u8])> = capture
        .headers
        .iter()
        .filter(|h| !export::is_hop_by_hop(&h.name))
        .filter(|h| quote::http_header(&h.name, &h.value).is_ok())
        .map(|h| (h.name.as_str(), &h.value[..]))
        .collect();
    for (name, value) in &shown {
        let line = lines[at];
        assert_eq!(
            line.as_bytes(),
            [name.as_bytes(), b": ", value].concat(),
            "{text}"
        );
        assert!(line.starts_with(|c: char| c.is_ascii_alphanumeric()), "{text}");
        at += 1;
    }
    if capture.body.is_empty() {
        assert!(lines[at..].iter().all(|l| l.is_empty()), "no body:\n{text}");
        assert!(files.is_empty());
        return;
    }
    assert_eq!(lines[at], "", "a blank line before the body:\n{text}");
    match files.as_slice() {
        [(name, bytes)] => {
            assert_eq!(lines[at + 1], format!("< ./{name}"), "{text}");
            assert_eq!(bytes[..], capture.body[..]);
            let (dir, file) = name.split_once('/').expect("dir/file");
            for part in [dir, file] {
                assert!(!part.starts_with('.') && !part.is_empty(), "{name}");
                assert!(
                    part.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                    "{name}"
                );
            }
        }
        [] => {
            let inline = lines[at + 1..].join("\n");
            assert_eq!(
                inline.strip_suffix('\n').unwrap_or(&inline).as_bytes(),
                &capture.body[..],
                "{text}"
            );
            for line in &lines[at + 1..] {
                let line = line.trim_start();
                assert!(
                    !["#", "<", ">", "//"].iter().any(|s| line.starts_with(s)),
                    "{text}"
                );
            }
        }
        more => panic!("{} files for one body", more.len()),
    }
}

/// Checks each quoting function on `text` (and its bytes) alone.
pub fn check_text(text: &str, bytes: &[u8]) {
    for bytes in [text.as_bytes(), bytes] {
        match quote::shell_word(bytes) {
            None => assert!(bytes.contains(&0), "refused without a NUL"),
            Some(word) => {
                assert!(word.bytes().all(|b| (0x20..0x7f).contains(&b)), "{word}");
                assert_eq!(shell_word(&word), Some((bytes.to_vec(), "")), "{word}");
            }
        }
    }
    check_shell_comment(&quote::shell_comment(text));
    let comment = quote::http_comment(text);
    // Braces only as in `\u{202e}`: never two in a row, a REST client's `{{variable}}`.
    assert!(comment.chars().all(|c| (' '..='~').contains(&c)), "{comment}");
    assert!(!comment.contains("{{") && !comment.contains("}}"), "{comment}");
    let method = quote::http_method(text);
    assert!(
        method
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.%".contains(c)),
        "{method}"
    );
    assert_eq!(percent_decode(&method), text.as_bytes(), "{method}");
    let target = quote::http_target(text);
    assert!(
        target
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && !b"#{}\\\"<>[]^`|".contains(&b)),
        "{target}"
    );
    let name = quote::file_name(text);
    assert!(!name.is_empty() && !name.starts_with('.'), "{name}");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "{name}"
    );
    if let Ok(line) = quote::http_header(text, bytes) {
        assert!(!line.contains("{{") && !line.contains(['\n', '\r']), "{line}");
        assert!(line.starts_with(|c: char| c.is_ascii_alphanumeric()), "{line}");
    }
}

/// Checks everything for `capture`.
pub fn check(capture: &Capture) {
    check_curl(capture);
    check_http(capture);
    for text in [&capture.method, &capture.path, &capture.target()] {
        check_text(text, text.as_bytes());
    }
    for header in &capture.headers {
        check_text(&header.name, &header.value);
    }
    let event = capture.derived.event_type.as_deref().unwrap_or_default();
    check_text(event, &capture.body);
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                at += 3;
            }
            b => {
                out.push(b);
                at += 1;
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let digits: Vec<u8> = chunk.iter().filter(|&&c| c != b'=').map(|&c| value(c)).collect();
        let mut n = 0u32;
        for (i, d) in digits.iter().enumerate() {
            n |= u32::from(*d) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..digits.len().max(1)]);
    }
    out
}
