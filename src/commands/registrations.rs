//! `hookscope registrations [--cleanup]`: what `listen --register` sessions registered (#18),
//! and the removal of what sessions that are gone left.

use std::collections::HashMap;

use anyhow::Context as _;

use crate::register::api::{Credentials, Events, Platform};
use crate::register::{self, Entry, RegistrationsArgs, state};
use crate::sanitize;

/// `hookscope registrations [--cleanup]`: lists what sessions registered, and removes what the
/// ones that are gone left. Credentials are looked up only for what is removed.
pub async fn run(args: RegistrationsArgs) -> anyhow::Result<()> {
    let dir = state::dir();
    let mut found = state::scan(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if found.is_empty() {
        println!("no registrations recorded (in {})", dir.display());
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
                "{}: {why}; check the platform's dashboard for webhooks named \"hookscope …\", then move the file away",
                path.display()
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
            let credentials = match credentials_by.get(&platform) {
                Some(c) => c.clone(),
                None => {
                    let found = register::credentials(platform, args.config.as_deref())
                        .map_err(|e| anyhow::anyhow!("{e:#}").context("cannot clean up"))?;
                    credentials_by.insert(platform, found.clone());
                    found
                }
            };
            let base = args
                .api_bases
                .iter()
                .rev()
                .find(|(p, _)| *p == platform)
                .map_or_else(|| record.api_base.clone(), |(_, url)| url.clone());
            let entry = Entry {
                platform,
                events: Events::All,
                credentials,
                base,
                timeout: register::API_TIMEOUT,
            };
            let id = sanitize::line(&record.id).into_owned();
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
        "{failed} webhook{} could not be removed; {} stay recorded for another --cleanup",
        if failed == 1 { "" } else { "s" },
        if failed == 1 { "it" } else { "they" }
    );
    Ok(())
}
