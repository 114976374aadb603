//! Tenants, accounts and their ledger entries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use kernel::rfc3339;
use ledger::{Account, Entry};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{next_after, JsonBody, PathParams, QueryParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 1 to 64 characters: letters, digits, `-` and `_` (not `platform`).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub id: String,
    /// 1 to 128 bytes, unique among tenants.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// The business unit that owns the account.
    pub tenant_id: String,
    /// 1 to 128 bytes, unique within the tenant.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// The customer (of the same tenant) the account belongs to: its due-diligence limits
    /// then cover this account with the customer's others.
    pub customer_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// Sum of the account's postings.
    pub balance_msat: i64,
    /// What can be spent now: balance minus pending.
    pub available_msat: i64,
    /// Held for payments in flight.
    pub pending_msat: u64,
    pub created_at: String,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.clone(),
            tenant_id: a.tenant_id.clone(),
            name: a.name.clone(),
            balance_msat: a.balance_msat,
            available_msat: a.available_msat(),
            pending_msat: a.pending_msat,
            created_at: rfc3339(a.created_at_ms),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    pub seq: i64,
    pub journal_id: String,
    /// What the journal entry was: `invoice_paid`, `payment`, ...
    pub journal_kind: String,
    /// The invoice or payment it belongs to.
    pub reference: Option<String>,
    /// What this line was: `invoice`, `payment`, `fee`, `internal`, ...
    pub kind: String,
    pub amount_msat: i64,
    pub balance_after_msat: i64,
    pub created_at: String,
}

impl From<&Entry> for EntryView {
    fn from(e: &Entry) -> Self {
        Self {
            seq: e.seq,
            journal_id: e.journal_id.clone(),
            journal_kind: e.journal_kind.clone(),
            reference: e.reference.clone(),
            kind: e.kind.clone(),
            amount_msat: e.amount_msat,
            balance_after_msat: e.balance_after_msat,
            created_at: rfc3339(e.created_at_ms),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountPage {
    pub data: Vec<AccountView>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_after: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryPage {
    pub data: Vec<EntryView>,
    pub next_after: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountQuery {
    /// Only this tenant's accounts. Optional for a platform credential (absent: every
    /// tenant's); a tenant credential lists its own tenant's, and naming another tenant
    /// finds none.
    pub tenant_id: Option<String>,
    /// The last account id of the previous page (`next_after`).
    pub after: Option<String>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntryQuery {
    /// The last `seq` of the previous page (`next_after`).
    pub after: Option<i64>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

fn valid_tenant_id(id: &str) -> bool {
    !kernel::is_reserved_tenant_id(id)
        && (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Create a tenant (business unit).
#[utoipa::path(post, path = "/v1/tenants", request_body = NewTenant,
    responses(
        (status = 201, description = "created (or already there under this name)"),
        (status = 422, body = Problem, description = "`invalid_field`: the id is malformed, \
            reserved, or a tenant's under another name, or the name is another tenant's"),
    ))]
pub async fn create_tenant(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<NewTenant>,
) -> Result<StatusCode, Problem> {
    let t = body.value;
    if !valid_tenant_id(&t.id) || t.name.trim().is_empty() || t.name.len() > 128 {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "id: 1-64 of [A-Za-z0-9_-], not `platform` or `system`; name: 1-128 bytes",
        ));
    }
    state
        .gateway
        .create_tenant(&caller.actor, &t.id, t.name.trim())
        .await?;
    Ok(StatusCode::CREATED)
}

/// Open an account for a tenant.
#[utoipa::path(post, path = "/v1/accounts", request_body = NewAccount,
    responses(
        (status = 201, body = AccountView),
        (status = 422, body = Problem, description = "`invalid_field`: no tenant of that id \
            the credential may use, the name is empty or taken, or no such customer in the \
            tenant"),
    ))]
pub async fn create_account(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<NewAccount>,
) -> Result<(StatusCode, Json<AccountView>), Problem> {
    let account = state
        .gateway
        .create_customer_account(
            &caller.actor,
            &body.value.tenant_id,
            &body.value.name,
            body.value.customer_id.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(AccountView::from(&account))))
}

/// List accounts by id: a tenant's, or for a platform credential every tenant's.
#[utoipa::path(get, path = "/v1/accounts", params(AccountQuery),
    responses((status = 200, body = AccountPage)))]
pub async fn list_accounts(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<AccountQuery>,
) -> Result<Json<AccountPage>, Problem> {
    let limit = q.limit.unwrap_or(kernel::DEFAULT_PAGE);
    let accounts = state
        .gateway
        .list_accounts(&caller.actor.scope, q.tenant_id.as_deref(), q.after, limit)
        .await?;
    Ok(Json(AccountPage {
        next_after: next_after(&accounts, limit, |a| a.id.clone()),
        data: accounts.iter().map(AccountView::from).collect(),
    }))
}

/// An account with its balances.
#[utoipa::path(get, path = "/v1/accounts/{id}", params(("id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, body = AccountView),
        (status = 404, body = Problem, description = "`account_not_found`"),
    ))]
pub async fn get_account(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<Json<AccountView>, Problem> {
    let account = state.gateway.account(&caller.actor.scope, &id).await?;
    Ok(Json(AccountView::from(&account)))
}

/// An account's ledger postings, oldest first.
#[utoipa::path(get, path = "/v1/accounts/{id}/entries", params(("id" = String, Path, description = "The account's id"), EntryQuery),
    responses(
        (status = 200, body = EntryPage),
        (status = 404, body = Problem, description = "`account_not_found`"),
    ))]
pub async fn list_entries(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<EntryQuery>,
) -> Result<Json<EntryPage>, Problem> {
    let limit = q.limit.unwrap_or(kernel::DEFAULT_PAGE);
    let entries = state
        .gateway
        .entries(&caller.actor.scope, &id, q.after.unwrap_or(0), limit)
        .await?;
    Ok(Json(EntryPage {
        next_after: next_after(&entries, limit, |e| e.seq),
        data: entries.iter().map(EntryView::from).collect(),
    }))
}
