//! The TUI's store: a compact row per capture, the filtered view over the rows, and the way
//! back from a row to its whole capture (held in memory, or read from the journal by offset).
//!
//! A row keeps what the list shows and what most filters read, in about a hundred bytes:
//! repeated strings (provider, event type, verdict, method, content type, via) are interned
//! symbols. Bodies and headers stay in the journal until the detail pane asks for them, so a
//! journal of a million captures opens in a few hundred megabytes at most.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::attempt::Attempt;
use crate::capture::{Capture, CaptureId, Header};
use crate::codec::{self, Record};
use crate::filter::{Filter, Marks, Subject, Tracker};
use crate::journal::{JournalReader, Problem};
use crate::summary::Summary;

/// An interned string: an index into [`Symbols`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sym(NonZeroU32);

/// The table of interned strings.
///
/// The store's maps hash with foldhash (seeded afresh in each process: the strings and ids come
/// from senders) rather than SipHash: they are looked up several times for every capture.
#[derive(Debug, Default)]
pub struct Symbols {
    names: Vec<Arc<str>>,
    index: HashMap<Arc<str>, Sym, foldhash::fast::RandomState>,
}

impl Symbols {
    /// The symbol for `text`, made on first sight.
    pub fn intern(&mut self, text: &str) -> Sym {
        if let Some(sym) = self.index.get(text) {
            return *sym;
        }
        let name: Arc<str> = Arc::from(text);
        self.names.push(name.clone());
        let sym = Sym(NonZeroU32::new(self.names.len() as u32).unwrap_or(NonZeroU32::MIN));
        self.index.insert(name, sym);
        sym
    }

    fn intern_opt(&mut self, text: Option<&str>) -> Option<Sym> {
        text.map(|t| self.intern(t))
    }

    /// The text of `sym`.
    pub fn get(&self, sym: Sym) -> &str {
        self.names.get(sym.0.get() as usize - 1).map_or("", |s| s)
    }
}

/// Where a row's whole capture is.
#[derive(Debug, Clone)]
pub enum Source {
    /// Held in memory (the newest live captures, while the memory budget lasts), with where its
    /// line is in the journal when that is known.
    Memory(Arc<Capture>, Option<u64>),
    /// In the journal, on the line starting at this byte offset.
    Journal(u64),
    /// Evicted from memory; somewhere in the journal (found by a scan when needed).
    Unlocated,
}

impl Source {
    /// Where the capture's line starts in the journal, when that is known.
    fn offset(&self) -> Option<u64> {
        match self {
            Source::Memory(_, offset) => *offset,
            Source::Journal(offset) => Some(*offset),
            Source::Unlocated => None,
        }
    }
}

/// One capture, compactly.
#[derive(Debug, Clone)]
pub struct Row {
    /// The capture's id.
    pub id: CaptureId,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// The request target (path and `?query`), as sent.
    pub target: Box<str>,
    /// Where the path ends in `target`.
    path_len: u32,
    /// The method.
    pub method: Sym,
    /// `direct` or `relay:CHANNEL`.
    pub via: Sym,
    /// The provider.
    pub provider: Option<Sym>,
    /// The event type.
    pub event_type: Option<Sym>,
    /// The verdict's label.
    pub verdict: Option<Sym>,
    /// The form of the body the signature matched.
    pub signed_form: Option<Sym>,
    /// Whether the verdict carries a caveat (its text is in the journal).
    pub caveat: bool,
    /// Whether the listener answered (or refused) a handshake (its text is in the journal).
    pub handshake: bool,
    /// The body's media type.
    pub content_type: Option<Sym>,
    /// The body's size in bytes.
    pub body_size: u64,
    /// The status hookscope answered.
    pub status: u16,
    /// `dup`, `late` and the last delivery's status.
    pub marks: Marks,
    /// Where the whole capture is.
    pub source: Source,
}

impl Row {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.get(..self.path_len as usize).unwrap_or(&self.target)
    }
}

/// The rows, in chunks of a fixed size: growing never copies the rows already there (a
/// `Vec` of a million rows copies 130 MB at its last doubling, and its pages are zeroed and
/// touched twice), which was a third of the live inspector's time under load.
#[derive(Debug, Default)]
struct Rows {
    chunks: Vec<Vec<Row>>,
    len: usize,
}

/// Rows per chunk: about 1 MiB of them.
const CHUNK: usize = 8192;

impl Rows {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, row: Row) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(row),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(row);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    fn get(&self, index: usize) -> Option<&Row> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    fn get_mut(&mut self, index: usize) -> Option<&mut Row> {
        self.chunks.get_mut(index / CHUNK)?.get_mut(index % CHUNK)
    }

    /// The rows from `from` on, in order.
    fn iter_from(&self, from: usize) -> impl Iterator<Item = &Row> {
        self.chunks
            .iter()
            .skip(from / CHUNK)
            .enumerate()
            .flat_map(move |(n, chunk)| match n {
                0 => chunk.get(from % CHUNK..).unwrap_or_default(),
                _ => chunk,
            })
    }

    fn iter(&self) -> impl Iterator<Item = &Row> {
        self.iter_from(0)
    }
}

/// A row seen with the symbol table, so the filter can read it.
pub struct RowRef<'a> {
    row: &'a Row,
    symbols: &'a Symbols,
}

impl Subject for RowRef<'_> {
    fn method(&self) -> &str {
        self.symbols.get(self.row.method)
    }
    fn path(&self) -> &str {
        self.row.path()
    }
    fn via(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.symbols.get(self.row.via))
    }
    fn provider(&self) -> Option<&str> {
        self.row.provider.map(|s| self.symbols.get(s))
    }
    fn event_type(&self) -> Option<&str> {
        self.row.event_type.map(|s| self.symbols.get(s))
    }
    fn verdict(&self) -> Option<&str> {
        self.row.verdict.map(|s| self.symbols.get(s))
    }
    fn signed_form(&self) -> Option<&str> {
        self.row.signed_form.map(|s| self.symbols.get(s))
    }
    fn has_caveat(&self) -> bool {
        self.row.caveat
    }
    fn is_handshake(&self) -> bool {
        self.row.handshake
    }
    fn headers(&self) -> Option<&[Header]> {
        None
    }
    fn body(&self) -> Option<&[u8]> {
        None
    }
}

/// How many bytes of live captures (bodies, headers and the rest, as [`footprint`] estimates
/// them) stay in memory before the oldest are left to the journal, to be read back by offset.
/// The index grows by a row per capture; whole captures beyond this do not.
///
/// Small on purpose: a capture let go soon after it arrived is freed while its memory is still
/// in the cache. With 32 MiB, freeing captures that had gone cold was a third of the
/// inspector's time under load (`benches/ingest.rs --inspector`), and the journal reads a
/// capture back in microseconds when it is shown.
pub const MEMORY_BUDGET: u64 = 4 * 1024 * 1024;

/// About how many bytes of memory a capture takes ([`Capture::footprint`]).
pub fn footprint(capture: &Capture) -> u64 {
    capture.footprint()
}

/// Every capture of the session, and the view the list shows.
#[derive(Debug)]
pub struct Store {
    rows: Rows,
    /// Index of each id's row.
    by_id: HashMap<CaptureId, u32, foldhash::fast::RandomState>,
    /// Deliveries to the local app, by capture.
    attempts: HashMap<CaptureId, Vec<Arc<Attempt>>, foldhash::fast::RandomState>,
    symbols: Symbols,
    tracker: Tracker,
    /// The journal the rows come from, for reading whole captures back.
    journal: Option<PathBuf>,
    /// That journal, opened by the first read back and kept.
    reader: std::sync::Mutex<Option<File>>,
    /// Rows whose capture is not in memory.
    on_disk: usize,
    /// Their bodies' bytes: about what a filter by body reads back from the journal.
    on_disk_bytes: u64,
    /// How many body bytes of live captures to hold in memory.
    budget: u64,
    /// Bytes held in memory, and the first row that may still hold some.
    held: u64,
    oldest_held: usize,
    /// The journal's length when the store was made: a live session's captures are after it.
    session_start: u64,
    /// Where the catch-up in progress goes on reading, when one is.
    catching_up_at: Option<u64>,
}

/// How far [`Store::open_with_progress`] has read a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loading {
    /// Captures listed so far.
    pub captures: usize,
    /// Bytes of the journal read so far.
    pub read: u64,
    /// Lines skipped so far (corrupt or torn).
    pub skipped: usize,
}

/// How many records [`Store::open_with_progress`] reads between two reports of its progress: a
/// few milliseconds' reading, and no clock read per record.
pub const LOADING_REPORT: u64 = 1024;

/// How many of the newest rows a catch-up looks back over: captures are published in about
/// the order they were journaled, but not exactly (the appenders of one group commit wake in
/// any order), so the missed ones can sit a little before the newest one seen.
const CATCH_UP_LOOKBACK: usize = 4096;

impl Store {
    /// An empty store whose evicted or journal-backed captures are read from `journal`.
    pub fn new(journal: Option<PathBuf>) -> Self {
        Self {
            rows: Rows::default(),
            by_id: HashMap::default(),
            attempts: HashMap::default(),
            symbols: Symbols::default(),
            tracker: Tracker::default(),
            journal,
            reader: std::sync::Mutex::new(None),
            on_disk: 0,
            on_disk_bytes: 0,
            budget: MEMORY_BUDGET,
            held: 0,
            oldest_held: 0,
            session_start: 0,
            catching_up_at: None,
        }
    }

    /// A store for a live session appending to `journal`: what the file already holds is
    /// another session's, never caught up with.
    pub fn live(journal: &Path) -> Self {
        let mut store = Self::new(Some(journal.to_owned()));
        store.session_start = std::fs::metadata(journal).map_or(0, |m| m.len());
        store
    }

    /// Holds at most `budget` bytes of live captures in memory (default [`MEMORY_BUDGET`]).
    pub fn with_budget(mut self, budget: u64) -> Self {
        self.budget = budget;
        self
    }

    /// Reads a whole journal into rows; bodies stay on disk. Returns the skipped lines too.
    pub fn open(path: &Path) -> io::Result<(Self, Vec<Problem>)> {
        Self::open_with_progress(path, |_| {})
    }

    /// [`Store::open`], telling `progress` how far it has read every [`LOADING_REPORT`]
    /// records: a journal of a million captures takes seconds to read.
    pub fn open_with_progress(
        path: &Path,
        mut progress: impl FnMut(Loading),
    ) -> io::Result<(Self, Vec<Problem>)> {
        let mut store = Self::new(Some(path.to_owned()));
        let mut reader = JournalReader::open(path)?;
        let mut problems = Vec::new();
        let mut records: u64 = 0;
        while let Some(next) = reader.next_entry()? {
            match next {
                Ok(entry) => match entry.record {
                    Record::Capture(capture) => {
                        store.insert(&capture, Source::Journal(entry.offset));
                    }
                    Record::Attempt(attempt) => {
                        store.add_attempt(Arc::new(attempt));
                    }
                },
                Err(problem) => problems.push(problem),
            }
            records += 1;
            if records.is_multiple_of(LOADING_REPORT) {
                progress(Loading {
                    captures: store.rows.len(),
                    read: reader.offset(),
                    skipped: problems.len(),
                });
            }
        }
        Ok((store, problems))
    }

    /// Adds a live capture, held in memory while the budget lasts.
    pub fn push(&mut self, capture: Arc<Capture>) -> usize {
        match self.push_journaled(capture.clone(), None) {
            Some(index) => index,
            None => self.index_of(capture.id).unwrap_or_default(),
        }
    }

    /// Adds a live capture journaled at `offset` (when known), held in memory while the budget
    /// lasts and read back from the journal after. `None` when the capture is listed already
    /// (it came both through a catch-up and the broadcast).
    pub fn push_journaled(&mut self, capture: Arc<Capture>, offset: Option<u64>) -> Option<usize> {
        if self.by_id.contains_key(&capture.id) {
            return None;
        }
        let size = footprint(&capture);
        let index = self.insert(&capture, Source::Memory(capture.clone(), offset));
        self.held += size;
        self.evict();
        Some(index)
    }

    /// Adds a live capture known by its summary (what the hub sends the inspector: the capture
    /// itself is read back from the journal by the summary's offset when it is shown). `None`
    /// when the capture is listed already (it came both through a catch-up and the broadcast).
    pub fn push_summary(&mut self, summary: &Summary) -> Option<usize> {
        if self.by_id.contains_key(&summary.id) {
            return None;
        }
        let source = match summary.offset {
            Some(offset) => Source::Journal(offset),
            None => Source::Unlocated,
        };
        Some(self.insert_summary(summary, source))
    }

    /// Lists up to `limit` records of this session's journal that it does not hold yet, in
    /// journal order, reading them from the journal: how a live view that fell behind the hub's
    /// broadcast gets back what it missed, a slice between two frames. The first slice starts a
    /// little before the newest rows (or at the session's start), each next one where the last
    /// stopped. Returns the rows added and whether the end of the journal was reached (then the
    /// next catch-up starts afresh). A line still being written (torn at the end) is left to
    /// the broadcast, which publishes it once it is whole.
    pub fn catch_up(&mut self, limit: usize) -> io::Result<(Vec<usize>, bool)> {
        let Some(path) = self.journal.clone() else {
            return Ok((Vec::new(), true));
        };
        let from = match self.catching_up_at {
            Some(offset) => offset,
            None => self
                .rows
                .iter_from(self.rows.len().saturating_sub(CATCH_UP_LOOKBACK))
                .filter_map(|row| row.source.offset())
                .min()
                .filter(|_| self.rows.len() > CATCH_UP_LOOKBACK)
                .unwrap_or(self.session_start),
        };
        let mut reader = JournalReader::open_at(&path, from)?;
        let mut added = Vec::new();
        let mut read = 0;
        let mut at = from;
        let done = loop {
            if read == limit {
                break false;
            }
            let Some(next) = reader.next_entry()? else {
                break true;
            };
            read += 1;
            let entry = match next {
                Ok(entry) => entry,
                // Torn: being written now; the broadcast brings it. Corrupt: passed over.
                Err(problem) if matches!(problem.kind, crate::journal::ProblemKind::Torn(_)) => break true,
                Err(_) => {
                    at = reader.offset();
                    continue;
                }
            };
            at = reader.offset();
            match entry.record {
                Record::Capture(capture) => {
                    if !self.by_id.contains_key(&capture.id) {
                        added.push(self.insert(&capture, Source::Journal(entry.offset)));
                    }
                }
                Record::Attempt(attempt) => {
                    if !self.knows_attempt(&attempt) {
                        self.add_attempt(Arc::new(attempt));
                    }
                }
            }
        };
        self.catching_up_at = (!done).then_some(at);
        Ok((added, done))
    }

    fn insert(&mut self, capture: &Capture, source: Source) -> usize {
        self.insert_summary(&Summary::of(capture, source.offset()), source)
    }

    fn insert_summary(&mut self, summary: &Summary, source: Source) -> usize {
        let marks = self.tracker.observe_fingerprints(&summary.fingerprints);
        let symbols = &mut self.symbols;
        let row = Row {
            id: summary.id,
            received_at: summary.received_at,
            path_len: summary.path_len,
            target: summary.target().into(),
            method: symbols.intern(summary.method()),
            via: symbols.intern(summary.via()),
            provider: symbols.intern_opt(summary.provider()),
            event_type: symbols.intern_opt(summary.event_type()),
            verdict: symbols.intern_opt(summary.verdict()),
            signed_form: symbols.intern_opt(summary.signed_form()),
            caveat: summary.caveat,
            handshake: summary.handshake,
            content_type: symbols.intern_opt(summary.content_type()),
            body_size: summary.body_size,
            status: summary.status,
            marks,
            source,
        };
        let index = self.rows.len();
        if !matches!(row.source, Source::Memory(..)) {
            self.on_disk += 1;
            self.on_disk_bytes += row.body_size;
        }
        self.by_id.insert(row.id, index as u32);
        self.rows.push(row);
        index
    }

    /// Leaves the oldest live captures to the journal once more than the budget is held.
    fn evict(&mut self) {
        while self.held > self.budget && self.oldest_held < self.rows.len() {
            let Some(row) = self.rows.get_mut(self.oldest_held) else {
                break;
            };
            if let Source::Memory(capture, offset) = &row.source {
                self.held = self.held.saturating_sub(footprint(capture));
                row.source = match offset {
                    Some(offset) => Source::Journal(*offset),
                    None => Source::Unlocated,
                };
                self.on_disk += 1;
                self.on_disk_bytes += row.body_size;
            }
            self.oldest_held += 1;
        }
    }

    /// How many captures the store holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// How many captures would have to be read back from the journal to filter by body.
    pub fn on_disk(&self) -> usize {
        self.on_disk
    }

    /// The body bytes of those captures.
    pub fn on_disk_bytes(&self) -> u64 {
        self.on_disk_bytes
    }

    /// The row at `index`.
    pub fn row(&self, index: usize) -> Option<&Row> {
        self.rows.get(index)
    }

    /// The row of capture `id`.
    pub fn index_of(&self, id: CaptureId) -> Option<usize> {
        self.by_id.get(&id).map(|&i| i as usize)
    }

    /// Records a delivery attempt; the last one's status is its capture's delivery status.
    /// Returns the capture's row, when the capture is in the store.
    pub fn add_attempt(&mut self, attempt: Arc<Attempt>) -> Option<usize> {
        let id = attempt.capture;
        let status = attempt.status();
        self.attempts.entry(id).or_default().push(attempt);
        let index = self.index_of(id)?;
        if let Some(row) = self.rows.get_mut(index) {
            row.marks.delivery = status;
        }
        Some(index)
    }

    /// The delivery attempts of capture `id`, oldest first.
    pub fn attempts(&self, id: CaptureId) -> &[Arc<Attempt>] {
        self.attempts.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Whether `attempt` is recorded already (read by a catch-up and also published).
    pub fn knows_attempt(&self, attempt: &Attempt) -> bool {
        self.attempts(attempt.capture)
            .iter()
            .any(|known| **known == *attempt)
    }

    /// The text of a symbol.
    pub fn text(&self, sym: Sym) -> &str {
        self.symbols.get(sym)
    }

    /// Whether row `index` passes `filter`, reading the whole capture only when the filter
    /// needs headers or body.
    pub fn matches(&self, index: usize, filter: &Filter) -> bool {
        let Some(row) = self.rows.get(index) else {
            return false;
        };
        if filter.is_empty() {
            return true;
        }
        if !filter.needs_request() {
            let subject = RowRef {
                row,
                symbols: &self.symbols,
            };
            return filter.matches(&subject, &row.marks);
        }
        match self.capture(index) {
            Ok(capture) => filter.matches(capture.as_ref(), &row.marks),
            Err(err) => {
                tracing::warn!(%err, id = %row.id, "cannot read a capture back from the journal");
                false
            }
        }
    }

    /// The rows from `from` on that pass `filter`, in order. A filter that reads bodies of
    /// captures not held in memory walks the journal once, in file order, rather than seeking
    /// per row.
    pub fn select(&self, from: usize, filter: &Filter) -> Vec<u32> {
        let on_disk = |r: &Row| !matches!(r.source, Source::Memory(..));
        if filter.needs_request() && self.rows.iter_from(from).any(on_disk) {
            return self.select_streaming(from, filter);
        }
        (from..self.rows.len())
            .filter(|&i| self.matches(i, filter))
            .map(|i| i as u32)
            .collect()
    }

    fn select_streaming(&self, from: usize, filter: &Filter) -> Vec<u32> {
        let mut out = Vec::new();
        // From the first of those rows' lines: not through an earlier session's.
        let start = self
            .rows
            .iter_from(from)
            .map(|row| row.source.offset().unwrap_or(0))
            .min()
            .unwrap_or(0);
        let reader = self
            .journal
            .as_deref()
            .map(|path| JournalReader::open_at(path, start));
        let mut reader = match reader {
            Some(Ok(reader)) => reader,
            Some(Err(err)) => {
                tracing::warn!(%err, "cannot reopen the journal to filter by body");
                return out;
            }
            None => return out,
        };
        // Every capture of the session is in the journal (it is written before it is shown),
        // among other sessions' captures, which have no row here.
        while let Ok(Some(entry)) = reader.next_entry() {
            let Ok(entry) = entry else { continue };
            let Record::Capture(capture) = &entry.record else {
                continue;
            };
            if let Some(&i) = self.by_id.get(&capture.id)
                && i as usize >= from
                && let Some(row) = self.rows.get(i as usize)
                && filter.matches(capture, &row.marks)
            {
                out.push(i);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The whole capture of row `index`: from memory, or read back from the journal.
    pub fn capture(&self, index: usize) -> io::Result<Arc<Capture>> {
        let row = self
            .rows
            .get(index)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such capture"))?;
        match &row.source {
            Source::Memory(capture, _) => Ok(capture.clone()),
            // Not another capture in its place (a journal emptied under the listener).
            Source::Journal(offset) => self
                .read_at(*offset)
                .and_then(|capture| match capture.id == row.id {
                    true => Ok(capture),
                    false => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the journal changed: another capture is where this one was",
                    )),
                }),
            Source::Unlocated => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not located in the journal yet",
            )),
        }
    }

    /// Like [`capture`](Self::capture), but first finds evicted captures in the journal.
    pub fn load(&mut self, index: usize) -> io::Result<Arc<Capture>> {
        if matches!(self.rows.get(index).map(|r| &r.source), Some(Source::Unlocated)) {
            self.locate();
        }
        self.capture(index)
    }

    /// The capture on the journal line starting at `offset`. The journal is opened once and
    /// kept: a live filter that reads bodies reads one back for every capture that arrives.
    fn read_at(&self, offset: u64) -> io::Result<Arc<Capture>> {
        use std::os::unix::fs::FileExt as _;

        let path = self
            .journal
            .as_deref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no journal"))?;
        let mut reader = self
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let file = match &mut *reader {
            Some(file) => file,
            empty => empty.insert(File::open(path)?),
        };
        // The line, read in chunks that double (a line is as long as its body, up to --max-body).
        let mut line = Vec::new();
        let mut chunk = vec![0u8; 8 * 1024];
        let mut at = offset;
        loop {
            let read = file.read_at(&mut chunk, at)?;
            let Some(got) = chunk.get(..read).filter(|got| !got.is_empty()) else {
                break;
            };
            if let Some(end) = got.iter().position(|&b| b == b'\n') {
                line.extend_from_slice(&got[..end]);
                break;
            }
            line.extend_from_slice(got);
            at += read as u64;
            if chunk.len() < 1024 * 1024 {
                chunk.resize(chunk.len() * 2, 0);
            }
        }
        match codec::decode_line(line.trim_ascii()) {
            Ok(Record::Capture(capture)) => Ok(Arc::new(capture)),
            Ok(Record::Attempt(_)) => Err(io::Error::new(io::ErrorKind::InvalidData, "not a capture's line")),
            Err(err) => Err(io::Error::new(io::ErrorKind::InvalidData, err)),
        }
    }

    /// Finds the journal offsets of evicted captures with one pass over the journal.
    fn locate(&mut self) {
        if !self.rows.iter().any(|r| matches!(r.source, Source::Unlocated)) {
            return;
        }
        let Some(Ok(mut reader)) = self.journal.as_deref().map(JournalReader::open) else {
            return;
        };
        while let Ok(Some(entry)) = reader.next_entry() {
            let Ok(entry) = entry else { continue };
            let Record::Capture(capture) = &entry.record else {
                continue;
            };
            if let Some(&i) = self.by_id.get(&capture.id)
                && let Some(row) = self.rows.get_mut(i as usize)
                && matches!(row.source, Source::Unlocated)
            {
                row.source = Source::Journal(entry.offset);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Derived, Via};
    use bytes::Bytes;

    /// Read back through the one handle the store keeps: lines shorter and longer than its
    /// first chunk (8 KiB) and than a doubling, each whole, and a line appended after the
    /// handle was opened.
    #[test]
    fn captures_read_back_whole_through_the_kept_handle_whatever_their_length() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("captures.jsonl");
        let sizes = [0usize, 10, 8 * 1024 - 700, 8 * 1024, 20_000, 300_000];
        let mut file = Vec::new();
        let mut offsets = Vec::new();
        let mut bodies = Vec::new();
        for (n, size) in sizes.iter().enumerate() {
            let mut one = capture(n);
            one.id = CaptureId::generate();
            one.body = Bytes::from(vec![b'a' + (n as u8); *size]);
            offsets.push(file.len() as u64);
            bodies.push(one.body.clone());
            file.extend_from_slice(&codec::encode_capture(&one));
        }
        std::fs::write(&path, &file).expect("journal");
        let mut store = Store::live(&path);
        for (n, offset) in offsets.iter().enumerate() {
            let mut one = capture(n);
            one.body = bodies[n].clone();
            let summary = Summary::of(&one, Some(*offset));
            store.push_summary(&summary);
        }
        // Listed by summaries whose ids are not the journal's: read back as what is there.
        for (n, body) in bodies.iter().enumerate() {
            let read = store.read_at(offsets[n]).expect("read back");
            assert_eq!(&read.body, body, "capture {n} ({} bytes)", sizes[n]);
        }
        // Appended after the handle was opened: found through it.
        let mut late = capture(9);
        late.body = Bytes::from_static(b"appended later");
        let at = std::fs::metadata(&path).expect("size").len();
        let mut journal = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("append");
        std::io::Write::write_all(&mut journal, &codec::encode_capture(&late)).expect("write");
        assert_eq!(store.read_at(at).expect("read back").body, late.body);
        // An offset past the end is an error, not a panic.
        assert!(store.read_at(at + 10_000).is_err());
    }

    /// Rows across chunk boundaries: each where it was put, and iteration from any index (the
    /// catch-up's look-back and the filter's scan) yields exactly the rows from there.
    #[test]
    fn rows_in_chunks_keep_their_order_across_every_boundary() {
        let mut rows = Rows::default();
        assert!(rows.is_empty() && rows.get(0).is_none() && rows.iter().next().is_none());
        let one = capture(0);
        let total = 2 * CHUNK + 5;
        for n in 0..total {
            let summary = Summary::of(&one, None);
            let mut store = Store::new(None);
            store.insert_summary(&summary, Source::Unlocated);
            let mut row = store.rows.get(0).cloned().expect("a row");
            row.body_size = n as u64;
            rows.push(row);
        }
        assert_eq!((rows.len(), rows.chunks.len()), (total, 3));
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, total - 1] {
            assert_eq!(rows.get(n).map(|r| r.body_size), Some(n as u64));
            let from: Vec<u64> = rows.iter_from(n).map(|r| r.body_size).collect();
            assert_eq!(from, (n as u64..total as u64).collect::<Vec<_>>(), "from {n}");
        }
        assert!(rows.get(total).is_none());
        assert_eq!(rows.iter_from(total).count(), 0);
        assert_eq!(rows.iter_from(total + CHUNK).count(), 0);
        if let Some(row) = rows.get_mut(CHUNK) {
            row.status = 599;
        }
        assert_eq!(rows.iter().filter(|r| r.status == 599).count(), 1);
        assert_eq!(rows.get(CHUNK).map(|r| r.status), Some(599));
    }

    fn capture(n: usize) -> Capture {
        let mut capture = crate::codec::tests::sample_capture();
        let types = ["engine.error", "channel.stopped", "feeds.started"];
        capture.method = ["POST", "PUT"][n % 2].into();
        capture.path = format!("/hooks/{}", ["a", "b", "c"][n % 3]);
        capture.via = if n.is_multiple_of(4) {
            Via::Relay("dev".into())
        } else {
            Via::Direct
        };
        capture.derived = Derived {
            provider: Some(["optiview", "millicast"][n % 2].into()),
            event_type: Some(types[n % 3].into()),
            event_time: chrono::DateTime::from_timestamp(1_795_000_000 - (n as i64 % 5), 0),
            event_id: Some(format!("evt_{}", n % 7)),
            object: Some(format!("ch_{}", n % 2)),
            verdict: Some(["valid", "invalid", "no-secret", "stale"][n % 4].into()),
            verdict_detail: None,
            signed_form: [None, Some("raw".into()), Some("json-stringify".into())][n % 3].clone(),
            caveat: (n % 5 == 1).then(|| "matched the raw bytes only".into()),
            handshake: (n % 6 == 2).then(|| "slack url_verification: answered the challenge".into()),
        };
        capture
    }
    #[test]
    fn the_index_filters_exactly_as_the_whole_capture_does() {
        let captures: Vec<Capture> = (0..60).map(capture).collect();
        let mut store = Store::new(None);
        for capture in &captures {
            store.push(Arc::new(capture.clone()));
        }
        for text in [
            "type:engine.*",
            "sig:valid",
            "!provider:optiview",
            "method:put path:/hooks/b",
            "via:relay:*",
            "via:direct !sig:inval*",
            "dup",
            "late !dup",
            "status:none",
            "status:2xx",
            "form:json-stringify",
            "caveat",
            "!caveat form:raw",
            "handshake",
            "!handshake provider:optiview",
        ] {
            let filter = Filter::parse(text).expect("parses");
            assert!(!filter.needs_request(), "{text}");
            let mut tracker = Tracker::default();
            let expected: Vec<u32> = captures
                .iter()
                .enumerate()
                .filter(|(_, c)| filter.matches(*c, &tracker.observe(c)))
                .map(|(i, _)| i as u32)
                .collect();
            let index_only = (0..store.len()).filter(|&i| {
                let row = store.row(i).expect("a row");
                filter.matches(
                    &RowRef {
                        row,
                        symbols: &store.symbols,
                    },
                    &row.marks,
                )
            });
            assert_eq!(
                index_only.map(|i| i as u32).collect::<Vec<_>>(),
                expected,
                "{text}"
            );
            assert_eq!(store.select(0, &filter), expected, "{text}");
        }
    }

    #[test]
    fn live_captures_past_the_budget_are_read_back_from_the_journal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("captures.jsonl");
        let mut journal = Vec::new();
        let big = Bytes::from(vec![b'x'; 501]);
        let captures: Vec<Capture> = (0..3)
            .map(|n| {
                let mut capture = capture(n);
                capture.id = CaptureId::generate();
                capture.body = match n {
                    0 => Bytes::from_static(b"the first, evicted later"),
                    _ => big.clone(),
                };
                capture
            })
            .collect();
        // Room for the two big ones, not for all three.
        let budget = footprint(&captures[1]) + footprint(&captures[2]);
        let mut store = Store::new(Some(path.clone())).with_budget(budget);
        for capture in captures {
            journal.extend(codec::encode_capture(&capture));
            std::fs::write(&path, &journal).expect("journal");
            store.push(Arc::new(capture));
        }
        assert!(matches!(store.row(0).map(|r| &r.source), Some(Source::Unlocated)));
        assert!(matches!(
            store.row(2).map(|r| &r.source),
            Some(Source::Memory(..))
        ));
        assert_eq!(store.on_disk(), 1);
        let first = store.load(0).expect("found by a scan of the journal");
        assert_eq!(&first.body[..], b"the first, evicted later");
        assert!(matches!(
            store.row(0).map(|r| &r.source),
            Some(Source::Journal(0))
        ));
        let needle = Filter::parse("body:evicted").expect("parses");
        assert_eq!(store.select(0, &needle), vec![0]);
    }

    #[test]
    fn journaled_captures_past_the_budget_are_read_back_by_their_offset() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("captures.jsonl");
        let mut journal = Vec::new();
        let mut store = Store::live(&path).with_budget(1);
        for n in 0..3 {
            let mut capture = capture(n);
            capture.id = CaptureId::generate();
            let offset = journal.len() as u64;
            journal.extend(codec::encode_capture(&capture));
            std::fs::write(&path, &journal).expect("journal");
            store.push_journaled(Arc::new(capture), Some(offset));
        }
        // No scan needed: each row knows its line.
        for index in 0..3 {
            assert!(matches!(
                store.row(index).map(|r| &r.source),
                Some(Source::Journal(_))
            ));
            assert_eq!(
                store.capture(index).expect("read back").id,
                store.row(index).expect("row").id
            );
        }
        // A capture met twice (catch-up, then the broadcast) is listed once.
        let again = store.capture(1).expect("read back");
        assert_eq!(store.push_journaled(again, Some(0)), None);
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn opening_tells_its_progress_every_so_many_records_damaged_lines_counted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("captures.jsonl");
        let mut journal = Vec::new();
        let records = 2 * LOADING_REPORT as usize + 10;
        for n in 0..records {
            if n == 100 {
                journal.extend_from_slice(b"{\"v\":1,\"kind\":\"capture\",\"id\":\"broken\n");
                continue;
            }
            let mut capture = capture(n);
            capture.id = CaptureId::generate();
            journal.extend(codec::encode_capture(&capture));
        }
        std::fs::write(&path, &journal).expect("journal");
        let mut told = Vec::new();
        let (store, problems) = Store::open_with_progress(&path, |at| told.push(at)).expect("open");
        assert_eq!(store.len(), records - 1);
        assert_eq!(problems.len(), 1);
        assert_eq!(told.len(), 2, "{told:?}");
        // Told after the 1024th record, one of them the damaged line.
        assert_eq!(told[0].captures, LOADING_REPORT as usize - 1);
        assert_eq!(told[0].skipped, 1);
        assert!(told[0].read < told[1].read && told[1].read < journal.len() as u64);
        assert_eq!(told[1].captures, 2 * LOADING_REPORT as usize - 1);
    }
}
