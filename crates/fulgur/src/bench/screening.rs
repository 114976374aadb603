//! `fulgur bench screening`: name screening against the real OFAC snapshot
//! (`data/sanctions/`, 2024-05-03, with aliases): how long the index takes to build, the
//! quality (recall per kind of damage, false positives on unlisted names, from
//! `screening::quality`), and the latency per name and names per second on one thread and
//! on every core.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use screening::quality::{damage, measure, Damage};
use screening::{parse_ofac, Index, OfacFiles, Query};
use serde::Serialize;
use strum::IntoEnumIterator;

#[derive(Args, Clone)]
pub struct ScreeningArgs {
    /// The folder holding `ofac-sdn-2024-05-03.csv`, `ofac-alt.csv` and `ofac-add.csv`.
    #[arg(long, default_value = "data/sanctions")]
    data: PathBuf,
    /// Listed names damaged per kind of damage, and unlisted names screened.
    #[arg(long, default_value_t = 1_000)]
    samples: usize,
    /// The score a hit needs.
    #[arg(long, default_value_t = screening::DEFAULT_THRESHOLD)]
    threshold: f64,
    /// Names screened for the latency and throughput figures.
    #[arg(long, default_value_t = 20_000)]
    names: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Serialize)]
struct RecallRow {
    damage: &'static str,
    benign: bool,
    found: usize,
    tried: usize,
    recall: f64,
}

#[derive(Serialize)]
struct Figures {
    entries: usize,
    names_indexed: usize,
    index_build_ms: u128,
    threshold: f64,
    recall: Vec<RecallRow>,
    recall_benign: f64,
    recall_degraded: f64,
    unlisted: usize,
    false_positive_rate: f64,
    latency_us_p50: u64,
    latency_us_p99: u64,
    latency_us_max: u64,
    names_per_sec_one_thread: f64,
    names_per_sec_all_threads: f64,
    threads: usize,
}

fn read(dir: &std::path::Path, file: &str) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(file);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

pub fn run(args: ScreeningArgs) -> anyhow::Result<()> {
    let (sdn, alt, add) = (
        read(&args.data, "ofac-sdn-2024-05-03.csv")?,
        read(&args.data, "ofac-alt.csv")?,
        read(&args.data, "ofac-add.csv")?,
    );
    let started = Instant::now();
    let entries = parse_ofac(&OfacFiles {
        sdn: &sdn,
        alt: Some(&alt),
        add: Some(&add),
    })?;
    let index = Index::new(entries);
    let index_build_ms = started.elapsed().as_millis();
    let quality = measure(&index, args.samples, args.threshold, 7);

    // The names timed: damaged listed names of every kind and unlisted ones, as the
    // quality run made them (same seed), repeated to `--names`.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(11);
    let mut names: Vec<String> = Vec::new();
    for (i, entry) in index.entries().iter().enumerate().step_by(7) {
        let kind = Damage::iter()
            .nth(i % Damage::iter().count())
            .unwrap_or(Damage::Typo);
        names.extend(damage(&entry.names[0].name, entry.kind, kind, &mut rng));
        names.push(format!("Customer {i} Example"));
    }
    anyhow::ensure!(!names.is_empty(), "no names to time");
    let queries: Vec<Query> = names
        .iter()
        .cycle()
        .take(args.names)
        .map(|name| Query {
            name: name.clone(),
            ..Query::default()
        })
        .collect();
    let mut latency_us = Histogram::<u64>::new(3)?;
    let started = Instant::now();
    for query in &queries {
        let one = Instant::now();
        std::hint::black_box(index.screen(query, args.threshold));
        latency_us.record(one.elapsed().as_micros() as u64)?;
    }
    let one_thread = queries.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for chunk in queries.chunks(queries.len().div_ceil(threads)) {
            let index = &index;
            scope.spawn(move || {
                for query in chunk {
                    std::hint::black_box(index.screen(query, args.threshold));
                }
            });
        }
    });
    let all_threads = queries.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);

    let figures = Figures {
        entries: index.entries().len(),
        names_indexed: index.name_count(),
        index_build_ms,
        threshold: args.threshold,
        recall: quality
            .recall
            .iter()
            .map(|r| RecallRow {
                damage: r.damage.as_str(),
                benign: r.damage.benign(),
                found: r.found,
                tried: r.tried,
                recall: r.rate(),
            })
            .collect(),
        recall_benign: quality.recall_of(true),
        recall_degraded: quality.recall_of(false),
        unlisted: quality.unlisted,
        false_positive_rate: quality.false_positive_rate(),
        latency_us_p50: latency_us.value_at_quantile(0.5),
        latency_us_p99: latency_us.value_at_quantile(0.99),
        latency_us_max: latency_us.max(),
        names_per_sec_one_thread: one_thread,
        names_per_sec_all_threads: all_threads,
        threads,
    };
    println!(
        "OFAC SDN 2024-05-03: {} entries, {} names and aliases indexed in {} ms; threshold {}\n",
        figures.entries, figures.names_indexed, figures.index_build_ms, figures.threshold
    );
    println!("| damage | kind | found | recall |\n|---|---|---|---|");
    for r in &figures.recall {
        let kind = if r.benign { "benign" } else { "degraded" };
        println!(
            "| {} | {kind} | {}/{} | {:.3} |",
            r.damage, r.found, r.tried, r.recall
        );
    }
    println!(
        "\nrecall: benign {:.3}, degraded {:.3}; false positives {:.2}% of {} unlisted names",
        figures.recall_benign,
        figures.recall_degraded,
        figures.false_positive_rate * 100.0,
        figures.unlisted
    );
    println!(
        "latency per name: p50 {} µs, p99 {} µs, max {} µs; {:.0} names/s on one thread, {:.0} on {}",
        figures.latency_us_p50,
        figures.latency_us_p99,
        figures.latency_us_max,
        figures.names_per_sec_one_thread,
        figures.names_per_sec_all_threads,
        figures.threads
    );
    if !quality.false_positive_examples.is_empty() {
        println!(
            "false positives, for example: {:?}",
            quality.false_positive_examples
        );
    }
    super::write_json(args.json.as_deref(), &figures)
}
