//! Monitoring rule sets as the API changes them: proposed by one compliance officer,
//! approved by a second person (`compliance::rule_sets`). A version in force applies to
//! the next payment on every replica: the stages read its number in each payment's
//! transaction.

use compliance::{rule_sets, RuleSetVersion};
use serde_json::{Map, Value};

use crate::{Actor, Gateway, GatewayError};

impl Gateway {
    /// Every rule set version, newest first (the one in force among them).
    pub async fn rule_sets(&self) -> Result<Vec<RuleSetVersion>, GatewayError> {
        Ok(self.inner.store.read(rule_sets::versions).await?)
    }

    /// Records the version in force with `changes` merged over it as the next version,
    /// proposed by `actor`; not in force until a second person approves it.
    pub async fn propose_rules(
        &self,
        actor: &Actor,
        changes: Map<String, Value>,
        reason: String,
    ) -> Result<RuleSetVersion, GatewayError> {
        let (actor, now) = (actor.clone(), self.now_ms());
        let proposed = self
            .inner
            .store
            .write(move |sql| rule_sets::propose(sql, &actor, &changes, &reason, now))
            .await?;
        Ok(proposed)
    }

    /// Puts proposed `version` in force; refused to its proposer, and when another
    /// version came into force since it was proposed.
    pub async fn approve_rules(
        &self,
        actor: &Actor,
        version: i64,
    ) -> Result<RuleSetVersion, GatewayError> {
        let (actor, now) = (actor.clone(), self.now_ms());
        let approved = self
            .inner
            .store
            .write(move |sql| rule_sets::approve(sql, &actor, version, now))
            .await?;
        Ok(approved)
    }
}
