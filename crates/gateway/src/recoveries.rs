//! Emergency recovery: a node's funds swept to a recovery address (cold storage) when the
//! platform must be emptied, e.g. after a compromise. A recovery is an operation of its own
//! under the approval policy (`emergency_recovery`; the customer's policy asks 4 of its 5
//! keys): it waits for the quorum like a payment, is rejected by any approver or on expiry,
//! and is denied outright while no policy is in force. Once approved,
//! [`Gateway::drive_recoveries`] carries it out (see `recovery_drive`).

use approvals::{Facts, Intent, Operation};
use audit::AuditAction;
use serde::Serialize;
use store::{Row, Sql, StoreError, Value};

use crate::system::{node_account, SYSTEM_TENANT};
use crate::{Actor, Gateway, GatewayError};
use controls::{decide, policies, PolicyVerdict};

/// The longest reason accepted.
const MAX_REASON_CHARS: usize = 500;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RecoveryState {
    /// Waiting for the emergency quorum.
    AwaitingApproval,
    /// Approved: the node is out of rotation and its channels are closing.
    Closing,
    /// Every channel closed: the wallet's funds were sent to the address (`txid`).
    Sweeping,
    /// The sweep confirmed and is booked.
    Succeeded,
    /// An approver rejected it, or the approvers ran out of time.
    Rejected,
}

impl RecoveryState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A recovery as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Recovery {
    pub id: String,
    /// `node_sweep`: close the node's channels, send its wallet to `address`.
    pub kind: String,
    pub node: String,
    pub address: String,
    pub reason: String,
    pub initiator: String,
    pub state: RecoveryState,
    /// What the ledger said the node held: at the request, then as booked.
    pub ledger_msat: i64,
    /// The node's wallet before the first close (the owner's on-chain funds, never on
    /// the books), once the recovery started.
    pub wallet_msat: Option<i64>,
    pub txid: Option<String>,
    /// What reached the address.
    pub swept_msat: Option<i64>,
    /// The sweep transaction's fee.
    pub fee_msat: Option<i64>,
    pub failure_reason: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A recovery as an administrator asks for it.
#[derive(Debug, Clone)]
pub struct NewRecovery {
    pub node: String,
    pub address: String,
    pub reason: String,
}

pub(crate) const COLUMNS: &str = "id, kind, node_name, address, reason, initiator, state, \
    ledger_msat, wallet_msat, txid, swept_msat, fee_msat, failure_reason, created_at_ms, \
    updated_at_ms";

pub(crate) fn from_row(row: &Row) -> Result<Recovery, StoreError> {
    Ok(Recovery {
        id: row.text("id")?.to_string(),
        kind: row.text("kind")?.to_string(),
        node: row.text("node_name")?.to_string(),
        address: row.text("address")?.to_string(),
        reason: row.text("reason")?.to_string(),
        initiator: row.text("initiator")?.to_string(),
        state: row.parse("state")?,
        ledger_msat: row.i64("ledger_msat")?,
        wallet_msat: row.opt_i64("wallet_msat")?,
        txid: row.opt_text("txid")?.map(str::to_string),
        swept_msat: row.opt_i64("swept_msat")?,
        fee_msat: row.opt_i64("fee_msat")?,
        failure_reason: row.opt_text("failure_reason")?.map(str::to_string),
        created_at_ms: row.i64("created_at_ms")?,
        updated_at_ms: row.i64("updated_at_ms")?,
    })
}

pub(crate) fn recovery_in(sql: &mut dyn Sql, id: &str) -> Result<Option<Recovery>, StoreError> {
    sql.query_opt(
        &format!("SELECT {COLUMNS} FROM recoveries WHERE id = $1"),
        &[id.into()],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Moves the recovery `id`, if it is one awaiting approval, to `to`; whether it moved.
pub(crate) fn decide_in(
    sql: &mut dyn Sql,
    id: &str,
    to: RecoveryState,
    failure_reason: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sql.execute(
        "UPDATE recoveries SET state = $2, failure_reason = $3, updated_at_ms = $4 \
         WHERE id = $1 AND state = 'awaiting_approval'",
        &[
            id.into(),
            to.as_str().into(),
            failure_reason.map(str::to_string).into(),
            Value::Int(now),
        ],
    )? == 1)
}

fn validate(new: &NewRecovery, network: node_pool::Network) -> Result<(), GatewayError> {
    node_pool::parse_address(&new.address, network).map_err(|e| GatewayError::InvalidField {
        field: "address",
        reason: e.to_string(),
    })?;
    let chars = new.reason.trim().chars().count();
    if chars == 0 || chars > MAX_REASON_CHARS {
        return Err(GatewayError::InvalidField {
            field: "reason",
            reason: format!("1 to {MAX_REASON_CHARS} characters: why the funds are moved"),
        });
    }
    Ok(())
}

impl Gateway {
    /// Asks for node `new.node`'s funds to be swept to `new.address`. The policy in force
    /// decides (operation `emergency_recovery`, on the EUR value of what the ledger says
    /// the node holds); without one the recovery is refused.
    pub async fn request_recovery(
        &self,
        actor: &Actor,
        new: NewRecovery,
    ) -> Result<Recovery, GatewayError> {
        validate(&new, self.inner.config.network)?;
        // Where the node's funds go is screened like any counterparty; the evidence is
        // platform-only, like a blocked payment's.
        let hits = self.inner.screening.screen_address(&new.address)?;
        if !hits.is_empty() {
            let evidence: Vec<String> = hits.iter().map(ToString::to_string).collect();
            let (actor, now, address) = (actor.clone(), self.now_ms(), new.address.clone());
            self.inner
                .store
                .write(move |sql| {
                    actor.audit(
                        sql,
                        now,
                        None,
                        "recovery.compliance_block",
                        &format!("address:{address}"),
                        Some(evidence.join(", ")),
                    )
                })
                .await?;
            return Err(compliance::ComplianceError::AddressBlocked.into());
        }
        let node = self
            .inner
            .pool
            .get(&new.node)
            .map_err(|_| GatewayError::UnknownNode(new.node.clone()))?;
        // The sweep takes the wallet too: the policy prices what leaves, not only what
        // the ledger says the channels hold.
        let wallet_msat = node.onchain_balance().total_sat.saturating_mul(1_000);
        let (id, now, rate) = (self.new_id("rec"), self.now_ms(), self.eur_rate());
        let actor = actor.clone();
        self.inner
            .store
            .write(move |sql| {
                let active = policies::active(sql)?.ok_or(GatewayError::NoPolicyInForce)?;
                let ledger_msat = -ledger::get_account(sql, &node_account(&new.node))?.balance_msat;
                let held_msat = ledger_msat
                    .max(0)
                    .unsigned_abs()
                    .saturating_add(wallet_msat)
                    .min(ledger::MAX_MONEY_MSAT);
                let initiator = actor.origin.actor_id.clone();
                let facts = Facts {
                    operation: Operation::EmergencyRecovery,
                    eur_cents: rate.eur_cents(held_msat),
                    account_id: node_account(&new.node),
                    tenant_id: SYSTEM_TENANT.to_string(),
                    destination: new.address.clone(),
                    initiator: initiator.clone(),
                };
                let (state, ticket) =
                    match decide(&active, &facts, &rate) {
                        PolicyVerdict::Block(reason) => {
                            return Err(GatewayError::RecoveryBlocked(reason))
                        }
                        // Never without signatures, whatever a policy says (validation refuses
                        // such a rule; a policy stored before that rule existed may have one).
                        PolicyVerdict::Allow => return Err(GatewayError::RecoveryBlocked(
                            "an emergency recovery needs the approvers' signatures; the policy \
                             in force would allow it without any"
                                .into(),
                        )),
                        PolicyVerdict::Require(ticket) => {
                            (RecoveryState::AwaitingApproval, Some(ticket))
                        }
                    };
                let open = sql.query_opt(
                    "SELECT id FROM recoveries WHERE node_name = $1 \
                     AND state IN ('awaiting_approval', 'closing', 'sweeping')",
                    &[new.node.as_str().into()],
                )?;
                if open.is_some() {
                    return Err(GatewayError::RecoveryInProgress(new.node.clone()));
                }
                sql.execute(
                    &format!(
                        "INSERT INTO recoveries ({COLUMNS}) VALUES ($1, 'node_sweep', $2, $3, \
                         $4, $5, $6, $7, NULL, NULL, NULL, NULL, NULL, $8, $8)"
                    ),
                    &[
                        id.as_str().into(),
                        new.node.as_str().into(),
                        new.address.as_str().into(),
                        new.reason.trim().into(),
                        initiator.as_str().into(),
                        state.as_str().into(),
                        Value::Int(ledger_msat),
                        Value::Int(now),
                    ],
                )?;
                if let Some(ticket) = ticket {
                    let intent = Intent {
                        payment_id: id.clone(),
                        operation: Operation::EmergencyRecovery,
                        amount_msat: held_msat,
                        destination: new.address.clone(),
                        payment_hash: String::new(),
                        subject: format!("node_sweep:{}", new.node),
                        expires_at_ms: 0,
                    };
                    controls::requests::open(
                        sql,
                        SYSTEM_TENANT,
                        (&initiator, &actor.identity),
                        intent,
                        &ticket,
                        now,
                    )?;
                }
                let details = Some(format!(
                    "node={} address={} state={}",
                    new.node,
                    new.address,
                    state.as_str()
                ));
                actor.audit(sql, now, None, "recovery.request", &id, details)?;
                Ok(recovery_in(sql, &id)?.expect("inserted above"))
            })
            .await
    }

    pub async fn recovery(&self, id: &str) -> Result<Recovery, GatewayError> {
        let owned = id.to_string();
        self.inner
            .store
            .read(move |sql| recovery_in(sql, &owned))
            .await?
            .ok_or_else(|| GatewayError::UnknownRecovery(id.to_string()))
    }

    /// Recoveries, newest first, before `before` (an id).
    pub async fn recoveries(
        &self,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<Recovery>, GatewayError> {
        let limit = kernel::page_limit(limit);
        let rows = self
            .inner
            .store
            .read(move |sql| {
                // '' is no cursor (no id is empty).
                sql.query(
                    &format!(
                        "SELECT {COLUMNS} FROM recoveries WHERE ($1 = '' OR id < $1) \
                         ORDER BY id DESC LIMIT $2"
                    ),
                    &[before.unwrap_or_default().into(), limit.into()],
                )
            })
            .await?;
        rows.iter()
            .map(|r| from_row(r).map_err(GatewayError::from))
            .collect()
    }
}
