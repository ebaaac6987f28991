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

/// The directory of the registration files: `$XDG_STATE_HOME/hookscope/registrations`, else
/// under `$HOME/.local/state`. A relative `XDG_STATE_HOME` is ignored, as the XDG spec says;
/// with neither, there is no directory that is surely the user's own (a shared `/tmp` is not),
/// and the answer says what to set.
pub fn dir() -> Result<PathBuf, String> {
    dir_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

fn dir_from(
    state_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Result<PathBuf, String> {
    let absolute = |value: Option<std::ffi::OsString>| value.map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(state_home)
        .or_else(|| absolute(home).map(|home| home.join(".local/state")))
        .map(|base| base.join("hookscope").join("registrations"))
        .ok_or_else(|| {
            "neither XDG_STATE_HOME nor HOME is set to an absolute path, and the registrations record is \
             kept only in a directory of your own, never a shared /tmp: set XDG_STATE_HOME or HOME"
                .to_owned()
        })
}

/// A path as a line may show it: every control character and byte that is not UTF-8 escaped
/// (a file name is anyone's text).
pub fn shown(path: &Path) -> String {
    crate::sanitize::bytes_line(path.as_os_str().as_encoded_bytes())
}

/// Why a file or directory of the record is not this user's to trust, if it is not.
fn not_ours(meta: &fs::Metadata) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let me = rustix::process::geteuid().as_raw();
        (meta.uid() != me).then(|| {
            format!(
                "it belongs to another user (uid {}), not you (uid {me})",
                meta.uid()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// Why the file `meta` (from `symlink_metadata`) is not one to read or lock, if it is not.
fn refused(meta: &fs::Metadata) -> Option<String> {
    if meta.file_type().is_symlink() {
        return Some("it is a symbolic link, which the record never holds".into());
    }
    if !meta.is_file() {
        return Some("it is not a regular file".into());
    }
    not_ours(meta)
}

/// The record's directory is a directory of this user's (not a link), `0700` (tightened if it
/// was looser); otherwise why not, in words.
fn check_dir(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    let why = match (meta.is_dir(), not_ours(&meta)) {
        (false, _) => Some("is not a directory (a symbolic link?)".to_owned()),
        (true, Some(why)) => Some(why.replacen("it belongs", "belongs", 1)),
        (true, None) => None,
    };
    if let Some(why) = why {
        return Err(io::Error::other(format!(
            "{} {why}: the registrations record must be a directory of your own; set XDG_STATE_HOME to one",
            shown(dir)
        )));
    }
    private::tighten(dir);
    Ok(())
}

/// Opens `path`, checked to be the regular file of this user's that `meta` described (not a
/// link, not swapped since).
fn open_checked(path: &Path, meta: &fs::Metadata, options: &fs::OpenOptions) -> io::Result<File> {
    let file = options.open(path)?;
    let opened = file.metadata()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
            return Err(io::Error::other("it changed while it was opened"));
        }
    }
    match refused(&opened).or_else(|| refused(meta)) {
        Some(why) => Err(io::Error::other(why)),
        None => Ok(file),
    }
}

/// Tries to lock `file`: `Ok(Some(file))` holds the lock, `Ok(None)` is a running session's.
fn try_lock(file: File) -> io::Result<Option<File>> {
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(err)) => Err(err),
    }
}

/// A new lock file at `path` (`0600`; never through a link or over another file), locked.
fn create_lock(path: &Path) -> io::Result<Option<File>> {
    try_lock(private::options().create_new(true).write(true).open(path)?)
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

/// The most of a session's file that is read: a few registrations take a few KiB.
const FILE_LIMIT: u64 = 1 << 20;

fn read(path: &Path, meta: &fs::Metadata) -> Result<SessionFile, String> {
    use std::io::Read as _;
    let file = open_checked(path, meta, fs::OpenOptions::new().read(true)).map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    file.take(FILE_LIMIT)
        .read_to_end(&mut text)
        .map_err(|e| e.to_string())?;
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
        check_dir(dir)?;
        let session = crate::capture::CaptureId::generate().to_string();
        let lock_path = dir.join(format!("{session}.lock"));
        let lock = create_lock(&lock_path)?
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
    /// A file that is not to be trusted (another user's, a link, not a regular file): neither
    /// read nor locked nor removed.
    Ignored {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// What a scan may do to the files it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only read them: nothing is created, no lock is kept (a listing).
    List,
    /// Lock what sessions that are gone left (creating a missing lock file), to remove it.
    Claim,
}

/// What a session that is gone left, locked by the process that found it.
#[derive(Debug)]
pub struct Leftover {
    json: PathBuf,
    lock_path: PathBuf,
    file: SessionFile,
    /// Held while this lives ([`Access::Claim`]); none for a listing.
    _lock: Option<File>,
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

/// Every session file in `dir`, oldest first; a missing directory has none. A directory that is
/// not this user's own is an error; a file of it that is not (another user's, a link, not a
/// regular file) is [`Found::Ignored`]. With [`Access::List`] nothing is created or kept locked.
pub fn scan(dir: &Path, access: Access) -> io::Result<Vec<Found>> {
    match check_dir(dir) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    }
    let mut jsons: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    jsons.sort(); // ULIDs sort by time
    let mut found = Vec::new();
    for json in jsons {
        let meta = match fs::symlink_metadata(&json) {
            Ok(meta) => meta,
            Err(_) => continue, // gone since the listing
        };
        if let Some(why) = refused(&meta) {
            found.push(Found::Ignored { path: json, why });
            continue;
        }
        let lock_path = json.with_extension("lock");
        let lock = match lock(&lock_path, access) {
            Ok(lock) => lock,
            Err(Lock::Ignored(why)) => {
                found.push(Found::Ignored { path: lock_path, why });
                continue;
            }
            Err(Lock::Failed(err)) => {
                found.push(Found::Unreadable {
                    path: lock_path,
                    why: err.to_string(),
                });
                continue;
            }
        };
        match (read(&json, &meta), lock) {
            // Removed between the listing and the lock: a session that just ended cleanly.
            (Err(_), Locked::Held(_)) if !json.exists() && access == Access::Claim => {
                let _ = remove_if_there(&lock_path);
            }
            (Err(_), _) if !json.exists() => {}
            (Err(why), _) => found.push(Found::Unreadable { path: json, why }),
            (Ok(file), Locked::Held(lock)) => found.push(Found::Left(Leftover {
                json,
                lock_path,
                file,
                _lock: (access == Access::Claim).then_some(lock),
            })),
            (Ok(file), Locked::None) => found.push(Found::Left(Leftover {
                json,
                lock_path,
                file,
                _lock: None,
            })),
            (Ok(file), Locked::Running) => found.push(Found::Running {
                pid: file.pid,
                records: file.registrations,
            }),
        }
    }
    Ok(found)
}

/// A session's lock, as a scan found it.
enum Locked {
    /// Taken by this process: the session is gone.
    Held(File),
    /// No lock file, and a listing creates none: the session is gone (a running one holds it).
    None,
    /// Held by another process: a running session's (or another cleanup's).
    Running,
}

enum Lock {
    Ignored(String),
    Failed(io::Error),
}

fn lock(path: &Path, access: Access) -> Result<Locked, Lock> {
    let opened = match fs::symlink_metadata(path) {
        Ok(meta) => {
            if let Some(why) = refused(&meta) {
                return Err(Lock::Ignored(why));
            }
            let mut options = fs::OpenOptions::new();
            options.read(true);
            open_checked(path, &meta, &options).map_err(Lock::Failed)?
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => match access {
            Access::List => return Ok(Locked::None),
            Access::Claim => private::options()
                .create_new(true)
                .write(true)
                .open(path)
                .map_err(Lock::Failed)?,
        },
        Err(err) => return Err(Lock::Failed(err)),
    };
    match try_lock(opened) {
        Ok(Some(file)) => Ok(Locked::Held(file)),
        Ok(None) => Ok(Locked::Running),
        Err(err) => Err(Lock::Failed(err)),
    }
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
            scan(&dir, Access::Claim).expect("scan").is_empty(),
            "nothing written before a registration"
        );
        state.add(record("wh_1")).expect("add");
        state.add(record("wh_2")).expect("add");
        assert_eq!((mode(&dir), mode(state.path())), (0o700, 0o600));
        match scan(&dir, Access::Claim).expect("scan").as_slice() {
            [Found::Running { pid, records }] => {
                assert_eq!(*pid, std::process::id());
                assert_eq!(ids(records), ["wh_1", "wh_2"]);
            }
            other => panic!("{other:?}"),
        }
        state.remove(Platform::Optiview, "wh_1").expect("remove");
        match scan(&dir, Access::Claim).expect("scan").as_slice() {
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
        let mut found = scan(dir.path(), Access::Claim).expect("scan");
        let Some(Found::Left(leftover)) = found.first_mut() else {
            panic!("{found:?}");
        };
        assert_eq!(ids(leftover.records()), ["wh_1", "wh_2"]);
        // While one process cleans it up, another sees it taken, as a running session.
        match scan(dir.path(), Access::Claim).expect("scan").as_slice() {
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
        match scan(dir.path(), Access::Claim).expect("scan").as_slice() {
            [Found::Unreadable { why, .. }] => assert!(why.starts_with("not a registrations file"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(
            scan(&dir.path().join("missing"), Access::Claim)
                .expect("scan")
                .is_empty()
        );
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_listing_creates_no_file_and_claims_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let mut state = SessionState::create(dir.path()).expect("create");
        state.add(record("wh_1")).expect("add");
        drop(state);
        // A session's file whose lock file went (a crash before it was written, a hand's rm),
        // and garbage: a listing reads them and creates nothing beside them.
        fs::write(dir.path().join("01A.json"), "{not json").expect("write");
        let gone = names(dir.path())
            .into_iter()
            .find(|n| n.ends_with(".lock"))
            .expect("lock");
        fs::remove_file(dir.path().join(gone)).expect("rm");
        let before = names(dir.path());
        let found = scan(dir.path(), Access::List).expect("scan");
        assert!(
            matches!(found.as_slice(), [Found::Unreadable { .. }, Found::Left(_)]),
            "{found:?}"
        );
        assert_eq!(names(dir.path()), before);
        // Nor is anything kept locked: a cleanup at the same time claims it.
        let claimed = scan(dir.path(), Access::Claim).expect("scan");
        assert!(matches!(claimed.as_slice(), [_, Found::Left(_)]), "{claimed:?}");
        drop(found);
    }

    #[test]
    fn links_other_files_and_another_users_files_are_ignored_untouched() {
        let dir = tempfile::tempdir().expect("dir");
        let outside = tempfile::tempdir().expect("outside");
        let mut state = SessionState::create(outside.path()).expect("create");
        state.add(record("wh_1")).expect("add");
        let real = state.path().to_owned();
        drop(state);
        let target = outside.path().join("target.lock");
        std::os::unix::fs::symlink(&real, dir.path().join("01A.json")).expect("symlink");
        fs::create_dir(dir.path().join("01B.json")).expect("mkdir");
        fs::copy(&real, dir.path().join("01C.json")).expect("copy");
        std::os::unix::fs::symlink(&target, dir.path().join("01C.lock")).expect("symlink");
        for access in [Access::List, Access::Claim] {
            let found = scan(dir.path(), access).expect("scan");
            let ignored: Vec<String> = found
                .iter()
                .map(|f| match f {
                    Found::Ignored { path, why } => {
                        format!("{}: {why}", path.file_name().expect("name").to_string_lossy())
                    }
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(
                ignored,
                [
                    "01A.json: it is a symbolic link, which the record never holds",
                    "01B.json: it is not a regular file",
                    "01C.lock: it is a symbolic link, which the record never holds",
                ]
            );
            assert!(!target.exists(), "nothing created through the lock's link");
        }
        // Another user's file (only root can make one here).
        if rustix::process::geteuid().is_root() {
            let planted = dir.path().join("01D.json");
            fs::copy(&real, &planted).expect("copy");
            std::os::unix::fs::chown(&planted, Some(4242), None).expect("chown");
            let found = scan(dir.path(), Access::Claim).expect("scan");
            assert!(
                found.iter().any(|f| matches!(f, Found::Ignored { path, why }
                    if *path == planted && why.starts_with("it belongs to another user (uid 4242)"))),
                "{found:?}"
            );
            assert!(!dir.path().join("01D.lock").exists());
            // A record directory of another user's is refused whole.
            std::os::unix::fs::chown(dir.path(), Some(4242), None).expect("chown");
            let err = scan(dir.path(), Access::List).expect_err("another user's directory");
            assert!(
                err.to_string().contains("belongs to another user (uid 4242)"),
                "{err}"
            );
            assert!(SessionState::create(dir.path()).is_err());
        }
    }

    #[test]
    fn the_directory_is_never_a_shared_one_and_a_relative_state_home_is_ignored() {
        let some = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(
            dir_from(some("/s"), some("/h")),
            Ok(PathBuf::from("/s/hookscope/registrations"))
        );
        assert_eq!(
            dir_from(some("rel/state"), some("/h")),
            Ok(PathBuf::from("/h/.local/state/hookscope/registrations"))
        );
        assert_eq!(
            dir_from(some(""), some("/h")),
            Ok(PathBuf::from("/h/.local/state/hookscope/registrations"))
        );
        for (state, home) in [
            (None, None),
            (some("rel"), None),
            (None, some("")),
            (None, some("h")),
        ] {
            let err = dir_from(state, home).expect_err("no private directory");
            assert!(err.contains("set XDG_STATE_HOME or HOME"), "{err}");
        }
    }
}
