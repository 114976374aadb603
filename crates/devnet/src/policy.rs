//! The devnet's relay policy, the same through every interface (bitcoind RPC, Esplora,
//! Electrum): the fee rates it quotes and the largest request it takes.

/// Fee rate quoted for every confirmation target.
pub(crate) const FEE_RATE_SAT_PER_VB: u64 = 2;
/// Minimum relay fee rate, as Core's default.
pub(crate) const MIN_RELAY_SAT_PER_VB: u64 = 1;
/// Bounds a request body or line; the largest legal call carries a 400k-weight transaction
/// in hex.
pub(crate) const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

/// A sat/vB rate as bitcoind and Electrum quote it: BTC per 1000 vbytes.
pub(crate) fn btc_per_kvb(sat_per_vb: u64) -> f64 {
    sat_per_vb as f64 * 1000.0 / 100_000_000.0
}
