//! The one thread that appends to the log: it takes every write queued while the previous
//! fsync ran, appends them in one write, fsyncs once, applies them to the in-memory map and
//! only then acknowledges each (read-your-writes, durable before acknowledged).
//!
//! Write-behind records were applied to the map and acknowledged when they were queued; the
//! committer only appends them, in queue order, and advances the durable sequence number
//! that [`crate::LogStore::sync`] waits for. A barrier (a request without a record) is
//! answered once everything queued before it is on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, RwLock};

use crate::record::{self, Op};
use crate::Map;

const LOG_FILE: &str = "kv.log";
/// Bounds the queue of writes waiting for the committer (writers block when it is full).
const MAX_QUEUED_WRITES: usize = 4096;
/// Bounds one batch, so one fsync never waits on an unbounded amount of data.
const MAX_BATCH_WRITES: usize = 1024;
/// The log is zero-filled this far ahead of its end, so that appends overwrite allocated
/// blocks and `fdatasync` flushes data only, not file-size metadata (as databases recycle WAL
/// files). Replay stops at the first zero byte where a record should start.
const PREALLOCATE_BYTES: u64 = 32 * 1024 * 1024;
/// Default: compact when the log exceeds 64 MiB and four times the live data.
pub(crate) const DEFAULT_COMPACT_MIN_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) enum Reply {
    Sync(mpsc::Sender<io::Result<()>>),
    Async(tokio::sync::oneshot::Sender<io::Result<()>>),
}

impl Reply {
    fn send(self, result: io::Result<()>) {
        match self {
            Reply::Sync(done) => {
                let _ = done.send(result);
            }
            Reply::Async(done) => {
                let _ = done.send(result);
            }
        }
    }
}

pub(crate) enum Request {
    /// Durable before acknowledged: applied to the map after its fsync.
    Write { op: Op, reply: Reply },
    /// Already in the map; `seq` is its write-behind sequence number.
    WriteBehind { op: Op, seq: u64 },
    /// Answered once everything queued before it is durable.
    Barrier { reply: Reply },
}

impl Request {
    fn record(&self) -> Option<&Op> {
        match self {
            Request::Write { op, .. } | Request::WriteBehind { op, .. } => Some(op),
            Request::Barrier { .. } => None,
        }
    }

    fn answer(self, result: io::Result<()>) {
        match self {
            Request::Write { reply, .. } | Request::Barrier { reply } => reply.send(result),
            Request::WriteBehind { .. } => {}
        }
    }
}

/// Write-behind sequence numbers: the last queued, and the last on disk.
#[derive(Default)]
pub(crate) struct Sequence {
    pub queued: AtomicU64,
    pub durable: AtomicU64,
}

pub(crate) struct Committer {
    dir: PathBuf,
    file: File,
    /// End of the records (where the next batch goes).
    log_bytes: u64,
    /// File length, zero-filled past `log_bytes`.
    allocated_bytes: u64,
    compact_min_bytes: u64,
    /// The log length at which compaction is next considered; measuring the live data walks
    /// the whole map, so it is not done after every batch.
    next_compaction_check_bytes: u64,
}

fn copy_error(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

pub(crate) fn apply(map: &mut Map, op: Op) {
    match op {
        Op::Put(key, value) => {
            map.entry((key.primary, key.secondary))
                .or_default()
                .insert(key.key, value);
        }
        Op::Remove(key) => {
            let namespace = (key.primary, key.secondary);
            if let Some(entries) = map.get_mut(&namespace) {
                entries.remove(&key.key);
                if entries.is_empty() {
                    map.remove(&namespace);
                }
            }
        }
    }
}

fn live_bytes(map: &Map) -> u64 {
    map.iter()
        .flat_map(|((p, s), entries)| {
            entries
                .iter()
                .map(move |(k, v)| (p.len() + s.len() + k.len() + v.len() + 16) as u64)
        })
        .sum()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Committer {
    /// Replays the log (dropping a torn tail) and returns the committer and the live map.
    pub fn open(dir: &Path, compact_min_bytes: u64) -> io::Result<(Self, Map)> {
        fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let _ = fs::remove_file(dir.join(format!("{LOG_FILE}.tmp"))); // an unfinished compaction
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut bytes)?;
        }
        let (ops, valid_len) = record::decode_all(&bytes);
        let mut map = Map::new();
        for op in ops {
            apply(&mut map, op);
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)?;
        let tail = &bytes[valid_len..];
        if let Some(last) = tail.iter().rposition(|b| *b != 0) {
            tracing::warn!(
                torn_bytes = last + 1,
                "node store: zeroing an unacknowledged torn tail"
            );
            // Zero an unacknowledged torn tail so no fragment of it is ever read as a record.
            file.write_all_at(&vec![0; tail.len()], valid_len as u64)?;
            file.sync_data()?;
        }
        sync_dir(dir)?;
        let committer = Self {
            dir: dir.to_path_buf(),
            file,
            log_bytes: valid_len as u64,
            allocated_bytes: bytes.len() as u64,
            compact_min_bytes,
            next_compaction_check_bytes: compact_min_bytes,
        };
        Ok((committer, map))
    }

    /// Makes sure `len` more bytes fit in the zero-filled region.
    fn reserve(&mut self, len: u64) -> io::Result<()> {
        if self.log_bytes + len <= self.allocated_bytes {
            return Ok(());
        }
        let grow = PREALLOCATE_BYTES.max(len);
        self.file
            .write_all_at(&vec![0; grow as usize], self.allocated_bytes)?;
        self.file.sync_all()?;
        self.allocated_bytes += grow;
        Ok(())
    }

    pub fn spawn(
        self,
        map: Arc<RwLock<Map>>,
        sequence: Arc<Sequence>,
    ) -> io::Result<mpsc::SyncSender<Request>> {
        let (requests, queue) = mpsc::sync_channel::<Request>(MAX_QUEUED_WRITES);
        std::thread::Builder::new()
            .name("node-store-commit".into())
            .spawn(move || self.run(queue, &map, &sequence))?;
        Ok(requests)
    }

    fn run(mut self, queue: mpsc::Receiver<Request>, map: &RwLock<Map>, sequence: &Sequence) {
        let mut failed: Option<io::Error> = None;
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH_WRITES {
                match queue.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            if let Some(e) = &failed {
                // Fail-stop: after a write we could not undo, accept nothing more.
                batch.into_iter().for_each(|r| r.answer(Err(copy_error(e))));
                continue;
            }
            let mut buf = Vec::new();
            for op in batch.iter().filter_map(Request::record) {
                record::encode(op, &mut buf);
            }
            let behind_seq = batch
                .iter()
                .filter_map(|r| match r {
                    Request::WriteBehind { seq, .. } => Some(*seq),
                    _ => None,
                })
                .max();
            if buf.is_empty() {
                // Only barriers: everything queued before them was committed by earlier batches.
                batch.into_iter().for_each(|r| r.answer(Ok(())));
                continue;
            }
            let at = self.log_bytes;
            let result = self
                .reserve(buf.len() as u64)
                .and_then(|()| self.file.write_all_at(&buf, at))
                .and_then(|()| self.file.sync_data());
            if let Err(e) = result {
                // Zero a partial append so a later batch is not hidden behind torn bytes.
                let zeroed = self
                    .file
                    .write_all_at(&vec![0; buf.len()], at)
                    .and_then(|()| self.file.sync_data());
                // A write-behind record is in the map already and its writer was answered: the
                // map and the log now disagree, so the store stops.
                if zeroed.is_err() || behind_seq.is_some() {
                    failed = Some(copy_error(&e));
                }
                batch
                    .into_iter()
                    .for_each(|r| r.answer(Err(copy_error(&e))));
                continue;
            }
            self.log_bytes += buf.len() as u64;
            if let Some(seq) = behind_seq {
                sequence.durable.fetch_max(seq, Ordering::AcqRel);
            }
            let mut replies = Vec::with_capacity(batch.len());
            match map.write() {
                Ok(mut live) => {
                    for request in batch {
                        match request {
                            Request::Write { op, reply } => {
                                apply(&mut live, op);
                                replies.push(reply);
                            }
                            Request::Barrier { reply } => replies.push(reply),
                            Request::WriteBehind { .. } => {}
                        }
                    }
                    if self.log_bytes >= self.next_compaction_check_bytes {
                        if self.log_bytes > 4 * live_bytes(&live) {
                            if let Err(e) = self.compact(&live) {
                                tracing::error!(error = %e, "node store: compaction failed; the log keeps growing");
                            }
                        }
                        let step = (self.compact_min_bytes / 4).max(1);
                        self.next_compaction_check_bytes =
                            self.log_bytes.max(self.compact_min_bytes) + step;
                    }
                }
                Err(_) => failed = Some(io::Error::other("store lock poisoned")),
            }
            replies.into_iter().for_each(|reply| reply.send(Ok(())));
        }
    }

    /// Rewrites the log as one put per live key: temp file, fsync, rename, fsync directory.
    /// The map may hold write-behind records still queued; they are in the new log early and
    /// appended again when their turn comes, which replays to the same value.
    fn compact(&mut self, live: &Map) -> io::Result<()> {
        let tmp = self.dir.join(format!("{LOG_FILE}.tmp"));
        let mut buf = Vec::new();
        for ((primary, secondary), entries) in live {
            for (key, value) in entries {
                let key = record::Key {
                    primary: primary.clone(),
                    secondary: secondary.clone(),
                    key: key.clone(),
                };
                record::encode(&Op::Put(key, value.clone()), &mut buf);
            }
        }
        let mut file = File::create(&tmp)?;
        file.write_all(&buf)?;
        file.sync_all()?;
        let path = self.dir.join(LOG_FILE);
        fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)?;
        self.file = OpenOptions::new().read(true).write(true).open(&path)?;
        self.log_bytes = buf.len() as u64;
        self.allocated_bytes = self.log_bytes;
        Ok(())
    }
}
