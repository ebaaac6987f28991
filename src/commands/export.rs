//! `hookscope export FILE --format har|curl|http`: captures for other tools.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, bail};

use crate::cli::{ExportArgs, ExportFormat};
use crate::codec::Record;
use crate::export;
use crate::filter::Tracker;
use crate::journal::JournalReader;

/// Writes the matching captures of the journal in the chosen format.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let path = &args.file;
    let mut reader = JournalReader::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut tracker = Tracker::default();
    let mut all = Vec::new();
    // The last delivery of each capture: attempts follow their capture in the journal, so the
    // filter (`status:5xx`) can only be applied once the whole file is read.
    let mut last = HashMap::new();
    while let Some(next) = reader
        .next_entry()
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        match next {
            Ok(entry) => match entry.record {
                Record::Capture(capture) => {
                    let marks = tracker.observe(&capture);
                    all.push((capture, marks));
                }
                Record::Attempt(attempt) => {
                    last.insert(attempt.capture, attempt);
                }
            },
            Err(problem) => eprintln!("warning: {}: {problem}", path.display()),
        }
    }
    let mut captures = Vec::new();
    let mut deliveries = HashMap::new();
    for (capture, mut marks) in all {
        let delivery = last.remove(&capture.id);
        marks.delivery = delivery.as_ref().and_then(|a| a.status());
        if args.filter.matches(&capture, &marks) {
            if let Some(delivery) = delivery {
                deliveries.insert(capture.id, delivery);
            }
            captures.push(capture);
        }
    }
    let text = match args.format {
        ExportFormat::Har => {
            let mut text = crate::codec::json_pretty(&export::har(&captures, &deliveries))
                .context("cannot encode HAR")?;
            text.push('\n');
            text
        }
        ExportFormat::Curl => export::curl_script(&captures),
        ExportFormat::Http => {
            let stem = args
                .out
                .as_deref()
                .and_then(Path::file_stem)
                .map(|s| format!("{}.bodies", s.to_string_lossy()))
                .unwrap_or_else(|| "bodies".into());
            let (text, files) = export::http_file(&captures, &stem);
            if !files.is_empty() {
                let Some(out) = &args.out else {
                    bail!(
                        "{} captures have binary bodies, written as files beside the .http file: pass --out",
                        files.len()
                    );
                };
                let dir = out.parent().unwrap_or(Path::new("."));
                for (name, bytes) in files {
                    let file = dir.join(name);
                    if let Some(parent) = file.parent() {
                        std::fs::create_dir_all(parent)
                            .with_context(|| format!("cannot create {}", parent.display()))?;
                    }
                    std::fs::write(&file, bytes)
                        .with_context(|| format!("cannot write {}", file.display()))?;
                }
            }
            text
        }
    };
    match &args.out {
        Some(out) => std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(text.as_bytes()) {
                Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(err).context("cannot write to stdout");
                }
                _ => {}
            }
        }
    }
    eprintln!("exported {} captures", captures.len());
    Ok(())
}
