//! `fulgur bench aml`: the transaction monitoring rules engine alone (`aml::evaluate`):
//! payments evaluated per second against a payer's history, on one thread and on every
//! core, and the latency of one evaluation. Histories are seeded and realistic in shape:
//! a month of payments in and out of a few hundred counterparties, some near thresholds.

use std::path::PathBuf;
use std::time::Instant;

use aml::{evaluate, Direction, PastPayment, PaymentFacts, RuleSet};
use clap::Args;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

#[derive(Args, Clone)]
pub struct AmlArgs {
    /// Payments evaluated.
    #[arg(long, default_value_t = 200_000)]
    payments: usize,
    /// Past payments in each payer's history (at most aml::MAX_HISTORY).
    #[arg(long, default_value_t = 500)]
    history: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Serialize)]
struct Figures {
    payments: usize,
    history: usize,
    flagged_share: f64,
    latency_us_p50: u64,
    latency_us_p99: u64,
    payments_per_sec_one_thread: f64,
    payments_per_sec_all_threads: f64,
    threads: usize,
}

const DAY_MS: i64 = 86_400_000;
/// 2026-12-05T12:00:00Z.
const NOW_MS: i64 = 1_796_472_000_000;

fn histories(args: &AmlArgs) -> (Vec<Vec<PastPayment>>, Vec<PaymentFacts>) {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let payers = 64;
    let histories: Vec<Vec<PastPayment>> = (0..payers)
        .map(|_| {
            (0..args.history.min(aml::MAX_HISTORY))
                .map(|_| PastPayment {
                    direction: if rng.random_bool(0.5) {
                        Direction::In
                    } else {
                        Direction::Out
                    },
                    // Mostly 10-2,000 EUR, a few near the thresholds.
                    eur_cents: if rng.random_bool(0.02) {
                        rng.random_range(400_000..1_000_000)
                    } else {
                        rng.random_range(1_000..200_000)
                    },
                    at_ms: NOW_MS - rng.random_range(0..30 * DAY_MS),
                    counterparty: rng.random_range(1..300),
                })
                .collect()
        })
        .collect();
    let payments = (0..args.payments)
        .map(|_| PaymentFacts {
            direction: Direction::Out,
            // Mostly 10-2,000 EUR; one in twenty-five above the 5,000 EUR review threshold.
            eur_cents: if rng.random_bool(0.04) {
                rng.random_range(500_001..2_000_000)
            } else {
                rng.random_range(1_000..200_000)
            },
            at_ms: NOW_MS,
            counterparty: rng.random_range(1..300),
            day_start_ms: NOW_MS - NOW_MS % DAY_MS,
            last_activity_at_ms: None,
            high_risk_jurisdiction: rng.random_bool(0.05),
        })
        .collect();
    (histories, payments)
}

pub fn run(args: AmlArgs) -> anyhow::Result<()> {
    let rules = RuleSet::default();
    let (histories, payments) = histories(&args);
    let mut latency = Histogram::<u64>::new(3)?;
    let mut flagged = 0usize;
    let started = Instant::now();
    for (i, payment) in payments.iter().enumerate() {
        let one = Instant::now();
        let findings = evaluate(&rules, payment, &histories[i % histories.len()]);
        latency.record(one.elapsed().as_micros() as u64)?;
        flagged += usize::from(!findings.is_empty());
    }
    let one_thread = payments.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (t, chunk) in payments
            .chunks(payments.len().div_ceil(threads))
            .enumerate()
        {
            let (rules, histories) = (&rules, &histories);
            scope.spawn(move || {
                for (i, payment) in chunk.iter().enumerate() {
                    std::hint::black_box(evaluate(
                        rules,
                        payment,
                        &histories[(t + i) % histories.len()],
                    ));
                }
            });
        }
    });
    let all_threads = payments.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let figures = Figures {
        payments: payments.len(),
        history: args.history.min(aml::MAX_HISTORY),
        flagged_share: flagged as f64 / payments.len().max(1) as f64,
        latency_us_p50: latency.value_at_quantile(0.5),
        latency_us_p99: latency.value_at_quantile(0.99),
        payments_per_sec_one_thread: one_thread,
        payments_per_sec_all_threads: all_threads,
        threads,
    };
    println!("| payments | history | flagged | p50 µs | p99 µs | payments/s (1 thread) | payments/s ({} threads) |", figures.threads);
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {:.1}% | {} | {} | {:.0} | {:.0} |",
        figures.payments,
        figures.history,
        figures.flagged_share * 100.0,
        figures.latency_us_p50,
        figures.latency_us_p99,
        figures.payments_per_sec_one_thread,
        figures.payments_per_sec_all_threads
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&figures)?)?;
    }
    Ok(())
}
