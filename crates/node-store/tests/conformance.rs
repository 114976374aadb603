//! One conformance suite, run against every store a node can use: Fulgur's group-commit
//! `LogStore` and ldk-node's own SQLite store.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use ldk_node::io::sqlite_store::SqliteStore;
use ldk_node::lightning::io::ErrorKind;
use ldk_node::lightning::util::persist::{KVStore, KVStoreSync};
use node_store::{LogStore, Options};

trait Store: KVStoreSync + KVStore + Send + Sync + 'static {}
impl<T: KVStoreSync + KVStore + Send + Sync + 'static> Store for T {}

fn open_log(dir: &Path) -> Arc<dyn Store> {
    Arc::new(LogStore::open(dir).expect("log store opens"))
}

/// Every key written behind: the suite's guarantees hold for a store that is closed
/// cleanly, which flushes what it wrote behind.
fn open_log_behind(dir: &Path) -> Arc<dyn Store> {
    Arc::new(LogStore::open_with(dir, everything_behind()).expect("log store opens"))
}

fn everything_behind() -> Options {
    Options {
        write_behind: Some(|_, _, _| true),
        ..Options::default()
    }
}

fn open_sqlite(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::new(dir.to_path_buf(), None, None).expect("sqlite store opens"))
}

fn suite(open: fn(&Path) -> Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());

    assert_eq!(
        KVStoreSync::read(&*store, "p", "s", "k")
            .expect_err("missing")
            .kind(),
        ErrorKind::NotFound
    );
    KVStoreSync::write(&*store, "p", "s", "k", vec![1, 2, 3]).expect("write");
    assert_eq!(
        KVStoreSync::read(&*store, "p", "s", "k").expect("read"),
        vec![1, 2, 3]
    );
    KVStoreSync::write(&*store, "p", "s", "k", vec![4]).expect("overwrite");
    assert_eq!(
        KVStoreSync::read(&*store, "p", "s", "k").expect("read"),
        vec![4]
    );
    KVStoreSync::write(&*store, "p", "s", "other", vec![5]).expect("write");
    KVStoreSync::write(&*store, "p", "", "top", vec![6]).expect("write");
    KVStoreSync::write(&*store, "", "", "root", vec![7]).expect("write at the root namespace");
    let mut keys = KVStoreSync::list(&*store, "p", "s").expect("list");
    keys.sort();
    assert_eq!(
        keys,
        vec!["k".to_string(), "other".to_string()],
        "namespaces are isolated"
    );
    assert_eq!(
        KVStoreSync::list(&*store, "nope", "").expect("list"),
        Vec::<String>::new()
    );

    KVStoreSync::remove(&*store, "p", "s", "k", false).expect("remove");
    assert_eq!(
        KVStoreSync::read(&*store, "p", "s", "k")
            .expect_err("removed")
            .kind(),
        ErrorKind::NotFound
    );
    KVStoreSync::remove(&*store, "p", "s", "never-there", true)
        .expect("removing a missing key succeeds");
    assert_eq!(
        KVStoreSync::list(&*store, "p", "s").expect("list"),
        vec!["other".to_string()]
    );

    // Concurrent writers: every acknowledged write is readable.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..50u32 {
                    KVStoreSync::write(
                        &*store,
                        "c",
                        &format!("t{t}"),
                        &format!("k{i}"),
                        i.to_le_bytes().to_vec(),
                    )
                    .expect("write");
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().expect("writer"));
    for t in 0..8 {
        assert_eq!(
            KVStoreSync::list(&*store, "c", &format!("t{t}"))
                .expect("list")
                .len(),
            50
        );
    }

    // The async API sees the same data.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        KVStore::write(&*store, "a", "", "k", vec![8])
            .await
            .expect("async write");
        assert_eq!(
            KVStore::read(&*store, "a", "", "k")
                .await
                .expect("async read"),
            vec![8]
        );
        assert_eq!(
            KVStoreSync::read(&*store, "a", "", "k").expect("sync read"),
            vec![8]
        );
    });

    drop(store);
    let reopened = open(dir.path());
    assert_eq!(
        KVStoreSync::read(&*reopened, "p", "s", "other").expect("durable"),
        vec![5]
    );
    assert_eq!(
        KVStoreSync::read(&*reopened, "", "", "root").expect("durable"),
        vec![7]
    );
    assert_eq!(
        KVStoreSync::read(&*reopened, "p", "s", "k")
            .expect_err("removal durable")
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        KVStoreSync::read(&*reopened, "c", "t7", "k49").expect("durable"),
        49u32.to_le_bytes().to_vec()
    );
}

#[test]
fn log_store_conforms() {
    suite(open_log);
}

#[test]
fn log_store_writing_behind_conforms() {
    suite(open_log_behind);
}

#[test]
fn sqlite_store_conforms() {
    suite(open_sqlite);
}

#[test]
fn log_store_drops_a_torn_tail_and_keeps_what_was_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = LogStore::open(dir.path()).expect("open");
        KVStoreSync::write(&store, "p", "", "a", vec![1; 100]).expect("write");
        KVStoreSync::write(&store, "p", "", "b", vec![2; 100]).expect("write");
    }
    // A crash in the middle of appending a record leaves a partial record behind.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("kv.log"))
        .expect("log");
    file.write_all(&[0xa5, 1, 1, 0, 0, 0, 1, 0, 200, 0, 0, 0, 1, 2, 3])
        .expect("torn bytes");
    drop(file);

    let store = LogStore::open(dir.path()).expect("reopen");
    assert_eq!(
        KVStoreSync::read(&store, "p", "", "a").expect("kept"),
        vec![1; 100]
    );
    assert_eq!(
        KVStoreSync::read(&store, "p", "", "b").expect("kept"),
        vec![2; 100]
    );
    KVStoreSync::write(&store, "p", "", "c", vec![3]).expect("appends after the dropped tail");
    drop(store);
    let store = LogStore::open(dir.path()).expect("reopen again");
    assert_eq!(
        KVStoreSync::read(&store, "p", "", "c").expect("the new write replays"),
        vec![3]
    );
}

#[test]
fn log_store_compaction_keeps_exactly_the_live_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LogStore::open_with(
        dir.path(),
        Options {
            compact_min_bytes: 64 * 1024,
            ..Options::default()
        },
    )
    .expect("open");
    for round in 0..200u32 {
        KVStoreSync::write(&store, "m", "", "monitor", vec![(round % 256) as u8; 4096])
            .expect("write");
    }
    KVStoreSync::write(&store, "m", "", "gone", vec![1]).expect("write");
    KVStoreSync::remove(&store, "m", "", "gone", false).expect("remove");
    // The file is zero-filled ahead of its records; measure the records.
    let log = std::fs::read(dir.path().join("kv.log")).expect("log");
    let log_len = log.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    assert!(
        log_len < 200 * 4096 / 2,
        "compaction shrank the log to {log_len} bytes"
    );
    drop(store);
    let store = LogStore::open(dir.path()).expect("reopen");
    assert_eq!(
        KVStoreSync::read(&store, "m", "", "monitor").expect("latest value"),
        vec![199; 4096]
    );
    assert_eq!(
        KVStoreSync::read(&store, "m", "", "gone")
            .expect_err("removed")
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        KVStoreSync::list(&store, "m", "").expect("list"),
        vec!["monitor".to_string()]
    );
}

/// What a crash at this instant would leave: a copy of the store's log, opened elsewhere.
fn crash_image(dir: &Path) -> (tempfile::TempDir, LogStore) {
    let image = tempfile::tempdir().expect("tempdir");
    let mut log = std::fs::read(dir.join("kv.log")).expect("read the log");
    // The log is zero-filled ahead of its records; copy the records.
    let records = log.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    log.truncate(records);
    std::fs::write(image.path().join("kv.log"), &log).expect("copy");
    let store = LogStore::open(image.path()).expect("open the crash image");
    (image, store)
}

#[test]
fn a_write_behind_record_is_durable_no_later_than_the_durable_write_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        write_behind: Some(|primary, _, _| primary == "payments"),
        ..Options::default()
    };
    let store = LogStore::open_with(dir.path(), options).expect("open");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for round in 0..20u32 {
        let payment = format!("p{round}");
        KVStoreSync::write(&store, "payments", "", &payment, vec![1; 64]).expect("behind");
        assert_eq!(
            KVStoreSync::read(&store, "payments", "", &payment).expect("read at once"),
            vec![1; 64],
            "a write-behind record is readable as soon as it is written"
        );
        KVStoreSync::write(&store, "monitors", "", "m", round.to_le_bytes().to_vec())
            .expect("durable");
        let (_image, crashed) = crash_image(dir.path());
        assert_eq!(
            KVStoreSync::read(&crashed, "payments", "", &payment).expect("kept"),
            vec![1; 64],
            "round {round}: the durable write after it carried it to disk"
        );
    }
    KVStoreSync::write(&store, "payments", "", "last", vec![2]).expect("behind");
    runtime.block_on(store.sync()).expect("sync");
    let (_image, crashed) = crash_image(dir.path());
    assert_eq!(
        KVStoreSync::read(&crashed, "payments", "", "last").expect("synced"),
        vec![2],
        "sync returns once the record is on disk"
    );
    runtime
        .block_on(store.sync())
        .expect("a sync with nothing behind returns at once");
    KVStoreSync::remove(&store, "payments", "", "last", false).expect("remove behind");
    store.sync_blocking().expect("sync");
    let (_image, crashed) = crash_image(dir.path());
    assert_eq!(
        KVStoreSync::read(&crashed, "payments", "", "last")
            .expect_err("the removal is durable after sync")
            .kind(),
        ErrorKind::NotFound
    );
}
