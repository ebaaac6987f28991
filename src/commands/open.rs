//! `hookscope open FILE`: the inspector over a saved journal.

use std::sync::Arc;

use anyhow::Context as _;

use crate::cli::OpenArgs;
use crate::hub::Hub;
use crate::journal::{Journal, WriteOptions};
use crate::tui::store::Store;
use crate::tui::{self, App, Context};

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
    let (store, problems) =
        Store::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    for problem in &problems {
        tracing::warn!(journal = %args.file.display(), "{problem}");
    }
    let context = Context {
        journal: args.file.display().to_string(),
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
    let journal = Journal::open(&args.file, WriteOptions { fsync: false })
        .with_context(|| format!("cannot open {} to append replays to it", args.file.display()))?;
    let hub = Hub::new(journal.appender(), analyzer.clone());
    let replayer = tui::Replayer::new(hub.clone(), analyzer, None);
    let events = hub.subscribe();
    let shown = tui::run(app, Some(events), Some(replayer), None, std::future::pending()).await;
    drop(hub);
    journal.close().await;
    shown
}
