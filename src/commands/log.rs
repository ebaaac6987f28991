//! `hookscope log FILE`: print a saved journal, reporting the lines it skips.
//!
//! Delivery attempts are printed under the captures they belong to, as `listen` prints them,
//! when that capture was printed.

use std::collections::HashSet;
use std::io::{self, Write};

use anyhow::Context as _;

use crate::cli::LogArgs;
use crate::codec::Record;
use crate::filter::Tracker;
use crate::headless::{self, Format};
use crate::journal::JournalReader;

/// Prints every capture of the journal; skipped lines are reported on stderr.
pub fn run(args: LogArgs) -> anyhow::Result<()> {
    let path = &args.file;
    let mut reader = JournalReader::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let format = match args.json {
        true => Format::Json,
        false => Format::Human,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let (mut shown, mut skipped) = (0u64, 0u64);
    let mut tracker = Tracker::default();
    let mut printed = HashSet::new();
    while let Some(next) = reader
        .next_entry()
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        let written = match next {
            Ok(entry) => match &entry.record {
                Record::Capture(capture) => {
                    // Every capture counts for `dup` and `late`, shown or not.
                    let marks = tracker.observe(capture);
                    match args.filter.matches(capture, &marks) {
                        true => {
                            shown += 1;
                            printed.insert(capture.id);
                            headless::write(&mut out, capture, format)
                        }
                        false => Ok(()),
                    }
                }
                Record::Attempt(attempt) => match printed.contains(&attempt.capture) {
                    true => headless::write_attempt(&mut out, attempt, format),
                    false => Ok(()),
                },
            },
            Err(problem) => {
                skipped += 1;
                // Flush first so the warning lands between the right lines on a shared terminal.
                out.flush()
                    .map(|()| eprintln!("warning: {}: {problem}", path.display()))
            }
        };
        match written {
            Ok(()) => {}
            // `hookscope log big.jsonl | head` is not an error.
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(err) => return Err(err).context("cannot write to stdout"),
        }
    }
    match out.flush() {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => {
            return Err(err).context("cannot write to stdout");
        }
        _ => {}
    }
    if skipped > 0 {
        eprintln!("{shown} captures, {skipped} lines skipped");
    }
    Ok(())
}
