//! `fulgur ledger check`: asks a running gateway to check its books and prints the result;
//! exit 0 when the books balance and every node holds what the ledger says, 1 otherwise.

use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Which {
    /// Check the books of a running gateway.
    Check {
        /// The gateway's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// File holding the administrator key.
        #[arg(long, default_value = ".fulgur-demo/admin.key")]
        key_file: PathBuf,
    },
}

pub async fn run(which: Which) -> anyhow::Result<()> {
    let Which::Check { url, key_file } = which;
    let body = crate::remote::get_json(&url, &key_file, "/v1/ledger/check").await?;
    println!(
        "journal entries {}, postings {}, total {} msat",
        body["journal_entries"], body["postings"], body["total_msat"]
    );
    for problem in [
        "unbalanced_entries",
        "balance_mismatches",
        "pending_mismatches",
        "negative_accounts",
    ] {
        for item in body[problem].as_array().into_iter().flatten() {
            println!("{problem}: {}", item.as_str().unwrap_or_default());
        }
    }
    for node in body["nodes"].as_array().into_iter().flatten() {
        println!(
            "node {}: ledger {} msat, node {} msat, closing {} msat, onchain {} msat \
             (ledger {} msat), in flight {}, unknown fees on {}: {}",
            node["node"].as_str().unwrap_or("?"),
            node["ledger_msat"],
            node["node_msat"],
            node["closing_msat"],
            node["onchain_msat"],
            node["wallet_ledger_msat"],
            node["in_flight_payments"],
            node["unknown_fee_payments"],
            if node["matches"] == true {
                "match"
            } else {
                "MISMATCH"
            }
        );
    }
    if body["ok"] == true {
        println!("books: ok");
        Ok(())
    } else {
        println!("books: NOT OK");
        std::process::exit(1);
    }
}
