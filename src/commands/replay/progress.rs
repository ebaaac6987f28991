//! A progress bar on stderr, drawn only on a terminal; in a pipe it does nothing.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the bar is redrawn.
const REDRAW: Duration = Duration::from_millis(100);
/// The bar's width in characters.
const WIDTH: u64 = 30;

/// A shared counter, and a task drawing it while the bar lives.
#[derive(Clone)]
pub struct Bar {
    done: Arc<AtomicU64>,
    drawing: Option<Arc<tokio::task::JoinHandle<()>>>,
}

impl Bar {
    /// A bar counting to `total`, drawn on stderr when `draw` (stderr is a terminal).
    pub fn start(total: u64, draw: bool) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        let drawing = draw.then(|| {
            let done = done.clone();
            let started = Instant::now();
            Arc::new(tokio::spawn(async move {
                let mut tick = tokio::time::interval(REDRAW);
                loop {
                    tick.tick().await;
                    let n = done.load(Ordering::Relaxed);
                    eprint!("\r{}", line(n, total, started.elapsed()));
                    let _ = std::io::stderr().flush();
                }
            }))
        });
        Self { done, drawing }
    }

    /// Counts one more delivery done.
    pub fn advance(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Stops drawing and clears the line.
    pub fn finish(&self) {
        if let Some(drawing) = &self.drawing {
            drawing.abort();
            eprint!("\r\x1b[2K");
        }
    }
}

/// `[#########---------------------]  300/1000  150/s`
fn line(done: u64, total: u64, elapsed: Duration) -> String {
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH).min(WIDTH);
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
    format!(
        "[{}{}] {done:>width$}/{total}  {rate:.0}/s",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled) as usize),
        width = total.to_string().len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_in_proportion() {
        let text = line(50, 100, Duration::from_secs(1));
        assert_eq!(
            text,
            format!("[{}{}]  50/100  50/s", "#".repeat(15), "-".repeat(15))
        );
        assert!(line(0, 0, Duration::ZERO).starts_with(&format!("[{}]", "#".repeat(30))));
    }
}
