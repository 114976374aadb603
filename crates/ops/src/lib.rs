//! `ops`: what Fulgur tells its operators about itself, apart from the payments it books —
//! readiness (store, chain, each node) with the node, channel and store gauges read at
//! scrape time ([`Health`]), and service-level indicators with the SLA report ([`Sli`]).
//! Both are built complete over the store, the node pool and an injected clock.
//!
//! It knows nothing of payments, accounts or HTTP: the gateway records each finished
//! payment's SLI here and adds its own gauges (payments in flight); the API renders.

mod health;
mod sli;
mod slo;

pub use crate::health::{ChainReadiness, Health, HealthConfig, NodeReadiness, Readiness};
pub use crate::sli::Sli;
pub use crate::slo::{SlaReport, Slo, SloConfig, SloReport, SloWindow};
