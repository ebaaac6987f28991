//! The inspector's state and what every action does to it.
//!
//! [`App`] owns the store and the view state (selection, filter, focus, scroll). Events come
//! in as captures, ticks, keys and mouse events; work that needs the outside world (copying,
//! saving, replaying) goes out as [`Effect`]s for the runtime to carry out, so the app itself
//! never touches a socket or a file and tests can drive it step by step.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use crate::analysis::Analyzer;
use crate::capture::Capture;
use crate::filter::{Filter, ParseError};
use crate::summary::Summary;

use super::detail::Detail;
use super::keymap::{Action, action_for};
use super::store::Store;
use super::ui;

/// The detail pane's tabs, in order.
pub const TABS: [&str; 4] = ["Body", "Headers", "Signature", "Deliveries"];

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The capture list.
    List,
    /// The detail pane.
    Detail,
}

/// A line being typed in the bottom bar.
#[derive(Debug, Clone)]
pub struct Editor {
    /// What it is for.
    pub purpose: Prompt,
    /// The text so far.
    pub text: String,
    /// The cursor, in characters.
    pub cursor: usize,
}

/// What the bottom bar is asking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// The filter (live).
    Filter,
    /// Where to replay to, for a replay waiting on the answer.
    Target(ReplayMode),
}

/// Where a replay goes when nothing was configured, as the prompt's first guess.
const DEFAULT_TARGET: &str = "http://127.0.0.1:3000";

/// How a replay re-sends a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayMode {
    /// Byte for byte.
    AsIs,
    /// Signed again with a fresh timestamp and id.
    Resigned,
    /// With a body edited in $EDITOR, then signed again.
    Edited,
}

/// Work for the runtime.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Put this text on the clipboard (OSC 52).
    Copy(String),
    /// Write a body to a file.
    Save {
        /// Where.
        path: String,
        /// What.
        body: bytes::Bytes,
    },
    /// Replay a capture to the local app at this target.
    Replay(Arc<Capture>, ReplayMode, String),
}

/// What the status bar says about where captures come from.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `http://127.0.0.1:8080` when listening; `None` over a saved journal.
    pub listen: Option<String>,
    /// The journal's path.
    pub journal: String,
    /// The `--forward` target, when there is one: captures are delivered there as they
    /// arrive. Never the replay prompt's answer (see [`App::replay_target`]).
    pub forward: Option<String>,
    /// The relay connection's state, when there is one.
    pub relay: Option<String>,
    /// The other ways in (`--public`'s URL, `--smee`'s channel), each a line its task keeps
    /// current, read when the bar is drawn (the clock redraws it every second).
    pub public: Vec<tokio::sync::watch::Receiver<String>>,
    /// `--insecure`: deliveries to `https://` go without the certificate verified; the status
    /// bar says so and never lets it go.
    pub insecure: bool,
}

/// How many seconds the rate sparkline covers.
pub const RATE_SECONDS: usize = 60;

/// The whole state of the inspector.
pub struct App {
    /// Every capture of the session.
    pub store: Store,
    /// Rows the list shows (indices into the store), in order.
    pub view: Vec<u32>,
    /// The selected position in `view`.
    pub selected: Option<usize>,
    /// The first position of `view` on screen.
    pub list_top: usize,
    /// Which pane has the keyboard.
    pub focus: Focus,
    /// The detail tab shown.
    pub tab: usize,
    /// The detail pane's scroll, in lines.
    pub scroll: u16,
    /// Keep the newest capture selected.
    pub follow: bool,
    /// The number of captures when the view was paused.
    pub paused: Option<usize>,
    /// Captures before this index were cleared from the view.
    pub cleared: usize,
    /// The filter in force and its text.
    pub filter: Filter,
    /// The filter's text.
    pub filter_text: String,
    /// Why the text being typed does not parse.
    pub filter_error: Option<ParseError>,
    /// The filter being typed, when it is.
    pub editor: Option<Editor>,
    /// The help overlay is up.
    pub help: bool,
    /// The listener's routes, a line each (`route 1: provider:dyte → http://127.0.0.1:5000`),
    /// which the help overlay lists.
    pub routes: Vec<String>,
    /// A one-line message for the user (until the next key).
    pub message: Option<String>,
    /// Where captures come from.
    pub context: Context,
    /// Where `r`, `R` and `e` replay to without `--forward`: the prompt's answer, for the rest
    /// of the session. Kept apart from [`Context::forward`], which says that every capture
    /// is delivered.
    pub replay_target: Option<String>,
    /// Captures per second, oldest first, the newest second last.
    pub rate: VecDeque<u64>,
    /// The second the last rate bucket stands for.
    rate_second: i64,
    /// The selected capture, worked out for the detail pane.
    pub detail: Option<Detail>,
    /// Draw without colours (`NO_COLOR` is set): bold and reverse still mark what matters.
    pub no_color: bool,
    /// The selection moved and the detail has not followed yet (see [`App::before_draw`]).
    detail_stale: bool,
    /// The terminal's size at the last draw.
    pub size: Rect,
    /// Captures the hub published that this view missed and could not read back.
    pub missed: u64,
    /// Captures read back from the journal after the view fell behind the broadcast.
    pub caught_up: u64,
    /// How many times the view fell behind the broadcast.
    pub fell_behind: u64,
    /// A catch-up with the journal is in progress.
    catching_up: bool,
    /// What the hub has journaled in this session, when the view is live (the status bar's
    /// `captured`; the list may be a moment behind it).
    pub journaled: Option<u64>,
    /// Set once the user asked to quit.
    pub quit: bool,
    analyzer: Arc<Analyzer>,
    effects: Vec<Effect>,
}

impl App {
    /// An inspector over `store`, explaining signatures with `analyzer`.
    pub fn new(store: Store, analyzer: Arc<Analyzer>, context: Context) -> Self {
        let mut app = Self {
            store,
            view: Vec::new(),
            selected: None,
            list_top: 0,
            focus: Focus::List,
            tab: 0,
            scroll: 0,
            follow: true,
            paused: None,
            cleared: 0,
            filter: Filter::default(),
            filter_text: String::new(),
            filter_error: None,
            editor: None,
            help: false,
            routes: Vec::new(),
            message: None,
            context,
            replay_target: None,
            rate: VecDeque::from(vec![0; RATE_SECONDS]),
            rate_second: 0,
            detail: None,
            // https://no-color.org: present and not empty.
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            detail_stale: false,
            size: Rect::new(0, 0, 80, 24),
            missed: 0,
            caught_up: 0,
            fell_behind: 0,
            catching_up: false,
            journaled: None,
            quit: false,
            analyzer,
            effects: Vec::new(),
        };
        app.refilter();
        // A saved journal opens at its first capture; a live session follows the newest.
        if app.context.listen.is_none() {
            app.follow = false;
            app.select(Some(0));
        }
        app
    }

    /// The work the runtime has to do, taken.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// A capture arrived.
    pub fn on_capture(&mut self, capture: Arc<Capture>) {
        self.on_journaled(capture, None);
    }

    /// A capture arrived from the hub, journaled at `offset` (when known): listed, and held in
    /// memory only while the store's budget lasts. A capture listed already is passed over.
    pub fn on_journaled(&mut self, capture: Arc<Capture>, offset: Option<u64>) {
        if self.catching_up {
            return; // read from the journal by the catch-up, in order
        }
        self.count_rate(capture.received_at.timestamp());
        if let Some(index) = self.store.push_journaled(capture, offset) {
            self.show(index);
        }
    }

    /// A live capture, journaled, known by its summary ([`Hub::subscribe_listed`]): listed
    /// as [`App::on_journaled`] lists a whole capture, which is read back from the journal when
    /// it is shown.
    ///
    /// [`Hub::subscribe_listed`]: crate::hub::Hub::subscribe_listed
    pub fn on_listed(&mut self, summary: &Summary) {
        if self.catching_up {
            return; // read from the journal by the catch-up, in order
        }
        self.count_rate(summary.received_at.timestamp());
        if let Some(index) = self.store.push_summary(summary) {
            self.show(index);
        }
    }

    /// Counts a capture of `second` in the rate the status bar shows.
    fn count_rate(&mut self, second: i64) {
        self.roll_rate(second);
        if let Some(last) = self.rate.back_mut()
            && second == self.rate_second
        {
            *last += 1;
        }
    }

    /// The view fell behind the hub's broadcast and `missed` events went by: read them back
    /// from the journal, a slice at a time ([`App::catch_up`]), so that the list still ends up
    /// with every capture, in journal order. Until it has, the broadcast's captures are passed
    /// over (the catch-up reads them from the journal too).
    pub fn on_lagged(&mut self, missed: u64) {
        tracing::debug!(missed, "the view fell behind; catching up from the journal");
        self.fell_behind += 1;
        self.catching_up = true;
    }

    /// Whether a catch-up is in progress (call [`App::catch_up`] until it is not).
    pub fn is_catching_up(&self) -> bool {
        self.catching_up
    }

    /// One slice of the catch-up: at most a few thousand records, between two frames.
    pub fn catch_up(&mut self) {
        const SLICE: usize = 4096;
        match self.store.catch_up(SLICE) {
            Ok((added, done)) => {
                self.caught_up += added.len() as u64;
                for index in added {
                    self.show(index);
                }
                self.catching_up = !done;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot catch up with the journal");
                self.missed += 1;
                self.catching_up = false;
            }
        }
    }

    /// Adds row `index` to the view, if the view takes new rows and the filter lets it in.
    /// Following moves the selection, but the detail is worked out once, before the next frame
    /// (under load thousands of captures arrive between two frames).
    fn show(&mut self, index: usize) {
        if self.paused.is_none() && self.store.matches(index, &self.filter) {
            self.view.push(index as u32);
            if self.follow || self.selected.is_none() {
                let changed = self.detail.as_ref().map(|d| d.row) != Some(index);
                self.selected = Some(self.view.len() - 1);
                self.keep_selection_visible();
                if changed {
                    self.scroll = 0;
                    self.detail_stale = true;
                }
            }
        }
    }

    /// Brings the detail up to the selection, if it moved since it was worked out: before a
    /// frame is drawn, and before a key or the mouse acts on the selected capture.
    pub fn before_draw(&mut self) {
        if self.detail_stale {
            self.detail_stale = false;
            self.refresh_detail();
        }
    }

    /// The clock ticked (for the rate sparkline).
    pub fn on_tick(&mut self, now: DateTime<Utc>) {
        self.roll_rate(now.timestamp());
    }

    fn roll_rate(&mut self, second: i64) {
        if second <= self.rate_second {
            return;
        }
        let steps = (second - self.rate_second).min(RATE_SECONDS as i64);
        for _ in 0..steps {
            self.rate.pop_front();
            self.rate.push_back(0);
        }
        self.rate_second = second;
    }

    /// The terminal was resized (or drawn at this size).
    pub fn on_resize(&mut self, width: u16, height: u16) {
        self.size = Rect::new(0, 0, width, height);
        self.keep_selection_visible();
    }

    /// A key was pressed.
    pub fn on_key(&mut self, key: KeyEvent) {
        self.before_draw();
        if self.editor.is_some() {
            self.edit_filter(key);
            return;
        }
        if self.help {
            // Any key closes the overlay; `q` still quits.
            self.help = false;
            if action_for(&key) != Some(Action::Quit) {
                return;
            }
        }
        self.message = None;
        if let Some(action) = action_for(&key) {
            self.handle(action);
        }
    }

    /// Does what `action` asks.
    pub fn handle(&mut self, action: Action) {
        let page = self.page();
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.help = !self.help,
            Action::Up => self.step(-1),
            Action::Down => self.step(1),
            Action::PageUp => self.step(-(page as isize)),
            Action::PageDown => self.step(page as isize),
            Action::Top => match self.focus {
                Focus::List => self.select_at(0),
                Focus::Detail => self.scroll = 0,
            },
            Action::Bottom => match self.focus {
                Focus::List => self.select_at(self.view.len().saturating_sub(1)),
                Focus::Detail => self.scroll = self.max_scroll(),
            },
            Action::NextPane => self.cycle(1),
            Action::PrevPane => self.cycle(-1),
            Action::Tab(tab) => {
                self.tab = tab.min(TABS.len() - 1);
                self.focus = Focus::Detail;
                self.scroll = 0;
            }
            Action::Filter => self.prompt(Prompt::Filter, self.filter_text.clone()),
            Action::Follow => {
                self.follow = !self.follow;
                if self.follow {
                    self.select(self.view.len().checked_sub(1));
                }
                self.message = Some(format!("follow {}", if self.follow { "on" } else { "off" }));
            }
            Action::Pause => match self.paused.take() {
                Some(at) => {
                    let fresh = self.store.select(at, &self.filter);
                    self.message = Some(format!("resumed: {} new", fresh.len()));
                    self.view.extend(fresh);
                    if self.follow {
                        self.select(self.view.len().checked_sub(1));
                    }
                }
                None => {
                    self.paused = Some(self.store.len());
                    self.message = Some("paused: captures go on behind the view (p resumes)".into());
                }
            },
            Action::Clear => {
                self.cleared = self.paused.unwrap_or(self.store.len());
                self.view.clear();
                self.select(None);
                self.message = Some("view cleared (the journal keeps every capture)".into());
            }
            Action::CopyCurl => {
                if let Some(capture) = self.selected_capture() {
                    self.effects
                        .push(Effect::Copy(crate::export::curl_command(&capture)));
                    self.message = Some("copied as curl (OSC 52)".into());
                }
            }
            Action::SaveBody => {
                if let Some(capture) = self.selected_capture() {
                    let extension = match capture.content_type().as_deref() {
                        Some(t) if t.contains("json") => "json",
                        _ if std::str::from_utf8(&capture.body).is_ok() => "txt",
                        _ => "bin",
                    };
                    self.effects.push(Effect::Save {
                        path: format!("hookscope-{}.{extension}", capture.id),
                        body: capture.body.clone(),
                    });
                }
            }
            Action::Replay => self.replay(ReplayMode::AsIs),
            Action::Resign => self.replay(ReplayMode::Resigned),
            Action::Edit => self.replay(ReplayMode::Edited),
        }
    }

    fn prompt(&mut self, purpose: Prompt, text: String) {
        self.editor = Some(Editor {
            purpose,
            cursor: text.chars().count(),
            text,
        });
    }

    fn replay(&mut self, mode: ReplayMode) {
        let Some(capture) = self.selected_capture() else {
            return;
        };
        match self.context.forward.as_ref().or(self.replay_target.as_ref()) {
            Some(target) => self.effects.push(Effect::Replay(capture, mode, target.clone())),
            // No --forward: ask where to, once; the answer holds for the session.
            None => self.prompt(Prompt::Target(mode), DEFAULT_TARGET.into()),
        }
    }

    /// A delivery attempt was journaled.
    pub fn on_attempt(&mut self, attempt: Arc<crate::attempt::Attempt>) {
        if self.catching_up {
            return; // read from the journal by the catch-up
        }
        let id = attempt.capture;
        // Read from the journal already, by a catch-up that ended after it was published.
        if self.store.knows_attempt(&attempt) {
            return;
        }
        if self.store.add_attempt(attempt).is_none() {
            return;
        }
        if self.filter.reads_deliveries() {
            self.refilter();
        }
        if self
            .detail
            .as_ref()
            .and_then(|d| d.capture.as_ref())
            .is_some_and(|c| c.id == id)
        {
            self.refresh_detail();
        }
    }

    /// A mouse event: clicks select, the wheel scrolls what is under it.
    pub fn on_mouse(&mut self, mouse: MouseEvent) {
        if self.help || self.editor.is_some() {
            return;
        }
        self.before_draw();
        let areas = ui::areas(self.size, self);
        let at = Position::new(mouse.column, mouse.row);
        let in_list = areas.list.contains(at);
        let in_detail = areas.detail.is_some_and(|d| d.contains(at));
        match mouse.kind {
            MouseEventKind::Down(_) if in_list => {
                self.focus = Focus::List;
                // The list has a border and a header row.
                let row = mouse.row.saturating_sub(areas.list.y + 2) as usize;
                if mouse.row >= areas.list.y + 2 && self.list_top + row < self.view.len() {
                    self.select_at(self.list_top + row);
                }
            }
            MouseEventKind::Down(_) if in_detail => {
                self.focus = Focus::Detail;
                if let Some(tab) = areas.tab_at(mouse.column, mouse.row, self.tab) {
                    self.tab = tab;
                    self.scroll = 0;
                }
            }
            MouseEventKind::ScrollDown if in_list => self.move_selection(3),
            MouseEventKind::ScrollUp if in_list => self.move_selection(-3),
            MouseEventKind::ScrollDown if in_detail => self.scroll_detail(3),
            MouseEventKind::ScrollUp if in_detail => self.scroll_detail(-3),
            _ => {}
        }
    }

    fn edit_filter(&mut self, key: KeyEvent) {
        let Some(editor) = self.editor.as_mut() else {
            return;
        };
        let byte_at =
            |text: &str, chars: usize| text.char_indices().nth(chars).map_or(text.len(), |(i, _)| i);
        if let Prompt::Target(mode) = editor.purpose {
            match key.code {
                KeyCode::Esc => {
                    self.editor = None;
                    self.message = Some("replay cancelled".into());
                    return;
                }
                KeyCode::Enter => {
                    let target = editor.text.trim().to_owned();
                    self.editor = None;
                    match target.parse::<hyper::Uri>() {
                        Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => {
                            self.replay_target = Some(target);
                            self.replay(mode);
                        }
                        _ => self.message = Some(format!("not an http:// URL: {target}")),
                    }
                    return;
                }
                _ => {}
            }
        }
        match key.code {
            KeyCode::Esc => {
                self.editor = None;
                self.apply_filter(String::new());
                return;
            }
            KeyCode::Enter => {
                let text = editor.text.clone();
                self.editor = None;
                self.message = None;
                if self.filter_error.is_none() && text != self.filter_text {
                    // A filter that reads bodies on disk waited for Enter.
                    self.apply_filter(text);
                }
                if self.filter_error.is_some() {
                    // Keep the last filter that parsed; the message says why.
                    self.message = self
                        .filter_error
                        .as_ref()
                        .map(|e| format!("filter not applied: {e}"));
                    self.filter_error = None;
                }
                return;
            }
            KeyCode::Char('c') if key.modifiers == KeyModifiers::CONTROL => {
                self.quit = true;
                return;
            }
            KeyCode::Char('u') if key.modifiers == KeyModifiers::CONTROL => {
                editor.text.clear();
                editor.cursor = 0;
            }
            KeyCode::Char(c) => {
                let at = byte_at(&editor.text, editor.cursor);
                editor.text.insert(at, c);
                editor.cursor += 1;
            }
            KeyCode::Backspace if editor.cursor > 0 => {
                editor.cursor -= 1;
                let at = byte_at(&editor.text, editor.cursor);
                editor.text.remove(at);
            }
            KeyCode::Delete if editor.cursor < editor.text.chars().count() => {
                let at = byte_at(&editor.text, editor.cursor);
                editor.text.remove(at);
            }
            KeyCode::Left => editor.cursor = editor.cursor.saturating_sub(1),
            KeyCode::Right => editor.cursor = (editor.cursor + 1).min(editor.text.chars().count()),
            KeyCode::Home => editor.cursor = 0,
            KeyCode::End => editor.cursor = editor.text.chars().count(),
            _ => return,
        }
        if editor.purpose != Prompt::Filter {
            return;
        }
        let text = editor.text.clone();
        match Filter::parse(&text) {
            // Searching bodies on disk takes a pass over the journal: not on every keystroke,
            // unless they are few (a live session's are all on disk from its first capture).
            Ok(filter)
                if filter.needs_request() && self.store.on_disk_bytes() > super::store::MEMORY_BUDGET =>
            {
                self.filter_error = None;
                self.message = Some(format!(
                    "Enter searches {} captures' bodies in the journal",
                    self.store.on_disk()
                ));
            }
            _ => self.apply_filter(text),
        }
        // An error pointed at takes rows from the list: the selection stays on screen.
        self.keep_selection_visible();
    }

    /// Filters the view by `text`; a parse error keeps the previous filter and is shown.
    pub fn apply_filter(&mut self, text: String) {
        match Filter::parse(&text) {
            Ok(filter) => {
                self.filter = filter;
                self.filter_text = text;
                self.filter_error = None;
                self.refilter();
            }
            Err(err) => self.filter_error = Some(err),
        }
    }

    /// Rebuilds the view from the store, keeping the selected capture when it still shows.
    fn refilter(&mut self) {
        let keep = self.selected_row();
        let end = self.paused.unwrap_or(self.store.len());
        let mut view = self.store.select(self.cleared, &self.filter);
        view.retain(|&i| (i as usize) < end);
        self.view = view;
        let position = match self.follow {
            true => self.view.len().checked_sub(1),
            false => keep.and_then(|row| self.view.binary_search(&(row as u32)).ok()),
        };
        self.select(position.or_else(|| (!self.view.is_empty()).then_some(0)));
    }

    fn cycle(&mut self, step: isize) {
        // The stops: the list, then each tab of the detail pane.
        let stops = TABS.len() as isize + 1;
        let now = match self.focus {
            Focus::List => 0,
            Focus::Detail => self.tab as isize + 1,
        };
        let next = (now + step).rem_euclid(stops);
        match next {
            0 => self.focus = Focus::List,
            tab => {
                self.focus = Focus::Detail;
                self.tab = tab as usize - 1;
                self.scroll = 0;
            }
        }
    }

    fn step(&mut self, by: isize) {
        match self.focus {
            Focus::List => self.move_selection(by),
            Focus::Detail => self.scroll_detail(by),
        }
    }

    fn move_selection(&mut self, by: isize) {
        if self.view.is_empty() {
            return;
        }
        let now = self.selected.unwrap_or(0) as isize;
        let to = (now + by).clamp(0, self.view.len() as isize - 1) as usize;
        self.select_at(to);
    }

    /// Selects by a user's move: following stops unless the move lands on the newest.
    fn select_at(&mut self, position: usize) {
        if self.view.is_empty() {
            return;
        }
        let position = position.min(self.view.len() - 1);
        self.follow = self.follow && position + 1 == self.view.len();
        self.select(Some(position));
    }

    fn scroll_detail(&mut self, by: isize) {
        let to = (self.scroll as isize + by).clamp(0, self.max_scroll() as isize);
        self.scroll = to as u16;
    }

    /// The scroll at which the tab's last line is at the bottom of the pane.
    fn max_scroll(&self) -> u16 {
        let lines = self.detail.as_ref().map_or(0, |d| d.lines(self.tab).len());
        // The pane's border and tab line take three rows.
        let height = ui::areas(self.size, self)
            .detail
            .map_or(1, |d| d.height.saturating_sub(3).max(1));
        lines.saturating_sub(height as usize).min(u16::MAX as usize) as u16
    }

    /// How many rows a page is: the list's height.
    fn page(&self) -> usize {
        let areas = ui::areas(self.size, self);
        let area = match (self.focus, areas.detail) {
            (Focus::Detail, Some(detail)) => detail,
            _ => areas.list,
        };
        (area.height.saturating_sub(3) as usize).max(1)
    }

    fn select(&mut self, position: Option<usize>) {
        // The detail is worked out again only when the selected capture changes, not its place.
        let row = position.and_then(|p| self.view.get(p)).map(|&r| r as usize);
        let changed = self.detail.as_ref().map(|d| d.row) != row;
        self.selected = position;
        self.keep_selection_visible();
        if changed || self.detail_stale {
            self.detail_stale = false;
            self.scroll = 0;
            self.refresh_detail();
        }
    }

    fn keep_selection_visible(&mut self) {
        let height = ui::areas(self.size, self).list.height.saturating_sub(3).max(1) as usize;
        let Some(selected) = self.selected else {
            self.list_top = 0;
            return;
        };
        if selected < self.list_top {
            self.list_top = selected;
        } else if selected >= self.list_top + height {
            self.list_top = selected + 1 - height;
        }
    }

    /// The store index of the selected capture.
    pub fn selected_row(&self) -> Option<usize> {
        self.selected.and_then(|p| self.view.get(p)).map(|&r| r as usize)
    }

    fn selected_capture(&self) -> Option<Arc<Capture>> {
        self.detail.as_ref().and_then(|d| d.capture.clone())
    }

    /// Works the selected capture out for the detail pane (reading it back if need be).
    fn refresh_detail(&mut self) {
        self.detail = self.selected_row().map(|row| {
            let capture = self.store.load(row);
            let attempts = match &capture {
                Ok(capture) => self.store.attempts(capture.id),
                Err(_) => &[],
            };
            Detail::build(
                row,
                capture.as_ref().map(Arc::clone),
                attempts,
                &self.analyzer,
                &self.context,
            )
        });
    }
}
