//! A channel's durable queue: requests not yet acknowledged by the channel's client, in order.
//!
//! On disk, per channel, in the data directory:
//! - `<channel>.queue`, append-only records `u64 seq | u32 length | frame`, where the frame is
//!   [`protocol::encode`] of the [`WireRequest`] and its body; each append is fsynced before the
//!   sender is answered, so an accepted request survives a crash or power loss. Appends that
//!   arrive together share one `write` and one fsync (group commit): records are buffered in
//!   sequence order, and whichever append finds the file free writes and syncs all of them.
//! - `<channel>.acked`, the highest acknowledged sequence number (8 bytes, big endian). It is
//!   written on every ack but synced only before the queue file is emptied: an ack lost to a
//!   crash only means a redelivery, which the client drops by id.
//!
//! Both are created `0600` ([`private`]): they hold bodies and signature headers. Once everything
//! is acknowledged the queue file is emptied ([`ChannelQueue::compact`]), so a delivered payload
//! does not stay on disk after its delivery.
//!
//! On start the queue file is read back; a torn last record (a crash mid-append) was never
//! acknowledged to its sender and is cut off.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::watch;

use crate::relay::private;
use crate::relay::protocol::{self, WireRequest};

/// A request waiting for delivery.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its sequence number in the channel.
    pub seq: u64,
    /// Its head.
    pub request: Arc<WireRequest>,
    /// Its body.
    pub body: Bytes,
}

/// Why a request could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The channel already holds `--queue-limit` undelivered requests.
    #[error("the channel's queue is full ({0} requests)")]
    Full(usize),
    /// The channel's undelivered bodies already fill `--queue-bytes`.
    #[error("the channel's queue is full ({0} bytes of bodies)")]
    FullBytes(u64),
    /// Writing or syncing the queue file failed.
    #[error("cannot write the queue file: {0}")]
    Io(#[from] std::io::Error),
}

/// One channel's queue.
pub struct ChannelQueue {
    state: Mutex<State>,
    /// The queue file again, written and synced without holding `state` (appends go on
    /// meanwhile); its lock, held while writing, keeps batches in order.
    writer: Mutex<Writer>,
    /// Set with [`Writer::broken`], readable without its lock.
    broken: AtomicBool,
    /// The last sequence number queued; deliverers wait on it.
    last: watch::Sender<u64>,
    limit: usize,
    byte_limit: u64,
}

/// The write side of the group commit.
struct Writer {
    file: File,
    /// How many bytes of the clock ([`State::appended`]) are on disk.
    synced: u64,
    /// A write or sync failed: what was buffered is lost, so every later append fails too
    /// (the relay answers 503) until a restart cuts the torn tail.
    broken: bool,
}

struct State {
    file: File,
    length: u64,
    /// Records appended but not yet written, in sequence order.
    buffer: Vec<u8>,
    /// Bytes ever appended, never reset by compaction: the group commit's clock.
    appended: u64,
    ack_path: PathBuf,
    pending: VecDeque<Entry>,
    /// Body bytes of `pending` (they are held in memory until acknowledged).
    pending_bytes: u64,
    next_seq: u64,
    acked: u64,
}

impl ChannelQueue {
    /// Opens (or creates) the queue of `channel` in `dir`, holding at most `limit` requests.
    pub fn open(dir: &Path, channel: &str, limit: usize) -> std::io::Result<Self> {
        private::create_dir(dir)?;
        let ack_path = dir.join(format!("{channel}.acked"));
        private::tighten(&ack_path);
        // A replacement a crash left behind was not the last word.
        private::remove_leftover(&ack_path)?;
        let (acked, damage) = read_ack(&ack_path)?;
        if let Some(damage) = damage {
            tracing::warn!(
                channel,
                acked,
                %damage,
                "the ack file is damaged; read as the number shown: requests after it are \
                 delivered again (clients drop what they have)"
            );
        }
        let path = dir.join(format!("{channel}.queue"));
        let mut file = private::options()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        private::tighten(&path);
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let (records, good) = read_records(&data).map_err(|why| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: {why}; move the file aside to start the channel afresh",
                    path.display()
                ),
            )
        })?;
        if good < data.len() {
            tracing::warn!(
                channel,
                cut = data.len() - good,
                "queue file ended in a torn record; cut off"
            );
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        let last_in_file = records.last().map_or(0, |e| e.seq);
        let pending: VecDeque<Entry> = records.into_iter().filter(|e| e.seq > acked).collect();
        let next_seq = acked.max(last_in_file) + 1;
        let (last, _) = watch::channel(next_seq - 1);
        let queue = Self {
            writer: Mutex::new(Writer {
                file: file.try_clone()?,
                synced: 0,
                broken: false,
            }),
            state: Mutex::new(State {
                file,
                length: good as u64,
                buffer: Vec::new(),
                appended: 0,
                ack_path,
                pending_bytes: pending.iter().map(|e| e.body.len() as u64).sum(),
                pending,
                next_seq,
                acked,
            }),
            broken: AtomicBool::new(false),
            last,
            limit,
            byte_limit: u64::MAX,
        };
        // Left by a crash mid-compaction, or by a version that compacted only past 4 MiB.
        queue.compact()?;
        Ok(queue)
    }

    /// Holds at most `bytes` of undelivered bodies (the count limit holds as well).
    pub fn with_byte_limit(mut self, bytes: u64) -> Self {
        self.byte_limit = bytes;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends a request durably and returns its sequence number. Blocks on the disk: call it
    /// from a blocking task.
    ///
    /// The request is offered for delivery as soon as it is written, before the sync: a client
    /// may receive it a little before its sender hears `202`. If the sync then fails the sender
    /// gets an error and may send again, which is at-least-once, as promised.
    pub fn push(&self, request: WireRequest, body: Bytes) -> Result<u64, PushError> {
        if self.broken.load(Ordering::Relaxed) {
            // Nothing more is buffered once the file cannot be written: it would only grow.
            return Err(std::io::Error::other("an earlier write to the queue file failed").into());
        }
        let (seq, written) = self.write(request, body)?;
        self.sync_to(written)?;
        // Sessions are woken once the request is on disk. Pushes that shared a batch return in
        // any order: the published number only ever rises, or a session could wait on an older
        // one with newer requests queued.
        self.last.send_if_modified(|last| {
            let newer = seq > *last;
            *last = (*last).max(seq);
            newer
        });
        Ok(seq)
    }

    /// Makes sure everything up to `appended` on the clock is written and synced: returns at
    /// once if another append's batch covered it, else writes and syncs every buffered record.
    fn sync_to(&self, appended: u64) -> std::io::Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if writer.broken {
            return Err(std::io::Error::other("an earlier write to the queue file failed"));
        }
        if writer.synced >= appended {
            return Ok(()); // another append's batch covered this one
        }
        let (batch, covered) = {
            let mut state = self.lock();
            (std::mem::take(&mut state.buffer), state.appended)
        };
        let done = writer
            .file
            .write_all(&batch)
            .and_then(|()| writer.file.sync_data());
        if let Err(err) = done {
            writer.broken = true;
            self.broken.store(true, Ordering::Relaxed);
            return Err(err);
        }
        writer.synced = covered;
        Ok(())
    }

    /// Buffers a record; returns its sequence number and the clock after it.
    fn write(&self, request: WireRequest, body: Bytes) -> Result<(u64, u64), PushError> {
        let mut state = self.lock();
        if state.pending.len() >= self.limit {
            return Err(PushError::Full(self.limit));
        }
        // One request alone may exceed the budget (it is below --max-body): it is taken when
        // nothing else waits, so a large body is never refused for ever.
        if !state.pending.is_empty() && state.pending_bytes + body.len() as u64 > self.byte_limit {
            return Err(PushError::FullBytes(self.byte_limit));
        }
        state.pending_bytes += body.len() as u64;
        let seq = state.next_seq;
        let frame = protocol::encode(&request, &body);
        let Ok(length) = u32::try_from(frame.len()) else {
            return Err(
                std::io::Error::other("a request of 4 GiB or more does not fit a queue record").into(),
            );
        };
        state.buffer.extend_from_slice(&seq.to_be_bytes());
        state.buffer.extend_from_slice(&length.to_be_bytes());
        state.buffer.extend_from_slice(&frame);
        let size = 12 + frame.len() as u64;
        state.length += size;
        state.appended += size;
        state.next_seq += 1;
        state.pending.push_back(Entry {
            seq,
            request: Arc::new(request),
            body,
        });
        Ok((seq, state.appended))
    }

    /// Forgets every request up to and including `seq` (never past the last one queued).
    /// Returns whether everything is now acknowledged while the queue file still holds records:
    /// then [`ChannelQueue::compact`] is due. Writes without syncing: cheap, and an ack lost to
    /// a crash only means a redelivery.
    pub fn ack(&self, seq: u64) -> std::io::Result<bool> {
        let mut state = self.lock();
        if seq <= state.acked {
            return Ok(false);
        }
        let seq = seq.min(state.next_seq - 1);
        while state.pending.front().is_some_and(|e| e.seq <= seq) {
            if let Some(done) = state.pending.pop_front() {
                state.pending_bytes = state.pending_bytes.saturating_sub(done.body.len() as u64);
            }
        }
        state.acked = seq;
        write_ack(&state.ack_path, seq, false)?;
        Ok(state.pending.is_empty() && (state.length > 0 || !state.buffer.is_empty()))
    }

    /// Empties the queue file if everything in it is acknowledged, so no delivered payload stays
    /// on disk. Blocks on the disk (two syncs), and holds up appends meanwhile: call it from a
    /// blocking task, after an [`ChannelQueue::ack`] that said it is due.
    ///
    /// Crash safety: the ack is synced, and its rename with the directory, before the records
    /// it covers go; whatever point a crash stops it at, the files read back as every request
    /// acknowledged, and numbering goes on after the ack (never from 1 again).
    pub fn compact(&self) -> std::io::Result<()> {
        // The writer's lock first (the order `sync_to` takes them in): no batch is being written
        // while the file is emptied, so none can land after the truncation.
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = self.lock();
        if !state.pending.is_empty() || (state.length == 0 && state.buffer.is_empty()) {
            return Ok(()); // new requests came in meanwhile, or another compaction did it
        }
        write_ack(&state.ack_path, state.acked, true)?;
        // Records still buffered are all acknowledged (delivery may precede the write): they
        // need never be written. Their appends find them covered and answer their senders.
        state.buffer.clear();
        writer.synced = state.appended;
        // Not synced: if a crash undoes the truncation, every record left is at or below the
        // synced ack and is dropped when the file is read back.
        state.file.set_len(0)?;
        state.length = 0;
        Ok(())
    }
    /// The highest sequence number handed out so far.
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// The highest acknowledged sequence number.
    pub fn acked(&self) -> u64 {
        self.lock().acked
    }

    /// Up to `max` queued requests after `seq`, in order.
    pub fn after(&self, seq: u64, max: usize) -> Vec<Entry> {
        let state = self.lock();
        let start = state.pending.partition_point(|e| e.seq <= seq);
        state.pending.iter().skip(start).take(max).cloned().collect()
    }

    /// How many requests wait for delivery.
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// Whether nothing waits for delivery.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes whenever a request is queued.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.last.subscribe()
    }
}

/// Replaces the ack file by a new one holding `seq` ([`private::replace`]): a crash leaves the
/// old ack or the new one, never an empty file (which would read as 0 and restart the
/// numbering). `durable` syncs the file and the directory's rename.
fn write_ack(path: &Path, seq: u64, durable: bool) -> std::io::Result<()> {
    private::replace(path, &seq.to_be_bytes(), durable)
}

/// The number in the ack file at `path` (0 if there is none), and, if the file does not hold
/// exactly 8 bytes, what is wrong with it: it is read all the same, as its first 8 bytes, or 0
/// if it is shorter (the relay and `relay status` read it alike).
fn read_ack(path: &Path) -> std::io::Result<(u64, Option<String>)> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((0, None)),
        Err(err) => {
            let why = format!("cannot read {}: {err}", path.display());
            return Err(std::io::Error::new(err.kind(), why));
        }
    };
    let acked = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes);
    let damage = (bytes.len() != 8).then(|| {
        format!(
            "{} holds {} byte{}, not 8",
            path.display(),
            bytes.len(),
            if bytes.len() == 1 { "" } else { "s" }
        )
    });
    Ok((acked, damage))
}

/// A channel's queue as its files say, read without changing them (for `relay status`, while
/// the relay runs or not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// The floor: every known client has everything up to it (`<channel>.acked`).
    pub acked: u64,
    /// The requests queued after it: sequence number and body size, in order.
    pub pending: Vec<(u64, u64)>,
    /// What is wrong with `<channel>.acked`, if it is damaged (it is read all the same).
    pub ack_damage: Option<String>,
    /// How many bytes at the end of the queue file are not a whole record: torn by a crash
    /// mid-append or damaged (the relay cuts them off when it opens the channel), or an append
    /// under way.
    pub torn: u64,
    /// The first complete record that does not decode: the relay refuses to open the channel
    /// until the file is moved aside. The records before it are in `pending`; none after it.
    pub damage: Option<String>,
}

impl Backlog {
    /// The last sequence number handed out.
    pub fn last_seq(&self) -> u64 {
        self.pending
            .last()
            .map_or(self.acked, |(seq, _)| (*seq).max(self.acked))
    }

    /// How many requests, and body bytes, are queued after `seq`.
    pub fn after(&self, seq: u64) -> (usize, u64) {
        let start = self.pending.partition_point(|(s, _)| *s <= seq);
        let rest = &self.pending[start..];
        (rest.len(), rest.iter().map(|(_, size)| size).sum())
    }
}

/// Reads the queue of `channel` in `dir` without changing it, and says what the relay would
/// find wrong with its files. Each record's head is read and decoded, its body skipped (a queue
/// of 256 MiB is not loaded); a torn last record (an append under way, or a crash) is left out
/// and counted in [`Backlog::torn`], as the relay would cut it; a complete record that does not
/// decode stops the reading ([`Backlog::damage`]), as it stops the relay.
pub fn backlog(dir: &Path, channel: &str) -> std::io::Result<Backlog> {
    use std::io::{BufReader, ErrorKind};
    let (acked, ack_damage) = read_ack(&dir.join(format!("{channel}.acked")))?;
    let mut backlog = Backlog {
        acked,
        ack_damage,
        ..Backlog::default()
    };
    let path = dir.join(format!("{channel}.queue"));
    let named = |err: std::io::Error| {
        let why = format!("cannot read {}: {err}", path.display());
        std::io::Error::new(err.kind(), why)
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(backlog),
        Err(err) => return Err(named(err)),
    };
    // What is there now; appends from here on are not waited for.
    let size = file.metadata().map_err(named)?.len();
    let mut file = BufReader::new(file);
    let mut at = 0u64;
    let mut json = Vec::new();
    // A record: u64 seq | u32 length | frame, whose first 4 bytes are its JSON head's length;
    // the body is the rest of the frame.
    while at + 12 <= size {
        let mut head = [0u8; 12];
        file.read_exact(&mut head).map_err(named)?;
        let seq = u64::from_be_bytes(head[..8].try_into().unwrap_or_default());
        let length = u64::from(u32::from_be_bytes(head[8..].try_into().unwrap_or_default()));
        if at + 12 + length > size {
            break; // torn
        }
        match record_head(&mut file, length, &mut json).map_err(named)? {
            Ok(body) if seq > acked => backlog.pending.push((seq, body)),
            Ok(_) => {}
            Err(why) => {
                let why = format!(
                    "{}: record {seq} at byte {at} is unreadable ({why})",
                    path.display()
                );
                backlog.damage = Some(why);
                return Ok(backlog);
            }
        }
        at += 12 + length;
    }
    backlog.torn = size - at;
    Ok(backlog)
}

/// Reads the frame of `length` bytes at the reader's position (the whole frame is in the file):
/// decodes its JSON head into `json`'s buffer and skips its body, whose size it returns; or says
/// why the frame does not decode.
fn record_head(
    file: &mut std::io::BufReader<File>,
    length: u64,
    json: &mut Vec<u8>,
) -> std::io::Result<Result<u64, String>> {
    if length < 4 {
        return Ok(Err(format!("its frame is {length} bytes, too short for a head")));
    }
    let mut prefix = [0u8; 4];
    file.read_exact(&mut prefix)?;
    let head = u64::from(u32::from_be_bytes(prefix));
    let Some(body) = (length - 4).checked_sub(head) else {
        return Ok(Err("its head is longer than it".to_owned()));
    };
    json.clear();
    // `head` is at most the frame's length, which is in the file.
    json.resize(usize::try_from(head).unwrap_or(usize::MAX), 0);
    file.read_exact(json)?;
    if let Err(err) = serde_json::from_slice::<WireRequest>(json) {
        return Ok(Err(format!("its head is not a request: {err}")));
    }
    file.seek_relative(i64::try_from(body).unwrap_or(i64::MAX))?;
    Ok(Ok(body))
}

/// Parses records from the start of `data`; returns them and the length of the good prefix,
/// which ends short of `data` only at a torn last record (a write cut by a crash). A complete
/// record that does not decode is an error: cutting there would delete acknowledged requests.
fn read_records(data: &[u8]) -> Result<(Vec<Entry>, usize), String> {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some(head) = data.get(at..at + 12) {
        let seq = u64::from_be_bytes(head[..8].try_into().unwrap_or_default());
        let length = u32::from_be_bytes(head[8..].try_into().unwrap_or_default()) as usize;
        let Some(frame) = data.get(at + 12..at + 12 + length) else {
            break;
        };
        match protocol::decode::<WireRequest>(Bytes::copy_from_slice(frame)) {
            Ok((request, body)) => entries.push(Entry {
                seq,
                request: Arc::new(request),
                body,
            }),
            Err(err) => return Err(format!("record {seq} at byte {at} is unreadable ({err})")),
        }
        at += 12 + length;
    }
    Ok((entries, at))
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;

    use super::*;

    fn request(n: u64) -> WireRequest {
        WireRequest {
            id: format!("id-{n}"),
            received_at: chrono::Utc::now(),
            remote_addr: "127.0.0.1:1".into(),
            method: "POST".into(),
            path: "/".into(),
            query: None,
            version: "HTTP/1.1".into(),
            headers: vec![],
        }
    }

    #[test]
    fn unacknowledged_requests_survive_a_reopen_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let queue = ChannelQueue::open(dir.path(), "a", 10).expect("open");
        for n in 1..=5 {
            assert_eq!(
                queue
                    .push(request(n), Bytes::from(vec![n as u8; 3]))
                    .expect("push"),
                n
            );
        }
        queue.ack(2).expect("ack");
        drop(queue);
        let queue = ChannelQueue::open(dir.path(), "a", 10).expect("reopen");
        let left: Vec<u64> = queue.after(0, 100).iter().map(|e| e.seq).collect();
        assert_eq!(left, [3, 4, 5]);
        assert_eq!(&queue.after(3, 1)[0].body[..], [4, 4, 4]);
        assert_eq!(queue.push(request(6), Bytes::new()).expect("push"), 6);
    }

    #[test]
    fn a_full_queue_refuses_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().expect("dir");
        let queue = ChannelQueue::open(dir.path(), "a", 2).expect("open");
        queue.push(request(1), Bytes::new()).expect("push");
        queue.push(request(2), Bytes::new()).expect("push");
        assert!(matches!(
            queue.push(request(3), Bytes::new()),
            Err(PushError::Full(2))
        ));
        drop(queue);
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join("a.queue"))
            .expect("file");
        file.write_all(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0])
            .expect("torn write");
        let queue = ChannelQueue::open(dir.path(), "a", 2).expect("reopen");
        assert_eq!(queue.len(), 2);
        queue.ack(2).expect("ack");
        assert!(queue.is_empty());
        assert_eq!(queue.push(request(3), Bytes::new()).expect("push"), 3);
    }

    #[test]
    fn a_damaged_record_mid_file_is_refused_not_cut() {
        let dir = tempfile::tempdir().expect("dir");
        let queue = ChannelQueue::open(dir.path(), "a", 10).expect("open");
        for n in 1..=3 {
            queue.push(request(n), Bytes::from_static(b"body")).expect("push");
        }
        drop(queue);
        // Damage the first record's JSON: complete, but unreadable, with good records after it.
        let path = dir.path().join("a.queue");
        let mut data = std::fs::read(&path).expect("read");
        data[12 + 4] ^= 0xff;
        std::fs::write(&path, &data).expect("damage");
        let err = ChannelQueue::open(dir.path(), "a", 10).err().expect("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("record 1 at byte 0"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), data, "nothing was cut");
    }

    #[test]
    fn acks_replace_the_ack_file_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("dir");
        let queue = ChannelQueue::open(dir.path(), "a", 10).expect("open");
        for n in 1..=3 {
            queue.push(request(n), Bytes::new()).expect("push");
        }
        queue.ack(2).expect("ack");
        assert!(!dir.path().join("a.acked.new").exists(), "renamed into place");
        drop(queue);
        let queue = ChannelQueue::open(dir.path(), "a", 10).expect("reopen");
        assert_eq!(queue.acked(), 2);
        assert_eq!(queue.after(0, 10).iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn the_file_is_emptied_once_everything_is_acked_and_numbering_goes_on() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("a.queue");
        let queue = ChannelQueue::open(dir.path(), "a", 10).expect("open");
        for n in 1..=3 {
            queue
                .push(request(n), Bytes::from_static(b"secret"))
                .expect("push");
        }
        assert!(!queue.ack(2).expect("ack"), "one still pending");
        assert!(queue.ack(3).expect("ack"), "all acknowledged: compaction due");
        queue.compact().expect("compact");
        assert_eq!(std::fs::metadata(&path).expect("queue").len(), 0);
        assert!(!queue.ack(3).expect("ack again"), "nothing left to compact");
        drop(queue);
        let queue = ChannelQueue::open(dir.path(), "a", 10).expect("reopen");
        assert_eq!(queue.push(request(4), Bytes::new()).expect("push"), 4);
        drop(queue);
        // A file whose records are all acknowledged (an ack written, then a crash before the
        // compaction) is emptied when it is opened.
        std::fs::write(dir.path().join("a.acked"), 4u64.to_be_bytes()).expect("ack by hand");
        let queue = ChannelQueue::open(dir.path(), "a", 10).expect("reopen");
        assert_eq!(std::fs::metadata(&path).expect("queue").len(), 0);
        assert_eq!(queue.push(request(5), Bytes::new()).expect("push"), 5);
    }

    #[test]
    fn the_backlog_is_read_without_changing_the_files_and_without_a_torn_tail() {
        let dir = tempfile::tempdir().expect("dir");
        let queue = ChannelQueue::open(dir.path(), "a", 10).expect("open");
        for n in 1..=4 {
            queue
                .push(request(n), Bytes::from(vec![0; n as usize * 100]))
                .expect("push");
        }
        queue.ack(1).expect("ack");
        drop(queue);
        let path = dir.path().join("a.queue");
        let mut file = OpenOptions::new().append(true).open(&path).expect("file");
        file.write_all(&[0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 1, 0, 0, 0, 0, 9])
            .expect("torn write");
        let before = std::fs::read(&path).expect("read");
        let read = backlog(dir.path(), "a").expect("backlog");
        assert_eq!(read.acked, 1);
        assert_eq!(read.pending, [(2, 200), (3, 300), (4, 400)]);
        assert_eq!((read.torn, &read.damage, &read.ack_damage), (16, &None, &None));
        assert_eq!((read.last_seq(), read.after(2)), (4, (2, 700)));
        assert_eq!(std::fs::read(&path).expect("read"), before, "nothing cut");
        assert_eq!(backlog(dir.path(), "none").expect("none"), Backlog::default());
    }

    #[test]
    fn undelivered_bodies_are_bounded_in_bytes_too() {
        let dir = tempfile::tempdir().expect("dir");
        let queue = ChannelQueue::open(dir.path(), "a", 100)
            .expect("open")
            .with_byte_limit(10);
        // Alone, a body over the budget is taken; behind it, nothing more until it is acked.
        queue.push(request(1), Bytes::from(vec![1; 12])).expect("first");
        assert!(matches!(
            queue.push(request(2), Bytes::from(vec![2; 1])),
            Err(PushError::FullBytes(10))
        ));
        queue.ack(1).expect("ack");
        queue
            .push(request(2), Bytes::from(vec![2; 6]))
            .expect("room again");
        queue
            .push(request(3), Bytes::from(vec![3; 4]))
            .expect("exactly the budget");
        assert!(matches!(
            queue.push(request(4), Bytes::from(vec![4; 1])),
            Err(PushError::FullBytes(10))
        ));
        drop(queue);
        let queue = ChannelQueue::open(dir.path(), "a", 100)
            .expect("reopen")
            .with_byte_limit(10);
        assert!(
            matches!(
                queue.push(request(4), Bytes::from(vec![4; 1])),
                Err(PushError::FullBytes(10))
            ),
            "counted after a reopen"
        );
    }
}
