//! `fulgur sla report`: asks a running gateway for its SLA report and prints, per SLO,
//! the objective, attainment and burn rate over 5 m / 1 h / 6 h / 30 d and the error
//! budget left; `--json` prints the report as the API gives it. Exit 1 when an SLO's
//! 30-day attainment misses its objective.

use std::path::PathBuf;

use serde_json::Value;

#[derive(clap::Subcommand)]
pub enum Which {
    /// Print the SLA report of a running gateway.
    Report {
        /// The gateway's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// File holding a key with the metrics:read scope (operator or admin).
        #[arg(long, default_value = ".fulgur-demo/admin.key")]
        key_file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn percent(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "—".to_string(), |v| format!("{:.3}%", v * 100.0))
}

fn burn(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "—".to_string(), |v| format!("{v:.2}x"))
}

pub async fn run(which: Which) -> anyhow::Result<()> {
    let Which::Report {
        url,
        key_file,
        json,
    } = which;
    let report = crate::remote::get_json(&url, &key_file, "/v1/sla").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "SLA report at {}",
            report["generated_at"].as_str().unwrap_or("?")
        );
        println!(
            "{:<16} {:>9} {:>8}  {:>22} {:>22} {:>22} {:>22}  {:>8}",
            "slo", "objective", "limit", "5m", "1h", "6h", "30d", "budget"
        );
        for slo in report["slos"].as_array().into_iter().flatten() {
            let limit = slo["threshold_ms"]
                .as_u64()
                .map_or_else(|| "—".to_string(), |ms| format!("{ms} ms"));
            let windows: Vec<String> = slo["windows"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|w| {
                    format!(
                        "{} {} ({})",
                        percent(&w["attainment"]),
                        burn(&w["burn_rate"]),
                        w["total"]
                    )
                })
                .collect();
            println!(
                "{:<16} {:>9} {:>8}  {:>22} {:>22} {:>22} {:>22}  {:>8}{}",
                slo["slo"].as_str().unwrap_or("?"),
                percent(&slo["objective"]),
                limit,
                windows.first().map_or("", String::as_str),
                windows.get(1).map_or("", String::as_str),
                windows.get(2).map_or("", String::as_str),
                windows.get(3).map_or("", String::as_str),
                percent(&slo["error_budget_remaining"]),
                if slo["met"] == true { "" } else { "  MISSED" }
            );
        }
        println!(
            "each window: attainment, burn rate (1x spends the 30-day budget in 30 days), events"
        );
    }
    let missed = report["slos"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["met"] != true);
    if missed {
        std::process::exit(1);
    }
    Ok(())
}
