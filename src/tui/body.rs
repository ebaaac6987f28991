//! How a body is shown: pretty, highlighted JSON; other text as is; binary as a hex dump; an
//! image as its type, size and dimensions. Pure: bytes in, styled lines out, every line
//! sanitized.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::sanitize;
use crate::units::format_size;

/// Bodies longer than this many lines are cut (the whole body is one `s` away).
pub const MAX_LINES: usize = 5_000;

/// The shown form of a body: a one-line description and the lines.
pub struct Rendered {
    /// `JSON, 1.2 KB` or `image/png, 14 KB, 320×180`.
    pub summary: String,
    /// The lines to draw.
    pub lines: Vec<Line<'static>>,
}

/// Renders `body`, declared as `content_type`.
pub fn render(body: &[u8], content_type: Option<&str>) -> Rendered {
    let size = format_size(body.len() as u64);
    if body.is_empty() {
        return Rendered {
            summary: "empty body".into(),
            lines: vec![Line::styled("(no body)", Style::new().fg(Color::DarkGray))],
        };
    }
    if let Some((kind, width, height)) = image_info(body) {
        let mut lines = vec![Line::styled(
            format!("{kind} image, {size}, {width}×{height}"),
            Style::new().add_modifier(Modifier::BOLD),
        )];
        lines.push(Line::raw(""));
        lines.extend(hex_dump(body));
        return Rendered {
            summary: format!("{kind}, {size}, {width}×{height}"),
            lines,
        };
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Ok(pretty) = serde_json::to_string_pretty(&value)
    {
        return Rendered {
            summary: format!("JSON, {size}"),
            lines: cap(pretty.lines().map(json_line)),
        };
    }
    match std::str::from_utf8(body) {
        Ok(text) => Rendered {
            summary: format!("{}, {size}", content_type.unwrap_or("text")),
            lines: cap(text
                .lines()
                .map(|l| Line::raw(sanitize::line(&l.replace('\t', "    ")).into_owned()))),
        },
        Err(_) => Rendered {
            summary: format!("{}, {size}, binary", content_type.unwrap_or("bytes")),
            lines: hex_dump(body),
        },
    }
}

fn cap(lines: impl Iterator<Item = Line<'static>>) -> Vec<Line<'static>> {
    let mut out: Vec<Line<'static>> = lines.take(MAX_LINES + 1).collect();
    if out.len() > MAX_LINES {
        out.truncate(MAX_LINES);
        out.push(Line::styled(
            format!("… cut at {MAX_LINES} lines: press s to save the whole body"),
            Style::new().fg(Color::Yellow),
        ));
    }
    out
}

const KEY: Style = Style::new().fg(Color::Cyan);
const STRING: Style = Style::new().fg(Color::Green);
const NUMBER: Style = Style::new().fg(Color::Magenta);
const LITERAL: Style = Style::new().fg(Color::Yellow);
const PUNCT: Style = Style::new().fg(Color::DarkGray);

/// Highlights one line of serde_json's pretty output. The line is sanitized first: serde_json
/// escapes C0 controls but leaves C1 controls and bidi overrides as they are.
fn json_line(line: &str) -> Line<'static> {
    let line = sanitize::line(line);
    let mut spans = Vec::new();
    let mut rest: &str = &line;
    while !rest.is_empty() {
        let first = rest.chars().next().unwrap_or(' ');
        let (token, style) = match first {
            '"' => {
                let end = string_end(rest);
                let after = rest[end..].trim_start();
                let style = if after.starts_with(':') { KEY } else { STRING };
                (&rest[..end], style)
            }
            '-' | '0'..='9' => {
                let end = rest
                    .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
                    .unwrap_or(rest.len());
                (&rest[..end], NUMBER)
            }
            c if c.is_alphabetic() => {
                let end = rest.find(|c: char| !c.is_alphabetic()).unwrap_or(rest.len());
                (&rest[..end], LITERAL)
            }
            c if c.is_whitespace() => {
                let end = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
                (&rest[..end], Style::new())
            }
            c => (&rest[..c.len_utf8()], PUNCT),
        };
        spans.push(Span::styled(token.to_owned(), style));
        rest = &rest[token.len()..];
    }
    Line::from(spans)
}

/// The byte length of the JSON string at the start of `text` (quotes included).
fn string_end(text: &str) -> usize {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return i + 1,
            _ => {}
        }
    }
    text.len()
}

/// 16 bytes a line: offset, hex, and the printable ASCII.
pub fn hex_dump(body: &[u8]) -> Vec<Line<'static>> {
    let lines = body.chunks(16).enumerate().map(|(i, chunk)| {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        Line::from(vec![
            Span::styled(format!("{:08x}  ", i * 16), PUNCT),
            Span::raw(format!("{:<48}", hex.join(" "))),
            Span::styled(format!(" {ascii}"), Style::new().fg(Color::DarkGray)),
        ])
    });
    cap(lines)
}

/// The type and dimensions of a PNG, GIF or JPEG image (a thumbnail hook, say).
pub fn image_info(body: &[u8]) -> Option<(&'static str, u32, u32)> {
    let be16 = |b: &[u8], at: usize| {
        b.get(at..at + 2)
            .map(|s| u32::from(u16::from_be_bytes([s[0], s[1]])))
    };
    let le16 = |b: &[u8], at: usize| {
        b.get(at..at + 2)
            .map(|s| u32::from(u16::from_le_bytes([s[0], s[1]])))
    };
    let be32 = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    if body.starts_with(b"\x89PNG\r\n\x1a\n") && body.get(12..16) == Some(b"IHDR") {
        return Some(("image/png", be32(body, 16)?, be32(body, 20)?));
    }
    if body.starts_with(b"GIF87a") || body.starts_with(b"GIF89a") {
        return Some(("image/gif", le16(body, 6)?, le16(body, 8)?));
    }
    if body.starts_with(&[0xff, 0xd8]) {
        // Walk the segments to a start-of-frame marker, which holds the dimensions.
        let mut at = 2;
        while at + 4 <= body.len() {
            if body[at] != 0xff {
                return None;
            }
            let marker = body[at + 1];
            if marker == 0xff {
                at += 1;
                continue;
            }
            let length = be16(body, at + 2)? as usize;
            if matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
                return Some(("image/jpeg", be16(body, at + 7)?, be16(body, at + 5)?));
            }
            at += 2 + length;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line<'_>]) -> String {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn json_is_pretty_and_keys_are_highlighted() {
        let shown = render(
            br#"{"type":"channel.stopped","n":-1.5e3,"ok":true,"s":"a\"b:"}"#,
            None,
        );
        assert_eq!(shown.summary, "JSON, 59 B");
        assert_eq!(
            text(&shown.lines),
            "{\n  \"type\": \"channel.stopped\",\n  \"n\": -1500.0,\n  \"ok\": true,\n  \"s\": \"a\\\"b:\"\n}"
        );
        let line = &shown.lines[1];
        assert_eq!(line.spans[1].content, "\"type\"");
        assert_eq!(line.spans[1].style, KEY);
        assert_eq!(line.spans[4].style, STRING);
        let escaped = &shown.lines[4];
        assert_eq!(escaped.spans[4].content, "\"a\\\"b:\"");
        assert_eq!(escaped.spans[4].style, STRING);
    }

    #[test]
    fn hostile_text_is_escaped() {
        let shown = render("{\"a\":\"\u{202e}\u{9b}31m\"}".as_bytes(), None);
        let all = text(&shown.lines);
        assert!(!all.chars().any(|c| c == '\u{202e}' || c == '\u{9b}'), "{all}");
        assert!(all.contains("\\u{202e}\\x9b31m"), "{all}");
        let plain = render(b"line1\x1b]0;pwned\x07\r\nline2\tx", Some("text/plain"));
        assert_eq!(text(&plain.lines), "line1\\x1b]0;pwned\\x07\nline2    x");
    }

    #[test]
    fn binary_is_a_hex_dump() {
        let shown = render(&[0, 1, 2, 0xff, b'A'], Some("application/octet-stream"));
        assert_eq!(shown.summary, "application/octet-stream, 5 B, binary");
        assert_eq!(
            text(&shown.lines),
            format!("00000000  {:<48} ...A", "00 01 02 ff 41").replace("...A", "....A")
        );
    }

    #[test]
    fn images_show_their_dimensions() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&320u32.to_be_bytes());
        png.extend_from_slice(&180u32.to_be_bytes());
        assert_eq!(image_info(&png), Some(("image/png", 320, 180)));
        let gif = b"GIF89a\x40\x01\xb4\x00";
        assert_eq!(image_info(gif), Some(("image/gif", 320, 180)));
        // SOI, an APP0 segment of 4 bytes, then SOF0 with height 180 and width 320.
        let jpeg = [
            0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 17, 8, 0, 180, 1, 64,
        ];
        assert_eq!(image_info(&jpeg), Some(("image/jpeg", 320, 180)));
        assert_eq!(image_info(&[0xff, 0xd8, 0xff]), None);
        assert_eq!(image_info(b"GIF8"), None);
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "x\n".repeat(MAX_LINES + 10);
        let shown = render(body.as_bytes(), Some("text/plain"));
        assert_eq!(shown.lines.len(), MAX_LINES + 1);
    }
}
