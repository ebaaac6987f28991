//! `hookscope relay status`: the channels in a relay's data directory, their clients, each
//! client's position and how far behind it is, read from the files alone, so it works whether
//! the relay runs or not (the relay replaces `<channel>.clients` and `<channel>.acked` by a
//! rename, and a queue record being appended is left out like a torn one).
//!
//! Names come from files: they are shown as a terminal may show them ([`crate::sanitize::line`]).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::relay::clients::{self, ClientBook, ClientRecord};
use crate::relay::queue::{self, Backlog};
use crate::relay::token::valid_channel;
use crate::sanitize;
use crate::units::format_size;

/// The report for the data directory `dir`, as of `now`.
pub fn report(dir: &Path, now: DateTime<Utc>) -> anyhow::Result<String> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the relay's data directory {} (give the relay's --data-dir)",
            dir.display()
        )
    })?;
    let mut channels: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let channel = name
                .strip_suffix(".queue")
                .or_else(|| name.strip_suffix(".clients"))?;
            valid_channel(channel).then(|| channel.to_owned())
        })
        .collect();
    channels.sort();
    channels.dedup();
    if channels.is_empty() {
        return Ok(format!(
            "no channels in {} yet (a channel appears with its first request or client)\n",
            dir.display()
        ));
    }
    let mut out = String::new();
    for (n, channel) in channels.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let read = queue::backlog(dir, channel).and_then(|backlog| {
            let records = clients::read(&ClientBook::path(dir, channel))?;
            Ok((backlog, records))
        });
        match read {
            Ok((backlog, records)) => channel_report(&mut out, channel, &backlog, &records, now),
            Err(err) => {
                let err = sanitize::line(&err.to_string()).into_owned();
                let _ = writeln!(out, "channel {channel}: cannot be read: {err}");
            }
        }
    }
    Ok(out)
}

/// One channel's lines.
fn channel_report(
    out: &mut String,
    channel: &str,
    backlog: &Backlog,
    records: &[ClientRecord],
    now: DateTime<Utc>,
) {
    let (waiting, bytes) = backlog.after(backlog.acked);
    let _ = writeln!(
        out,
        "channel {channel}: {waiting} request{} queued ({} of bodies), numbered up to {}",
        plural(waiting),
        format_size(bytes),
        backlog.last_seq(),
    );
    for warning in warnings(backlog) {
        let _ = writeln!(out, "  warning: {}", sanitize::line(&warning));
    }
    if records.is_empty() {
        let _ = writeln!(
            out,
            "  no client has connected yet: the first one receives the {waiting} queued"
        );
        return;
    }
    let header = ["CLIENT", "HAS UP TO", "BEHIND", "LAST SEEN", "STATE"];
    let rows: Vec<[String; 5]> = records
        .iter()
        .map(|record| {
            let from = record.acked.max(backlog.acked);
            let (behind, behind_bytes) = backlog.after(from);
            let behind = match (record.forgotten, behind) {
                (true, _) => "-".to_owned(),
                (false, 0) => "0".to_owned(),
                (false, n) => format!("{n} ({})", format_size(behind_bytes)),
            };
            let state = match record.forgotten {
                true => "forgotten (not seen for --client-ttl; holds nothing)".to_owned(),
                false => "known".to_owned(),
            };
            [
                sanitize::line(&record.name).into_owned(),
                record.acked.to_string(),
                behind,
                seen(record.seen, now),
                state,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: [&str; 5]| {
        let mut text = String::new();
        for (cell, width) in cells.iter().zip(widths) {
            let _ = write!(text, "  {cell:<width$}");
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(header);
    for row in &rows {
        line(row.each_ref().map(String::as_str));
    }
}

/// What is wrong with a channel's files, as the relay would find it, and what it does about it.
fn warnings(backlog: &Backlog) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(damage) = &backlog.damage {
        warnings.push(format!(
            "the queue is damaged: {damage}; the relay refuses this channel until the file is \
             moved aside (which starts the channel afresh); the counts here stop before it"
        ));
    }
    if backlog.torn > 0 {
        let tail = match backlog.torn {
            1 => "its last byte is".to_owned(),
            n => format!("its last {n} bytes are"),
        };
        warnings.push(format!(
            "the queue file is torn: {tail} not a whole record (a crash mid-append, damage, or \
             an append under way); the relay cuts it off when it opens the channel"
        ));
    }
    if let Some(damage) = &backlog.ack_damage {
        warnings.push(format!(
            "the ack file is damaged: {damage}; it is read as {}, as the relay reads it: \
             requests after that are delivered again (clients drop what they already have)",
            backlog.acked
        ));
    }
    warnings
}

/// `2026-12-01 20:00:00 UTC (5m ago)`.
fn seen(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let ago = (now - at).to_std().unwrap_or_default();
    let secs = ago.as_secs();
    let ago = match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    };
    format!("{} ({ago} ago)", at.format("%Y-%m-%d %H:%M:%S UTC"))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn a_channel_lists_its_clients_positions_and_backlog_in_columns() {
        let backlog = Backlog {
            acked: 39,
            pending: vec![(40, 1000), (41, 1000), (42, 500)],
            ..Backlog::default()
        };
        let records = [
            ClientRecord {
                name: "alice".into(),
                acked: 42,
                seen: at(0),
                forgotten: false,
            },
            ClientRecord {
                name: "bob-laptop".into(),
                acked: 39,
                seen: at(-7200),
                forgotten: false,
            },
            ClientRecord {
                name: "carol".into(),
                acked: 12,
                seen: at(-9 * 86_400),
                forgotten: true,
            },
        ];
        let mut out = String::new();
        channel_report(&mut out, "alpha", &backlog, &records, at(5));
        assert_eq!(
            out,
            "channel alpha: 3 requests queued (2.5 KB of bodies), numbered up to 42\n\
             \x20 CLIENT      HAS UP TO  BEHIND      LAST SEEN                         STATE\n\
             \x20 alice       42         0           2027-01-15 08:00:00 UTC (5s ago)  known\n\
             \x20 bob-laptop  39         3 (2.5 KB)  2027-01-15 06:00:00 UTC (2h ago)  known\n\
             \x20 carol       12         -           2027-01-06 08:00:00 UTC (9d ago)  \
             forgotten (not seen for --client-ttl; holds nothing)\n"
        );
    }

    #[test]
    fn a_channel_nobody_has_connected_to_says_the_first_client_gets_its_queue() {
        let backlog = Backlog {
            acked: 0,
            pending: vec![(1, 10), (2, 10)],
            ..Backlog::default()
        };
        let mut out = String::new();
        channel_report(&mut out, "beta", &backlog, &[], at(0));
        assert_eq!(
            out,
            "channel beta: 2 requests queued (20 B of bodies), numbered up to 2\n\
             \x20 no client has connected yet: the first one receives the 2 queued\n"
        );
    }
}
