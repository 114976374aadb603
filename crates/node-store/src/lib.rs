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

mod committer;
mod record;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::{mpsc, Arc, RwLock};

use ldk_node::lightning::util::async_poll::AsyncResult;
use ldk_node::lightning::util::persist::{KVStore, KVStoreSync};

use crate::committer::{Committer, Reply, Request};
use crate::record::{check_key, Key, Op};

type Namespace = (String, String);
type Map = HashMap<Namespace, BTreeMap<String, Vec<u8>>>;

/// The store. Cheap to share: clone the `Arc` it lives in.
pub struct LogStore {
    map: Arc<RwLock<Map>>,
    requests: mpsc::SyncSender<Request>,
}

impl LogStore {
    /// Opens (or creates) the store in `dir`, replaying its log.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Self::open_with_compaction(dir, committer::DEFAULT_COMPACT_MIN_BYTES)
    }

    /// As [`LogStore::open`], compacting once the log exceeds `compact_min_bytes` and four
    /// times the live data.
    pub fn open_with_compaction(dir: &Path, compact_min_bytes: u64) -> io::Result<Self> {
        let (committer, map) = Committer::open(dir, compact_min_bytes)?;
        let map = Arc::new(RwLock::new(map));
        let requests = committer.spawn(Arc::clone(&map))?;
        Ok(Self { map, requests })
    }

    fn submit(&self, op: Op, reply: Reply) -> io::Result<()> {
        self.requests
            .send(Request { op, reply })
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "store committer stopped"))
    }

    fn write_sync(&self, op: Op) -> io::Result<()> {
        let (done, result) = mpsc::channel();
        self.submit(op, Reply::Sync(done))?;
        result
            .recv()
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "store committer stopped"))?
    }

    fn write_async(&self, op: Op) -> AsyncResult<'static, (), LdkIoError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let submitted = self.submit(op, Reply::Async(done));
        Box::pin(async move {
            ldk(submitted)?;
            let outcome = result
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "store committer stopped"));
            ldk(outcome.and_then(|r| r))
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
