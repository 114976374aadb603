//! `fulgur bench keystore`: signatures and data-key wraps per second through the key
//! store, on a SoftHSM2 token this command creates in a temporary directory (PKCS#11,
//! `--sessions` sessions, as many threads) and on the software backend; native
//! libsecp256k1 signing beside them as the ceiling.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use keystore::testing::SoftHsmToken;
use keystore::{KeyKind, KeyStore, SoftwareStore};
use serde::Serialize;

#[derive(Args, Clone)]
pub struct KeystoreArgs {
    /// Signatures per measurement.
    #[arg(long, default_value_t = 10_000)]
    signatures: u32,
    /// Wraps per measurement.
    #[arg(long, default_value_t = 10_000)]
    wraps: u32,
    /// PKCS#11 sessions (and signing threads).
    #[arg(long, default_value_t = 2)]
    sessions: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Serialize)]
struct Row {
    backend: String,
    operation: &'static str,
    threads: usize,
    count: u32,
    per_sec: f64,
}

/// Runs `op(i)` `count` times spread over `threads` threads; operations per second.
fn measure(threads: usize, count: u32, op: impl Fn(u32) + Sync) -> f64 {
    let started = Instant::now();
    let per_thread = count / threads as u32;
    std::thread::scope(|scope| {
        for t in 0..threads as u32 {
            let op = &op;
            scope.spawn(move || {
                for i in 0..per_thread {
                    op(t * per_thread + i);
                }
            });
        }
    });
    f64::from(per_thread * threads as u32) / started.elapsed().as_secs_f64().max(1e-9)
}

fn digest(i: u32) -> [u8; 32] {
    let mut d = [0u8; 32];
    d[..4].copy_from_slice(&i.to_be_bytes());
    d[31] = 1;
    d
}

fn bench_store(
    name: &str,
    store: &dyn KeyStore,
    threads: usize,
    args: &KeystoreArgs,
) -> anyhow::Result<Vec<Row>> {
    store.generate("bench-sign", KeyKind::Secp256k1)?;
    store.generate("bench-kek", KeyKind::Aes256)?;
    let sign = measure(threads, args.signatures, |i| {
        store.sign_digest("bench-sign", &digest(i)).expect("sign");
    });
    let data_key = [9u8; 32];
    let wrap = measure(threads, args.wraps, |_| {
        store.wrap("bench-kek", &data_key, b"bench").expect("wrap");
    });
    let wrapped = store.wrap("bench-kek", &data_key, b"bench")?;
    let unwrap = measure(threads, args.wraps, |_| {
        store
            .unwrap("bench-kek", &wrapped, b"bench")
            .expect("unwrap");
    });
    Ok([
        ("ECDSA sign", sign, args.signatures),
        ("wrap", wrap, args.wraps),
        ("unwrap", unwrap, args.wraps),
    ]
    .into_iter()
    .map(|(operation, per_sec, count)| Row {
        backend: name.to_string(),
        operation,
        threads,
        count,
        per_sec,
    })
    .collect())
}

pub fn run(args: KeystoreArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.signatures > 0 && args.wraps > 0 && args.sessions > 0,
        "positive counts only"
    );
    let dir = tempfile::tempdir()?;
    let token = SoftHsmToken::create("fulgur-bench", "bench-pin")
        .context("a SoftHSM2 token (apt-get install softhsm2)")?;
    let hsm = token.open(args.sessions)?;
    let mut rows = bench_store("PKCS#11 (SoftHSM2)", &hsm, 1, &args)?;
    hsm.destroy("bench-sign")?;
    hsm.destroy("bench-kek")?;
    if args.sessions > 1 {
        rows.extend(bench_store(
            "PKCS#11 (SoftHSM2)",
            &hsm,
            args.sessions,
            &args,
        )?);
    }
    let software = SoftwareStore::create(&dir.path().join("keys.json"), "bench")?;
    rows.extend(bench_store("software", &software, 1, &args)?);
    let secret = keystore::secp256k1::SecretKey::from_slice(&[3u8; 32])?;
    let native = measure(1, args.signatures, |i| {
        let _ = keystore::secp256k1::SECP256K1.sign_ecdsa(
            &keystore::secp256k1::Message::from_digest(digest(i)),
            &secret,
        );
    });
    rows.push(Row {
        backend: "native libsecp256k1".into(),
        operation: "ECDSA sign",
        threads: 1,
        count: args.signatures,
        per_sec: native,
    });
    println!("| backend | operation | threads | count | per second |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.0} |",
            r.backend, r.operation, r.threads, r.count, r.per_sec
        );
    }
    super::write_json(args.json.as_deref(), &rows)?;
    Ok(())
}
