//! What each session registered, on disk, so that nothing is left at a platform unknown: a
//! session's registrations are written before it goes on, removed as they are removed, and what
//! a crashed session left is found by the next one, or by `hookscope registrations`.
//!
//! One file per session in `$XDG_STATE_HOME/hookscope/registrations/` (or under
//! `~/.local/state`, as the inspector's log): `<session>.json`, rewritten whole through a
//! temporary file and a rename (never torn), beside `<session>.lock`, which the session holds
//! locked while it runs. The lock is the operating system's and ends with the process, even on
//! `kill -9`: a file whose lock can be taken belongs to a session that is gone, and one whose
//! lock cannot is a running session's, not to be touched. The directory is `0700`, the files
//! `0600`; they hold ids and URLs, never a secret.

use std::fs::{self, File, TryLockError};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::api::Platform;
use crate::relay::private;

/// One webhook registered at a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The platform.
    pub platform: Platform,
    /// The platform's id of the webhook.
    pub id: String,
    /// The URL it sends to.
    pub url: String,
    /// Its name at the platform (`hookscope HOST TIME`).
    pub name: String,
    /// What it listens to, in words.
    pub events: String,
    /// The API it was registered through (`--api-base`, or the documented one).
    pub api_base: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A session's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionFile {
    v: u32,
    session: String,
    pid: u32,
    started_at: DateTime<Utc>,
    registrations: Vec<Record>,
}

/// The directory of the registration files.
pub fn dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("hookscope")
        .join("registrations")
}

/// Opens (creating it `0600`) and tries to lock a session's lock file: `Ok(Some(file))` holds
/// the lock, `Ok(None)` is a running session's.
fn try_lock(path: &Path) -> io::Result<Option<File>> {
    let file = private::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(err)) => Err(err),
    }
}

/// Writes `file` to `path` whole: a temporary file beside it, synced, then renamed over it.
fn write(path: &Path, file: &SessionFile) -> io::Result<()> {
    let temporary = path.with_extension("json.tmp");
    let mut out = private::options()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&temporary)?;
    let mut text = serde_json::to_vec_pretty(file).map_err(io::Error::other)?;
    text.push(b'\n');
    out.write_all(&text)?;
    out.sync_all()?;
    fs::rename(&temporary, path)
}

fn read(path: &Path) -> Result<SessionFile, String> {
    let text = fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&text).map_err(|e| format!("not a registrations file ({e})"))
}

/// This session's registrations on disk, locked for as long as it lives.
#[derive(Debug)]
pub struct SessionState {
    json: PathBuf,
    lock_path: PathBuf,
    file: SessionFile,
    /// Held, so other processes see the session running.
    _lock: File,
}

impl SessionState {
    /// A new session's state in `dir` (created `0700` if missing), locked; nothing is written
    /// until the first registration.
    pub fn create(dir: &Path) -> io::Result<Self> {
        private::create_dir(dir)?;
        private::tighten(dir);
        let session = crate::capture::CaptureId::generate().to_string();
        let lock_path = dir.join(format!("{session}.lock"));
        let lock = try_lock(&lock_path)?
            .ok_or_else(|| io::Error::other("a fresh session's lock file is locked already"))?;
        Ok(Self {
            json: dir.join(format!("{session}.json")),
            lock_path,
            file: SessionFile {
                v: 1,
                session,
                pid: std::process::id(),
                started_at: Utc::now(),
                registrations: Vec::new(),
            },
            _lock: lock,
        })
    }

    /// Records `record`, on disk before this returns.
    pub fn add(&mut self, record: Record) -> io::Result<()> {
        self.file.registrations.push(record);
        write(&self.json, &self.file)
    }

    /// Forgets the webhook `id` of `platform`, on disk before this returns; the file goes when
    /// its last registration does.
    pub fn remove(&mut self, platform: Platform, id: &str) -> io::Result<()> {
        self.file
            .registrations
            .retain(|r| !(r.platform == platform && r.id == id));
        match self.file.registrations.is_empty() {
            true => remove_if_there(&self.json),
            false => write(&self.json, &self.file),
        }
    }

    /// Where this session's registrations are written.
    pub fn path(&self) -> &Path {
        &self.json
    }
}

impl Drop for SessionState {
    fn drop(&mut self) {
        // With registrations left (a removal failed), the file stays for `registrations
        // --cleanup`; the lock file goes only with it (the lock ends with the process anyway).
        if self.file.registrations.is_empty() {
            let _ = remove_if_there(&self.json);
            let _ = remove_if_there(&self.lock_path);
        }
    }
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// A session found on disk.
#[derive(Debug)]
pub enum Found {
    /// A session that ended without removing these; its lock is held until this is dropped.
    Left(Leftover),
    /// A running session's registrations.
    Running {
        /// Its process id.
        pid: u32,
        /// What it registered.
        records: Vec<Record>,
    },
    /// A file that cannot be read as a session's.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// What a session that is gone left, locked by the process that found it.
#[derive(Debug)]
pub struct Leftover {
    json: PathBuf,
    lock_path: PathBuf,
    file: SessionFile,
    _lock: File,
}

impl Leftover {
    /// The registrations left.
    pub fn records(&self) -> &[Record] {
        &self.file.registrations
    }

    /// Forgets one, on disk before this returns; the files go with the last.
    pub fn remove(&mut self, platform: Platform, id: &str) -> io::Result<()> {
        self.file
            .registrations
            .retain(|r| !(r.platform == platform && r.id == id));
        if self.file.registrations.is_empty() {
            remove_if_there(&self.json)?;
            return remove_if_there(&self.lock_path);
        }
        write(&self.json, &self.file)
    }
}

/// Every session file in `dir`, oldest first. A missing directory has none.
pub fn scan(dir: &Path) -> io::Result<Vec<Found>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut jsons: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    jsons.sort(); // ULIDs sort by time
    let mut found = Vec::new();
    for json in jsons {
        let lock_path = json.with_extension("lock");
        let lock = match try_lock(&lock_path) {
            Ok(lock) => lock,
            Err(err) => {
                found.push(Found::Unreadable {
                    path: lock_path,
                    why: err.to_string(),
                });
                continue;
            }
        };
        match (read(&json), lock) {
            // Removed between the listing and the lock: a session that just ended cleanly.
            (Err(_), Some(_)) if !json.exists() => {
                let _ = remove_if_there(&lock_path);
            }
            (Err(why), _) => found.push(Found::Unreadable { path: json, why }),
            (Ok(file), Some(lock)) => found.push(Found::Left(Leftover {
                json,
                lock_path,
                file,
                _lock: lock,
            })),
            (Ok(file), None) => found.push(Found::Running {
                pid: file.pid,
                records: file.registrations,
            }),
        }
    }
    Ok(found)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn record(id: &str) -> Record {
        Record {
            platform: Platform::Optiview,
            id: id.into(),
            url: "https://x.example/optiview".into(),
            name: "hookscope host 2026-12-01T20:00:00Z".into(),
            events: "all events".into(),
            api_base: "http://127.0.0.1:1".into(),
            created_at: Utc::now(),
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    fn ids(records: &[Record]) -> Vec<&str> {
        records.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn a_running_session_is_seen_running_and_one_that_ended_cleanly_leaves_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let dir = dir.path().join("registrations");
        let mut state = SessionState::create(&dir).expect("create");
        assert!(
            scan(&dir).expect("scan").is_empty(),
            "nothing written before a registration"
        );
        state.add(record("wh_1")).expect("add");
        state.add(record("wh_2")).expect("add");
        assert_eq!((mode(&dir), mode(state.path())), (0o700, 0o600));
        match scan(&dir).expect("scan").as_slice() {
            [Found::Running { pid, records }] => {
                assert_eq!(*pid, std::process::id());
                assert_eq!(ids(records), ["wh_1", "wh_2"]);
            }
            other => panic!("{other:?}"),
        }
        state.remove(Platform::Optiview, "wh_1").expect("remove");
        match scan(&dir).expect("scan").as_slice() {
            [Found::Running { records, .. }] => assert_eq!(ids(records), ["wh_2"]),
            other => panic!("{other:?}"),
        }
        state.remove(Platform::Optiview, "wh_2").expect("remove");
        drop(state);
        assert_eq!(
            fs::read_dir(&dir).expect("dir").count(),
            0,
            "no file left once everything is removed"
        );
    }

    #[test]
    fn what_a_gone_session_left_is_found_locked_and_removed_one_by_one() {
        let dir = tempfile::tempdir().expect("dir");
        let mut state = SessionState::create(dir.path()).expect("create");
        state.add(record("wh_1")).expect("add");
        state.add(record("wh_2")).expect("add");
        drop(state); // its lock ends, as with a crash; the file stays
        let mut found = scan(dir.path()).expect("scan");
        let Some(Found::Left(leftover)) = found.first_mut() else {
            panic!("{found:?}");
        };
        assert_eq!(ids(leftover.records()), ["wh_1", "wh_2"]);
        // While one process cleans it up, another sees it taken, as a running session.
        match scan(dir.path()).expect("scan").as_slice() {
            [Found::Running { .. }] => {}
            other => panic!("{other:?}"),
        }
        leftover.remove(Platform::Optiview, "wh_1").expect("remove");
        leftover
            .remove(Platform::Millicast, "wh_2")
            .expect("another platform's wh_2 is not this");
        assert_eq!(ids(leftover.records()), ["wh_2"]);
        leftover.remove(Platform::Optiview, "wh_2").expect("remove");
        drop(found);
        assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn a_damaged_file_is_reported_not_fatal() {
        let dir = tempfile::tempdir().expect("dir");
        fs::write(dir.path().join("01J.json"), "{not json").expect("write");
        match scan(dir.path()).expect("scan").as_slice() {
            [Found::Unreadable { why, .. }] => assert!(why.starts_with("not a registrations file"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(scan(&dir.path().join("missing")).expect("scan").is_empty());
    }
}
