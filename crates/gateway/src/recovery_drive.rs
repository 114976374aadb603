//! Carrying out approved recoveries, one step per sweep, each step's outcome recorded so a
//! restart resumes where it stopped:
//! 1. `closing`: the node is taken out of rotation and each channel closed cooperatively
//!    (LDK settles the HTLCs in flight first). Once no channel is left and the closes'
//!    outputs are confirmed in the wallet, everything is sent to the address: `sweeping`.
//! 2. `sweeping`: once the sweep confirms and no payment of the node is unsettled in the
//!    books, one entry books it: the node's account and its wallet account (funds earlier
//!    closes returned) are emptied; the rest of the wallet the node had before the closes
//!    (the owner's on-chain funds, never on the books) is equity brought in; the recovered
//!    account gets what reached the address; the rest is what closing and sweeping cost.
//!    `succeeded`.
//!
//! Known gap: if the process dies after the sweep is broadcast and before its txid is
//! recorded, the recovery stays in `closing` with an empty wallet; an operator reads the
//! txid from the node's wallet.

use audit::AuditAction;
use ledger::{get_account, post, JournalEntry, Posting};
use store::Value;

use crate::recoveries::{recovery_in, Recovery, RecoveryState, COLUMNS};
use crate::system::{
    node_account, wallet_account, wallet_held_msat, EQUITY_ACCOUNT, ONCHAIN_COST_ACCOUNT,
    RECOVERED_ACCOUNT,
};
use crate::{Actor, Gateway, GatewayError};

/// Recoveries stepped per sweep at most.
const DRIVE_BATCH: i64 = 16;

impl Gateway {
    /// Steps every approved recovery once; returns how many succeeded in this call.
    pub async fn drive_recoveries(&self) -> Result<usize, GatewayError> {
        let active: Vec<Recovery> = self
            .inner
            .store
            .read(|sql| {
                sql.query(
                    &format!(
                        "SELECT {COLUMNS} FROM recoveries WHERE state IN ('closing', 'sweeping') \
                         ORDER BY id LIMIT $1"
                    ),
                    &[Value::Int(DRIVE_BATCH)],
                )?
                .iter()
                .map(crate::recoveries::from_row)
                .collect::<Result<_, _>>()
            })
            .await?;
        let mut succeeded = 0;
        for recovery in active {
            // One node's trouble (a peer away, a wallet not synced) holds up no other.
            match self.step_recovery(&recovery).await {
                Ok(RecoveryState::Succeeded) => succeeded += 1,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(recovery = %recovery.id, %error, "recovery step failed; retried")
                }
            }
        }
        Ok(succeeded)
    }

    /// Starts on an approved recovery now rather than at the next sweep.
    pub(crate) fn spawn_recovery_step(&self) {
        let gateway = self.clone();
        tokio::spawn(async move {
            if let Err(error) = gateway.drive_recoveries().await {
                tracing::warn!(%error, "recovery step failed; the sweep retries");
            }
        });
    }

    async fn step_recovery(&self, recovery: &Recovery) -> Result<RecoveryState, GatewayError> {
        match recovery.state {
            RecoveryState::Closing => self.close_and_sweep(recovery).await,
            RecoveryState::Sweeping => self.book_sweep(recovery).await,
            other => Ok(other),
        }
    }

    async fn close_and_sweep(&self, recovery: &Recovery) -> Result<RecoveryState, GatewayError> {
        let pool = &self.inner.pool;
        pool.fence(&recovery.node, format!("recovery {}", recovery.id))?;
        let node = pool.get(&recovery.node)?;
        if recovery.wallet_msat.is_none() {
            self.record_wallet(recovery, node.as_ref()).await?;
        }
        let channels = node.channels();
        if !channels.is_empty() {
            for channel in channels {
                // A channel already closing refuses a second close; that is progress.
                if let Err(error) = node.close_channel(&channel.channel, false).await {
                    tracing::debug!(recovery = %recovery.id, channel = %channel.channel_id, %error, "close not started");
                }
            }
            return Ok(RecoveryState::Closing);
        }
        let onchain = node.onchain_balance();
        if onchain.closing_sat > 0
            || onchain.spendable_sat == 0
            || onchain.spendable_sat < onchain.total_sat
        {
            return Ok(RecoveryState::Closing);
        }
        let txid = node.sweep_onchain(&recovery.address).await?;
        let (id, now) = (recovery.id.clone(), self.now_ms());
        let details = Some(format!("txid={txid} address={}", recovery.address));
        self.inner
            .store
            .write(move |sql| {
                sql.execute(
                    "UPDATE recoveries SET state = 'sweeping', txid = $2, updated_at_ms = $3 \
                     WHERE id = $1 AND state = 'closing'",
                    &[id.as_str().into(), txid.as_str().into(), Value::Int(now)],
                )?;
                Actor::system("recoveries").audit(sql, now, None, "recovery.sweep", &id, details)
            })
            .await?;
        Ok(RecoveryState::Sweeping)
    }

    /// Before anything closes: what the node's wallet holds is the owner's, off the books.
    async fn record_wallet(
        &self,
        recovery: &Recovery,
        node: &dyn node_pool::LightningNode,
    ) -> Result<(), GatewayError> {
        let onchain = node.onchain_balance();
        let wallet_sat = onchain.total_sat + onchain.closing_sat;
        let wallet_msat = i64::try_from(wallet_sat * 1000).expect("bitcoin supply fits");
        let id = recovery.id.clone();
        self.inner
            .store
            .write(move |sql| {
                sql.execute(
                    "UPDATE recoveries SET wallet_msat = $2 WHERE id = $1 AND wallet_msat IS NULL",
                    &[id.as_str().into(), Value::Int(wallet_msat)],
                )
            })
            .await?;
        Ok(())
    }

    async fn book_sweep(&self, recovery: &Recovery) -> Result<RecoveryState, GatewayError> {
        let node = self.inner.pool.get(&recovery.node)?;
        let txid = recovery.txid.clone().unwrap_or_default();
        let Some(sweep) = node.onchain_payment(&txid).filter(|p| p.confirmed) else {
            return Ok(RecoveryState::Sweeping);
        };
        let (id, name, now) = (recovery.id.clone(), recovery.node.clone(), self.now_ms());
        let wallet_msat = recovery.wallet_msat.unwrap_or(0);
        let swept_msat = i64::try_from(sweep.amount_sat * 1000).expect("bitcoin supply fits");
        let fee_msat = i64::try_from(sweep.fee_sat * 1000).expect("bitcoin supply fits");
        self.inner
            .store
            .write(move |sql| {
                let unsettled = crate::records::unfinished_on(sql, &name)?;
                if unsettled > 0 {
                    return Ok(RecoveryState::Sweeping);
                }
                let account = node_account(&name);
                let held_msat = -get_account(sql, &account)?.balance_msat;
                // Earlier closes' funds in the wallet are on the books already; the rest
                // of the wallet is the owner's.
                let booked_wallet_msat = wallet_held_msat(sql, &name)?;
                // What the closes and the sweep cost: what the node held on and off the
                // books, less what reached the address.
                let cost_msat = held_msat + wallet_msat - swept_msat;
                let mut postings = vec![
                    Posting::new(&account, "recovery", held_msat),
                    Posting::new(&wallet_account(&name), "recovery", booked_wallet_msat),
                    Posting::new(
                        EQUITY_ACCOUNT,
                        "onchain_funds",
                        wallet_msat - booked_wallet_msat,
                    ),
                    Posting::new(RECOVERED_ACCOUNT, "recovery", -swept_msat),
                    Posting::new(ONCHAIN_COST_ACCOUNT, "onchain_cost", -cost_msat),
                ];
                postings.retain(|p| p.amount_msat != 0);
                if !postings.is_empty() {
                    let entry = JournalEntry {
                        id: format!("recovery_{id}"),
                        kind: "recovery".into(),
                        reference: Some(id.clone()),
                        postings,
                    };
                    post(sql, &entry, now)?;
                }
                let moved = sql.execute(
                    "UPDATE recoveries SET state = 'succeeded', ledger_msat = $2, \
                     swept_msat = $3, fee_msat = $4, updated_at_ms = $5 \
                     WHERE id = $1 AND state = 'sweeping'",
                    &[
                        id.as_str().into(),
                        Value::Int(held_msat),
                        Value::Int(swept_msat),
                        Value::Int(fee_msat),
                        Value::Int(now),
                    ],
                )?;
                // The entry's id is the recovery's: a second booking would have failed.
                debug_assert_eq!(moved, 1);
                let details = Some(format!(
                    "held_msat={held_msat} swept_msat={swept_msat} fee_msat={fee_msat}"
                ));
                Actor::system("recoveries").audit(
                    sql,
                    now,
                    None,
                    "recovery.booked",
                    &id,
                    details,
                )?;
                let state = recovery_in(sql, &id)?.map_or(RecoveryState::Sweeping, |r| r.state);
                Ok::<_, GatewayError>(state)
            })
            .await
    }
}
