//! `hookscope open FILE`: the inspector over a saved journal.
//!
//! Reading a journal of a million captures takes seconds, before the inspector can take the
//! screen: meanwhile a line on stderr says how far it has got (on a terminal only).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::OpenArgs;
use crate::hub::Hub;
use crate::journal::{Journal, WriteOptions};
use crate::tui::store::{Loading, Store};
use crate::tui::{self, App, Context};
use crate::units::format_size;

/// How often the loading line is rewritten, at most; a journal read faster never shows it.
const REDRAW: Duration = Duration::from_millis(100);

/// Not documented: milliseconds between two drawings of the loading line instead of
/// [`REDRAW`], so a test can see the line on a journal that loads in a few milliseconds.
const REDRAW_ENV: &str = "HOOKSCOPE_LOADING_REDRAW_MS";

/// Loads the journal's index (bodies stay on disk) and runs the inspector until `q`.
pub async fn run(args: OpenArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    anyhow::ensure!(
        std::io::stdout().is_terminal(),
        "`open` needs a terminal; to print a journal use `hookscope log {}`",
        args.file.display()
    );
    let (analyzer, _) = args.keys.analyzer()?;
    let analyzer = Arc::new(analyzer);
    let mut loading = std::io::stderr().is_terminal().then(|| {
        let total = std::fs::metadata(&args.file).map_or(0, |m| m.len());
        let every = std::env::var(REDRAW_ENV)
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(REDRAW, Duration::from_millis);
        let name = crate::sanitize::line(&args.file.display().to_string()).into_owned();
        LoadingLine::new(std::io::stderr(), name, total, every, Instant::now())
    });
    let (store, problems) = Store::open_with_progress(&args.file, |at| {
        if let Some(line) = &mut loading {
            line.update(at, Instant::now());
        }
    })
    .with_context(|| format!("cannot open {}", args.file.display()))?;
    for problem in &problems {
        tracing::warn!(journal = %args.file.display(), "{problem}");
    }
    let context = Context {
        journal: args.file.display().to_string(),
        insecure: args.tls.insecure,
        ..Context::default()
    };
    let mut app = App::new(store, analyzer.clone(), context);
    if !args.filter.is_empty() {
        app.apply_filter(args.filter.text().to_owned());
    }
    if !problems.is_empty() {
        app.message = Some(format!(
            "{} damaged line{} skipped (first: {})",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems[0]
        ));
    }
    // Replays are journaled beside the captures they replay, so the next `open` shows them too.
    let journal = Journal::open(&args.file, WriteOptions::default())
        .with_context(|| format!("cannot open {} to append replays to it", args.file.display()))?;
    let hub = Hub::new(journal.appender(), analyzer.clone());
    let replayer = tui::Replayer::new(hub.clone(), analyzer, None, args.tls.clone());
    let events = hub.subscribe();
    // The line stays up until the inspector takes the screen (filtering a million rows is
    // not instant either), then leaves no trace in the shell's scrollback.
    drop(loading);
    let shown = tui::run(app, Some(events), Some(replayer), None, std::future::pending()).await;
    drop(hub);
    journal.close().await;
    shown
}

/// The line saying how far a journal has loaded, rewritten in place with `\r`, at most once
/// every `every` and first after `every` has passed; cleared when dropped if it was drawn.
struct LoadingLine<W: Write> {
    out: W,
    /// The journal's name, sanitized.
    name: String,
    /// The journal's size in bytes.
    total: u64,
    every: Duration,
    /// When the line was last drawn (at first, when loading began).
    last: Instant,
    drawn: bool,
}

impl<W: Write> LoadingLine<W> {
    fn new(out: W, name: String, total: u64, every: Duration, now: Instant) -> Self {
        Self {
            out,
            name,
            total,
            every,
            last: now,
            drawn: false,
        }
    }

    /// Draws `at` if the last drawing is `every` old.
    fn update(&mut self, at: Loading, now: Instant) {
        if now.duration_since(self.last) < self.every {
            return;
        }
        self.last = now;
        self.drawn = true;
        let mut text = loading_text(&self.name, at, self.total);
        // A line wider than the terminal wraps, and `\r` would rewrite only its last row.
        if let Ok((columns, _)) = ratatui::crossterm::terminal::size()
            && let Some((cut, _)) = text.char_indices().nth(usize::from(columns.max(2)) - 1)
        {
            text.truncate(cut);
        }
        // A terminal that went away is no reason to stop loading.
        let _ = write!(self.out, "\r\x1b[2K{text}");
        let _ = self.out.flush();
    }
}

impl<W: Write> Drop for LoadingLine<W> {
    fn drop(&mut self) {
        if self.drawn {
            let _ = write!(self.out, "\r\x1b[2K");
            let _ = self.out.flush();
        }
    }
}

/// `loading captures.jsonl: 412,000 captures, 180.0 MB of 420.0 MB…`
fn loading_text(name: &str, at: Loading, total: u64) -> String {
    let mut text = format!(
        "loading {name}: {} captures, {} of {}",
        grouped(at.captures as u64),
        format_size(at.read),
        format_size(total.max(at.read)),
    );
    if at.skipped > 0 {
        let s = if at.skipped == 1 { "" } else { "s" };
        text.push_str(&format!(
            ", {} damaged line{s} skipped",
            grouped(at.skipped as u64)
        ));
    }
    text.push('…');
    text
}

/// `412000` as `412,000`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(captures: usize, read: u64, skipped: usize) -> Loading {
        Loading {
            captures,
            read,
            skipped,
        }
    }

    #[test]
    fn the_line_says_captures_bytes_and_damage() {
        assert_eq!(
            loading_text("captures.jsonl", at(412_000, 180_000_000, 0), 420_000_000),
            "loading captures.jsonl: 412,000 captures, 180.0 MB of 420.0 MB…"
        );
        assert_eq!(
            loading_text("j", at(1024, 2048, 1), 4096),
            "loading j: 1,024 captures, 2.0 KB of 4.1 KB, 1 damaged line skipped…"
        );
        for (n, text) in [(0, "0"), (999, "999"), (1000, "1,000"), (1_234_567, "1,234,567")] {
            assert_eq!(grouped(n), text);
        }
    }

    #[test]
    fn the_line_is_drawn_at_most_once_a_redraw_and_cleared_only_if_drawn() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        let mut out = Vec::new();
        {
            let mut line = LoadingLine::new(&mut out, "j".into(), 100, REDRAW, start);
            line.update(at(1, 10, 0), ms(50)); // too soon after the start
            line.update(at(2, 20, 0), ms(100));
            line.update(at(3, 30, 0), ms(150)); // too soon after the last
            line.update(at(4, 40, 0), ms(210));
        }
        let text = String::from_utf8(out).expect("text");
        assert_eq!(
            text,
            "\r\x1b[2Kloading j: 2 captures, 20 B of 100 B…\
             \r\x1b[2Kloading j: 4 captures, 40 B of 100 B…\
             \r\x1b[2K"
        );
        let mut quiet = Vec::new();
        {
            let mut line = LoadingLine::new(&mut quiet, "j".into(), 100, REDRAW, start);
            line.update(at(1, 10, 0), ms(99));
        }
        assert!(quiet.is_empty(), "a journal loaded within a redraw shows nothing");
    }
}
