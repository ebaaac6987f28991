//! Making webhook bytes safe to show on a terminal.
//!
//! Anything a sender controls (path, headers, body) may carry escape sequences that move the
//! cursor, rewrite the title, or hide text with bidi overrides. Before such text reaches a
//! terminal it goes through here: every control character, C1 control, bidi control and Unicode
//! line or paragraph separator becomes a visible escape (`\x1b`, `\u{202e}`), and bytes that are
//! not UTF-8 become `\xNN`. Nothing is dropped silently, so what the developer sees still says
//! what was sent. The same characters are escaped in JSON output (`codec`) and exports
//! (`export::quote`), each in its own form.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is a bidi control: it reorders the text around it without showing itself.
fn is_bidi(c: char) -> bool {
    matches!(c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' // arabic letter mark, LRM, RLM
        | '\u{202a}'..='\u{202e}'            // embeddings and overrides
        | '\u{2066}'..='\u{2069}'            // isolates
    )
}

/// Whether `c` must not reach a terminal as is: C0, DEL, C1, bidi controls, and the Unicode
/// line and paragraph separators (some viewers break lines there). The characters outside
/// ASCII among these are also the ones JSON output escapes.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Appends the visible escape of `c`: `\x1b` up to U+00FF, `\u{202e}` above.
pub(crate) fn escape(c: char, out: &mut String) {
    let code = u32::from(c);
    // Writing to a String cannot fail.
    let _ = match code {
        0..=0xff => write!(out, "\\x{code:02x}"),
        _ => write!(out, "\\u{{{code:x}}}"),
    };
}

fn sanitize_with(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match is_unsafe(c) && !keep(c) {
            true => escape(c, &mut out),
            false => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Text for one line of output: every control character is escaped, newlines and tabs too.
pub fn line(text: &str) -> Cow<'_, str> {
    sanitize_with(text, |_| false)
}

/// Text shown as a block: newlines and tabs are kept, every other control is escaped.
pub fn block(text: &str) -> Cow<'_, str> {
    sanitize_with(text, |c| c == '\n' || c == '\t')
}

/// A URL for one line of output, as [`line`], with the password of its user info masked
/// (`http://user:***@host/`): a forward target's credentials are not for the screen or a log.
pub fn url(text: &str) -> Cow<'_, str> {
    let masked = text.split_once("://").and_then(|(scheme, rest)| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let (userinfo, host) = authority.rsplit_once('@')?;
        let (user, _password) = userinfo.split_once(':')?;
        let after = &rest[authority.len()..];
        Some(format!("{scheme}://{user}:***@{host}{after}"))
    });
    match masked {
        Some(masked) => Cow::Owned(line(&masked).into_owned()),
        None => line(text),
    }
}

/// Raw bytes for one line of output: invalid UTF-8 becomes `\xNN`, then as [`line`].
pub fn bytes_line(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&line(chunk.valid()));
        for byte in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_interpret() {
        let cases = [
            ("plain /hooks?a=1", "plain /hooks?a=1"),
            ("\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07"),
            ("a\rb\nc\td", "a\\x0db\\x0ac\\x09d"),
            ("del\x7f c1\u{9b}31m", "del\\x7f c1\\x9b31m"),
            ("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe"),
            ("\u{2066}iso\u{2069}", "\\u{2066}iso\\u{2069}"),
            (
                "marks \u{200e}\u{200f}\u{61c}",
                "marks \\u{200e}\\u{200f}\\u{61c}",
            ),
            ("c1 \u{9d}\u{85}", "c1 \\x9d\\x85"),
            ("lines\u{2028}\u{2029}", "lines\\u{2028}\\u{2029}"),
            ("héllo ✓ 日本", "héllo ✓ 日本"),
        ];
        for (input, expected) in cases {
            assert_eq!(line(input), expected, "{input:?}");
        }
    }

    #[test]
    fn a_urls_password_is_masked_and_the_rest_kept() {
        assert_eq!(
            url("http://u:pw@127.0.0.1:3000/a?b=c@d"),
            "http://u:***@127.0.0.1:3000/a?b=c@d"
        );
        assert_eq!(url("https://u:p:w@host#x"), "https://u:***@host#x");
        // A user without a password, no user info, an @ only past the authority: as they are.
        assert_eq!(url("http://u@host/"), "http://u@host/");
        assert_eq!(url("http://host/a@b"), "http://host/a@b");
        assert_eq!(url("not a url"), "not a url");
        // Still one safe line.
        assert_eq!(url("http://u:p@h/\x1b[2J"), "http://u:***@h/\\x1b[2J");
    }

    #[test]
    fn block_keeps_layout_but_not_escapes() {
        assert_eq!(
            block("{\n\t\"a\": \"\x1b[31m\"\n}"),
            "{\n\t\"a\": \"\\x1b[31m\"\n}"
        );
        assert_eq!(block("cr\r"), "cr\\x0d");
    }

    #[test]
    fn clean_text_is_not_copied() {
        assert!(matches!(line("/hooks/dolby"), Cow::Borrowed(_)));
    }

    #[test]
    fn invalid_utf8_becomes_visible_bytes() {
        assert_eq!(bytes_line(b"caf\xe9 \x1b"), "caf\\xe9 \\x1b");
        assert_eq!(bytes_line(b"\xff\xfe"), "\\xff\\xfe");
    }
}
