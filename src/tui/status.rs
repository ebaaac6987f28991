//! The status bar: where captures come from and where they go, the counts, the rate and the
//! view's state, fitted to the terminal's width. Every part has a few forms, longest first;
//! when the whole does not fit, parts are shortened, then left out, the least important first
//! ([`STEPS`]): the counts, the pause or follow state and the listen address stay longest, and
//! `--insecure`'s warning never goes. A
//! text cut to fit ends with `…`, so nothing is ever cut mid-word without saying so.

use std::path::Path;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::App;
use super::ui::{DIM, fit};
use crate::sanitize;

/// One part of the bar in each of its forms, longest first; an empty form leaves it out.
struct Part {
    forms: Vec<Vec<Span<'static>>>,
    /// The form shown.
    level: usize,
}

impl Part {
    fn new(forms: Vec<Vec<Span<'static>>>) -> Self {
        Self { forms, level: 0 }
    }

    fn shown(&self) -> &[Span<'static>] {
        self.forms.get(self.level).map_or(&[], Vec::as_slice)
    }

    fn width(&self) -> usize {
        self.shown().iter().map(Span::width).sum()
    }
}

// The parts, in the order they are drawn.
const BRAND: usize = 0;
/// `--insecure`'s warning: in no step of [`STEPS`], so it never gives way.
const INSECURE: usize = 1;
const SOURCE: usize = 2;
const RELAY: usize = 3;
const FORWARD: usize = 4;
const COUNTS: usize = 5;
const RATE: usize = 6;
const MISSED: usize = 7;
const STATE: usize = 8;
const PUBLIC: usize = 9;

/// What gives way when the bar is too wide, in order: a part and the form it is brought down
/// to (a part with fewer forms is left out at its last). The sparkline and the name go first,
/// then the long forms of the addresses and counts, then whole parts; the counts, the state
/// and the source are the last to shrink, and the source is cut with `…` only when nothing
/// else is left to give.
const STEPS: [(usize, usize); 18] = [
    (RATE, 1),    // the sparkline's last 10 seconds
    (RATE, 2),    // the rate in figures only
    (BRAND, 1),   // " hookscope "
    (FORWARD, 1), // "no forward" goes; a target loses its http://
    (SOURCE, 1),  // the listen address without http://, the journal's file name
    (RELAY, 1),   // the relay's state without its URL
    (COUNTS, 1),  // "captured 9  shown 4" as "shown 4/9"
    (RATE, 3),
    (FORWARD, 2), // the target cut with …
    (RELAY, 2),   // the state cut with …
    (MISSED, 1),  // "3 missed (in the journal)" as "3 missed"
    (FORWARD, 3),
    (RELAY, 3),
    (PUBLIC, 1), // the public URL or smee state cut with …
    (STATE, 1),  // "following" as "follow"
    (COUNTS, 2), // "4/9"
    (MISSED, 2),
    (PUBLIC, 2),
];

// `--insecure`'s warning is in no step: it never gives way.
const _: () = {
    let mut step = 0;
    while step < STEPS.len() {
        assert!(STEPS[step].0 != INSECURE);
        step += 1;
    }
};

/// The columns between two parts.
const GAP: usize = 2;

/// Draws the status bar.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    frame.render_widget(Paragraph::new(line(app, area.width as usize)), area);
}

/// The status bar's line in `width` columns.
pub fn line(app: &App, width: usize) -> Line<'static> {
    let mut parts = parts(app);
    let total = |parts: &[Part]| {
        let shown: Vec<usize> = parts.iter().map(Part::width).filter(|&w| w > 0).collect();
        let brand = usize::from(parts[BRAND].width() > 0 && shown.len() > 1);
        (shown.iter().sum::<usize>() + GAP * shown.len().saturating_sub(1)).saturating_sub(brand)
    };
    let mut given = Vec::new();
    for (part, level) in STEPS {
        if total(&parts) <= width {
            break;
        }
        let part_at = &mut parts[part];
        given.push((part, part_at.level));
        part_at.level = part_at.level.max(level).min(part_at.forms.len() - 1);
    }
    // A step can free more than was needed (a whole part left out): what fits again comes
    // back, the last given (the more important) first.
    for (part, level) in given.into_iter().rev() {
        let now = parts[part].level;
        parts[part].level = level;
        if total(&parts) > width {
            parts[part].level = now;
        }
    }
    if total(&parts) > width && parts[SOURCE].width() > 0 {
        // The source takes what is left, cut with …: at least its symbol and one character.
        let over = total(&parts) - width;
        let text: String = parts[SOURCE].shown().iter().map(|s| s.content.as_ref()).collect();
        let room = parts[SOURCE].width().saturating_sub(over).max(2);
        parts[SOURCE].forms.push(vec![Span::raw(fit(&text, room))]);
        parts[SOURCE].level = parts[SOURCE].forms.len() - 1;
    }
    let mut spans = Vec::new();
    let mut after = None;
    for (i, part) in parts.iter().enumerate().filter(|(_, p)| p.width() > 0) {
        // The name is padded on its own: one space after it.
        match after {
            None => {}
            Some(BRAND) => spans.push(Span::raw(" ".repeat(GAP - 1))),
            Some(_) => spans.push(Span::raw(" ".repeat(GAP))),
        }
        spans.extend(part.shown().iter().cloned());
        after = Some(i);
    }
    cut(spans, width)
}

/// The spans in `width` columns; when they do not fit, the last one shown ends with `…`.
fn cut(spans: Vec<Span<'static>>, width: usize) -> Line<'static> {
    let mut room = width;
    let mut kept = Vec::new();
    for span in spans {
        let span_width = span.width();
        if span_width <= room {
            room -= span_width;
            kept.push(span);
            continue;
        }
        let style = span.style;
        kept.push(Span::styled(fit(&span.content, room), style));
        break;
    }
    Line::from(kept)
}

fn parts(app: &App) -> Vec<Part> {
    let context = &app.context;
    let brand = Span::styled(
        " hookscope ",
        Style::new().fg(Color::Black).bg(Color::Cyan).bold(),
    );
    let source = match &context.listen {
        Some(addr) => {
            let dot = || Span::styled("● ", Style::new().fg(Color::Green));
            let bare = addr.strip_prefix("http://").unwrap_or(addr);
            vec![
                vec![dot(), Span::raw(addr.clone())],
                vec![dot(), Span::raw(bare.to_owned())],
            ]
        }
        None => {
            let path = sanitize::line(&context.journal).into_owned();
            let name = Path::new(&context.journal).file_name().map_or_else(
                || path.clone(),
                |n| sanitize::line(&n.to_string_lossy()).into_owned(),
            );
            vec![
                vec![Span::styled("journal ", DIM), Span::raw(path)],
                vec![Span::raw(name)],
            ]
        }
    };
    let relay = match &context.relay {
        Some(relay) => {
            let relay = sanitize::line(relay).into_owned();
            let state = relay.split(" · ").next().unwrap_or_default().to_owned();
            vec![
                vec![Span::styled("relay ", DIM), Span::raw(relay)],
                vec![Span::styled("relay ", DIM), Span::raw(state.clone())],
                vec![Span::styled("relay ", DIM), Span::raw(fit(&state, 16))],
                vec![],
            ]
        }
        None => vec![],
    };
    let forward = match &context.forward {
        Some(target) => {
            let target = sanitize::url(target).into_owned();
            let bare = target.strip_prefix("http://").unwrap_or(&target).to_owned();
            let arrow = || Span::styled("→ ", DIM);
            vec![
                vec![arrow(), Span::raw(target.clone())],
                vec![arrow(), Span::raw(bare.clone())],
                vec![arrow(), Span::raw(fit(&bare, 16))],
                vec![],
            ]
        }
        None => vec![vec![Span::styled("→ no forward", DIM)], vec![]],
    };
    let captured = app.journaled.unwrap_or(app.store.len() as u64);
    let shown = app.view.len();
    let counts = vec![
        vec![
            Span::styled("captured ", DIM),
            Span::raw(captured.to_string()),
            Span::styled("  shown ", DIM),
            Span::raw(shown.to_string()),
        ],
        vec![
            Span::styled("shown ", DIM),
            Span::raw(format!("{shown}/{captured}")),
        ],
        vec![Span::raw(format!("{shown}/{captured}"))],
    ];
    let rate = match context.listen {
        Some(_) => {
            let now = app.rate.back().copied().unwrap_or(0);
            let spark = |seconds| {
                vec![
                    Span::styled(sparkline(app, seconds), Style::new().fg(Color::Cyan)),
                    Span::raw(format!(" {now}/s")),
                ]
            };
            vec![spark(20), spark(10), vec![Span::raw(format!("{now}/s"))], vec![]]
        }
        None => vec![],
    };
    let warning = Style::new().fg(Color::Yellow);
    let missed = match app.missed {
        0 => vec![],
        n => vec![
            vec![Span::styled(format!("{n} missed (in the journal)"), warning)],
            vec![Span::styled(format!("{n} missed"), warning)],
            vec![],
        ],
    };
    let state = match (app.paused, app.follow) {
        (Some(at), _) => vec![vec![Span::styled(
            format!("PAUSED +{}", app.store.len().saturating_sub(at)),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        )]],
        (None, true) => {
            let following = Style::new().fg(Color::Green);
            vec![
                vec![Span::styled("following", following)],
                vec![Span::styled("follow", following)],
            ]
        }
        (None, false) => vec![],
    };
    let public = match context.public.is_empty() {
        true => vec![],
        false => {
            let text = context
                .public
                .iter()
                .map(|line| sanitize::line(&line.borrow()).into_owned())
                .collect::<Vec<_>>()
                .join("  ");
            let style = Style::new().fg(Color::Magenta);
            vec![
                vec![Span::styled(text.clone(), style)],
                vec![Span::styled(fit(&text, 32), style)],
                vec![],
            ]
        }
    };
    let insecure = match context.insecure {
        true => vec![vec![Span::styled(
            " INSECURE: https unverified ",
            Style::new().fg(Color::White).bg(Color::Red).bold(),
        )]],
        false => vec![],
    };
    let mut parts: Vec<Part> = [
        vec![vec![brand], vec![]],
        insecure,
        source,
        relay,
        forward,
        counts,
        rate,
        missed,
        state,
        public,
    ]
    .into_iter()
    .map(Part::new)
    .collect();
    // A part with no form at all is left out from the start.
    for part in &mut parts {
        if part.forms.is_empty() {
            part.forms.push(vec![]);
        }
    }
    parts
}

/// The last `seconds` of the rate as block characters.
fn sparkline(app: &App, seconds: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let recent: Vec<u64> = app.rate.iter().rev().take(seconds).rev().copied().collect();
    let top = recent.iter().copied().max().unwrap_or(0).max(1);
    recent
        .iter()
        .map(|&n| match n {
            0 => ' ',
            n => BARS[((n * 7) / top) as usize],
        })
        .collect()
}

/// Every form of every part as text, for tests to tell a whole word from a cut one.
#[cfg(test)]
pub(super) fn every_form(app: &App) -> Vec<String> {
    parts(app)
        .iter()
        .flat_map(|part| &part.forms)
        .map(|form| form.iter().map(|s| s.content.as_ref()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::analysis::Analyzer;
    use crate::config::Keys;
    use crate::provider::Catalog;
    use crate::tui::app::Context;
    use crate::tui::store::Store;

    /// `--insecure` (#15): said at every width, the first thing after the name, while the
    /// rest gives way around it.
    #[test]
    fn the_insecure_warning_never_gives_way() {
        let context = Context {
            listen: Some("https://127.0.0.1:8443".into()),
            journal: "captures.jsonl".into(),
            forward: Some("https://localhost:3443/hooks".into()),
            relay: Some("connected · https://relay.example.com channel c as me".into()),
            insecure: true,
            ..Context::default()
        };
        let analyzer = Arc::new(Analyzer::new(Catalog::builtin(), Keys::default()));
        let app = App::new(Store::new(None), analyzer.clone(), context.clone());
        let warning = "INSECURE: https unverified";
        for width in 30..=250 {
            let text = line(&app, width).to_string();
            assert!(line(&app, width).width() <= width, "at {width}: {text:?}");
            assert!(text.contains(warning), "at {width}: {text:?}");
        }
        assert!(
            line(&app, 250)
                .to_string()
                .contains("https://localhost:3443/hooks")
        );
        let verified = App::new(
            Store::new(None),
            analyzer,
            Context {
                insecure: false,
                ..context
            },
        );
        assert!(!line(&verified, 250).to_string().contains("INSECURE"));
    }

    /// `--public` and `--smee`'s part (#16): whole when there is room, cut with … or left out
    /// when not, never past the width, and what the child printed is shown escaped.
    #[test]
    fn the_public_url_fits_or_gives_way() {
        let url = "https://seasonal-deck-organisms-sf.trycloudflare.com";
        let (_tunnel, public) = tokio::sync::watch::channel(format!("public {url}"));
        let (smee_state, smee) = tokio::sync::watch::channel(
            "smee reconnecting in 0.3s (cannot reach smee.io:443) · https://smee.io/AbC".to_owned(),
        );
        let context = Context {
            listen: Some("http://127.0.0.1:8080".into()),
            journal: "captures.jsonl".into(),
            public: vec![public, smee],
            ..Context::default()
        };
        let analyzer = Arc::new(Analyzer::new(Catalog::builtin(), Keys::default()));
        let app = App::new(Store::new(None), analyzer, context);
        for width in 12..=250 {
            let text = line(&app, width).to_string();
            assert!(line(&app, width).width() <= width, "at {width}: {text:?}");
            if width >= 60 {
                assert!(text.contains("127.0.0.1:8080"), "at {width}: {text:?}");
            }
        }
        assert!(line(&app, 250).to_string().contains(url));
        smee_state.send_replace("smee https://smee.io/AbC · 1 skipped (last: \u{1b}[2J)".into());
        let text = line(&app, 250).to_string();
        assert!(text.contains("\\x1b[2J") && !text.contains('\u{1b}'), "{text:?}");
    }
}
