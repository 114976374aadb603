//! Snapshot keys: large records of which only the latest value matters, such as LDK's
//! channel manager (0.1–0.5 MB, rewritten after every round of channel updates). Each lives
//! in a file of its own, replaced atomically (temp file, fsync, rename, fsync directory),
//! rather than appended to the log, where every copy delayed the channel-monitor updates
//! queued behind it and grew the log by tens of MB a second under load.
//!
//! Order: a snapshot is written only once everything queued in the log before it is on
//! disk, so on disk it is never newer than the log records that preceded it (LDK requires
//! that a channel manager is never newer than its monitors). Replay applies the snapshot
//! files after the log. Requests that queue up while one is written are written together,
//! each key once, with its latest value.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, RwLock};

use crate::committer::{self, Reply, Request};
use crate::record::{self, Key, Op};
use crate::Map;

const PREFIX: &str = "snap.";
/// A snapshot being written is `tmp.` and its name, renamed into place once on disk.
const TEMP_PREFIX: &str = "tmp.";
/// Bounds the queue of snapshot writes; their writers wait for them, so it rarely holds more
/// than one per snapshot key.
const MAX_QUEUED: usize = 64;
/// Longest file name a key gets (file systems allow 255 bytes).
const MAX_NAME_LEN: usize = 200;

pub(crate) struct SnapshotRequest {
    pub op: Op,
    pub reply: Reply,
}

fn key_of(op: &Op) -> &Key {
    match op {
        Op::Put(key, _) | Op::Remove(key) => key,
    }
}

/// The key's file name, or `None` if the key cannot name a file (it then stays in the log).
/// LDK's namespaces and keys use `[A-Za-z0-9_-]`, so `.` separates them unambiguously.
pub(crate) fn file_name(key: &Key) -> Option<String> {
    let parts = [&key.primary, &key.secondary, &key.key];
    let plain = parts.iter().all(|part| {
        part.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    let name = format!("{PREFIX}{}.{}.{}", key.primary, key.secondary, key.key);
    (plain && name.len() <= MAX_NAME_LEN).then_some(name)
}

/// Applies the snapshot files in `dir` to `map` (after the log's replay) and removes the
/// temporary files of a write that never finished.
pub(crate) fn load(dir: &Path, map: &mut Map) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with(TEMP_PREFIX) && name[TEMP_PREFIX.len()..].starts_with(PREFIX) {
            fs::remove_file(&path)?;
            continue;
        }
        if !name.starts_with(PREFIX) {
            continue;
        }
        let bytes = fs::read(&path)?;
        let (mut ops, valid_len) = record::decode_all(&bytes);
        let op = match (ops.pop(), ops.is_empty() && valid_len == bytes.len()) {
            (Some(op), true) if file_name(key_of(&op)).as_deref() == Some(name) => op,
            _ => {
                // Snapshots are renamed into place only once complete: this is corruption.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("node store: snapshot {} is corrupt", path.display()),
                ));
            }
        };
        committer::apply(map, op);
    }
    Ok(())
}

/// Starts the thread that writes snapshots; `log` takes its barriers.
pub(crate) fn spawn(
    dir: &Path,
    log: mpsc::SyncSender<Request>,
    map: Arc<RwLock<Map>>,
) -> io::Result<mpsc::SyncSender<SnapshotRequest>> {
    let (requests, queue) = mpsc::sync_channel::<SnapshotRequest>(MAX_QUEUED);
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .name("node-store-snap".into())
        .spawn(move || {
            while let Ok(first) = queue.recv() {
                let mut batch = vec![first];
                batch.extend(queue.try_iter().take(MAX_QUEUED));
                write_batch(&dir, &log, &map, batch);
            }
        })?;
    Ok(requests)
}

fn write_batch(
    dir: &Path,
    log: &mpsc::SyncSender<Request>,
    map: &RwLock<Map>,
    batch: Vec<SnapshotRequest>,
) {
    // Each key once, with its latest value, answering every request for it.
    let mut latest: Vec<(String, Op, Vec<Reply>)> = Vec::new();
    for request in batch {
        let name = file_name(key_of(&request.op)).expect("only named keys are queued");
        match latest.iter_mut().find(|(n, _, _)| *n == name) {
            Some((_, op, replies)) => {
                *op = request.op;
                replies.push(request.reply);
            }
            None => latest.push((name, request.op, vec![request.reply])),
        }
    }
    let written = log_barrier(log).and_then(|()| {
        for (name, op, _) in &latest {
            write_file(dir, name, op)?;
        }
        File::open(dir)?.sync_all()
    });
    match written {
        Ok(()) => {
            match map.write() {
                Ok(mut live) => {
                    for (_, op, _) in &latest {
                        committer::apply(&mut live, op.clone());
                    }
                }
                Err(_) => {
                    let e = io::Error::other("store lock poisoned");
                    return answer(latest, &Err(e));
                }
            }
            answer(latest, &Ok(()));
        }
        Err(e) => answer(latest, &Err(e)),
    }
}

fn answer(latest: Vec<(String, Op, Vec<Reply>)>, result: &io::Result<()>) {
    for (_, _, replies) in latest {
        for reply in replies {
            reply.send(match result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            });
        }
    }
}

/// Waits until everything queued in the log so far is on disk.
fn log_barrier(log: &mpsc::SyncSender<Request>) -> io::Result<()> {
    let (done, result) = mpsc::channel();
    let stopped = || io::Error::new(io::ErrorKind::BrokenPipe, "store committer stopped");
    log.send(Request::Barrier {
        reply: Reply::Sync(done),
    })
    .map_err(|_| stopped())?;
    result.recv().map_err(|_| stopped())?
}

fn write_file(dir: &Path, name: &str, op: &Op) -> io::Result<()> {
    let mut bytes = Vec::new();
    record::encode(op, &mut bytes);
    let temp: PathBuf = dir.join(format!("{TEMP_PREFIX}{name}"));
    let mut file = File::create(&temp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    fs::rename(&temp, dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(primary: &str, secondary: &str, key: &str) -> Key {
        Key {
            primary: primary.into(),
            secondary: secondary.into(),
            key: key.into(),
        }
    }

    #[test]
    fn names_are_unambiguous_and_only_for_plain_keys() {
        assert_eq!(
            file_name(&key("", "", "manager")).as_deref(),
            Some("snap...manager")
        );
        assert_ne!(
            file_name(&key("a", "b", "c")),
            file_name(&key("", "a", "b_c"))
        );
        assert_eq!(file_name(&key("", "", "../x")), None);
        assert_eq!(file_name(&key("", "", "a.b")), None);
        assert_eq!(
            file_name(&key(&"p".repeat(120), &"s".repeat(120), "k")),
            None
        );
    }
}
