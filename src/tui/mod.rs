//! The live terminal inspector: a list of captures, their detail, a filter, and replay.
//!
//! The engine knows nothing of the terminal: the hub publishes captures, and the inspector is
//! one more subscriber. [`App`] holds the state and is driven by events; [`ui::render`] draws
//! it; [`run`] is the only part that touches the terminal: it reads keys on a thread of its
//! own, takes captures from the hub, draws at most once a frame, and carries out the app's
//! effects. Capture and journaling never wait for it.

pub mod app;
pub mod bar;
pub mod body;
pub mod detail;
pub mod keymap;
pub mod replayer;
pub mod status;
pub mod store;
pub mod ui;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind};
use ratatui::crossterm::execute;
use tokio::sync::broadcast::{self, error::TryRecvError};
use tokio::sync::mpsc;

use crate::hub::HubEvent;
pub use app::{App, Context, Effect, ReplayMode};
pub use replayer::Replayer;

/// At most this often the screen is drawn (captures arriving faster are drawn in batches).
const FRAME: Duration = Duration::from_millis(16);

/// How often the hub's new captures are taken into the list: 20 times a second is live to the
/// eye, and bounds the frames drawn for captures (keys still draw at the next frame).
pub const INTAKE: Duration = Duration::from_millis(50);

/// Runs the inspector over the hub's `events` until the user quits or `stop` completes;
/// `replayer` carries out replays; `relay`, when given, is the tunnel's state for the status bar.
pub async fn run(
    mut app: App,
    mut events: Option<broadcast::Receiver<HubEvent>>,
    mut replayer: Option<Replayer>,
    mut relay: Option<tokio::sync::watch::Receiver<String>>,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    if let Err(err) = execute!(std::io::stdout(), EnableMouseCapture) {
        tracing::warn!(%err, "no mouse support");
    }
    // ratatui's hook restores the screen on a panic; mouse reporting must be turned off too.
    let restore = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        restore(info);
    }));
    let (input_tx, mut input) = mpsc::unbounded_channel();
    let reading = Arc::new(AtomicBool::new(true));
    let reader = spawn_input(input_tx, reading.clone());
    let result = async {
        let size = terminal.size()?;
        app.on_resize(size.width, size.height);
        let mut frame = tokio::time::interval(FRAME);
        frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut clock = tokio::time::interval(Duration::from_secs(1));
        let mut intake = tokio::time::interval(INTAKE);
        intake.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut dirty = true;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                Some(event) = input.recv() => {
                    match event {
                        Event::Key(key) if key.kind != KeyEventKind::Release => app.on_key(key),
                        Event::Mouse(mouse) => app.on_mouse(mouse),
                        Event::Resize(width, height) => app.on_resize(width, height),
                        _ => continue,
                    }
                    dirty = true;
                }
                // The hub's captures are taken in a batch a frame, not one wake-up each: under
                // load, waking this thread for every capture cost the capture path more than
                // listing them (futex wake-ups on the recording tasks' threads).
                _ = intake.tick(), if events.is_some() => {
                    if let Some(receiver) = events.as_mut() {
                        let (taken, open) = take_batch(receiver, &mut app);
                        if !open {
                            // The hub is gone: capture has stopped; the view stays until `q`.
                            events = None;
                        }
                        dirty |= taken > 0 || !open;
                    }
                }
                // A slice of a catch-up with the journal, between frames and keys.
                () = std::future::ready(()), if app.is_catching_up() => {
                    app.catch_up();
                    dirty = true;
                }
                changed = relay_changed(&mut relay) => {
                    match changed {
                        Some(state) => app.context.relay = Some(state),
                        None => relay = None,
                    }
                    dirty = true;
                }
                _ = clock.tick() => {
                    app.on_tick(chrono::Utc::now());
                    if app.context.listen.is_some() {
                        app.journaled = replayer.as_ref().map(|r| r.hub().totals().captures);
                    }
                    dirty = true;
                }
                _ = frame.tick(), if dirty => {
                    app.before_draw();
                    terminal.draw(|frame| ui::render(frame, &app))?;
                    dirty = false;
                }
            }
            for effect in app.take_effects() {
                if let Effect::Replay(capture, ReplayMode::Edited, target) = &effect {
                    // The editor needs the terminal: hand it over, then take it back.
                    let _ = execute!(std::io::stdout(), DisableMouseCapture);
                    ratatui::restore();
                    let edited = tokio::task::block_in_place(|| replayer::edit_body(capture));
                    terminal = ratatui::try_init().context("cannot take the terminal back")?;
                    let _ = execute!(std::io::stdout(), EnableMouseCapture);
                    terminal.clear()?;
                    app.message = Some(match (edited, replayer.as_mut()) {
                        (Ok(body), Some(replayer)) => {
                            replayer.start(capture, ReplayMode::Edited, target, Some(body))
                        }
                        (Ok(_), None) => "replay is not available here".into(),
                        (Err(err), _) => format!("not replayed: {err}"),
                    });
                    dirty = true;
                    continue;
                }
                carry_out(effect, &mut app, replayer.as_mut());
                dirty = true;
            }
            if app.quit {
                break;
            }
        }
        anyhow::Ok(())
    }
    .await;
    reading.store(false, Ordering::Relaxed);
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    let _ = reader.join();
    result
}

/// The relay state's next value; pending forever without a relay, `None` once it is gone.
async fn relay_changed(relay: &mut Option<tokio::sync::watch::Receiver<String>>) -> Option<String> {
    match relay {
        Some(relay) => match relay.changed().await {
            Ok(()) => Some(relay.borrow_and_update().clone()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

/// Where the inspector's logs go: `$XDG_STATE_HOME/hookscope/hookscope.log` (or under
/// `~/.local/state`, else the temporary directory). `None` when it cannot be opened.
pub fn log_file() -> Option<std::fs::File> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    let dir = state.join("hookscope");
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("hookscope.log"))
        .ok()
}

/// At most this many of the hub's events are taken in one batch, so that keys and frames are
/// not held up behind a long backlog (the rest waits for the next batch, or for a catch-up).
const BATCH: usize = 16_384;

/// Takes what the hub published since the last batch, without waiting. Returns how many
/// events were taken and whether the hub is still there.
pub fn take_batch(receiver: &mut broadcast::Receiver<HubEvent>, app: &mut App) -> (usize, bool) {
    let mut taken = 0;
    while taken < BATCH {
        match receiver.try_recv() {
            Ok(HubEvent::Capture(capture, offset)) => app.on_journaled(capture, Some(offset)),
            Ok(HubEvent::Listed(summary)) => app.on_listed(&summary),
            Ok(HubEvent::Attempt(attempt)) => app.on_attempt(attempt),
            Err(TryRecvError::Lagged(missed)) => app.on_lagged(missed),
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Closed) => return (taken, false),
        }
        taken += 1;
    }
    (taken, true)
}

/// Reads terminal events on a thread of its own (crossterm's reads block).
fn spawn_input(
    events: mpsc::UnboundedSender<Event>,
    reading: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while reading.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(50)) {
                Ok(false) => continue,
                Ok(true) => match event::read() {
                    Ok(event) => {
                        if events.send(event).is_err() {
                            return;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%err, "cannot read the terminal");
                        return;
                    }
                },
                Err(err) => {
                    tracing::warn!(%err, "cannot poll the terminal");
                    return;
                }
            }
        }
    })
}

fn carry_out(effect: Effect, app: &mut App, replayer: Option<&mut Replayer>) {
    match effect {
        Effect::Copy(text) => {
            // OSC 52: the terminal puts it on the system clipboard, over SSH too.
            let encoded = base64::engine::general_purpose::STANDARD.encode(text);
            let mut out = std::io::stdout();
            if let Err(err) = write!(out, "\x1b]52;c;{encoded}\x07").and_then(|()| out.flush()) {
                app.message = Some(format!("cannot copy: {err}"));
            }
        }
        Effect::Save { path, body } => {
            app.message = Some(match std::fs::write(&path, &body) {
                Ok(()) => format!("saved {} to {path}", crate::units::format_size(body.len() as u64)),
                Err(err) => format!("cannot save {path}: {err}"),
            });
        }
        Effect::Replay(capture, mode, target) => {
            app.message = Some(match replayer {
                Some(replayer) => replayer.start(&capture, mode, &target, None),
                None => "replay is not available here".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests;
