//! `fulgur bench suite --out DIR`: runs the project's benchmarks, each as its own process
//! of this binary (a clean heap, its own open-file limit): payments between two nodes,
//! invoices from one node without the API (the ceiling for the API's figure), the gateway through its API on SQLite and on PostgreSQL (API overhead, invoice
//! creation, internal and Lightning payments), what the compliance stages add to a
//! payment, and the API under 10,000 connections.
//! Writes each one's JSON, then `DIR/summary.json` and `DIR/summary.md`: our figures
//! beside the goals and the peers' published figures (SPEC.md §6), with the machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};

#[derive(Args, Clone)]
pub struct SuiteArgs {
    /// Where the JSON files and the summary go (created if absent).
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Small counts (a smoke run in a few minutes, not figures to publish).
    #[arg(long)]
    quick: bool,
}

/// One benchmark: its name, the JSON file it writes, its arguments (full, quick).
struct Run {
    name: &'static str,
    file: &'static str,
    full: &'static [&'static str],
    quick: &'static [&'static str],
}

const RUNS: [Run; 6] = [
    Run {
        name: "payments between two nodes",
        file: "payments.json",
        full: &[
            "payments",
            "--payments",
            "8000",
            "--concurrency",
            "256",
            "--channels",
            "8",
            "--amount-sat",
            "10000",
        ],
        quick: &[
            "payments",
            "--payments",
            "200",
            "--concurrency",
            "32",
            "--channels",
            "2",
            "--amount-sat",
            "10000",
        ],
    },
    Run {
        name: "invoices from one node",
        file: "invoices.json",
        full: &["invoices", "--invoices", "20000"],
        quick: &["invoices", "--invoices", "500", "--channels", "2"],
    },
    Run {
        name: "gateway on SQLite",
        file: "gateway-sqlite.json",
        full: &["gateway", "--store", "sqlite"],
        quick: &[
            "gateway",
            "--store",
            "sqlite",
            "--reads",
            "500",
            "--invoices",
            "200",
            "--payments",
            "100",
            "--channels",
            "2",
            "--payment-concurrency",
            "64",
        ],
    },
    Run {
        name: "gateway on PostgreSQL",
        file: "gateway-postgres.json",
        full: &["gateway", "--store", "postgres"],
        quick: &[
            "gateway",
            "--store",
            "postgres",
            "--reads",
            "500",
            "--invoices",
            "200",
            "--payments",
            "100",
            "--channels",
            "2",
            "--payment-concurrency",
            "64",
        ],
    },
    Run {
        name: "compliance stages per payment",
        file: "compliance.json",
        full: &["compliance", "--store", "sqlite", "--payments", "2000"],
        quick: &["compliance", "--store", "sqlite", "--payments", "100"],
    },
    Run {
        name: "API under 10,000 connections",
        file: "connections.json",
        full: &["connections", "--connections", "10000", "--secs", "30"],
        quick: &["connections", "--connections", "500", "--secs", "5"],
    },
];

fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|kb| kb.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024 / 1024);
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "memory_gib": memory_gib,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

pub fn run(args: SuiteArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let exe = std::env::current_exe()?;
    let mut results = serde_json::Map::new();
    for run in &RUNS {
        let file = args.out.join(run.file);
        let _ = std::fs::remove_file(&file);
        eprintln!("bench suite: {} ...", run.name);
        let status = Command::new(&exe)
            .arg("bench")
            .args(if args.quick { run.quick } else { run.full })
            .arg("--json")
            .arg(&file)
            .env("FULGUR_LOG", "error")
            .status()
            .with_context(|| format!("running {}", run.name))?;
        anyhow::ensure!(status.success(), "{} failed ({status})", run.name);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("{} wrote no {}", run.name, file.display()))?;
        results.insert(
            run.file.trim_end_matches(".json").to_string(),
            serde_json::from_str(&text)?,
        );
    }
    let summary = json!({
        "generated_at": chrono::Utc::now().to_rfc3339(),
        "quick": args.quick,
        "machine": machine(),
        "results": results,
    });
    write(
        &args.out.join("summary.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    write(&args.out.join("summary.md"), &markdown(&summary))?;
    print!("{}", markdown(&summary));
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A gateway phase by name, from one store's results.
fn phase<'a>(summary: &'a Value, store: &str, name: &str) -> &'a Value {
    summary["results"][format!("gateway-{store}")]
        .as_array()
        .and_then(|phases| phases.iter().find(|p| p["phase"] == name))
        .unwrap_or(&Value::Null)
}

fn figure(rate: &Value, p50: &Value, p99: &Value) -> String {
    match (rate.as_f64(), p50.as_f64(), p99.as_f64()) {
        (Some(rate), Some(p50), Some(p99)) => {
            format!("{rate:.0}/s, p50 {p50:.1} ms, p99 {p99:.1} ms")
        }
        _ => "—".into(),
    }
}

/// Our figures beside the goals and the peers' published ones (SPEC.md §6).
pub fn markdown(summary: &Value) -> String {
    let m = &summary["machine"];
    let mut out =
        format!(
        "Measured {} by `fulgur bench suite{}` on {} ({} cores, {} GiB, Linux {}, {} build).\n\n",
        summary["generated_at"].as_str().unwrap_or("?"),
        if summary["quick"] == true { " --quick" } else { "" },
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["memory_gib"],
        m["kernel"].as_str().unwrap_or("?"),
        m["build"].as_str().unwrap_or("?"),
    );
    out.push_str(
        "| what | ours | our goal | peers (published, their hardware) |\n|---|---|---|---|\n",
    );
    let pay = &summary["results"]["payments"];
    let mut row = |what: &str, ours: String, goal: &str, peers: &str| {
        out.push_str(&format!("| {what} | {ours} | {goal} | {peers} |\n"));
    };
    row(
        "payments between two nodes (durable)",
        figure(
            &pay["payments_per_sec"],
            &pay["latency_ms_p50"],
            &pay["latency_ms_p99"],
        ),
        "≥ 1,000/s; p50 < 50 ms, p99 < 250 ms",
        "Eclair 89/s (8 vCPU), LND 35/s, ldk-node ~176/s (8 cores)",
    );
    let inv = &summary["results"]["invoices"];
    row(
        "invoice creation on one node, no API (LDK's ceiling for the rows below)",
        figure(
            &inv["invoices_per_sec"],
            &inv["latency_ms_p50"],
            &inv["latency_ms_p99"],
        ),
        "—",
        "no published figure",
    );
    for store in ["sqlite", "postgres"] {
        let p = phase(summary, store, "POST /v1/invoices");
        row(
            &format!("invoice creation through the API ({store})"),
            figure(&p["per_sec"], &p["latency_ms_p50"], &p["latency_ms_p99"]),
            "≥ 10,000/s, p99 < 10 ms (seed: < 500 ms)",
            "no published figure",
        );
        let p = phase(
            summary,
            store,
            "POST /v1/payments (Lightning, until the webhook)",
        );
        row(
            &format!("Lightning payments through the API ({store})"),
            figure(&p["per_sec"], &p["latency_ms_p50"], &p["latency_ms_p99"]),
            "≥ 1,000/s (first target 300/s)",
            "1–3 s latency under load",
        );
        let p = phase(summary, store, "GET /v1/accounts/{id}");
        row(
            &format!("authenticated read through the API ({store}, 64 in flight)"),
            figure(&p["per_sec"], &p["latency_ms_p50"], &p["latency_ms_p99"]),
            "overhead p99 < 1 ms",
            "—",
        );
    }
    let k = &summary["results"]["compliance"];
    row(
        &format!(
            "compliance stages per payment (sanctions, customer limits, monitoring; {}, {} payments of one customer)",
            k["store"].as_str().unwrap_or("?"),
            k["payments"]
        ),
        match (k["compliance_us_p50"].as_f64(), k["compliance_us_p99"].as_f64()) {
            (Some(p50), Some(p99)) => format!("p50 {:.2} ms, p99 {:.2} ms", p50 / 1e3, p99 / 1e3),
            _ => "—".into(),
        },
        "p99 < 2 ms",
        "no published figure (Tazama: > 3,000 TPS target, no latency)",
    );
    let c = &summary["results"]["connections"];
    row(
        &format!(
            "authenticated reads, {} connections ({} connected, {} failed)",
            c["connections"], c["connected"], c["failed"]
        ),
        figure(&c["per_sec"], &c["latency_ms_p50"], &c["latency_ms_p99"]),
        "p99 < 1 ms at 10,000 connections",
        "—",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_puts_each_figure_beside_its_goal_and_peers() {
        let summary = json!({
            "generated_at": "2026-11-24T00:00:00Z",
            "quick": false,
            "machine": {"cpu": "Xeon", "cores": 2, "memory_gib": 24, "kernel": "6.18", "build": "release"},
            "results": {
                "payments": {"payments_per_sec": 441.2, "latency_ms_p50": 563.0, "latency_ms_p99": 916.0},
                "invoices": {"invoices_per_sec": 7012.4, "latency_ms_p50": 8.0, "latency_ms_p99": 14.31},
                "gateway-sqlite": [{"phase": "POST /v1/invoices", "per_sec": 2570.0, "latency_ms_p50": 20.0, "latency_ms_p99": 45.5}],
                "gateway-postgres": [],
                "connections": {"connections": 10000, "connected": 10000, "failed": 0, "per_sec": 15468.0, "latency_ms_p50": 600.0, "latency_ms_p99": 990.0},
                "compliance": {"store": "sqlite", "payments": 2000, "compliance_us_p50": 1279, "compliance_us_p99": 3487}
            }
        });
        let md = markdown(&summary);
        assert!(md.contains("| payments between two nodes (durable) | 441/s, p50 563.0 ms, p99 916.0 ms | ≥ 1,000/s"), "{md}");
        assert!(md.contains("Eclair 89/s"), "{md}");
        assert!(
            md.contains("2000 payments of one customer) | p50 1.28 ms, p99 3.49 ms | p99 < 2 ms"),
            "{md}"
        );
        assert!(
            md.contains("| invoice creation on one node, no API (LDK's ceiling for the rows below) | 7012/s, p50 8.0 ms, p99 14.3 ms |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| invoice creation through the API (sqlite) | 2570/s, p50 20.0 ms, p99 45.5 ms |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| invoice creation through the API (postgres) | — |"),
            "{md}"
        );
        assert!(
            md.contains("10000 connections (10000 connected, 0 failed) | 15468/s"),
            "{md}"
        );
        assert!(
            md.starts_with(
                "Measured 2026-11-24T00:00:00Z by `fulgur bench suite` on Xeon (2 cores, 24 GiB"
            ),
            "{md}"
        );
    }
}
