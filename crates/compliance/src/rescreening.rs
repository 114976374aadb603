//! Rescreening and clearances as services of [`DueDiligence`]: the store's side is
//! `rescreen.rs`; this file parses list versions and screens customers off the request
//! path, and takes officers' clearances against the entries in force.

use std::sync::Arc;

use kernel::Actor;
use screening::Index;

use crate::lists::{self, ListFormat};
use crate::rescreen::{self, Clearance};
use crate::{ComplianceError, Customer, DueDiligence, WatchItem, WatchKind, INTERNAL_LIST};

/// A clearance and whether it still holds (the entry is as it was cleared).
#[derive(Debug, Clone, PartialEq)]
pub struct ClearanceState {
    pub clearance: Clearance,
    pub lapsed: bool,
}

fn stopped() -> ComplianceError {
    ComplianceError::ListIncomplete("the rescreening worker stopped".into())
}

impl DueDiligence {
    /// Rescreens every customer against the entries the oldest list version not yet
    /// rescreened added or changed, and raises an alert for each new match; once per
    /// version across replicas. Answers the alerts raised (0 when there was nothing to
    /// do, or another replica did it).
    pub async fn rescreen_pending(&self) -> Result<usize, ComplianceError> {
        let inner = &self.inner;
        let Some(pending) = inner.store.read(rescreen::pending_version).await? else {
            return Ok(0);
        };
        let format: ListFormat = pending.version.format.parse().map_err(|_| {
            ComplianceError::ListIncomplete(format!("unknown format {}", pending.version.format))
        })?;
        let (list, number) = (pending.version.list.clone(), pending.version.version);
        let now = inner.clock.now_ms();
        if pending.superseded {
            inner
                .store
                .write(move |sql| rescreen::pass_over(sql, number))
                .await?;
            return Ok(0);
        }
        let index = tokio::task::spawn_blocking(move || {
            let new = lists::parse(format, &pending.files)?.entries;
            // The last rescreened version, in its own format; one that no longer parses
            // makes every entry new (more screening, never less).
            let old = pending
                .previous
                .as_ref()
                .and_then(|(format, files)| {
                    let format: ListFormat = format.parse().ok()?;
                    lists::parse(format, files).ok()
                })
                .map(|parsed| parsed.entries)
                .unwrap_or_default();
            Ok::<_, ComplianceError>(Arc::new(Index::new(rescreen::changed_entries(&old, new))))
        })
        .await
        .map_err(|_| stopped())??;
        let found = self.customers_matching(index, &list, Some(number)).await?;
        let ids = Arc::clone(&inner.ids);
        let raised = inner
            .store
            .write(move |sql| {
                if !rescreen::claim(sql, number, now)? {
                    return Ok(0);
                }
                let mut raised = 0;
                for (customer, matches) in &found {
                    raised += rescreen::record_matches(sql, ids.as_ref(), customer, matches, now)?;
                }
                Ok::<_, store::StoreError>(raised)
            })
            .await?;
        if raised > 0 {
            tracing::info!(list = %list, version = number, alerts = raised, "rescreened customers");
        }
        Ok(raised)
    }

    /// Raises an alert (rule `review_overdue`) for each customer whose periodic review is
    /// past due, once per due date (a review done moves the date: any change to the
    /// customer reassesses it). At most [`rescreen::MAX_REVIEW_ALERTS`] per run.
    /// Every customer (bounded, purged ones passed over) whose name `index` matches, with
    /// the matches, as hits of `list` (version `version`).
    async fn customers_matching(
        &self,
        index: Arc<Index>,
        list: &str,
        version: Option<i64>,
    ) -> Result<Vec<(Customer, Vec<rescreen::Match>)>, ComplianceError> {
        let inner = &self.inner;
        let threshold = inner.screening.config().threshold;
        let mut found = Vec::new();
        let (mut after, mut seen) = (String::new(), 0usize);
        while seen < rescreen::MAX_RESCREENED_CUSTOMERS && !index.entries().is_empty() {
            let from = after.clone();
            let page = inner
                .store
                .read(move |sql| rescreen::customer_page(sql, &from))
                .await?;
            let Some(last) = page.last() else { break };
            after.clone_from(&last.id);
            seen += page.len();
            // A purged customer has nothing left to screen.
            let page: Vec<_> = page
                .into_iter()
                .filter(|c| c.purged_at_ms.is_none())
                .collect();
            let (index, list) = (Arc::clone(&index), list.to_string());
            let matched = tokio::task::spawn_blocking(move || {
                rescreen::screen_customers(&index, &list, version, &page, threshold)
                    .into_iter()
                    .map(|(at, matches)| (page[at].clone(), matches))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|_| stopped())?;
            found.extend(matched);
        }
        Ok(found)
    }

    /// Puts an item on the watchlist and, for a name, screens every customer against it
    /// at once (a list version is rescreened by the job; a watched name would otherwise
    /// reach only customers created or renamed after it): each match is a
    /// `sanctions_match` alert about the customer. Returns the item and the alerts raised.
    pub async fn watch(
        &self,
        actor: &Actor,
        kind: WatchKind,
        value: &str,
        reason: &str,
    ) -> Result<(WatchItem, usize), ComplianceError> {
        let item = self
            .inner
            .screening
            .watch(actor, kind, value, reason)
            .await?;
        if item.kind != WatchKind::Name {
            return Ok((item, 0));
        }
        let index = Arc::new(Index::new(vec![crate::screener::watch_entry(&item)]));
        let found = self.customers_matching(index, INTERNAL_LIST, None).await?;
        let (ids, now) = (Arc::clone(&self.inner.ids), self.inner.clock.now_ms());
        let raised = self
            .inner
            .store
            .write(move |sql| {
                let mut raised = 0;
                for (customer, matches) in &found {
                    raised += rescreen::record_matches(sql, ids.as_ref(), customer, matches, now)?;
                }
                Ok::<_, store::StoreError>(raised)
            })
            .await?;
        Ok((item, raised))
    }

    pub async fn raise_due_reviews(&self) -> Result<usize, ComplianceError> {
        let (ids, now) = (Arc::clone(&self.inner.ids), self.inner.clock.now_ms());
        Ok(self
            .inner
            .store
            .write(move |sql| rescreen::raise_due_reviews(sql, ids.as_ref(), now))
            .await?)
    }

    /// Clears a (customer, list entry) pair as a false positive, for the entry as in force
    /// now; audited.
    pub async fn clear(
        &self,
        actor: &Actor,
        customer_id: &str,
        list: &str,
        entry_id: &str,
        reason: &str,
    ) -> Result<ClearanceState, ComplianceError> {
        // Empty: no such entry, refused where the clearance is written (after the
        // customer: an unknown customer is a 404 before an unknown entry is a 422).
        let fingerprint = self.inner.screening.fingerprint(list, entry_id)?;
        let clearance = Clearance {
            customer_id: customer_id.to_string(),
            list: list.to_string(),
            entry_id: entry_id.to_string(),
            fingerprint: fingerprint.unwrap_or_default(),
            reason: reason.trim().to_string(),
            cleared_by: actor.origin.actor_id.clone(),
            cleared_at_ms: self.inner.clock.now_ms(),
        };
        let (actor, stored) = (actor.clone(), clearance.clone());
        self.inner
            .store
            .write(move |sql| rescreen::clear(sql, &actor, &stored))
            .await?;
        Ok(ClearanceState {
            clearance,
            lapsed: false,
        })
    }

    /// A customer's clearances, each marked whether it lapsed (its entry changed or left
    /// the list).
    pub async fn clearances(
        &self,
        customer_id: &str,
    ) -> Result<Vec<ClearanceState>, ComplianceError> {
        let id = customer_id.to_string();
        let found = self
            .inner
            .store
            .read(move |sql| {
                crate::customers::get(sql, &id)?.ok_or(ComplianceError::UnknownCustomer)?;
                Ok::<_, ComplianceError>(rescreen::clearances(sql, &id)?)
            })
            .await?;
        found
            .into_iter()
            .map(|clearance| {
                let now = self
                    .inner
                    .screening
                    .fingerprint(&clearance.list, &clearance.entry_id)?;
                Ok(ClearanceState {
                    lapsed: now.as_deref() != Some(clearance.fingerprint.as_str()),
                    clearance,
                })
            })
            .collect()
    }
}
