//! `hookscope log FILE`: print a saved journal, reporting the lines it skips.
//!
//! Each capture is printed with its delivery attempts under it, wherever they are in the file
//! (a replay days later is appended at the end, far from its capture): a first pass gathers the
//! attempts by capture, the second prints. `--json` prints the capture records alone, as
//! `listen --json` does; `--attempts` adds each capture's attempt records after it.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context as _, bail};

use crate::attempt::Attempt;
use crate::capture::CaptureId;
use crate::cli::LogArgs;
use crate::codec::Record;
use crate::filter::Tracker;
use crate::headless::{self, Format};
use crate::journal::JournalReader;

/// Prints every capture of the journal that the filter lets through, each with its attempts;
/// skipped lines are reported on stderr. A file with no record at all is an error.
pub fn run(args: LogArgs) -> anyhow::Result<()> {
    let path = &args.file;
    let format = match args.json {
        true => Format::Json,
        false => Format::Human,
    };
    let with_attempts = !args.json || args.attempts;
    let mut attempts = match with_attempts {
        true => attempts_by_capture(path)?,
        false => HashMap::new(),
    };
    let mut reader = JournalReader::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let (mut records, mut shown, mut skipped) = (0u64, 0u64, 0u64);
    let mut tracker = Tracker::default();
    while let Some(next) = reader
        .next_entry()
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        let written = match next {
            Ok(entry) => {
                records += 1;
                match &entry.record {
                    Record::Capture(capture) => {
                        // Every capture counts for `dup` and `late`, shown or not.
                        let marks = tracker.observe(capture);
                        match args.filter.matches(capture, &marks) {
                            true => {
                                shown += 1;
                                let mine = attempts.remove(&capture.id).unwrap_or_default();
                                headless::write(&mut out, capture, format).and_then(|()| {
                                    mine.iter()
                                        .try_for_each(|a| headless::write_attempt(&mut out, a, format))
                                })
                            }
                            false => Ok(()),
                        }
                    }
                    Record::Attempt(_) => Ok(()), // printed under its capture
                }
            }
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
    if records == 0 && skipped > 0 {
        bail!(
            "{} is not a hookscope journal: none of its {skipped} lines is a capture or attempt record",
            path.display()
        );
    }
    let orphans: usize = attempts.values().map(Vec::len).sum();
    if skipped > 0 || (orphans > 0 && args.filter.is_empty()) {
        let orphans = match orphans {
            0 => String::new(),
            n => format!(", {n} attempts of captures not in this file"),
        };
        eprintln!("{shown} captures, {skipped} lines skipped{orphans}");
    }
    Ok(())
}

/// Every attempt of the journal at `path`, by the capture it delivered, in file order.
fn attempts_by_capture(path: &Path) -> anyhow::Result<HashMap<CaptureId, Vec<Attempt>>> {
    let mut reader = JournalReader::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut attempts: HashMap<CaptureId, Vec<Attempt>> = HashMap::new();
    while let Some(next) = reader
        .next_entry()
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        if let Ok(entry) = next
            && let Record::Attempt(attempt) = entry.record
        {
            attempts.entry(attempt.capture).or_default().push(attempt);
        }
    }
    Ok(attempts)
}
