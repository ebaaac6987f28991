//! `hookscope registrations [--cleanup]`: what `listen --register` sessions registered (#18),
//! and the removal of what sessions that are gone left.

use std::collections::HashMap;

use anyhow::Context as _;

use crate::register::api::{Credentials, Events, Platform};
use crate::register::{self, Entry, RegistrationsArgs, state};
use crate::sanitize;

/// `hookscope registrations [--cleanup]`: lists what sessions registered, and removes what the
/// ones that are gone left. Credentials are looked up only for what is removed, and sent only
/// to the platform's documented API or to an `--api-base` given on this command line: a record
/// is anyone's text (a file planted, edited), and the API it names is not trusted with them.
pub async fn run(args: RegistrationsArgs) -> anyhow::Result<()> {
    let dir = state::dir().map_err(anyhow::Error::msg)?;
    let access = match args.cleanup {
        true => state::Access::Claim,
        false => state::Access::List,
    };
    let mut found =
        state::scan(&dir, access).with_context(|| format!("cannot read {}", state::shown(&dir)))?;
    if found.is_empty() {
        println!("no registrations recorded (in {})", state::shown(&dir));
        return Ok(());
    }
    let mut left = 0;
    for session in &found {
        match session {
            state::Found::Running { pid, records } => {
                for record in records {
                    println!(
                        "{} (session running, pid {pid}: it removes it when it exits)",
                        register::describe_record(record)
                    );
                }
            }
            state::Found::Left(leftover) => {
                for record in leftover.records() {
                    left += 1;
                    println!(
                        "{} (left by a session that ended without removing it)",
                        register::describe_record(record)
                    );
                }
            }
            state::Found::Unreadable { path, why } => println!(
                "{}: {}; check the platform's dashboard for webhooks named \"hookscope …\", then move the file away",
                state::shown(path),
                sanitize::line(why)
            ),
            state::Found::Ignored { path, why } => println!(
                "{}: ignored: {}; move it away if it is not yours",
                state::shown(path),
                sanitize::line(why)
            ),
        }
    }
    if !args.cleanup {
        if left > 0 {
            println!("`hookscope registrations --cleanup` removes what ended sessions left");
        }
        return Ok(());
    }
    let mut credentials_by: HashMap<Platform, Credentials> = HashMap::new();
    let mut failed = 0;
    for session in &mut found {
        let state::Found::Left(leftover) = session else {
            continue;
        };
        for record in leftover.records().to_vec() {
            let platform = record.platform;
            let id = sanitize::line(&record.id).into_owned();
            // Only the documented API, or the one this command line names, gets the credentials.
            let given = args.api_bases.iter().rev().find(|(p, _)| *p == platform);
            let base = match given {
                Some((_, url)) => url.clone(),
                None if same_base(&record.api_base, platform.default_base()) => {
                    platform.default_base().to_owned()
                }
                None => {
                    failed += 1;
                    eprintln!(
                        "{platform} webhook {id} was registered through {}, not {platform}'s documented API ({}): \
                         your credentials are not sent there on a record's word; if that API is truly yours, run \
                         `hookscope registrations --cleanup --api-base {platform}=URL`, else remove the record",
                        sanitize::url(&record.api_base),
                        platform.default_base()
                    );
                    continue;
                }
            };
            let credentials = match credentials_by.get(&platform) {
                Some(c) => c.clone(),
                None => {
                    let found = register::credentials(platform, args.config.as_deref())
                        .map_err(|e| anyhow::anyhow!("{e:#}").context("cannot clean up"))?;
                    credentials_by.insert(platform, found.clone());
                    found
                }
            };
            let entry = Entry {
                platform,
                events: Events::All,
                credentials,
                base,
                timeout: register::API_TIMEOUT,
            };
            match register::remove(&entry, &record.id).await {
                Ok(done) => {
                    leftover.remove(platform, &record.id).with_context(|| {
                        format!("removed {platform} webhook {id}, but cannot update the record")
                    })?;
                    println!("removed {platform} webhook {id} ({done})");
                }
                Err(line) => {
                    failed += 1;
                    eprintln!("{line}");
                }
            }
        }
    }
    anyhow::ensure!(
        failed == 0,
        "{failed} webhook{} could not be removed; {} recorded for another --cleanup",
        if failed == 1 { "" } else { "s" },
        if failed == 1 { "it stays" } else { "they stay" }
    );
    Ok(())
}

/// Whether `recorded` is `documented` (which has no path): the same text but for a trailing `/`
/// and the case of the scheme and host.
fn same_base(recorded: &str, documented: &str) -> bool {
    recorded.trim_end_matches('/').eq_ignore_ascii_case(documented)
}
