//! `audit`: the tamper-evident audit trail (SPEC §5.4). Every mutating call, every
//! authentication failure and every key or policy operation is appended as a record that
//! carries the hash of the one before it; a signer periodically signs the chain's head as
//! a checkpoint. [`verify`] recomputes the chain and names the first record that was
//! modified, deleted, inserted or reordered.
//!
//! A record is appended with [`append`] inside the transaction of the action it records,
//! so the action and its record commit together or not at all. The crate knows the store
//! and nothing of HTTP or of the gateway's domain.

mod action;
mod chain;
mod checkpoint;
mod error;
mod record;
mod verify;

pub use crate::action::AuditAction;
pub use crate::chain::{append, head, record_hash, Head, GENESIS_HASH};
pub use crate::checkpoint::{
    checkpoint, CheckpointSigner, Ed25519Signer, KeyStoreSigner, PublicKey,
};
pub use crate::error::AuditError;
pub use crate::record::{list, AuditFilter, Entry, Origin, Outcome, StoredRecord};
pub use crate::verify::{verify, Tamper, Verified};
