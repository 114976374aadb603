//! `node-store`: a durable key-value store for Lightning node state (channel monitors, the
//! channel manager, payments) with group commit.
//!
//! Why not ldk-node's SQLite store: it serializes every write behind one connection and
//! pays several fsyncs per write (journal, database, directory). Channel state writes come
//! from many channels at once; here they are appended to one log and acknowledged together
//! after a single `fdatasync`, so concurrent writers share the cost of durability. A write
//! returns only after its bytes are on disk — the guarantee LDK needs for channel monitors.
//!
//! Reads are served from memory. The log is replayed on open (a torn tail from a crash is
//! dropped: it was never acknowledged) and compacted when it grows well past the live data.
//!
//! **Write-behind.** ldk-node writes some records (its payment store, its event queue) while
//! holding its own lock, so a durable write there lets one node record one payment per
//! fsync. Keys the [`Options::write_behind`] rule names are applied to memory and queued at once, and
//! the writer goes on; [`LogStore::sync`] waits until every such write made before it is on
//! disk. The log keeps one order, so a crash loses at most a suffix of it: a write-behind
//! record is durable no later than any durable write queued after it (a channel monitor
//! update, for one). The caller syncs before telling anyone outside the node (a client, the
//! ledger) what those records say.

mod committer;
mod record;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, RwLock};

use ldk_node::lightning::util::async_poll::AsyncResult;
use ldk_node::lightning::util::persist::{KVStore, KVStoreSync};

use crate::committer::{Committer, Reply, Request, Sequence};
use crate::record::{check_key, Key, Op};

type Namespace = (String, String);
type Map = HashMap<Namespace, BTreeMap<String, Vec<u8>>>;

/// Picks keys by (primary namespace, secondary namespace, key).
pub type KeyRule = fn(&str, &str, &str) -> bool;

/// How a [`LogStore`] is opened.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Compact once the log exceeds this and four times the live data. Default 64 MiB.
    pub compact_min_bytes: u64,
    /// Keys acknowledged before they are durable (see the crate docs). Default: none, every
    /// write is durable before it returns.
    pub write_behind: Option<KeyRule>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            compact_min_bytes: committer::DEFAULT_COMPACT_MIN_BYTES,
            write_behind: None,
        }
    }
}

/// The store. Cheap to share: clone the `Arc` it lives in.
pub struct LogStore {
    map: Arc<RwLock<Map>>,
    requests: mpsc::SyncSender<Request>,
    write_behind: Option<KeyRule>,
    /// Write-behind records reach the map and the queue in the same order under this lock.
    behind_order: Mutex<()>,
    sequence: Arc<Sequence>,
}

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "store committer stopped")
}

impl LogStore {
    /// Opens (or creates) the store in `dir` with the default [`Options`], replaying its log.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Self::open_with(dir, Options::default())
    }

    pub fn open_with(dir: &Path, options: Options) -> io::Result<Self> {
        let (committer, map) = Committer::open(dir, options.compact_min_bytes)?;
        let map = Arc::new(RwLock::new(map));
        let sequence = Arc::new(Sequence::default());
        let requests = committer.spawn(Arc::clone(&map), Arc::clone(&sequence))?;
        Ok(Self {
            map,
            requests,
            write_behind: options.write_behind,
            behind_order: Mutex::new(()),
            sequence,
        })
    }

    /// Returns once every write-behind record written before the call is on disk.
    pub async fn sync(&self) -> io::Result<()> {
        if self.all_durable() {
            return Ok(());
        }
        let (done, result) = tokio::sync::oneshot::channel();
        self.submit(Request::Barrier {
            reply: Reply::Async(done),
        })?;
        result.await.map_err(|_| stopped())?
    }

    /// As [`LogStore::sync`], blocking the thread.
    pub fn sync_blocking(&self) -> io::Result<()> {
        if self.all_durable() {
            return Ok(());
        }
        let (done, result) = mpsc::channel();
        self.submit(Request::Barrier {
            reply: Reply::Sync(done),
        })?;
        result.recv().map_err(|_| stopped())?
    }

    fn all_durable(&self) -> bool {
        self.sequence.durable.load(Ordering::Acquire)
            >= self.sequence.queued.load(Ordering::Acquire)
    }

    fn submit(&self, request: Request) -> io::Result<()> {
        self.requests.send(request).map_err(|_| stopped())
    }

    fn is_behind(&self, op: &Op) -> bool {
        let key = match op {
            Op::Put(key, _) | Op::Remove(key) => key,
        };
        self.write_behind
            .is_some_and(|rule| rule(&key.primary, &key.secondary, &key.key))
    }

    /// Applies a write-behind record to memory and queues it, in one order for both.
    fn write_behind(&self, op: Op) -> io::Result<()> {
        let _order = self
            .behind_order
            .lock()
            .map_err(|_| io::Error::other("store lock poisoned"))?;
        committer::apply(
            &mut *self
                .map
                .write()
                .map_err(|_| io::Error::other("store lock poisoned"))?,
            op.clone(),
        );
        let seq = self.sequence.queued.load(Ordering::Acquire) + 1;
        self.submit(Request::WriteBehind { op, seq })?;
        self.sequence.queued.store(seq, Ordering::Release);
        Ok(())
    }

    fn write_sync(&self, op: Op) -> io::Result<()> {
        if self.is_behind(&op) {
            return self.write_behind(op);
        }
        let (done, result) = mpsc::channel();
        self.submit(Request::Write {
            op,
            reply: Reply::Sync(done),
        })?;
        result.recv().map_err(|_| stopped())?
    }

    fn write_async(&self, op: Op) -> AsyncResult<'static, (), LdkIoError> {
        if self.is_behind(&op) {
            return ready(self.write_behind(op));
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let submitted = self.submit(Request::Write {
            op,
            reply: Reply::Async(done),
        });
        Box::pin(async move {
            ldk(submitted)?;
            ldk(result.await.map_err(|_| stopped()).and_then(|r| r))
        })
    }

    fn read_now(&self, key: &Key) -> io::Result<Vec<u8>> {
        check_key(key)?;
        let map = self
            .map
            .read()
            .map_err(|_| io::Error::other("store lock poisoned"))?;
        map.get(&(key.primary.clone(), key.secondary.clone()))
            .and_then(|entries| entries.get(&key.key))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "key not found"))
    }

    fn list_now(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        let map = self
            .map
            .read()
            .map_err(|_| io::Error::other("store lock poisoned"))?;
        Ok(map
            .get(&(primary.to_string(), secondary.to_string()))
            .map(|entries| entries.keys().cloned().collect())
            .unwrap_or_default())
    }
}

impl Drop for LogStore {
    /// A clean stop leaves nothing written behind; the committer ends once the queue closes.
    fn drop(&mut self) {
        if let Err(e) = self.sync_blocking() {
            tracing::error!(error = %e, "node store: write-behind records not flushed at close");
        }
    }
}

fn key(primary: &str, secondary: &str, key: &str) -> Key {
    Key {
        primary: primary.to_string(),
        secondary: secondary.to_string(),
        key: key.to_string(),
    }
}

fn put(k: Key, buf: Vec<u8>) -> io::Result<Op> {
    check_key(&k)?;
    if buf.len() > record::MAX_VALUE_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "value too large",
        ));
    }
    Ok(Op::Put(k, buf))
}

/// LDK's traits speak `lightning::io::Error`; the store works in `std::io`.
type LdkIoError = ldk_node::lightning::io::Error;

fn ldk<T>(result: io::Result<T>) -> Result<T, LdkIoError> {
    result.map_err(LdkIoError::from)
}

fn ready<T: Send + 'static>(result: io::Result<T>) -> AsyncResult<'static, T, LdkIoError> {
    Box::pin(async move { ldk(result) })
}

impl KVStoreSync for LogStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        k: &str,
    ) -> Result<Vec<u8>, LdkIoError> {
        ldk(self.read_now(&key(primary_namespace, secondary_namespace, k)))
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> Result<(), LdkIoError> {
        ldk(put(key(primary_namespace, secondary_namespace, k), buf)
            .and_then(|op| self.write_sync(op)))
    }

    /// Removals are always durable; `lazy` is allowed to be stronger than asked.
    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        k: &str,
        _lazy: bool,
    ) -> Result<(), LdkIoError> {
        let k = key(primary_namespace, secondary_namespace, k);
        ldk(check_key(&k).and_then(|()| self.write_sync(Op::Remove(k))))
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, LdkIoError> {
        ldk(self.list_now(primary_namespace, secondary_namespace))
    }
}

impl KVStore for LogStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        k: &str,
    ) -> AsyncResult<'static, Vec<u8>, LdkIoError> {
        ready(self.read_now(&key(primary_namespace, secondary_namespace, k)))
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), LdkIoError> {
        match put(key(primary_namespace, secondary_namespace, k), buf) {
            Ok(op) => self.write_async(op),
            Err(e) => ready(Err(e)),
        }
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        k: &str,
        _lazy: bool,
    ) -> AsyncResult<'static, (), LdkIoError> {
        let k = key(primary_namespace, secondary_namespace, k);
        match check_key(&k) {
            Ok(()) => self.write_async(Op::Remove(k)),
            Err(e) => ready(Err(e)),
        }
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> AsyncResult<'static, Vec<String>, LdkIoError> {
        ready(self.list_now(primary_namespace, secondary_namespace))
    }
}
