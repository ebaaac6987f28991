//! Inspector at scale: open a journal of a million 1 KiB captures, filter it, scroll it, and
//! report load time, filter time, frame time and resident memory.
//!
//! ```sh
//! cargo bench --bench tui_scale                          # 1,000,000 captures
//! HOOKSCOPE_BENCH_CAPTURES=100000 cargo bench --bench tui_scale
//! HOOKSCOPE_BENCH_LIVE=1 cargo bench --bench tui_scale   # the live path instead (below)
//! ```
//!
//! Live mode drives what `hookscope listen` runs behind its server: captures recorded through
//! the real [`Hub`] (analysis, the journal's group commit, the broadcast) by 32 concurrent
//! tasks, and the real inspector [`App`] taking the broadcast in batches as `tui::run` does
//! (catching up from the journal when it falls behind) and drawing a 200×50 `TestBackend` frame
//! when something changed, at most every 16 ms.
//! It reports the capture rate, the frames drawn and the longest, the peak resident memory, and
//! checks that every capture ends up listed, in journal order.
//!
//! The journal is written once to `target/tmp/tui-scale-<N>.jsonl` (reused when it is there):
//! OptiView channel and engine events with 1 KiB JSON bodies, a third of them `valid`, a third
//! `invalid`, a third `no-secret`. The bench then does what `hookscope open` does: builds the
//! compact index ([`Store::open`]), and drives the real [`App`] with key presses, drawing every
//! step to a 200×50 `TestBackend` (the frame time is the time to handle the key, work out the
//! selected capture's detail, reading its body back from the journal, and render: everything but
//! the terminal's own output). Memory is the process's resident set (`VmRSS`, `VmHWM` for the
//! peak) from `/proc/self/status`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use hookscope::analysis::Analyzer;
use hookscope::capture::{Capture, CaptureId, Derived, Header, Via};
use hookscope::codec;
use hookscope::config::Keys;
use hookscope::filter::Filter;
use hookscope::provider::Catalog;
use hookscope::summary::Summary;
use hookscope::tui::app::{App, Context};
use hookscope::tui::store::Store;
use hookscope::tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The allocator `hookscope` itself runs with (src/main.rs): the live path frees captures on
/// another thread than the one that made them, which costs glibc's malloc far more.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TYPES: [&str; 8] = [
    "engine.playing",
    "engine.stopped",
    "engine.error",
    "engine.ingesting",
    "channel.created",
    "channel.stopped",
    "channel.deploying",
    "channel.updated",
];
const VERDICTS: [&str; 3] = ["valid", "invalid", "no-secret"];

fn capture(n: u64) -> Capture {
    let event = TYPES[(n % TYPES.len() as u64) as usize];
    let time = Utc
        .timestamp_opt(1_795_000_000 + (n / 100) as i64, 0)
        .single()
        .unwrap_or_default();
    let mut body = format!(
        r#"{{"type":"{event}","created":{},"object":{{"type":"channel","id":"ch_{:06}"}},"data":{{"status":"OFFLINE","region":"europe-west","note":""#,
        time.timestamp(),
        n % 5000
    );
    let pad = 1024usize.saturating_sub(body.len() + 3);
    body.push_str(&"x".repeat(pad));
    body.push_str("\"}}");
    Capture {
        id: CaptureId::generate(),
        received_at: time,
        remote_addr: "127.0.0.1:50412".into(),
        via: Via::Direct,
        method: "POST".into(),
        path: "/hooks/optiview".into(),
        query: None,
        version: "HTTP/1.1".into(),
        headers: vec![
            Header::new("Host", "127.0.0.1:8080"),
            Header::new("Content-Type", "application/json"),
            Header::new("Dolby-Signature", format!("t={},h={:064x}", time.timestamp(), n)),
        ],
        body: Bytes::from(body),
        status: 200,
        note: None,
        derived: Derived {
            provider: Some("optiview".into()),
            event_type: Some(event.into()),
            event_time: Some(time),
            event_id: None,
            object: Some(format!("ch_{:06}", n % 5000)),
            verdict: Some(VERDICTS[(n % 3) as usize].into()),
            verdict_detail: None,
            ..Derived::default()
        },
    }
}

fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() -> anyhow::Result<()> {
    let count: u64 = std::env::var("HOOKSCOPE_BENCH_CAPTURES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if std::env::var_os("HOOKSCOPE_BENCH_LIVE").is_some() {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        // The same captures with no inspector (a subscriber that only reads, as the headless
        // printer does), then with it: the inspector's cost as a ratio of one run.
        // Alone, it runs by itself: its captures, made beforehand, would count in the live
        // runs' peak memory.
        if std::env::var_os("HOOKSCOPE_BENCH_ALONE").is_some() {
            return inspector_alone(count.min(200_000));
        }
        let headless = runtime.block_on(live(count, false))?;
        let inspector = runtime.block_on(live(count, true))?;
        println!(
            "live: with the inspector {:.0}/s, headless {:.0}/s: {:.2} of headless",
            inspector,
            headless,
            inspector / headless
        );
        return Ok(());
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tmp");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("tui-scale-{count}.jsonl"));
    if !path.exists() {
        let started = Instant::now();
        let partial = path.with_extension("partial");
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&partial)?);
        for n in 0..count {
            out.write_all(&codec::encode_capture(&capture(n)))?;
        }
        out.flush()?;
        drop(out);
        std::fs::rename(&partial, &path)?;
        println!("wrote {} in {:.1?}", path.display(), started.elapsed());
    }
    let size = std::fs::metadata(&path)?.len();
    println!(
        "journal: {count} captures, {:.0} MiB",
        size as f64 / (1 << 20) as f64
    );

    let (rss_before, _) = memory();
    let started = Instant::now();
    let (store, problems) = Store::open(&path)?;
    let load = started.elapsed();
    anyhow::ensure!(
        problems.is_empty() && store.len() as u64 == count,
        "the journal did not load whole"
    );
    let (rss_loaded, peak_loaded) = memory();
    println!(
        "load (index {count} captures): {load:.2?}; resident {rss_loaded} MiB (index {} MiB over the {rss_before} MiB before), peak {peak_loaded} MiB",
        rss_loaded.saturating_sub(rss_before)
    );

    let filter = Filter::parse("type:engine.* sig:valid").map_err(anyhow::Error::msg)?;
    let mut filter_times = Vec::new();
    let mut matched = 0;
    for _ in 0..5 {
        let started = Instant::now();
        matched = store.select(0, &filter).len();
        filter_times.push(started.elapsed());
    }
    filter_times.sort();
    println!(
        "filter `type:engine.* sig:valid` over {count}: {matched} match; median {:.1?}, best {:.1?} (5 runs)",
        filter_times[2], filter_times[0]
    );
    let body_filter = Filter::parse("body:ch_004999").map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let body_matched = store.select(0, &body_filter).len();
    println!(
        "filter `body:ch_004999` (reads every body back from the journal): {body_matched} match in {:.2?}",
        started.elapsed()
    );

    let catalog = Catalog::builtin();
    let keys = Keys::load(&catalog, &[], None).map_err(anyhow::Error::msg)?;
    let context = Context {
        journal: path.display().to_string(),
        ..Context::default()
    };
    let mut app = App::new(store, Arc::new(Analyzer::new(catalog, keys)), context);
    let mut terminal = Terminal::new(TestBackend::new(200, 50))?;
    let mut frame = |app: &mut App, key: Option<KeyCode>| -> anyhow::Result<Duration> {
        let started = Instant::now();
        if let Some(code) = key {
            app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
        }
        app.before_draw();
        terminal.draw(|f| ui::render(f, app))?;
        Ok(started.elapsed())
    };
    app.on_resize(200, 50);
    frame(&mut app, None)?;
    let mut times = Vec::new();
    for step in 0..300 {
        let key = match step % 30 {
            0 => KeyCode::PageDown,
            1..=20 => KeyCode::Down,
            21 => KeyCode::End,
            22 => KeyCode::Home,
            _ => KeyCode::Up,
        };
        times.push(frame(&mut app, Some(key))?);
    }
    let started = Instant::now();
    for c in "/type:engine.* sig:valid".chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let typed = started.elapsed();
    anyhow::ensure!(
        app.view.len() == matched,
        "the app's view disagrees with the store's filter"
    );
    for step in 0..100 {
        let key = if step % 10 == 0 {
            KeyCode::PageDown
        } else {
            KeyCode::Down
        };
        times.push(frame(&mut app, Some(key))?);
    }
    times.sort();
    let pick = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "frames (key + detail + render at 200x50, {} steps): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        times.len(),
        pick(0.5),
        pick(0.99),
        times[times.len() - 1]
    );
    println!("typing the filter live, 24 keys, each refiltering {count} rows: {typed:.2?} in all");
    let (rss, peak) = memory();
    println!("resident at the end: {rss} MiB, peak {peak} MiB");
    Ok(())
}

/// The inspector's own cost per capture, on one thread with nothing else running: captures
/// made and analyzed beforehand, then listed one by one as the broadcast hands them over.
fn inspector_alone(count: u64) -> anyhow::Result<()> {
    let catalog = Catalog::builtin();
    let keys = Keys::load(&catalog, &[], None).map_err(anyhow::Error::msg)?;
    let analyzer = Arc::new(Analyzer::new(catalog, keys));
    // As the hub makes them on the recording threads: the inspector's thread only lists them.
    let summaries: Vec<Summary> = (0..count)
        .map(|n| {
            let mut one = capture(n);
            one.id = CaptureId::generate();
            one.derived = analyzer.derive(&one);
            Summary::of(&one, Some(n * 1100))
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("alone.jsonl");
    let mut app = App::new(Store::live(&path), analyzer, Context::default());
    app.on_resize(200, 50);
    let started = Instant::now();
    for summary in summaries {
        app.on_listed(&summary);
    }
    let elapsed = started.elapsed();
    println!(
        "inspector alone: {count} captures listed from their summaries in {elapsed:.2?} ({:.2} µs a capture, dropping each summary included)",
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
    Ok(())
}

/// The live path: hub → journal → broadcast → inspector, with frames drawn as they would be
/// (or, without `inspector`, a subscriber that only reads). Returns captures per second.
async fn live(count: u64, inspector: bool) -> anyhow::Result<f64> {
    use hookscope::hub::Hub;
    use hookscope::journal::{Journal, WriteOptions};
    use tokio::sync::broadcast::error::RecvError;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("live.jsonl");
    let journal = Journal::open(&path, WriteOptions::default())?;
    let catalog = Catalog::builtin();
    let keys = Keys::load(&catalog, &[], None).map_err(anyhow::Error::msg)?;
    let analyzer = Arc::new(Analyzer::new(catalog, keys));
    let hub = Hub::new(journal.appender(), analyzer.clone());
    // What listen does: the inspector takes summaries, a reader alone (the printer) captures.
    let mut events = match inspector {
        true => hub.subscribe_listed(),
        false => hub.subscribe(),
    };
    let context = Context {
        listen: Some("http://127.0.0.1:8080".into()),
        journal: path.display().to_string(),
        ..Context::default()
    };
    let mut app = App::new(Store::live(&path), analyzer, context);
    app.on_resize(200, 50);
    let mut terminal = Terminal::new(TestBackend::new(200, 50))?;
    let (rss_before, _) = memory();
    let started = Instant::now();
    const TASKS: u64 = 32;
    let producers: Vec<_> = (0..TASKS)
        .map(|task| {
            let hub = hub.clone();
            tokio::spawn(async move {
                let mut n = task;
                while n < count {
                    let mut one = capture(n);
                    one.id = CaptureId::generate();
                    one.derived = Default::default();
                    hub.record(one).await?;
                    n += TASKS;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    let (mut frames, mut longest) = (0u64, Duration::ZERO);
    let mut frame = tokio::time::interval(Duration::from_millis(16));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut intake = tokio::time::interval(hookscope::tui::INTAKE);
    intake.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    // Time the inspector spent taking captures, catching up and drawing.
    let mut busy = Duration::ZERO;
    // As `tui::run` does: the broadcast taken in a batch at each intake tick, a slice of a
    // catch-up when one is under way, a frame when something changed.
    loop {
        if !inspector {
            // Bounded, so that the end (every producer done) is seen without another event.
            if let Ok(Err(RecvError::Closed)) =
                tokio::time::timeout(Duration::from_millis(50), events.recv()).await
            {
                break;
            }
            if producers.iter().all(|p| p.is_finished()) {
                break;
            }
            continue;
        }
        tokio::select! {
            _ = intake.tick() => {
                let start = Instant::now();
                let (taken, _) = hookscope::tui::take_batch(&mut events, &mut app);
                busy += start.elapsed();
                dirty |= taken > 0;
            }
            () = std::future::ready(()), if app.is_catching_up() => {
                let start = Instant::now();
                app.catch_up();
                busy += start.elapsed();
                dirty = true;
            }
            _ = frame.tick() => {
                if dirty {
                    app.journaled = Some(hub.totals().captures);
                    let drawn = Instant::now();
                    app.before_draw();
                    terminal.draw(|f| ui::render(f, &app))?;
                    longest = longest.max(drawn.elapsed());
                    busy += drawn.elapsed();
                    frames += 1;
                    dirty = false;
                }
                if producers.iter().all(|p| p.is_finished())
                    && !app.is_catching_up()
                    && app.store.len() as u64 == hub.totals().captures
                {
                    break;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    for producer in producers {
        producer.await??;
    }
    let rate = count as f64 / elapsed.as_secs_f64();
    if !inspector {
        println!("live, headless: {count} captures through hub and journal in {elapsed:.2?} ({rate:.0}/s)");
        drop(hub);
        journal.close().await;
        return Ok(rate);
    }
    let (rss, peak) = memory();
    anyhow::ensure!(
        app.store.len() as u64 == count,
        "{} of {count} listed",
        app.store.len()
    );
    anyhow::ensure!(app.missed == 0, "{} missed", app.missed);
    let listed = std::fs::read(&path)?;
    let mut reader = hookscope::journal::JournalReader::new(listed.as_slice());
    let mut index = 0;
    while let Some(Ok(entry)) = reader.next_entry()? {
        if let hookscope::codec::Record::Capture(c) = entry.record {
            anyhow::ensure!(app.store.index_of(c.id).is_some(), "capture {} not listed", c.id);
            index += 1;
        }
    }
    anyhow::ensure!(index == count, "the journal holds {index}");
    println!(
        "live: {count} captures through hub, journal and inspector in {elapsed:.2?} ({:.0}/s); {frames} frames, longest {longest:.2?}; fell behind {} times, caught up {} from the journal, none missed",
        count as f64 / elapsed.as_secs_f64(),
        app.fell_behind,
        app.caught_up
    );
    println!(
        "live: the inspector was busy {busy:.2?} of {elapsed:.2?} ({:.1} µs a capture)",
        busy.as_secs_f64() * 1e6 / count as f64
    );
    println!(
        "live: resident {rss} MiB at the end ({} MiB over the {rss_before} MiB before), peak {peak} MiB: {:.0} MiB per million captures",
        rss.saturating_sub(rss_before),
        peak.saturating_sub(rss_before) as f64 * 1_000_000.0 / count as f64
    );
    drop(hub);
    journal.close().await;
    Ok(rate)
}
