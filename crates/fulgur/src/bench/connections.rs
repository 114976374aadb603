//! `fulgur bench connections`: the API under many open connections. A `fulgur demo`
//! runs as its own process (each process has its own open-file limit, so 10,000 client
//! and 10,000 server sockets fit), and this process holds `--connections` keep-alive
//! HTTP/1.1 connections, each sending `GET /v1/accounts/{id}` (bearer auth, a store
//! read, JSON) back to back for `--secs`, spread over bulk-tier keys.
//!
//! The client is a minimal HTTP/1.1 writer and reader written here rather than reqwest:
//! a load generator needs exactly one long-lived connection per task and nothing more
//! per request than a write and a read.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Args, Clone)]
pub struct ConnectionsArgs {
    /// Open connections, each with one request in flight.
    #[arg(long, default_value_t = 10_000)]
    connections: u32,
    /// How long to run, seconds.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// Bulk-tier keys the connections are spread over (20,000 requests/s each).
    #[arg(long, default_value_t = 4)]
    keys: u32,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Serialize)]
pub struct ConnectionsResult {
    pub connections: u32,
    pub connected: u32,
    pub secs: u64,
    pub requests: u64,
    pub failed: u64,
    pub per_sec: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
}

/// Largest response read; the account JSON is far smaller.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

struct Demo {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `fulgur demo`; returns it, its address and the first account's id.
fn start_demo() -> anyhow::Result<(Demo, String, String, PathBuf)> {
    use std::io::BufRead;
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--devnet-rpc",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("FULGUR_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting fulgur demo")?;
    let stdout = child.stdout.take().context("demo stdout")?;
    let key_file = dir.path().join("admin.key");
    let demo = Demo { child, _dir: dir };
    // Read the demo's stdout to its end, so that it never writes into a closed pipe.
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut account = None;
    for line in lines {
        if let Some(id) = line
            .strip_prefix("account ")
            .and_then(|l| l.split(": ").nth(1))
        {
            account.get_or_insert_with(|| id.to_string());
        }
        if let Some(url) = line.strip_prefix("ready: http://") {
            let account = account.context("the demo printed no account")?;
            return Ok((demo, url.to_string(), account, key_file));
        }
    }
    anyhow::bail!("fulgur demo exited before it was ready")
}

/// One request and its response on a kept-alive connection; the status code.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> anyhow::Result<u16> {
    stream.write_all(request).await?;
    buf.clear();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        anyhow::ensure!(buf.len() <= MAX_RESPONSE_BYTES, "response too large");
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buf[..end])?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("status line")?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())
                    .flatten()
            })
            .context("content-length")?;
        if buf.len() >= end + 4 + length {
            return Ok(status);
        }
    }
}

pub async fn run(args: ConnectionsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.connections > 0 && args.keys > 0 && args.secs > 0,
        "positive values only"
    );
    let (demo, addr, account, key_file) = tokio::task::block_in_place(start_demo)?;
    let admin = std::fs::read_to_string(&key_file)?.trim().to_string();
    let http = reqwest::Client::new();
    let mut keys = Vec::new();
    for i in 0..args.keys {
        let issued: serde_json::Value = http
            .post(format!("http://{addr}/v1/apikeys"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"name": format!("bench {i}"), "roles": ["admin"], "rate_tier": "bulk"}))
            .send()
            .await?
            .json()
            .await?;
        keys.push(issued["key"].as_str().context("issued key")?.to_string());
    }
    eprintln!("bench: opening {} connections to {addr}", args.connections);
    let deadline = Instant::now() + Duration::from_secs(args.secs);
    let mut tasks = tokio::task::JoinSet::new();
    let requests: Vec<Arc<Vec<u8>>> = keys
        .iter()
        .map(|key| {
            Arc::new(
                format!(
                    "GET /v1/accounts/{account} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\r\n"
                )
                .into_bytes(),
            )
        })
        .collect();
    for i in 0..args.connections {
        let (request, addr) = (
            Arc::clone(&requests[i as usize % requests.len()]),
            addr.clone(),
        );
        tasks.spawn(async move {
            let mut latency_us =
                Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
            let (mut ok, mut failed) = (0u64, 0u64);
            let Ok(mut stream) = TcpStream::connect(&addr).await else {
                return (false, latency_us, ok, 1);
            };
            let mut buf = Vec::with_capacity(4096);
            while Instant::now() < deadline {
                let begun = Instant::now();
                match exchange(&mut stream, &request, &mut buf).await {
                    Ok(200) => {
                        ok += 1;
                        latency_us.saturating_record(begun.elapsed().as_micros() as u64);
                    }
                    Ok(_) => failed += 1,
                    Err(_) => {
                        failed += 1;
                        break;
                    }
                }
            }
            (true, latency_us, ok, failed)
        });
    }
    let started = Instant::now();
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let (mut connected, mut ok, mut failed) = (0u32, 0u64, 0u64);
    while let Some(done) = tasks.join_next().await {
        let (up, histogram, n_ok, n_failed) = done?;
        connected += u32::from(up);
        latency_us.add(&histogram)?;
        ok += n_ok;
        failed += n_failed;
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    drop(demo);
    let result = ConnectionsResult {
        connections: args.connections,
        connected,
        secs: args.secs,
        requests: ok,
        failed,
        per_sec: ok as f64 / elapsed,
        latency_ms_p50: latency_us.value_at_quantile(0.50) as f64 / 1000.0,
        latency_ms_p99: latency_us.value_at_quantile(0.99) as f64 / 1000.0,
        latency_ms_max: latency_us.max() as f64 / 1000.0,
    };
    println!(
        "| connections | connected | requests | failed | requests/s | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} |",
        result.connections,
        result.connected,
        result.requests,
        result.failed,
        result.per_sec,
        result.latency_ms_p50,
        result.latency_ms_p99,
        result.latency_ms_max
    );
    super::write_json(args.json.as_deref(), &result)?;
    Ok(())
}
