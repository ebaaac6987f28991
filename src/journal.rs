//! The append-only JSON Lines journal: a group-commit writer and a forgiving reader.
//!
//! One writer owns the file. Request tasks hand it encoded lines and wait for the
//! acknowledgement; the writer takes every line that is waiting, writes them with one `write(2)`
//! (and one `fdatasync` with `--fsync`) and then acknowledges them all. Once acknowledged, a line
//! is in the kernel: it survives `kill -9` of hookscope, and with `fsync` a power loss too. Many
//! concurrent requests share one system call, which is what keeps the journal cheap under load.
//!
//! Without `fsync` there is no writer to hand lines to: group commit is leader/follower. An
//! appender that finds the file free becomes the leader and writes its own line and every line
//! queued meanwhile; an appender that finds it busy queues its line and the leader writes it in
//! the same `write(2)`. A lone request thus costs no wake-up at all (measured: hand-offs to a
//! writer thread or task were most of the cost of a capture, see BENCHMARKS.md), and a page-cache
//! write takes microseconds on the request's own worker. With `fsync` the writer is a thread of
//! its own, because `fdatasync` blocks for milliseconds.
//!
//! The reader yields every record it can decode and reports, then skips, the lines it cannot: a
//! torn last line after a crash or a corrupt line in the middle never costs the rest of the file.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use tokio::sync::{mpsc, oneshot};

use crate::codec::{self, DecodeError, Record};

/// How many lines one commit takes at most; bounds the size of one `write(2)`.
const MAX_BATCH: usize = 1024;
/// How many lines may wait for the writer before appenders wait in turn (back-pressure).
const QUEUE: usize = 8192;

/// Options for opening a journal for writing.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// `fdatasync` every commit, so acknowledged lines survive a power loss too.
    pub fsync: bool,
    /// Refuse to open a journal another writer holds this way (an advisory lock on the file,
    /// for as long as it is open): `listen` does, so that two listeners never interleave their
    /// captures in one file, nor read back each other's. `replay` and `open`, which append only
    /// their attempts, do not.
    pub exclusive: bool,
}

/// A journal open for appending, with its writer thread.
pub struct Journal {
    path: PathBuf,
    appender: Appender,
    thread: Option<thread::JoinHandle<WriterStats>>,
    repaired_tail: bool,
}

/// A cheap, cloneable handle for appending to a [`Journal`] from async tasks.
#[derive(Clone)]
pub struct Appender {
    route: Route,
    /// The file it appends to, for a reader that reads back what it appended.
    path: Arc<Path>,
}

#[derive(Clone)]
enum Route {
    /// Leader/follower group commit on the appenders' own tasks.
    Inline(Arc<Inline>),
    /// Lines go to the writer thread (`fsync`).
    Thread(mpsc::Sender<Message>),
}

/// The state shared by inline appenders.
struct Inline {
    /// Lines waiting for the leader.
    queue: Mutex<Vec<Pending>>,
    /// Held by the leader while it writes; `None` once the journal is closed.
    committer: Mutex<Option<Committer>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these leaves nothing half-done that matters more than the journal.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why a line could not be appended.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    /// The write (or fsync) failed; the line is not acknowledged.
    #[error("journal write failed: {0}")]
    Io(Arc<io::Error>),
    /// The journal was closed before the line reached it.
    #[error("journal is closed")]
    Closed,
}

/// What the writer did over its lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Lines written and acknowledged.
    pub lines: u64,
    /// Commits (one `write(2)` each).
    pub commits: u64,
    /// Lines whose write failed.
    pub failed: u64,
}

enum Message {
    Append(Pending),
    Close,
}

struct Pending {
    line: Vec<u8>,
    /// Told the offset the line was written at, or why it was not written.
    done: oneshot::Sender<Result<u64, AppendError>>,
}

impl Journal {
    /// Opens (or creates) `path` for appending; with `fsync`, starts its writer thread.
    ///
    /// A file that ends in a torn line (a crash mid-write) first gets a newline, so the next
    /// record starts on a line of its own instead of being glued to the torn one.
    pub fn open(path: &Path, options: WriteOptions) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        // Before looking at the tail: another writer's line half-written is no torn line.
        if options.exclusive && file.metadata()?.is_file() {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "another hookscope listen is writing to it (one journal per listener): \
                         give this one its own --out FILE",
                    ));
                }
                // A file system without locks: as before locks, one listener is the user's word.
                Err(std::fs::TryLockError::Error(err)) if err.kind() == io::ErrorKind::Unsupported => {}
                Err(std::fs::TryLockError::Error(err)) => return Err(err),
            }
        }
        let repaired_tail = ends_in_torn_line(&mut file)?;
        if repaired_tail {
            file.write_all(b"\n")?;
        }
        let committer = Committer::new(file, options);
        let (appender, thread) = match options.fsync {
            false => {
                let inline = Inline {
                    queue: Mutex::new(Vec::new()),
                    committer: Mutex::new(Some(committer)),
                };
                (Route::Inline(Arc::new(inline)), None)
            }
            true => {
                let (sender, receiver) = mpsc::channel(QUEUE);
                let thread = thread::Builder::new()
                    .name("journal".into())
                    .spawn(move || write_blocking(committer, receiver))?;
                (Route::Thread(sender), Some(thread))
            }
        };
        let appender = Appender {
            route: appender,
            path: Arc::from(path),
        };
        Ok(Self {
            path: path.to_owned(),
            appender,
            thread,
            repaired_tail,
        })
    }

    /// A handle for appending lines.
    pub fn appender(&self) -> Appender {
        self.appender.clone()
    }

    /// The file this journal appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether opening found a torn last line and started a fresh line after it.
    pub fn repaired_tail(&self) -> bool {
        self.repaired_tail
    }

    /// Writes everything handed over before this call, stops the writer and returns its
    /// statistics. Lines appended afterwards get [`AppendError::Closed`].
    pub async fn close(self) -> WriterStats {
        match (self.appender.route, self.thread) {
            (Route::Inline(inline), _) => {
                // Waits for a leader that is writing, then writes what is still queued.
                let mut guard = lock(&inline.committer);
                let Some(mut committer) = guard.take() else {
                    return WriterStats::default();
                };
                let mut batch = std::mem::take(&mut *lock(&inline.queue));
                if !batch.is_empty() {
                    committer.commit(&mut batch);
                }
                drop(guard);
                // A line queued while we held the lock found no leader (its appender could not
                // take the lock and left it to us): fail it now, or its appender waits forever.
                // Lines queued from here on find the journal closed when they try to lead.
                lock(&inline.queue).clear();
                committer.stats
            }
            (Route::Thread(sender), Some(thread)) => {
                // If the writer is already gone the send fails, and joining reports what it did.
                let _ = sender.send(Message::Close).await;
                let stats = tokio::task::spawn_blocking(move || thread.join().ok())
                    .await
                    .ok()
                    .flatten();
                stats.unwrap_or_else(|| {
                    tracing::error!("the journal writer thread panicked");
                    WriterStats::default()
                })
            }
            (Route::Thread(_), None) => WriterStats::default(),
        }
    }
}

impl Appender {
    /// The journal file this appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one encoded line (or several, as one unit) and waits until it is written (and
    /// synced with `fsync`). Returns the byte offset in the file where it starts, by which it
    /// can be read back.
    pub async fn append(&self, line: Vec<u8>) -> Result<u64, AppendError> {
        let (done, acknowledged) = oneshot::channel();
        let pending = Pending { line, done };
        match &self.route {
            Route::Thread(sender) => sender
                .send(Message::Append(pending))
                .await
                .map_err(|_| AppendError::Closed)?,
            Route::Inline(inline) => {
                lock(&inline.queue).push(pending);
                // Let the other requests that are ready on this worker queue their lines first:
                // under load the leader then writes them all with one system call.
                tokio::task::yield_now().await;
                inline.lead();
            }
        }
        acknowledged.await.map_err(|_| AppendError::Closed)?
    }
}

impl Inline {
    /// Writes everything queued if no one else is writing; otherwise the writer will.
    fn lead(&self) {
        loop {
            let mut guard = match self.committer.try_lock() {
                Ok(guard) => guard,
                // The leader writes our line, or sees it after letting go (below).
                Err(std::sync::TryLockError::WouldBlock) => return,
                Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            };
            let Some(committer) = guard.as_mut() else {
                // Closed: fail what is queued (dropping it tells each appender).
                lock(&self.queue).clear();
                return;
            };
            loop {
                let mut batch = std::mem::take(&mut *lock(&self.queue));
                if batch.is_empty() {
                    break;
                }
                committer.commit(&mut batch);
            }
            drop(guard);
            // A line queued between our last look and letting go would wait for the next
            // appender: look once more, and lead again if there is one.
            if lock(&self.queue).is_empty() {
                return;
            }
        }
    }
}

fn ends_in_torn_line(file: &mut File) -> io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Writes batches of lines and acknowledges them; shared by both kinds of writer.
struct Committer {
    file: File,
    options: WriteOptions,
    stats: WriterStats,
    buffer: Vec<u8>,
    /// After a failed write a partial line may be on disk: start the next commit on a new line.
    needs_newline: bool,
    /// The file's length: where the next byte lands (the file is opened to append).
    position: u64,
}

impl Committer {
    fn new(file: File, options: WriteOptions) -> Self {
        let position = file.metadata().map(|m| m.len()).unwrap_or(0);
        Self {
            file,
            options,
            stats: WriterStats::default(),
            buffer: Vec::with_capacity(1 << 20),
            needs_newline: false,
            position,
        }
    }

    /// Writes `batch` with one system call (and one sync), then acknowledges every line in it.
    fn commit(&mut self, batch: &mut Vec<Pending>) {
        self.buffer.clear();
        if self.needs_newline {
            self.buffer.push(b'\n');
        }
        for pending in batch.iter() {
            self.buffer.extend_from_slice(&pending.line);
        }
        let result = self
            .file
            .write_all(&self.buffer)
            .and_then(|()| match self.options.fsync {
                true => self.file.sync_data(),
                false => Ok(()),
            });
        self.stats.commits += 1;
        let mut first = self.position + u64::from(self.needs_newline);
        let outcome = match result {
            Ok(()) => {
                // Where this write ended (the file is in append mode): another writer, a replay
                // appending its attempts, may have added lines since the last batch.
                let written = self.buffer.len() as u64;
                let end = self.file.stream_position().unwrap_or(self.position + written);
                first = end.saturating_sub(written) + u64::from(self.needs_newline);
                self.needs_newline = false;
                self.position = end;
                self.stats.lines += batch.len() as u64;
                Ok(())
            }
            Err(err) => {
                tracing::error!(%err, lines = batch.len(), "journal write failed");
                self.needs_newline = true;
                // Part of the batch may be on disk: where the file ends now is where to go on.
                self.position = self.file.metadata().map_or(self.position, |m| m.len());
                self.stats.failed += batch.len() as u64;
                Err(AppendError::Io(Arc::new(err)))
            }
        };
        let mut offset = first;
        for pending in batch.drain(..) {
            let at = offset;
            offset += pending.line.len() as u64;
            // The appender may have given up waiting (its request was cancelled): nothing to do.
            let _ = pending.done.send(outcome.clone().map(|()| at));
        }
    }
}

/// Adds every line already waiting to `batch`, up to [`MAX_BATCH`]; `true` once asked to close.
fn take_waiting(receiver: &mut mpsc::Receiver<Message>, batch: &mut Vec<Pending>) -> bool {
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(Message::Append(next)) => batch.push(next),
            Ok(Message::Close) => return true,
            Err(_) => break,
        }
    }
    false
}

fn write_blocking(mut committer: Committer, mut receiver: mpsc::Receiver<Message>) -> WriterStats {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(Message::Append(first)) = receiver.blocking_recv() {
        batch.push(first);
        let closing = take_waiting(&mut receiver, &mut batch);
        committer.commit(&mut batch);
        if closing {
            break;
        }
    }
    committer.stats
}

/// A record read back from a journal, with where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Byte offset of the line's first byte in the file.
    pub offset: u64,
    /// 1-based line number.
    pub line: u64,
    /// The decoded record.
    pub record: Record,
}

/// A line that was skipped, and why.
#[derive(Debug)]
pub struct Problem {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's first byte.
    pub offset: u64,
    /// What was wrong with it.
    pub kind: ProblemKind,
}

/// What was wrong with a skipped line.
#[derive(Debug)]
pub enum ProblemKind {
    /// The last line has no newline and does not decode: a write cut short by a crash.
    Torn(DecodeError),
    /// A complete line that does not decode.
    Corrupt(DecodeError),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The error may quote the line, and a journal can be edited by anyone: sanitize.
        match &self.kind {
            ProblemKind::Torn(err) => write!(
                f,
                "line {}: torn last line skipped (a write cut short by a crash?): {}",
                self.line,
                crate::sanitize::line(&err.to_string())
            ),
            ProblemKind::Corrupt(err) => write!(
                f,
                "line {}: corrupt record skipped: {}",
                self.line,
                crate::sanitize::line(&err.to_string())
            ),
        }
    }
}

/// Reads records from a journal one line at a time.
pub struct JournalReader<R> {
    input: R,
    offset: u64,
    line: u64,
    buffer: Vec<u8>,
}

impl JournalReader<BufReader<File>> {
    /// Opens a journal file for reading.
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self::new(BufReader::with_capacity(1 << 16, File::open(path)?)))
    }

    /// Reads `path` from byte `offset` on (the start of a line), for a reader catching up with
    /// a journal that is being written: offsets and line numbers count from there.
    pub fn open_at(path: &Path, offset: u64) -> io::Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut reader = Self::new(BufReader::with_capacity(1 << 16, file));
        reader.offset = offset;
        Ok(reader)
    }
}

impl<R: BufRead> JournalReader<R> {
    /// Reads records from any buffered input.
    pub fn new(input: R) -> Self {
        Self {
            input,
            offset: 0,
            line: 0,
            buffer: Vec::new(),
        }
    }

    /// The byte offset just past what was read so far: where the next line starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record or skipped line; `Ok(None)` at the end. Blank lines are passed over.
    pub fn next_entry(&mut self) -> io::Result<Option<Result<Entry, Problem>>> {
        loop {
            self.buffer.clear();
            let read = self.input.read_until(b'\n', &mut self.buffer)?;
            if read == 0 {
                return Ok(None);
            }
            let offset = self.offset;
            self.offset += read as u64;
            self.line += 1;
            let complete = self.buffer.last() == Some(&b'\n');
            let text = self.buffer.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let line = self.line;
            return Ok(Some(match codec::decode_line(text) {
                Ok(record) => Ok(Entry { offset, line, record }),
                Err(err) => {
                    let kind = match complete {
                        true => ProblemKind::Corrupt(err),
                        false => ProblemKind::Torn(err),
                    };
                    Err(Problem { line, offset, kind })
                }
            }));
        }
    }
}

/// A whole journal read into memory.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every record that decoded, in file order.
    pub entries: Vec<Entry>,
    /// Every line that was skipped.
    pub problems: Vec<Problem>,
}

/// Reads a whole journal, keeping the good records and the list of skipped lines.
pub fn load(path: &Path) -> io::Result<Loaded> {
    let mut reader = JournalReader::open(path)?;
    let mut loaded = Loaded::default();
    while let Some(next) = reader.next_entry()? {
        match next {
            Ok(entry) => loaded.entries.push(entry),
            Err(problem) => loaded.problems.push(problem),
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Capture;
    use crate::codec::encode_capture;

    fn capture(n: usize) -> Capture {
        let mut capture = crate::codec::tests::sample_capture();
        capture.path = format!("/hooks/{n}");
        capture
    }

    fn paths(loaded: &Loaded) -> Vec<String> {
        loaded
            .entries
            .iter()
            .map(|e| match &e.record {
                Record::Capture(c) => c.path.clone(),
                Record::Attempt(a) => a.target.clone(),
            })
            .collect()
    }

    #[test]
    fn corrupt_and_torn_lines_are_reported_and_skipped() {
        let mut bytes = Vec::new();
        bytes.extend(encode_capture(&capture(1)));
        bytes.extend(b"{\"v\":1,\"kind\":\"capture\",\"id\":garbage}\n");
        bytes.extend(b"\n");
        bytes.extend(encode_capture(&capture(2)));
        let torn = encode_capture(&capture(3));
        bytes.extend(&torn[..torn.len() / 2]);

        let mut reader = JournalReader::new(&bytes[..]);
        let mut loaded = Loaded::default();
        while let Some(next) = reader.next_entry().expect("in-memory reads do not fail") {
            match next {
                Ok(entry) => loaded.entries.push(entry),
                Err(problem) => loaded.problems.push(problem),
            }
        }
        assert_eq!(paths(&loaded), ["/hooks/1", "/hooks/2"]);
        assert_eq!(loaded.entries[1].line, 4);
        assert_eq!(loaded.problems.len(), 2);
        assert!(matches!(loaded.problems[0].kind, ProblemKind::Corrupt(_)));
        assert_eq!(loaded.problems[0].line, 2);
        assert!(matches!(loaded.problems[1].kind, ProblemKind::Torn(_)));
        assert!(
            loaded.problems[1]
                .to_string()
                .starts_with("line 5: torn last line skipped")
        );
        // Offsets point at the first byte of each line.
        let second = loaded.entries[1].offset as usize;
        assert!(bytes[second..].starts_with(b"{\"v\":1"));
    }

    #[test]
    fn problems_are_safe_to_print() {
        let mut line = String::from_utf8(encode_capture(&capture(1))).expect("utf-8");
        line = line.replacen(
            r#"["Content-Type""#,
            r#"["Evil\u001b[2J",{"base64":"!!"}],["Content-Type""#,
            1,
        );
        let mut reader = JournalReader::new(line.as_bytes());
        let problem = match reader.next_entry().expect("reads") {
            Some(Err(problem)) => problem,
            other => panic!("expected a problem, got {other:?}"),
        };
        let text = problem.to_string();
        assert!(text.contains("Evil\\x1b[2J"), "{text}");
        assert!(!text.contains('\x1b'), "{text}");
    }

    #[tokio::test]
    async fn appends_after_a_torn_tail_start_on_a_fresh_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("captures.jsonl");
        let torn = encode_capture(&capture(1));
        std::fs::write(&path, &torn[..20]).expect("write torn file");

        let journal = Journal::open(&path, WriteOptions::default()).expect("open");
        assert!(journal.repaired_tail());
        let appender = journal.appender();
        for n in 2..=4 {
            appender
                .append(encode_capture(&capture(n)))
                .await
                .expect("append");
        }
        let stats = journal.close().await;
        assert!(matches!(
            appender.append(encode_capture(&capture(5))).await,
            Err(AppendError::Closed)
        ));
        assert_eq!(stats.lines, 3);

        let loaded = load(&path).expect("load");
        assert_eq!(paths(&loaded), ["/hooks/2", "/hooks/3", "/hooks/4"]);
        assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
    }

    /// The options `listen` opens its journal with.
    fn listening(fsync: bool) -> WriteOptions {
        WriteOptions {
            fsync,
            exclusive: true,
        }
    }

    #[tokio::test]
    async fn an_exclusive_journal_refuses_a_second_exclusive_writer_until_closed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("captures.jsonl");
        let exclusive = listening(false);
        let first = Journal::open(&path, exclusive).expect("open");
        let refused = Journal::open(&path, exclusive)
            .err()
            .expect("a second listener is refused");
        assert_eq!(refused.kind(), io::ErrorKind::WouldBlock);
        assert!(refused.to_string().contains("give this one its own --out FILE"));
        // Attempts of a replay may be appended meanwhile.
        let attempts = Journal::open(&path, WriteOptions::default()).expect("not exclusive");
        attempts.close().await;
        first.close().await;
        Journal::open(&path, exclusive).expect("free once the first is closed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_are_group_committed_and_all_kept() {
        for fsync in [false, true] {
            concurrent_appends(fsync).await;
        }
    }

    async fn concurrent_appends(fsync: bool) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("captures.jsonl");
        let journal = Journal::open(&path, listening(fsync)).expect("open");
        let tasks: Vec<_> = (0..500)
            .map(|n| {
                let appender = journal.appender();
                tokio::spawn(async move { appender.append(encode_capture(&capture(n))).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("task").expect("append");
        }
        let stats = journal.close().await;
        assert_eq!(stats.lines, 500);
        let loaded = load(&path).expect("load");
        assert_eq!(loaded.entries.len(), 500);
        assert!(loaded.problems.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn each_append_is_told_where_its_line_starts() {
        for fsync in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("captures.jsonl");
            // A file that already has content, ending in a torn line the journal repairs.
            std::fs::write(&path, b"{\"torn\"").expect("seed");
            let journal = Journal::open(&path, listening(fsync)).expect("open");
            let appender = journal.appender();
            let lines: Vec<Vec<u8>> = (0..5).map(|n| encode_capture(&capture(n))).collect();
            let offsets =
                futures_util::future::join_all(lines.iter().cloned().map(|line| appender.append(line)))
                    .await
                    .into_iter()
                    .collect::<Result<Vec<u64>, _>>()
                    .expect("appended");
            let later = appender.append(lines[0].clone()).await.expect("appended");
            journal.close().await;
            let file = std::fs::read(&path).expect("read");
            for (line, offset) in lines.iter().zip(&offsets).chain([(&lines[0], &later)]) {
                let at = *offset as usize;
                assert_eq!(
                    &file[at..at + line.len()],
                    &line[..],
                    "fsync {fsync}: the line at {at}"
                );
            }
            assert_eq!(
                offsets[0], 8,
                "after the 7 torn bytes and the newline that closes them"
            );
        }
    }

    /// 500 appends all queued before any is written (one task polls them all before it yields
    /// to anything else) share writes: one for the inline writer, which leads with everything
    /// queued; far fewer than 500 for the syncing thread, which takes what waits at each wake.
    ///
    /// The syncing thread runs beside the task, and where a sync costs nothing (tmpfs) it kept
    /// up with the appends one at a time: 67 to 500 commits in 5 runs of 6 with `TMPDIR` on
    /// tmpfs, nothing waiting to be taken together. So the first line is a large one: while the
    /// thread writes it (8 MiB) and syncs it, the other 499 are queued (1 or 2 commits in every
    /// run since, on tmpfs, on ext4 and under load; 500 with `take_waiting` left out).
    #[tokio::test(flavor = "current_thread")]
    async fn lines_queued_together_are_written_together() {
        for fsync in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("captures.jsonl");
            let journal = Journal::open(&path, listening(fsync)).expect("open");
            let appender = journal.appender();
            let mut large = capture(0);
            large.body = bytes::Bytes::from(vec![b'x'; 8 << 20]);
            let lines: Vec<Vec<u8>> = std::iter::once(encode_capture(&large))
                .chain((1..500).map(|n| encode_capture(&capture(n))))
                .collect();
            let results =
                futures_util::future::join_all(lines.into_iter().map(|line| appender.append(line))).await;
            assert!(results.iter().all(Result::is_ok));
            let stats = journal.close().await;
            assert_eq!(stats.lines, 500);
            match fsync {
                false => assert_eq!(stats.commits, 1, "one write for 500 queued lines"),
                true => assert!(
                    stats.commits <= 50,
                    "{} syncs for 500 queued lines",
                    stats.commits
                ),
            }
            assert_eq!(load(&path).expect("load").entries.len(), 500);
        }
    }
}
