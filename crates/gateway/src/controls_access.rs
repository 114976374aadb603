//! The gateway's face of the `controls` crate: approval policies, approval requests and
//! velocity limits, read and changed on behalf of an actor within its scope. The rules
//! live in `controls`; the stages that apply them to payments in `control_stages.rs`.

use controls::VelocityLimits;
use controls::{policies, requests, velocity, ApprovalRequest, PolicyVersion, RequestState};

use crate::{Actor, Gateway, GatewayError, Scope};

impl Gateway {
    /// Records `policy` as the next version, proposed by `actor`; it is not in force
    /// until a second administrator approves it.
    pub async fn propose_policy(
        &self,
        actor: &Actor,
        policy: approvals::Policy,
    ) -> Result<PolicyVersion, GatewayError> {
        let body = policies::validate(actor, &policy)?;
        let (actor, now) = (actor.clone(), self.now_ms());
        let proposed = self
            .inner
            .store
            .write(move |sql| policies::propose(sql, &actor, body, now))
            .await?;
        Ok(proposed)
    }

    /// Puts proposed `version` in force, superseding the active one. Refused to the
    /// proposer (by credential or by subject): a policy change needs a second admin.
    pub async fn approve_policy(
        &self,
        actor: &Actor,
        version: i64,
    ) -> Result<PolicyVersion, GatewayError> {
        let (actor, now) = (actor.clone(), self.now_ms());
        let approved = self
            .inner
            .store
            .write(move |sql| policies::approve(sql, &actor, version, now))
            .await?;
        Ok(approved)
    }

    /// The version in force, if any.
    pub async fn active_policy(&self) -> Result<Option<PolicyVersion>, GatewayError> {
        Ok(self.inner.store.read_one(policies::active).await?)
    }

    /// Every version, newest first.
    pub async fn policy_versions(&self) -> Result<Vec<PolicyVersion>, GatewayError> {
        Ok(self.inner.store.read(policies::versions).await?)
    }

    /// A payment's approval request, if the policy held it.
    pub async fn approval(
        &self,
        scope: &Scope,
        payment_id: &str,
    ) -> Result<ApprovalRequest, GatewayError> {
        let id = payment_id.to_string();
        let found = self
            .inner
            .store
            .read(move |sql| requests::request(sql, &id))
            .await?;
        found
            .filter(|r| scope.allows(&r.tenant_id))
            .ok_or_else(|| GatewayError::UnknownPayment(payment_id.to_string()))
    }

    /// Requests in `state` the scope may see, oldest first, after `after` (a payment id).
    pub async fn approvals(
        &self,
        scope: &Scope,
        state: RequestState,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, GatewayError> {
        let tenant = match scope {
            Scope::All => None,
            Scope::Tenant(t) => Some(t.clone()),
        };
        Ok(self
            .inner
            .store
            .read(move |sql| requests::list(sql, tenant.as_deref(), state, after.as_deref(), limit))
            .await?)
    }

    /// Sets (or, with both `None`, lifts) an account's velocity limits; audited.
    pub async fn set_velocity_limits(
        &self,
        actor: &Actor,
        account_id: &str,
        limits: VelocityLimits,
    ) -> Result<VelocityLimits, GatewayError> {
        limits.validate()?;
        let account = self.account(&actor.scope, account_id).await?;
        let (actor, now) = (actor.clone(), self.now_ms());
        let set = self
            .inner
            .store
            .write(move |sql| {
                let owner = (account.tenant_id.as_str(), account.id.as_str());
                velocity::set_limits(sql, &actor, owner, limits, now)
            })
            .await?;
        Ok(set)
    }

    /// An account's velocity limits (none set: both `None`).
    pub async fn velocity_limits(
        &self,
        scope: &Scope,
        account_id: &str,
    ) -> Result<VelocityLimits, GatewayError> {
        let account = self.account(scope, account_id).await?;
        Ok(self
            .inner
            .store
            .read_one(move |sql| velocity::limits(sql, &account.id))
            .await?)
    }
}
