//! Drawing: a pure function of the app's state. One status bar on top, the capture list and
//! the detail pane in the middle (side by side when wide, stacked when tall, only the focused
//! one when tiny), the filter and hint bar at the bottom, and the help overlay over all. The
//! bars are drawn by [`super::status`] and [`super::bar`].

use chrono::Local;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use super::app::{App, Focus, TABS};
use super::bar;
use super::detail::verdict_style;
use super::keymap::KEYMAP;
use super::status;
use crate::headless::verdict_symbol;
use crate::sanitize;

/// Where each region is on a screen of a given size.
#[derive(Debug, Clone, Copy)]
pub struct Areas {
    /// The status bar.
    pub status: Rect,
    /// The capture list (with its border).
    pub list: Rect,
    /// The detail pane (with its border), when there is room for it.
    pub detail: Option<Rect>,
    /// The filter and hint bar.
    pub bar: Rect,
}

impl Areas {
    /// The detail tab whose title is at this cell, if any, when tab `selected` is shown.
    pub fn tab_at(&self, column: u16, row: u16, selected: usize) -> Option<usize> {
        let detail = self.detail?;
        if row != detail.y + 1 {
            return None;
        }
        let mut x = detail.x + 1;
        let titles = tab_titles(detail.width.saturating_sub(2) as usize, selected);
        for (i, title) in titles.iter().enumerate() {
            let width = tab_label(i, title).chars().count() as u16;
            if (x..x + width).contains(&column) {
                return Some(i);
            }
            x += width;
        }
        None
    }
}

/// The tabs' titles in `width` columns: whole, else shortened, else only the selected tab's
/// title beside the others' numbers.
fn tab_titles(width: usize, selected: usize) -> [&'static str; 4] {
    const SHORT: [&str; 4] = ["Body", "Headers", "Sig", "Deliv"];
    let fits = |titles: &[&str; 4]| {
        let labels = titles.iter().enumerate().map(|(i, t)| tab_label(i, t));
        labels.map(|l| l.chars().count()).sum::<usize>() <= width
    };
    if fits(&TABS) {
        return TABS;
    }
    if fits(&SHORT) {
        return SHORT;
    }
    let mut titles = [""; 4];
    titles[selected.min(3)] = SHORT[selected.min(3)];
    titles
}

/// How tab `i` is labelled: its key and its title.
fn tab_label(i: usize, title: &str) -> String {
    match title {
        "" => format!(" {} ", i + 1),
        title => format!(" {} {title} ", i + 1),
    }
}

/// Lays out a screen of `size` for `app`.
pub fn areas(size: Rect, app: &App) -> Areas {
    // The bottom bar grows while a filter error is pointed at, leaving the panes a row.
    let bar_height = bar::height(app, size.width).min(size.height.saturating_sub(2).max(1));
    let [status, main, bar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(bar_height),
    ])
    .areas(size);
    let (list, detail) = if main.height < 12 {
        // Too small for both: the focused pane only.
        match app.focus {
            Focus::List => (main, None),
            Focus::Detail => (Rect::new(main.x, main.y, main.width, 0), Some(main)),
        }
    } else if main.width >= 140 {
        // The list's columns want about 95 (a 45-character event whole beside the provider,
        // the signature's symbol and a path); the detail reads well from 56.
        let [list, detail] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(main);
        (list, Some(detail))
    } else {
        let [list, detail] =
            Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(main);
        (list, Some(detail))
    };
    Areas {
        status,
        list,
        detail,
        bar,
    }
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App) {
    let areas = areas(frame.area(), app);
    status::render(frame, areas.status, app);
    if areas.list.height > 0 {
        render_list(frame, areas.list, app);
    }
    if let Some(detail) = areas.detail {
        render_detail(frame, detail, app);
    }
    bar::render(frame, areas.bar, app);
    if app.help {
        render_help(frame, frame.area(), &app.routes);
    }
    if app.no_color {
        for cell in &mut frame.buffer_mut().content {
            cell.set_fg(Color::Reset).set_bg(Color::Reset);
        }
    }
}

/// Labels and hints: what is read past.
pub(super) const DIM: Style = Style::new().fg(Color::DarkGray);

fn pane_block(title: Line<'static>, focused: bool) -> Block<'static> {
    let style = match focused {
        true => Style::new().fg(Color::Cyan),
        false => DIM,
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(title)
}

fn render_list(frame: &mut Frame, area: Rect, app: &App) {
    let focused = app.focus == Focus::List;
    let title = Line::from(match (app.view.len(), app.selected) {
        (0, _) => " Captures 0 ".to_owned(),
        (shown, Some(at)) => format!(" Captures {}/{shown} ", (at + 1).min(shown)),
        (shown, None) => format!(" Captures {shown} "),
    });
    let block = pane_block(title, focused);
    let height = area.height.saturating_sub(3) as usize;
    let store = &app.store;
    // The visible rows' texts first: the columns are sized from them and the width.
    struct Texts<'a> {
        position: usize,
        row: &'a super::store::Row,
        method: String,
        target: String,
        provider: String,
        event: String,
        verdict: Option<&'a str>,
    }
    let visible: Vec<Texts<'_>> = app
        .view
        .iter()
        .enumerate()
        .skip(app.list_top)
        .take(height)
        .filter_map(|(position, &index)| {
            let row = store.row(index as usize)?;
            let mut event = row
                .event_type
                .map(|e| sanitize::line(store.text(e)).into_owned())
                .unwrap_or_default();
            if row.marks.dup {
                event.push_str(" dup");
            }
            if row.marks.late {
                event.push_str(" late");
            }
            // Answered (or refused) for the user: the detail pane says what was answered.
            if row.handshake {
                event.push_str(" handshake");
            }
            Some(Texts {
                position,
                row,
                method: sanitize::line(store.text(row.method)).into_owned(),
                target: sanitize::line(&row.target).into_owned(),
                provider: row
                    .provider
                    .map(|p| sanitize::line(store.text(p)).into_owned())
                    .unwrap_or_default(),
                event,
                verdict: row.verdict.map(|v| store.text(v)),
            })
        })
        .collect();
    let widest = |texts: &mut dyn Iterator<Item = &str>, heading: &str| {
        texts.map(width_of).chain([width_of(heading)]).max().unwrap_or(0)
    };
    let verdicts: Vec<String> = visible
        .iter()
        .filter_map(|t| {
            t.verdict
                .map(|v| format!("? {v}{}", if t.row.caveat { "⚠" } else { "" }))
        })
        .collect();
    let columns = Columns::fit(
        area.width.saturating_sub(2) as usize,
        widest(&mut visible.iter().map(|t| t.method.as_str()), "Method"),
        widest(&mut visible.iter().map(|t| t.provider.as_str()), "Provider"),
        widest(&mut visible.iter().map(|t| t.event.as_str()), "Event"),
        widest(&mut verdicts.iter().map(String::as_str), "Signature"),
    );
    let rows = visible.iter().map(|t| {
        let row = t.row;
        let delivery = match (row.marks.delivery, store.attempts(row.id).is_empty()) {
            (Some(status), _) => Cell::from(status.to_string()).style(match status {
                200..=299 => Style::new().fg(Color::Green),
                _ => Style::new().fg(Color::Red),
            }),
            // Attempted, but no answer: refused, timed out, reset.
            (None, false) => Cell::from("✗").style(Style::new().fg(Color::Red)),
            (None, true) => Cell::from("—").style(DIM),
        };
        let time = row.received_at.with_timezone(&Local);
        // A caveat (valid, but only in the form the documented receiver does not hash) is
        // marked where the verdict is, so it is seen without opening the capture.
        let caveat = if row.caveat { "⚠" } else { "" };
        let signature = match t.verdict {
            Some(v) if columns.signature == SIGNATURE_SHORT => {
                Cell::from(format!("{}{caveat}", verdict_symbol(v))).style(verdict_style(v))
            }
            Some(v) => Cell::from(fit(
                &format!("{} {}{caveat}", verdict_symbol(v), sanitize::line(v)),
                columns.signature,
            ))
            .style(verdict_style(v)),
            None => Cell::from(""),
        };
        let time = match columns.time {
            TIME_WIDE => time.format("%H:%M:%S%.3f").to_string(),
            _ => time.format("%H:%M:%S").to_string(),
        };
        let mut cells = vec![
            Cell::from(time),
            Cell::from(fit(&t.method, columns.method)),
            Cell::from(fit(&t.target, columns.path)),
        ];
        if columns.provider > 0 {
            cells.push(Cell::from(fit(&t.provider, columns.provider)));
        }
        if columns.event > 0 {
            cells.push(Cell::from(fit(&t.event, columns.event)));
        }
        cells.extend([signature, delivery]);
        let mut line = Row::new(cells);
        if row.status >= 400 {
            line = line.style(Style::new().fg(Color::Red));
        }
        if Some(t.position) == app.selected {
            line = line.style(Style::new().add_modifier(Modifier::REVERSED));
        }
        line
    });
    let (header, widths) = columns.header_and_widths();
    let header = header.style(DIM.add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1);
    frame.render_widget(table, area);
    if app.view.is_empty() {
        let inner = Rect::new(
            area.x + 2,
            area.y + 2,
            area.width.saturating_sub(4),
            area.height.saturating_sub(3),
        );
        let text = match (&app.context.listen, app.store.is_empty()) {
            (Some(addr), true) => {
                format!("Waiting for webhooks… try: curl -d '{{\"hello\":1}}' {addr}/hooks")
            }
            (None, true) => "This journal holds no captures.".to_owned(),
            _ if app.filter.is_empty() && app.paused.is_some() => {
                "Paused: new captures are journaled, and shown when you press p again.".to_owned()
            }
            _ if app.filter.is_empty() => {
                "Cleared: new captures appear here as they arrive (all of them stay in the journal)."
                    .to_owned()
            }
            _ => "Nothing matches the filter.".to_owned(),
        };
        frame.render_widget(Paragraph::new(text).style(DIM).wrap(Wrap { trim: true }), inner);
    }
}

/// The widths of the list's columns: time, method, path (what is left), provider, event,
/// signature, app. Sized from the visible rows' content; when the pane is too narrow for all,
/// the signature is shortened to its symbol first, then the time's milliseconds go (an event's
/// name says more), then a long event is cut (with `…`) down to [`EVENT_MIN`] columns, then
/// the provider goes, then the event: the path keeps at least [`PATH_MIN`] columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Columns {
    time: usize,
    method: usize,
    path: usize,
    provider: usize,
    event: usize,
    signature: usize,
    app: usize,
}

const TIME_WIDE: usize = 12;
/// The signature as its symbol alone (and the caveat's mark).
const SIGNATURE_SHORT: usize = 2;
const PATH_MIN: usize = 12;
const EVENT_MAX: usize = 48;
/// The narrowest a long event is cut to before its column goes (`distribution.s…`).
const EVENT_MIN: usize = 16;

impl Columns {
    fn fit(width: usize, method: usize, provider: usize, event: usize, signature: usize) -> Self {
        let mut columns = Columns {
            time: TIME_WIDE,
            method: method.min(7),
            path: 0,
            provider: provider.min(16),
            event: event.min(EVENT_MAX),
            signature: signature.min(20),
            app: 3,
        };
        let used = |c: &Columns| {
            let shown = [c.time, c.method, c.provider, c.event, c.signature, c.app]
                .iter()
                .filter(|&&w| w > 0)
                .count();
            // One space between columns, the path's included.
            c.time + c.method + c.provider + c.event + c.signature + c.app + shown
        };
        // Each step is given how many columns the path lacks.
        let steps: [fn(&mut Columns, usize); 5] = [
            |c, _| c.signature = SIGNATURE_SHORT,
            |c, _| c.time = 8,
            |c, lacking| c.event = c.event.saturating_sub(lacking).max(EVENT_MIN.min(c.event)),
            |c, _| c.provider = 0,
            |c, _| c.event = 0,
        ];
        for step in steps {
            let lacking = PATH_MIN.saturating_sub(width.saturating_sub(used(&columns)));
            if lacking == 0 {
                break;
            }
            step(&mut columns, lacking);
        }
        columns.path = width.saturating_sub(used(&columns)).max(1);
        columns
    }

    fn header_and_widths(&self) -> (Row<'static>, Vec<Constraint>) {
        let mut names = vec!["Time", "Method", "Path"];
        let mut widths = vec![
            Constraint::Length(self.time as u16),
            Constraint::Length(self.method as u16),
            Constraint::Fill(1),
        ];
        if self.provider > 0 {
            names.push("Provider");
            widths.push(Constraint::Length(self.provider as u16));
        }
        if self.event > 0 {
            names.push("Event");
            widths.push(Constraint::Length(self.event as u16));
        }
        names.push(if self.signature == SIGNATURE_SHORT {
            ""
        } else {
            "Signature"
        });
        widths.push(Constraint::Length(self.signature as u16));
        names.push("App");
        widths.push(Constraint::Length(self.app as u16));
        (Row::new(names), widths)
    }
}

/// `text` in `width` columns: whole when it fits, else cut with `…` to say so.
pub(super) fn fit(text: &str, width: usize) -> String {
    if width_of(text) <= width {
        return text.to_owned();
    }
    let mut cut = String::new();
    let mut room = width.saturating_sub(1);
    for c in text.chars() {
        let mut buffer = [0; 4];
        let c_width = width_of(c.encode_utf8(&mut buffer));
        if c_width > room {
            break;
        }
        room -= c_width;
        cut.push(c);
    }
    if width > 0 {
        cut.push('…');
    }
    cut
}

/// How many columns `text` takes on screen.
pub(super) fn width_of(text: &str) -> usize {
    Span::raw(text).width()
}

fn render_detail(frame: &mut Frame, area: Rect, app: &App) {
    let focused = app.focus == Focus::Detail;
    let summary = app
        .detail
        .as_ref()
        .map(|d| d.body_summary.clone())
        .unwrap_or_default();
    let title = match app.detail.as_ref().and_then(|d| d.capture.as_ref()) {
        // The summary names the sender's Content-Type.
        Some(capture) => format!(" {} · {} ", capture.id, sanitize::line(&summary)),
        None => " Detail ".to_owned(),
    };
    let title = Line::from(fit(&title, area.width.saturating_sub(2) as usize));
    let block = pane_block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let mut tabs = Vec::new();
    for (i, title) in tab_titles(inner.width as usize, app.tab).iter().enumerate() {
        let style = match i == app.tab {
            true => Style::new()
                .fg(Color::Black)
                .bg(if focused { Color::Cyan } else { Color::Gray }),
            false => DIM,
        };
        tabs.push(Span::styled(tab_label(i, title), style));
    }
    let [tab_line, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(Line::from(tabs)), tab_line);
    let Some(detail) = &app.detail else {
        frame.render_widget(
            Paragraph::new("Select a capture to see it here.").style(DIM),
            body,
        );
        return;
    };
    // The scroll counts the tab's lines (not wrapped rows), so only the lines that can show are
    // handed over: a frame costs the same for a 5,000-line body as for a short one.
    let shown: Vec<Line> = detail
        .lines(app.tab)
        .iter()
        .skip(app.scroll as usize)
        .take(body.height as usize)
        .cloned()
        .collect();
    frame.render_widget(Paragraph::new(shown).wrap(Wrap { trim: false }), body);
}

fn render_help(frame: &mut Frame, screen: Rect, routes: &[String]) {
    // The routes under the keys, one line each, cut at the border.
    let (wide, below) = match routes.len() {
        0 => (56, 0),
        n => (96, n as u16 + 1),
    };
    let width = wide.min(screen.width);
    let height = (KEYMAP.len() as u16 + 4).saturating_add(below).min(screen.height);
    let area = Rect::new(
        screen.x + (screen.width - width) / 2,
        screen.y + (screen.height - height) / 2,
        width,
        height,
    );
    let mut lines: Vec<Line> = KEYMAP
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!(" {:<8}", b.shown), Style::new().fg(Color::Cyan)),
                Span::raw(b.help),
            ])
        })
        .collect();
    lines.push(Line::styled(" mouse: click selects, the wheel scrolls", DIM));
    if !routes.is_empty() {
        lines.push(Line::styled(" routes, the first that matches decides:", DIM));
        lines.extend(routes.iter().map(|route| Line::raw(format!(" {route}"))));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(Color::Cyan))
        .title(" Keys (any key closes) ");
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
