//! A server-sent events parser (the `text/event-stream` format of the HTML standard) with a
//! bound: a line or event longer than the limit is dropped and reported, never buffered whole,
//! so a hostile server cannot make us hold more than the limit however long it talks.
//!
//! Pure: bytes in, events out. Fields other than `event` and `data` (`id`, `retry`) and comment
//! lines (`:`) are read and ignored: smee's stream needs neither.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// An event: its type (`message` when none was given) and its data lines joined by `\n`.
    Event {
        /// The `event:` field.
        kind: String,
        /// The `data:` fields.
        data: String,
    },
    /// An event or line over the limit was dropped; its size so far.
    TooLong(usize),
}

/// Splits a byte stream into events.
#[derive(Debug)]
pub struct Parser {
    limit: usize,
    line: Vec<u8>,
    /// The line being read is over the limit: skip to its end.
    skipping_line: bool,
    /// The event being read is over the limit: skip to the blank line that ends it.
    skipping_event: bool,
    kind: String,
    data: String,
    /// Whether any `data:` field was seen in this event.
    has_data: bool,
    /// The previous chunk ended in `\r`: a `\n` first in the next one belongs to it.
    after_cr: bool,
}

impl Parser {
    /// A parser that holds at most about `limit` bytes of one event.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            line: Vec::new(),
            skipping_line: false,
            skipping_event: false,
            kind: String::new(),
            data: String::new(),
            has_data: false,
            after_cr: false,
        }
    }

    /// Feeds `bytes`; returns the events they completed.
    ///
    /// ```
    /// use hookscope::smee::sse::{Parser, Sse};
    ///
    /// let mut parser = Parser::new(1024);
    /// assert_eq!(parser.feed(b"id: 0\nevent: ready\nda"), vec![]);
    /// assert_eq!(
    ///     parser.feed(b"ta: {}\n\ndata: {\"a\":1}\n\n"),
    ///     vec![
    ///         Sse::Event { kind: "ready".into(), data: "{}".into() },
    ///         Sse::Event { kind: "message".into(), data: "{\"a\":1}".into() },
    ///     ]
    /// );
    /// ```
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Sse> {
        let mut out = Vec::new();
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.take(&bytes[..end]);
                    let crlf = bytes[end] == b'\r';
                    bytes = &bytes[end + 1..];
                    if crlf {
                        match bytes.first() {
                            Some(b'\n') => bytes = &bytes[1..],
                            None => self.after_cr = true,
                            Some(_) => {}
                        }
                    }
                    let line = std::mem::take(&mut self.line);
                    let skipped = std::mem::replace(&mut self.skipping_line, false);
                    if !skipped {
                        self.line_done(&line, &mut out);
                    }
                    self.line = line;
                    self.line.clear();
                }
                None => {
                    self.take(bytes);
                    bytes = &[];
                }
            }
        }
        out
    }

    /// Adds part of a line, unless the line or the event is over the limit.
    fn take(&mut self, part: &[u8]) {
        if self.skipping_line {
            return;
        }
        if self.line.len() + part.len() + self.data.len() > self.limit {
            self.skipping_line = true;
            self.skipping_event = true;
            self.line.clear();
            return;
        }
        self.line.extend_from_slice(part);
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Sse>) {
        if line.is_empty() {
            if std::mem::replace(&mut self.skipping_event, false) {
                out.push(Sse::TooLong(self.limit));
            } else if self.has_data {
                let mut data = std::mem::take(&mut self.data);
                if data.ends_with('\n') {
                    data.pop();
                }
                let kind = match std::mem::take(&mut self.kind) {
                    kind if kind.is_empty() => "message".to_owned(),
                    kind => kind,
                };
                out.push(Sse::Event { kind, data });
            }
            self.kind.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if self.skipping_event || line.starts_with(b":") {
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.kind = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, data: &str) -> Sse {
        Sse::Event {
            kind: kind.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_split_anywhere_and_any_line_ending_parse_alike() {
        let stream = b"id: 0\nevent: ready\ndata: {}\n\n: comment\nid: 1\ndata: {\"x\":\ndata: 2}\n\nid: 2\nevent: ping\ndata: {}\n\n";
        let expected = vec![
            event("ready", "{}"),
            event("message", "{\"x\":\n2}"),
            event("ping", "{}"),
        ];
        for ending in ["\n", "\r\n", "\r"] {
            let text = String::from_utf8_lossy(stream).replace('\n', ending);
            for split in 0..text.len() {
                let mut parser = Parser::new(1024);
                let mut got = parser.feed(&text.as_bytes()[..split]);
                got.extend(parser.feed(&text.as_bytes()[split..]));
                assert_eq!(got, expected, "{ending:?} split at {split}");
            }
        }
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        let mut parser = Parser::new(1024);
        assert_eq!(
            parser.feed(b"event: x\nid: 3\n\n\n\ndata\n\n"),
            vec![event("message", "")]
        );
    }

    #[test]
    fn a_line_over_the_limit_drops_its_event_and_the_next_one_parses() {
        let mut parser = Parser::new(64);
        let mut got = parser.feed(b"data: {\"a\":");
        for _ in 0..1000 {
            got.extend(parser.feed(&[b'x'; 100]));
            assert!(parser.line.len() <= 64, "{}", parser.line.len());
        }
        got.extend(parser.feed(b"}\ndata: more\n\ndata: ok\n\n"));
        assert_eq!(got, vec![Sse::TooLong(64), event("message", "ok")]);
    }

    #[test]
    fn many_lines_cannot_grow_an_event_past_the_limit() {
        let mut parser = Parser::new(64);
        let mut got = Vec::new();
        for _ in 0..100 {
            got.extend(parser.feed(b"data: 0123456789\n"));
            assert!(parser.data.len() <= 64);
        }
        got.extend(parser.feed(b"\ndata: ok\n\n"));
        assert_eq!(got, vec![Sse::TooLong(64), event("message", "ok")]);
    }
}
