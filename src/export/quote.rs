//! Capture text made safe for each place an export writes it: one function per context.
//!
//! A sender chose every byte of a capture. Where that text lands in a script or a request file it
//! must stay data: a shell word decodes to exactly its bytes, a comment cannot end (no line break
//! of any kind survives in it), a `.http` line cannot turn into another line or a REST client's
//! `{{variable}}`, a file name cannot leave its directory. Everything these functions return is
//! printable ASCII, so an export also reads the same in any editor or terminal, whatever bidi
//! controls the capture held. Checked by `fuzz/fuzz_targets/export_quoting.rs` and, with bash
//! itself, by `tests/hostile.rs`.

use std::fmt::Write as _;

use crate::sanitize;

/// A shell word (bash, zsh) that the shell reads back as exactly `bytes`: ANSI-C quoting
/// (`$'…'`), printable ASCII only. `!` is escaped too, so that pasting into an interactive shell
/// cannot expand history. `None` when `bytes` hold a NUL, which no shell word can.
///
/// ```
/// use hookscope::export::quote::shell_word;
/// assert_eq!(shell_word(b"it's\n$(id)!").as_deref(), Some(r"$'it\'s\n$(id)\x21'"));
/// assert_eq!(shell_word(b"a\0b"), None);
/// ```
pub fn shell_word(bytes: &[u8]) -> Option<String> {
    if bytes.contains(&0) {
        return None;
    }
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push_str("$'");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            b'!' => out.push_str("\\x21"),
            0x20..=0x7e => out.push(char::from(b)),
            // Control bytes and UTF-8, byte by byte: always two hex digits, so the character
            // after an escape is never read as part of it.
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('\'');
    Some(out)
}

/// Text for the rest of a `# ` comment line in a shell script. Letters, digits, spaces and
/// `-_.,:/+=@%` pass; anything else becomes a visible escape (`\x0a`, `\x24`, `\u{202e}`), so
/// no line break can end the comment and, pasted into a shell that does not take `#` as a
/// comment (zsh by default), nothing in it is expanded or run.
///
/// ```
/// use hookscope::export::quote::shell_comment;
/// assert_eq!(shell_comment("x\ntouch /tmp/p $(id)"), r"x\x0atouch /tmp/p \x24\x28id\x29");
/// ```
pub fn shell_comment(text: &str) -> String {
    visible(text, |c| {
        c.is_ascii_alphanumeric()
            || matches!(c, ' ' | '-' | '_' | '.' | ',' | ':' | '/' | '+' | '=' | '@' | '%')
    })
}

/// The method on a `.http` request line: letters, digits and `-_.` as they are, every other
/// byte as `%XX`, so the line cannot start as a comment (`#`), a separator (`###`), a script
/// (`<`, `>`) or a variable (`@`).
pub fn http_method(method: &str) -> String {
    percent(method, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
    })
}

/// The request target on a `.http` request line, after `{{base}}`: the characters a URL may
/// hold as they are (`%` too, so the sender's own escapes stay), every other byte as `%XX`:
/// spaces, controls, UTF-8, `#`, and `{` `}`, which a REST client would take for a variable.
pub fn http_target(target: &str) -> String {
    percent(target, |b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
                    | b'%'
            )
    })
}

/// A header as a `.http` header line, or why it cannot be written as one (the caller notes it in
/// a comment instead). The name must be an HTTP token starting with a letter or digit (a line
/// starting with `#`, `&` or `?` means something else to a REST client); the value must be
/// UTF-8 with no control character but tab, no bidi control or line separator, and no `{{`,
/// which a REST client would substitute (`{{$processEnv SECRET}}`).
pub fn http_header(name: &str, value: &[u8]) -> Result<String, &'static str> {
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) || !is_token(name) {
        return Err("its name is not an HTTP token");
    }
    let Ok(value) = std::str::from_utf8(value) else {
        return Err("its value is not UTF-8");
    };
    if value.chars().any(|c| c != '\t' && sanitize::is_unsafe(c)) {
        return Err("its value holds control or bidi characters");
    }
    if value.contains("{{") {
        return Err("its value holds two opening braces, which a REST client would substitute");
    }
    Ok(format!("{name}: {value}"))
}

/// Whether `name` is an HTTP token, as a header name must be (RFC 9110): what a header line or
/// curl's `-H` can carry as a name without it meaning something else.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Text for the rest of a `# ` or `### ` comment line in a `.http` file: printable ASCII but
/// `\`, `{` and `}` as it is, anything else as a visible escape (`\x0a`, `\x7b`, `\u{202e}`),
/// so no line break can end the comment and no `{{variable}}` appears in it.
pub fn http_comment(text: &str) -> String {
    visible(text, |c| matches!(c, ' '..='~') && !matches!(c, '\\' | '{' | '}'))
}

/// Whether a text body can be written as it is after a `.http` request's headers. It cannot
/// when a REST client would read one of its lines as something else (`###` a new request, `<`
/// a file or script, `>` a response handler or a redirect to a file, `#` or `//` a comment),
/// when it holds `{{`, or characters that are not shown (controls but tab and newline, bidi
/// controls, line separators); such a body goes to a file beside it.
pub fn http_inline_body(text: &str) -> bool {
    let special_line = text.split('\n').any(|line| {
        let line = line.trim_start();
        ["#", "<", ">", "//"].iter().any(|start| line.starts_with(start))
    });
    !special_line
        && !text.contains("{{")
        && !text
            .chars()
            .any(|c| c != '\t' && c != '\n' && sanitize::is_unsafe(c))
}

/// A file name (one path component) made of `text`: ASCII letters, digits and `-_.` kept, any
/// other character `_`, and a leading `.` as `_`, so it is never hidden, `.` or `..`, and
/// never holds a separator.
pub fn file_name(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                true => c,
                false => '_',
            },
        )
        .collect();
    match name.starts_with('.') {
        true => name.replace_range(..1, "_"),
        false if name.is_empty() => name.push('_'),
        false => {}
    }
    name
}

/// `text` with every character `keep` refuses as a visible escape.
fn visible(text: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match keep(c) {
            true => out.push(c),
            false => sanitize::escape(c, &mut out),
        }
    }
    out
}

/// `text` with every byte `keep` refuses as `%XX`.
fn percent(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match keep(b) {
            true => out.push(char::from(b)),
            false => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_cover_every_byte_but_nul() {
        assert_eq!(shell_word(b"plain").as_deref(), Some("$'plain'"));
        assert_eq!(
            shell_word(b"it's \\ \"q\"\n").as_deref(),
            Some("$'it\\'s \\\\ \"q\"\\n'")
        );
        assert_eq!(
            shell_word("é\x1b".as_bytes()).as_deref(),
            Some("$'\\xc3\\xa9\\x1b'")
        );
        assert_eq!(shell_word(b"!!").as_deref(), Some("$'\\x21\\x21'"));
        // Tab and CR read as the letters a person knows, as newline does, not as `\x09`, `\x0d`.
        assert_eq!(shell_word(b"a\tb\r\n").as_deref(), Some("$'a\\tb\\r\\n'"));
        assert_eq!(shell_word(b"a\0b"), None);
    }

    #[test]
    fn comments_cannot_end_or_run_anything() {
        let hostile = "x\ntouch /tmp/PWNED\n#\r\u{2028}\u{85}`id`;$(id)|&<>\u{202e}";
        for comment in [shell_comment(hostile), http_comment(hostile)] {
            assert!(comment.bytes().all(|b| (0x20..0x7f).contains(&b)), "{comment}");
            assert!(
                comment.contains(r"\x0a") && comment.contains(r"\u{202e}"),
                "{comment}"
            );
        }
        assert!(!shell_comment(hostile).contains(['`', ';', '$', '(', '|', '&', '<', '>']));
        assert_eq!(
            http_comment("{{$processEnv HOME}}"),
            r"\x7b\x7b$processEnv HOME\x7d\x7d"
        );
        assert_eq!(
            shell_comment("optiview channel.stopped"),
            "optiview channel.stopped"
        );
    }

    #[test]
    fn http_lines_cannot_become_other_lines() {
        assert_eq!(http_method("POST"), "POST");
        assert_eq!(http_method("###"), "%23%23%23");
        assert_eq!(
            http_target("/a b\n#x{{y}}?q=%20&é"),
            "/a%20b%0A%23x%7B%7By%7D%7D?q=%20&%C3%A9"
        );
        assert_eq!(http_header("X-A", b"1\t2").as_deref(), Ok("X-A: 1\t2"));
        for (name, value) in [
            ("#X", &b"1"[..]),
            ("&x", b"1"),
            ("X A", b"1"),
            ("", b"1"),
            ("X", b"a\nb"),
            ("X", b"\xff"),
            ("X", "\u{202e}".as_bytes()),
            ("X", b"{{$processEnv HOME}}"),
        ] {
            assert!(http_header(name, value).is_err(), "{name:?}: {value:?}");
        }
    }

    #[test]
    fn only_plain_bodies_are_inline() {
        assert!(http_inline_body("{\n  \"a\": \"# not at the start\"\n}"));
        for body in [
            "a\n### b",
            "< /etc/passwd",
            "x\n> {% client.x %}",
            "  # c",
            "// c",
            "{{x}}",
            "a\rb",
            "\u{202e}",
        ] {
            assert!(!http_inline_body(body), "{body:?}");
        }
    }

    #[test]
    fn file_names_stay_in_their_directory() {
        for (text, name) in [
            ("01JD", "01JD"),
            ("../../etc/passwd", "_._.._etc_passwd"),
            ("..", "_."),
            (".hidden", "_hidden"),
            ("", "_"),
            ("a/b\\c d\u{202e}", "a_b_c_d_"),
        ] {
            assert_eq!(file_name(text), name, "{text:?}");
        }
    }
}
