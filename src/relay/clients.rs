//! A channel's clients: the laptops of a team sharing one channel, each with its own
//! acknowledged position, so each receives every request once, whoever else is online.
//!
//! A client is known by the name it gives in its hello (`listen --client-name`, by default the
//! host name; a client from before names existed is [`DEFAULT_NAME`]). A name is hostile input:
//! [`check_name`] allows 1 to [`MAX_NAME`] letters, digits, `.`, `_` and `-`, not starting with
//! `.` or `-`, and a name is never part of a path: every client of a channel is one record in
//! one file.
//!
//! On disk, beside the channel's queue: `<channel>.clients`, JSON
//! (`{"v":1,"clients":[{"name":"alice","acked":12,"seen":"2026-12-01T20:00:00Z"}]}`),
//! replaced whole by a rename ([`private::replace`]), `0600`. It is written on each ack without a
//! sync, like `<channel>.acked` (an ack lost to a crash only means a redelivery, which the client
//! drops by id), and synced when a client joins or comes back: a joined client lost to a crash
//! would be taken for a new one and miss what arrived meanwhile.
//!
//! - **The queue's floor.** The channel's queue forgets a request once every *known* client has
//!   acknowledged it: the floor is the lowest position among them, and `<channel>.acked` holds it
//!   as before. With no known client the floor stays where it is: requests wait for the next one.
//! - **Known and forgotten.** A client not connected and not seen for `--client-ttl` (7 days by
//!   default) is forgotten: it no longer holds the queue. It stays in the file, marked, so
//!   `relay status` shows it; the time the relay was down does not count against anyone (a
//!   client's age counts from the relay's start at the earliest).
//! - **A first connection.** A new name on a channel that has known clients starts at the end:
//!   it receives the requests that arrive from then on, not a teammate's backlog. The first
//!   client of a channel (or the first after all the others were forgotten) starts at the floor,
//!   and receives everything the queue holds: what senders sent before anyone listened. A
//!   forgotten client that comes back resumes where it was, or at the floor if the queue has
//!   moved past it; the requests it can no longer have are counted in its welcome.
//! - **From before names.** A channel whose one known client is [`DEFAULT_NAME`] (a client from
//!   before names), not connected, passes with its position to the first named client to
//!   connect: that is the same laptop, upgraded, and what arrived while it was being upgraded
//!   is its own backlog. (A team must then upgrade every laptop: a `default` that comes back
//!   after that is a new name.)
//! - **Bounded.** At most [`MAX_CLIENTS`] known clients per channel; a new name beyond that is
//!   refused, and forgotten records make room for new names, the longest unseen first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::relay::private;

/// The name of a client that gives none (clients from before channels were shared).
pub const DEFAULT_NAME: &str = "default";
/// The longest client name.
pub const MAX_NAME: usize = 64;
/// The most known clients a channel has.
pub const MAX_CLIENTS: usize = 64;
/// The default `--client-ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a valid name is, said the same way wherever one is refused.
pub const NAME_RULE: &str = "use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'";

/// Whether `name` is a valid client name; the refusal says what one looks like (and shows the
/// name as a terminal may show it).
pub fn check_name(name: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(allowed)
        && !name.starts_with(['.', '-']);
    match valid {
        true => Ok(()),
        false => {
            let shown: String = crate::sanitize::line(name).chars().take(80).collect();
            Err(format!("invalid client name \"{shown}\": {NAME_RULE}"))
        }
    }
}

/// A client as the file records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Its name ([`check_name`]).
    pub name: String,
    /// The highest sequence number it acknowledged, or where it started.
    pub acked: u64,
    /// When it was last connected.
    pub seen: DateTime<Utc>,
    /// Not seen for `--client-ttl`: it no longer holds the queue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forgotten: bool,
}

#[derive(Serialize, Deserialize)]
struct ClientsFile {
    v: u32,
    clients: Vec<ClientRecord>,
}

/// Why a client could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The channel has [`MAX_CLIENTS`] known clients already.
    #[error(
        "the channel has {MAX_CLIENTS} clients already; a new name is taken once one is forgotten (--client-ttl)"
    )]
    Full,
    /// The clients file could not be written.
    #[error("cannot write the clients file: {0}")]
    Io(#[from] std::io::Error),
}

/// Where a joining client starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    /// Its position: it has every request up to this one.
    pub acked: u64,
    /// The highest sequence number it may have been sent: a resume point beyond it is not
    /// taken as an ack.
    pub delivered: u64,
    /// Requests it will never receive: the queue forgot them while it was forgotten.
    pub skipped: u64,
    /// Whether the name was new to the channel.
    pub new: bool,
}

/// What the relay keeps of a client in memory only.
#[derive(Debug, Clone, Copy)]
struct Live {
    /// The highest sequence number sent to it.
    delivered: u64,
    /// Its sessions open now (two, briefly, while one takes over from the other).
    sessions: usize,
}

/// One channel's clients.
#[derive(Debug)]
pub struct ClientBook {
    path: PathBuf,
    records: Vec<ClientRecord>,
    live: HashMap<String, Live>,
    /// The last sequence number when the file was read: any client in it may have been sent up
    /// to there by an earlier run.
    delivered_before: u64,
    /// When the relay started: no one is forgotten for the time it was down.
    started: DateTime<Utc>,
}

impl ClientBook {
    /// Reads the clients of `channel` in `dir` (none if the file does not exist yet);
    /// `floor` and `last_seq` are the channel's queue's.
    pub fn open(dir: &Path, channel: &str, floor: u64, last_seq: u64) -> std::io::Result<Self> {
        let path = Self::path(dir, channel);
        private::remove_leftover(&path)?;
        private::tighten(&path);
        let mut records = read(&path)?;
        for record in &mut records {
            if record.acked > last_seq {
                // Ahead of the queue's numbering: the queue was wiped and numbers from 1 again.
                // Taken at its word the client would skip every new request up to its old number.
                tracing::warn!(
                    channel,
                    client = %record.name,
                    acked = record.acked,
                    last_seq,
                    "client ahead of the queue (queue files wiped?); it resumes from the queue's floor"
                );
                record.acked = floor;
            }
        }
        Ok(Self {
            path,
            records,
            live: HashMap::new(),
            delivered_before: last_seq,
            started: Utc::now(),
        })
    }

    /// The clients file of `channel` in `dir`.
    pub fn path(dir: &Path, channel: &str) -> PathBuf {
        dir.join(format!("{channel}.clients"))
    }

    /// The records, in the order the clients first joined.
    pub fn records(&self) -> &[ClientRecord] {
        &self.records
    }

    /// A client joins (a session opens): `floor` is the queue's, `last_seq` its last number.
    pub fn join(
        &mut self,
        name: &str,
        now: DateTime<Utc>,
        floor: u64,
        last_seq: u64,
    ) -> Result<Joined, JoinError> {
        let others_known = self.records.iter().any(|r| !r.forgotten && r.name != name);
        let (joined, durable) = match self.records.iter().position(|r| r.name == name) {
            Some(at) => {
                let record = &mut self.records[at];
                let came_back = record.forgotten;
                // A forgotten client resumes where it was if the queue still holds that, else
                // at the floor; what lies between is gone for it.
                let skipped = match came_back {
                    true => floor.saturating_sub(record.acked),
                    false => 0,
                };
                if came_back {
                    record.acked = record.acked.max(floor);
                    record.forgotten = false;
                }
                record.seen = now;
                let delivered = self
                    .live
                    .get(name)
                    .map_or(self.delivered_before, |live| live.delivered)
                    .max(record.acked);
                let joined = Joined {
                    acked: record.acked.max(floor),
                    delivered,
                    skipped,
                    new: false,
                };
                (joined, came_back)
            }
            None if self.inherits(name) => {
                // The one client from before names, upgraded: it keeps its position.
                if let Some(record) = self.records.iter_mut().find(|r| !r.forgotten) {
                    tracing::info!(client = %name, "the channel's client from before names is now named");
                    record.name = name.to_owned();
                    record.seen = now;
                }
                self.live.remove(DEFAULT_NAME);
                let acked = self
                    .records
                    .iter()
                    .find(|r| r.name == name)
                    .map_or(floor, |r| r.acked);
                let joined = Joined {
                    acked: acked.max(floor),
                    delivered: self.delivered_before.max(acked),
                    skipped: 0,
                    new: false,
                };
                (joined, true)
            }
            None => {
                if self.records.iter().filter(|r| !r.forgotten).count() >= MAX_CLIENTS {
                    return Err(JoinError::Full);
                }
                if self.records.len() >= MAX_CLIENTS {
                    // Room made by the forgotten record seen the longest ago.
                    if let Some(oldest) = self
                        .records
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.forgotten)
                        .min_by_key(|(_, r)| r.seen)
                        .map(|(at, _)| at)
                    {
                        let gone = self.records.remove(oldest);
                        self.live.remove(&gone.name);
                    }
                }
                let start = match others_known {
                    true => last_seq.max(floor),
                    false => floor,
                };
                self.records.push(ClientRecord {
                    name: name.to_owned(),
                    acked: start,
                    seen: now,
                    forgotten: false,
                });
                let joined = Joined {
                    acked: start,
                    delivered: start,
                    skipped: 0,
                    new: true,
                };
                (joined, true)
            }
        };
        let live = self.live.entry(name.to_owned()).or_insert(Live {
            delivered: joined.delivered,
            sessions: 0,
        });
        live.delivered = joined.delivered;
        live.sessions += 1;
        if let Err(err) = self.save(durable) {
            self.leave(name, now);
            return Err(err.into());
        }
        Ok(joined)
    }

    /// Whether the new name `name` takes the place of the channel's only known client, one from
    /// before names that is not connected.
    fn inherits(&self, name: &str) -> bool {
        let mut known = self.records.iter().filter(|r| !r.forgotten);
        let only = match (known.next(), known.next()) {
            (Some(only), None) => only,
            _ => return false,
        };
        name != DEFAULT_NAME && only.name == DEFAULT_NAME && !self.connected(DEFAULT_NAME)
    }

    /// Notes that up to `seq` was sent to `name`.
    pub fn delivered(&mut self, name: &str, seq: u64) {
        if let Some(live) = self.live.get_mut(name) {
            live.delivered = live.delivered.max(seq);
        }
    }

    /// `name` acknowledged everything up to `seq`; returns the floor the queue may move to.
    pub fn ack(&mut self, name: &str, seq: u64, now: DateTime<Utc>) -> std::io::Result<Option<u64>> {
        if let Some(record) = self.records.iter_mut().find(|r| r.name == name)
            && seq > record.acked
        {
            record.acked = seq;
            record.seen = now;
            self.save(false)?;
        }
        Ok(self.floor())
    }

    /// A session of `name` ended.
    pub fn leave(&mut self, name: &str, now: DateTime<Utc>) {
        if let Some(live) = self.live.get_mut(name) {
            live.sessions = live.sessions.saturating_sub(1);
        }
        if let Some(record) = self.records.iter_mut().find(|r| r.name == name) {
            record.seen = now;
        }
        if let Err(err) = self.save(false) {
            tracing::warn!(%err, path = %self.path.display(), "cannot record a client's leaving");
        }
    }

    /// Whether a session of `name` is open.
    pub fn connected(&self, name: &str) -> bool {
        self.live.get(name).is_some_and(|live| live.sessions > 0)
    }

    /// The lowest position among known clients: how far the queue may forget. `None` when no
    /// client is known (the queue keeps everything for the next one).
    pub fn floor(&self) -> Option<u64> {
        self.records
            .iter()
            .filter(|r| !r.forgotten)
            .map(|r| r.acked)
            .min()
    }

    /// Marks connected clients as seen now and forgets those not seen for `ttl`; returns the
    /// names forgotten.
    pub fn expire(&mut self, now: DateTime<Utc>, ttl: Duration) -> std::io::Result<Vec<String>> {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let started = self.started;
        let mut forgotten = Vec::new();
        let mut changed = false;
        for record in &mut self.records {
            let connected = self.live.get(&record.name).is_some_and(|live| live.sessions > 0);
            if connected {
                // So a client connected for longer than the ttl is not forgotten after a restart.
                changed |= now - record.seen >= ttl / 4;
                record.seen = now;
            } else if !record.forgotten && now.signed_duration_since(record.seen.max(started)) >= ttl {
                record.forgotten = true;
                forgotten.push(record.name.clone());
                changed = true;
            }
        }
        if changed {
            self.save(false)?;
        }
        Ok(forgotten)
    }

    fn save(&self, durable: bool) -> std::io::Result<()> {
        let file = ClientsFile {
            v: 1,
            clients: self.records.clone(),
        };
        let mut bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        private::replace(&self.path, &bytes, durable)
    }
}

/// Reads a clients file read-only (for `relay status`); no file is no clients. A record whose
/// name is not valid (the file edited by hand) is skipped with a warning.
pub fn read(path: &Path) -> std::io::Result<Vec<ClientRecord>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let file: ClientsFile = serde_json::from_slice(&bytes).map_err(|err| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} is not a clients file ({err}); move it aside to let every client start afresh",
                path.display()
            ),
        )
    })?;
    let mut records: Vec<ClientRecord> = Vec::with_capacity(file.clients.len());
    for record in file.clients {
        if check_name(&record.name).is_err() || records.iter().any(|r| r.name == record.name) {
            tracing::warn!(
                path = %path.display(),
                name = %crate::sanitize::line(&record.name),
                "a client record with an invalid or repeated name; skipped"
            );
            continue;
        }
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    fn open(dir: &Path, last_seq: u64) -> ClientBook {
        let mut book = ClientBook::open(dir, "alpha", 0, last_seq).expect("open");
        book.started = at(0);
        book
    }

    #[test]
    fn names_are_a_short_charset_and_refusals_say_what_one_looks_like() {
        for good in ["alice", "MacBook-Pro.local", "ci_runner-2", "a", &"x".repeat(64)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            &"x".repeat(65),
            "../etc",
            ".hidden",
            "-flag",
            "a/b",
            "a b",
            "tab\there",
            "caf\u{e9}",
            "new\nline",
            "\u{202e}evil",
            "nul\0",
        ] {
            let refusal = check_name(bad).expect_err(bad);
            assert!(refusal.ends_with(NAME_RULE), "{refusal}");
            assert!(
                !refusal.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "the name is shown escaped: {refusal:?}"
            );
        }
    }

    #[test]
    fn the_first_client_gets_the_backlog_and_a_newcomer_starts_at_the_end() {
        let dir = tempfile::tempdir().expect("dir");
        let mut book = open(dir.path(), 10);
        // Nobody listened while 10 requests came: the first client gets them all.
        let alice = book.join("alice", at(1), 0, 10).expect("join");
        assert_eq!((alice.acked, alice.new), (0, true));
        assert_eq!(book.floor(), Some(0));
        // Bob joins while alice is known: from the end, not alice's backlog.
        let bob = book.join("bob", at(2), 0, 10).expect("join");
        assert_eq!((bob.acked, bob.delivered), (10, 10));
        assert_eq!(
            book.ack("bob", 12, at(3)).expect("ack"),
            Some(0),
            "alice holds it"
        );
        assert_eq!(book.ack("alice", 11, at(3)).expect("ack"), Some(11));
        // A lower ack is not a step back.
        assert_eq!(book.ack("alice", 5, at(4)).expect("ack"), Some(11));
        // Both survive a reopen, positions and all.
        drop(book);
        let mut book = open(dir.path(), 12);
        let names: Vec<(&str, u64)> = book
            .records()
            .iter()
            .map(|r| (r.name.as_str(), r.acked))
            .collect();
        assert_eq!(names, [("alice", 11), ("bob", 12)]);
        let again = book.join("alice", at(5), 11, 12).expect("join");
        assert_eq!((again.acked, again.delivered, again.new), (11, 12, false));
    }

    #[test]
    fn clients_unseen_for_the_ttl_are_forgotten_and_stop_holding_the_queue() {
        let dir = tempfile::tempdir().expect("dir");
        let mut book = open(dir.path(), 0);
        let ttl = Duration::from_secs(100);
        book.join("alice", at(0), 0, 0).expect("join");
        book.join("bob", at(0), 0, 0).expect("join");
        book.leave("bob", at(10));
        assert_eq!(
            book.ack("alice", 30, at(20)).expect("ack"),
            Some(0),
            "bob holds it"
        );
        // Alice stays connected past the ttl; bob is gone for it.
        assert!(book.expire(at(109), ttl).expect("expire").is_empty());
        assert_eq!(book.expire(at(110), ttl).expect("expire"), ["bob"]);
        assert_eq!(book.floor(), Some(30));
        assert!(book.records()[1].forgotten);
        // Bob comes back: where the queue is now, told what he missed.
        let bob = book.join("bob", at(200), 30, 40).expect("join");
        assert_eq!((bob.acked, bob.skipped, bob.new), (30, 30, false));
        assert!(!book.records()[1].forgotten);
        // With every client forgotten the floor is none: the queue keeps what comes.
        book.leave("alice", at(200));
        book.leave("bob", at(200));
        book.expire(at(400), ttl).expect("expire");
        assert_eq!(book.floor(), None);
        // And the next one to come gets it, from the floor.
        let carol = book.join("carol", at(401), 30, 45).expect("join");
        assert_eq!(carol.acked, 30);
    }

    #[test]
    fn the_relays_downtime_does_not_count_against_a_client() {
        let dir = tempfile::tempdir().expect("dir");
        let ttl = Duration::from_secs(100);
        let mut book = open(dir.path(), 0);
        book.join("alice", at(0), 0, 0).expect("join");
        book.leave("alice", at(0));
        drop(book);
        // Reopened long after: alice's age counts from the relay's start.
        let mut book = ClientBook::open(dir.path(), "alpha", 0, 0).expect("open");
        book.started = at(1000);
        assert!(book.expire(at(1099), ttl).expect("expire").is_empty());
        assert_eq!(book.expire(at(1100), ttl).expect("expire"), ["alice"]);
    }

    #[test]
    fn the_client_from_before_names_passes_to_the_first_named_one_and_wiped_queues_reset_positions() {
        let dir = tempfile::tempdir().expect("dir");
        let mut book = open(dir.path(), 0);
        book.join(DEFAULT_NAME, at(0), 0, 0).expect("join");
        book.ack(DEFAULT_NAME, 7, at(1)).expect("ack");
        // While it is connected, a named client is a teammate: from the end.
        let bob = book.join("bob", at(2), 7, 9).expect("join");
        assert_eq!(bob.acked, 9);
        book.leave("bob", at(2));
        book.expire(at(1000), Duration::from_secs(10)).expect("expire");
        book.leave(DEFAULT_NAME, at(3));
        // Disconnected and alone: the upgraded laptop keeps its position and its backlog.
        let ana = book.join("ana", at(4), 7, 9).expect("join");
        assert_eq!((ana.acked, ana.new), (7, false));
        let names: Vec<&str> = book.records().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ana", "bob"]);
        // The queue files wiped (numbering from 1 again): positions past it start at its floor.
        book.ack("ana", 40, at(5)).expect("ack");
        drop(book);
        let book = ClientBook::open(dir.path(), "alpha", 0, 3).expect("open");
        assert_eq!(book.records()[0].acked, 0);
    }

    #[test]
    fn known_clients_are_bounded_and_forgotten_ones_make_room() {
        let dir = tempfile::tempdir().expect("dir");
        let mut book = open(dir.path(), 0);
        for n in 0..MAX_CLIENTS {
            book.join(&format!("c{n}"), at(n as i64), 0, 0).expect("join");
            book.leave(&format!("c{n}"), at(n as i64));
        }
        assert!(matches!(book.join("late", at(100), 0, 0), Err(JoinError::Full)));
        book.expire(at(100 + 2), Duration::from_secs(100))
            .expect("expire");
        // c0 and c1 are forgotten: the new name takes c0's place.
        book.join("late", at(103), 0, 0).expect("room made");
        assert_eq!(book.records().len(), MAX_CLIENTS);
        assert!(!book.records().iter().any(|r| r.name == "c0"));
        assert!(book.records().iter().any(|r| r.name == "c1" && r.forgotten));
    }

    #[test]
    fn the_file_is_private_json_and_a_hand_edited_bad_name_is_skipped() {
        let dir = tempfile::tempdir().expect("dir");
        let mut book = open(dir.path(), 0);
        book.join("alice", at(0), 0, 0).expect("join");
        let path = ClientBook::path(dir.path(), "alpha");
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(
            text.starts_with(r#"{"v":1,"clients":[{"name":"alice","acked":0,"seen":""#),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::write(
            &path,
            r#"{"v":1,"clients":[{"name":"../x","acked":1,"seen":"2026-01-01T00:00:00Z"},{"name":"bob","acked":2,"seen":"2026-01-01T00:00:00Z"}]}"#,
        )
        .expect("edit");
        let names: Vec<String> = read(&path).expect("read").into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["bob"]);
        std::fs::write(&path, "not json").expect("damage");
        let err = ClientBook::open(dir.path(), "alpha", 0, 0).expect_err("refused");
        assert!(err.to_string().contains("move it aside"), "{err}");
    }
}
