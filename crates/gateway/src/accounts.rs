//! Tenants and their customer accounts, within the caller's scope.

use audit::AuditAction;
use ledger::{Account, AccountKind, Entry, NewAccount};

use crate::{Actor, Gateway, GatewayError, Scope};

impl Gateway {
    /// A new tenant (business unit); platform credentials only.
    pub async fn create_tenant(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
    ) -> Result<(), GatewayError> {
        if actor.scope != Scope::All {
            return Err(GatewayError::Forbidden(
                "only a platform credential creates tenants".into(),
            ));
        }
        if kernel::is_reserved_tenant_id(id) {
            return Err(GatewayError::InvalidField {
                field: "id",
                reason: "`platform` and `system` are the platform's own names, not a tenant's"
                    .into(),
            });
        }
        let (id, name, now, actor) = (
            id.to_string(),
            name.to_string(),
            self.now_ms(),
            actor.clone(),
        );
        self.inner
            .store
            .write(move |sql| {
                // A repeated request finds the tenant there: nothing done, nothing audited.
                // The same id under another name is the client's mistake, not ours.
                let created = ledger::create_tenant(sql, &id, &name, now).map_err(|e| match e {
                    ledger::LedgerError::DuplicateId(_) => GatewayError::InvalidField {
                        field: "id",
                        reason: format!("a tenant {id} exists under another name"),
                    },
                    // Names are unique too (the only other unique key of `tenants`).
                    ledger::LedgerError::Store(store::StoreError::Conflict(_)) => {
                        GatewayError::InvalidField {
                            field: "name",
                            reason: "another tenant has this name".into(),
                        }
                    }
                    other => other.into(),
                })?;
                if created {
                    actor.audit(sql, now, Some(&id), "tenant.create", &id, None)?;
                }
                Ok::<_, GatewayError>(())
            })
            .await
    }

    /// A new customer account for `tenant_id` (which the scope must allow).
    pub async fn create_account(
        &self,
        actor: &Actor,
        tenant_id: &str,
        name: &str,
    ) -> Result<Account, GatewayError> {
        self.create_customer_account(actor, tenant_id, name, None)
            .await
    }

    /// The same, linked to a customer of the tenant when `customer_id` is given (in the
    /// account's transaction: a customer of another tenant, or none, refuses both alike).
    pub async fn create_customer_account(
        &self,
        actor: &Actor,
        tenant_id: &str,
        name: &str,
        customer_id: Option<&str>,
    ) -> Result<Account, GatewayError> {
        if !actor.scope.allows(tenant_id) || tenant_id == crate::SYSTEM_TENANT {
            return Err(GatewayError::InvalidField {
                field: "tenant_id",
                reason: format!("no tenant {tenant_id} you may use"),
            });
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 128 {
            return Err(GatewayError::InvalidField {
                field: "name",
                reason: "must be 1 to 128 bytes".into(),
            });
        }
        let (id, tenant, name, now) = (
            self.new_id("acc"),
            tenant_id.to_string(),
            name.to_string(),
            self.now_ms(),
        );
        let actor = actor.clone();
        let customer = customer_id.map(str::to_string);
        let account = self
            .inner
            .store
            .write(move |sql| {
                let account = ledger::create_account(
                    sql,
                    &NewAccount {
                        id: &id,
                        tenant_id: &tenant,
                        name: &name,
                        kind: AccountKind::Customer,
                        allow_negative: false,
                    },
                    now,
                )
                .map_err(account_refusal)?;
                if let Some(customer) = &customer {
                    compliance::customers::link_account(sql, &id, &tenant, customer)?;
                }
                actor.audit(sql, now, Some(&tenant), "account.create", &id, None)?;
                Ok::<_, GatewayError>(account)
            })
            .await?;
        Ok(account)
    }

    /// An account the scope may see; any other is reported as unknown.
    pub async fn account(&self, scope: &Scope, id: &str) -> Result<Account, GatewayError> {
        let id_owned = id.to_string();
        let account = self
            .inner
            .store
            .read_one(move |sql| ledger::get_account(sql, &id_owned))
            .await?;
        if !scope.allows(&account.tenant_id) {
            return Err(GatewayError::UnknownAccount(id.to_string()));
        }
        Ok(account)
    }

    /// Accounts of the scope's tenant (or of `tenant_id` for an administrator).
    pub async fn accounts(
        &self,
        scope: &Scope,
        tenant_id: &str,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Account>, GatewayError> {
        if !scope.allows(tenant_id) {
            return Ok(Vec::new());
        }
        let tenant = tenant_id.to_string();
        let limit = kernel::page_limit(limit);
        Ok(self
            .inner
            .store
            .read_one(move |sql| ledger::list_accounts(sql, &tenant, after.as_deref(), limit))
            .await?)
    }

    /// The accounts a caller lists, by id: of `tenant_id` when it names one (none when the
    /// scope may not see it: another tenant's accounts are absent, not forbidden), else of
    /// the scope's own tenant, or of every tenant for a platform credential.
    pub async fn list_accounts(
        &self,
        scope: &Scope,
        tenant_id: Option<&str>,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Account>, GatewayError> {
        match (tenant_id, scope) {
            (Some(tenant), _) => self.accounts(scope, tenant, after, limit).await,
            (None, Scope::Tenant(own)) => self.accounts(scope, own, after, limit).await,
            (None, Scope::All) => self.all_accounts(after, limit).await,
        }
    }

    /// One page of every tenant's accounts, by id (one snapshot; a key lookup per row,
    /// at most [`kernel::MAX_PAGE`]).
    async fn all_accounts(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Account>, GatewayError> {
        let limit = kernel::page_limit(limit);
        self.inner
            .store
            .read(move |sql| {
                let ids = sql.query(
                    "SELECT id FROM accounts WHERE id > $1 ORDER BY id LIMIT $2",
                    &[after.as_deref().unwrap_or("").into(), limit.into()],
                )?;
                ids.iter()
                    .map(|row| Ok(ledger::get_account(sql, row.text("id")?)?))
                    .collect::<Result<Vec<_>, GatewayError>>()
            })
            .await
    }

    /// An account's postings after `after_seq`, oldest first.
    pub async fn entries(
        &self,
        scope: &Scope,
        account_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Entry>, GatewayError> {
        self.account(scope, account_id).await?;
        let id = account_id.to_string();
        let limit = kernel::page_limit(limit);
        Ok(self
            .inner
            .store
            .read(move |sql| ledger::entries(sql, &id, after_seq, limit))
            .await?)
    }

    /// A customer account the scope may use for payments.
    pub(crate) async fn customer_account(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Account, GatewayError> {
        let account = self.account(scope, id).await?;
        if account.kind != AccountKind::Customer {
            return Err(GatewayError::NotCustomerAccount(id.to_string()));
        }
        Ok(account)
    }
}

/// The ledger's refusals of a new account, in the API's terms.
fn account_refusal(e: ledger::LedgerError) -> GatewayError {
    match e {
        ledger::LedgerError::UnknownTenant(t) => GatewayError::InvalidField {
            field: "tenant_id",
            reason: format!("no tenant {t}"),
        },
        ledger::LedgerError::DuplicateName(n) => GatewayError::InvalidField {
            field: "name",
            reason: format!("an account named {n:?} already exists"),
        },
        other => other.into(),
    }
}
