//! The bottom bar: the filter being typed, or the replay prompt, or a message, or the keys'
//! hints. A filter that does not parse is pointed at as the CLI points at it: a caret under
//! the column where the problem starts, on the line below the prompt, and the error after it
//! (the bar grows by those lines while the error lasts). Everything is fitted to the width:
//! a message cut to fit ends with `…`, and hints give way whole, the least needed first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, Editor, Prompt};
use super::ui::{DIM, fit, width_of};
use crate::filter::ParseError;
use crate::sanitize;

/// The most lines an error's message takes under the caret.
const ERROR_LINES: usize = 3;

/// The keys' hints, as drawn, each with its rank: the lowest rank gives way first.
const HINTS: [(&str, u8); 8] = [
    ("? help", 7),
    ("/ filter", 5),
    ("Tab panes", 4),
    ("f follow", 3),
    ("p pause", 2),
    ("y curl", 1),
    ("s save", 0),
    ("q quit", 6),
];

/// How many rows the bar needs at `width` columns.
pub fn height(app: &App, width: u16) -> u16 {
    1 + error_lines(app, width as usize).len() as u16
}

/// Draws the bar.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let width = area.width as usize;
    let mut lines = vec![match &app.editor {
        Some(editor) => prompt_line(editor, app, width),
        None => match &app.message {
            Some(message) => Line::styled(
                fit(&sanitize::line(message), width),
                Style::new().fg(Color::Yellow),
            ),
            None => hints_line(app, width),
        },
    }];
    lines.extend(error_lines(app, width));
    frame.render_widget(Paragraph::new(lines), area);
}

/// The error being typed, when the filter prompt is up and its text does not parse.
fn typing_error(app: &App) -> Option<(&Editor, &ParseError)> {
    let editor = app.editor.as_ref().filter(|e| e.purpose == Prompt::Filter)?;
    Some((editor, app.filter_error.as_ref()?))
}

/// The filter's characters as drawn (a control character escaped takes several columns).
fn drawn(text: &str) -> Vec<String> {
    text.chars()
        .map(|c| sanitize::line(c.encode_utf8(&mut [0; 4])).into_owned())
        .collect()
}

/// The character index `position` (a byte offset into `text`) falls in.
fn char_at(text: &str, position: usize) -> usize {
    text.char_indices().take_while(|&(i, _)| i < position).count()
}

/// The columns cell `i` takes; the cell past the text (where the cursor goes at the end) is one.
fn cell_width(cells: &[String], i: usize) -> usize {
    cells.get(i).map_or(1, |c| width_of(c))
}

/// What of the text being typed is on screen: the prompt scrolls so that the cursor stays in
/// view, and the error too when both fit; text off either edge is marked with `…`.
struct Window {
    /// The first cell shown.
    first: usize,
    /// One past the last cell shown (the cells are the text's and one past its end).
    end: usize,
    /// The column of the first cell shown.
    left: usize,
}

impl Window {
    fn new(prefix: &str, cells: &[String], cursor: usize, error: Option<usize>, width: usize) -> Self {
        // The prompt's sign, and a column at each side for a `…`.
        let room = width.saturating_sub(width_of(prefix) + 2);
        let span = |from: usize, to: usize| (from..=to).map(|i| cell_width(cells, i)).sum::<usize>();
        let first_for = |low: usize, high: usize| (0..=low).find(|&first| span(first, high) <= room);
        let cursor_only = first_for(cursor, cursor).unwrap_or(cursor);
        let first = match error {
            Some(error) => first_for(cursor.min(error), cursor.max(error)).unwrap_or(cursor_only),
            None => cursor_only,
        };
        let mut end = first;
        let mut used = 0;
        while end <= cells.len() && used + cell_width(cells, end) <= room {
            used += cell_width(cells, end);
            end += 1;
        }
        Self {
            first,
            end,
            left: width_of(prefix) + usize::from(first > 0),
        }
    }

    /// The column cell `i` is drawn at, or which side it is off to.
    fn column(&self, cells: &[String], i: usize) -> Result<usize, Side> {
        match i {
            i if i < self.first => Err(Side::Left),
            i if i >= self.end => Err(Side::Right),
            i => Ok(self.left + (self.first..i).map(|j| cell_width(cells, j)).sum::<usize>()),
        }
    }
}

/// Where a cell off screen is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

fn prompt_line(editor: &Editor, app: &App, width: usize) -> Line<'static> {
    let prefix = match editor.purpose {
        Prompt::Filter => "/",
        Prompt::Target(_) => "replay to: ",
    };
    let cells = drawn(&editor.text);
    let error = typing_error(app).map(|(_, e)| char_at(&editor.text, e.position));
    let window = Window::new(prefix, &cells, editor.cursor, error, width);
    let sign = Style::new().fg(Color::Cyan).bold();
    let mut spans = vec![Span::styled(prefix, sign)];
    if window.first > 0 {
        spans.push(Span::styled("…", sign));
    }
    for i in window.first..window.end {
        let mut style = Style::new();
        if Some(i) == error {
            style = style.fg(Color::Red).add_modifier(Modifier::UNDERLINED);
        }
        if i == editor.cursor {
            style = style.add_modifier(Modifier::REVERSED);
        }
        let cell = cells.get(i).cloned().unwrap_or_else(|| " ".to_owned());
        spans.push(Span::styled(cell, style));
    }
    if window.end < cells.len() {
        spans.push(Span::styled("…", sign));
    }
    let used: usize = spans.iter().map(Span::width).sum();
    let after = match (editor.purpose, &app.filter_error, &app.message) {
        (Prompt::Target(_), _, _) => Some(("  Enter sends, Esc cancels".to_owned(), DIM)),
        // Pointed at on the lines below.
        (Prompt::Filter, Some(_), _) => None,
        (Prompt::Filter, None, Some(pending)) if editor.text != app.filter_text => Some((
            format!("  {}", sanitize::line(pending)),
            Style::new().fg(Color::Yellow),
        )),
        (Prompt::Filter, None, _) => Some((format!("  {} match", app.view.len()), DIM)),
    };
    if let Some((text, style)) = after {
        let room = width.saturating_sub(used);
        // A note is cut with …; the count or the keys only whole.
        if width_of(&text) <= room || (style != DIM && room > 3) {
            spans.push(Span::styled(fit(&text, room), style));
        }
    }
    Line::from(spans)
}

/// The caret under the offending column, and the error after it or on the lines below.
fn error_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let Some((editor, error)) = typing_error(app) else {
        return Vec::new();
    };
    if width == 0 {
        return Vec::new();
    }
    let red = Style::new().fg(Color::Red);
    let cells = drawn(&editor.text);
    let at = char_at(&editor.text, error.position);
    let window = Window::new("/", &cells, editor.cursor, Some(at), width);
    // Under the offending column; when the cursor keeps it off screen, an arrow under the
    // `…` on that side says which way it is.
    let (column, pointer) = match window.column(&cells, at) {
        Ok(column) => (column, "^"),
        Err(Side::Left) => (window.left - 1, "←"),
        Err(Side::Right) => {
            let last = window.end.checked_sub(1).map(|i| (i, window.column(&cells, i)));
            let column = match last {
                Some((i, Ok(column))) => column + cell_width(&cells, i),
                _ => window.left,
            };
            (column, "→")
        }
    };
    let column = column.min(width - 1);
    let message = sanitize::line(&error.to_string()).into_owned();
    let mut caret = vec![
        Span::raw(" ".repeat(column)),
        Span::styled(pointer, red.add_modifier(Modifier::BOLD)),
    ];
    if column + 2 + width_of(&message) <= width {
        caret.push(Span::styled(format!(" {message}"), red));
        return vec![Line::from(caret)];
    }
    let mut lines = vec![Line::from(caret)];
    lines.extend(wrap(&message, width).into_iter().map(|l| Line::styled(l, red)));
    lines
}

/// `text` in lines of at most `width` columns, broken between words, at most
/// [`ERROR_LINES`] of them; what does not fit ends with `…`.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let joined = match line.is_empty() {
            true => word.to_owned(),
            false => format!("{line} {word}"),
        };
        if width_of(&joined) <= width || line.is_empty() {
            line = joined;
            continue;
        }
        lines.push(std::mem::take(&mut line));
        line = word.to_owned();
    }
    lines.push(line);
    let cut = lines.len() > ERROR_LINES;
    lines.truncate(ERROR_LINES);
    for line in &mut lines {
        *line = fit(line, width);
    }
    if cut && let Some(last) = lines.last_mut() {
        match width_of(last) < width {
            true => last.push('…'),
            false => *last = fit(&format!("{last}…"), width),
        }
    }
    lines
}

fn hints_line(app: &App, width: usize) -> Line<'static> {
    let mut spans = Vec::new();
    let mut room = width;
    if !app.filter_text.is_empty() {
        // The filter in force first: it says why the list is short.
        let label = "filter ";
        let text = fit(
            &sanitize::line(&app.filter_text),
            room.saturating_sub(width_of(label)),
        );
        room = room.saturating_sub(width_of(label) + width_of(&text) + 2);
        spans.extend([
            Span::styled(label, DIM),
            Span::styled(text, Style::new().fg(Color::Cyan)),
            Span::raw("  "),
        ]);
    }
    // The hints that fit, the most needed first, drawn in their order.
    let mut kept = [false; HINTS.len()];
    let mut by_rank: Vec<usize> = (0..HINTS.len()).collect();
    by_rank.sort_by_key(|&i| std::cmp::Reverse(HINTS[i].1));
    let mut used = 0;
    for i in by_rank {
        let gap = if used == 0 { 0 } else { 2 };
        if used + gap + width_of(HINTS[i].0) <= room {
            kept[i] = true;
            used += gap + width_of(HINTS[i].0);
        }
    }
    let shown: Vec<&str> = HINTS
        .iter()
        .zip(kept)
        .filter_map(|(&(hint, _), kept)| kept.then_some(hint))
        .collect();
    spans.push(Span::styled(shown.join("  "), DIM));
    Line::from(spans)
}
