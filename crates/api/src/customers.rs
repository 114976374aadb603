//! Customers and their due-diligence profile (compliance role, platform audience: a
//! tenant's credential never sees a risk level or a screening hit).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use compliance::{Customer, CustomerChange, NewCustomer};
use kernel::rfc3339;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::problem::Problem;
use crate::screening::NameHitView;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    pub tenant_id: String,
    pub name: String,
    /// `person` or `organization`.
    pub kind: String,
    /// An ISO 3166 code (`DE`, `DEU`) or an English name.
    pub country: String,
    /// One of the risk table's business types (docs/compliance.md).
    pub business_type: String,
    pub expected_monthly_eur_cents: u64,
    /// One of the risk table's sources of funds (docs/compliance.md).
    pub source_of_funds: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    pub name: Option<String>,
    pub country: Option<String>,
    pub business_type: Option<String>,
    pub expected_monthly_eur_cents: Option<u64>,
    pub source_of_funds: Option<String>,
    /// `pending`, `verified` or `rejected`.
    pub kyc_status: Option<String>,
    /// `low`, `medium` or `high`: overrides the risk table's level; needs `reason`.
    pub risk_level: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerLimitsView {
    pub daily_eur_cents: u64,
    pub monthly_eur_cents: u64,
    pub annual_eur_cents: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerScreeningView {
    /// The name's hits at its last screening.
    pub hits: Vec<NameHitView>,
    pub screened_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub kind: String,
    pub country: String,
    pub business_type: String,
    pub expected_monthly_eur_cents: u64,
    pub source_of_funds: String,
    /// `low`, `medium` or `high`.
    pub risk_level: String,
    pub risk_score: u32,
    /// Each factor that added points.
    pub risk_factors: Vec<String>,
    /// Set when an officer chose the level.
    pub risk_override_reason: Option<String>,
    /// The high-risk jurisdiction lists the customer was scored with.
    pub jurisdictions_version: String,
    /// `pending`, `verified` or `rejected`.
    pub kyc_status: String,
    pub limits: CustomerLimitsView,
    pub enhanced_monitoring: bool,
    /// `monthly`, `quarterly` or `annual`.
    pub review_frequency: String,
    pub next_review_at: String,
    pub screening: CustomerScreeningView,
    pub created_at: String,
    pub updated_at: String,
    /// When the relationship ended (the retention clock's start), if it did.
    pub relationship_ended_at: Option<String>,
    /// When its records were deleted and its personal data erased, retention over.
    pub purged_at: Option<String>,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id,
            tenant_id: c.tenant_id,
            name: c.name,
            kind: c.kind.as_str().to_string(),
            country: c.country,
            business_type: c.business_type,
            expected_monthly_eur_cents: c.expected_monthly_eur_cents,
            source_of_funds: c.source_of_funds,
            risk_level: c.risk_level.as_str().to_string(),
            risk_score: c.risk_score,
            risk_factors: c.risk_factors,
            risk_override_reason: c.risk_override_reason,
            jurisdictions_version: c.jurisdictions_version,
            kyc_status: c.kyc_status.as_str().to_string(),
            limits: CustomerLimitsView {
                daily_eur_cents: c.daily_limit_eur_cents,
                monthly_eur_cents: c.monthly_limit_eur_cents,
                annual_eur_cents: c.annual_limit_eur_cents,
            },
            enhanced_monitoring: c.enhanced_monitoring,
            review_frequency: c.review_frequency.as_str().to_string(),
            next_review_at: rfc3339(c.next_review_at_ms),
            screening: CustomerScreeningView {
                hits: c.screening_hits.into_iter().map(Into::into).collect(),
                screened_at: rfc3339(c.screened_at_ms),
            },
            created_at: rfc3339(c.created_at_ms),
            updated_at: rfc3339(c.updated_at_ms),
            relationship_ended_at: c.relationship_ended_at_ms.map(rfc3339),
            purged_at: c.purged_at_ms.map(rfc3339),
        }
    }
}

/// Create a customer: facts checked, name screened, risk assessed; KYC starts pending.
#[utoipa::path(post, path = "/v1/customers", request_body = CreateCustomer,
    responses(
        (status = 201, body = CustomerView),
        (status = 422, body = Problem, description = "`invalid_field`: an unknown tenant, \
            kind, country, business type or source of funds (the detail lists the accepted \
            values), an empty name, a volume out of bounds"),
    ))]
pub async fn create_customer(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<CreateCustomer>,
) -> Result<(StatusCode, Json<CustomerView>), Problem> {
    let b = body.value;
    let customer = state
        .gateway
        .due_diligence()
        .create(
            &caller.actor,
            NewCustomer {
                tenant_id: b.tenant_id,
                name: b.name,
                kind: b.kind,
                country: b.country,
                business_type: b.business_type,
                expected_monthly_eur_cents: b.expected_monthly_eur_cents,
                source_of_funds: b.source_of_funds,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(customer.into())))
}

/// A customer and its due-diligence profile.
#[utoipa::path(get, path = "/v1/customers/{id}",
    params(("id" = String, Path, description = "The customer's id")),
    responses(
        (status = 200, body = CustomerView),
        (status = 404, body = Problem, description = "`customer_not_found`"),
    ))]
pub async fn get_customer(
    State(state): State<ApiState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<CustomerView>, Problem> {
    Ok(Json(state.gateway.due_diligence().get(&id).await?.into()))
}

/// Change a customer's facts (rescreened, reassessed), KYC status, or risk level (an
/// override needs a reason); audited with what changed.
#[utoipa::path(patch, path = "/v1/customers/{id}", request_body = UpdateCustomer,
    params(("id" = String, Path, description = "The customer's id")),
    responses(
        (status = 200, body = CustomerView),
        (status = 404, body = Problem, description = "`customer_not_found`"),
        (status = 422, body = Problem, description = "`invalid_field`; \
            `customer_relationship_ended`: an ended relationship takes no change"),
    ))]
pub async fn update_customer(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<UpdateCustomer>,
) -> Result<Json<CustomerView>, Problem> {
    let b = body.value;
    let customer = state
        .gateway
        .due_diligence()
        .update(
            &caller.actor,
            &id,
            CustomerChange {
                name: b.name,
                country: b.country,
                business_type: b.business_type,
                expected_monthly_eur_cents: b.expected_monthly_eur_cents,
                source_of_funds: b.source_of_funds,
                kyc_status: b.kyc_status,
                risk_level: b.risk_level,
                reason: b.reason,
            },
        )
        .await?;
    Ok(Json(customer.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    pub tenant_id: Option<String>,
    /// Customers after this id.
    pub after: Option<String>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerPage {
    pub data: Vec<CustomerView>,
}

/// Customers, in id order, optionally of one tenant.
#[utoipa::path(get, path = "/v1/customers", params(CustomerQuery),
    responses((status = 200, body = CustomerPage)))]
pub async fn list_customers(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<CustomerQuery>,
) -> Result<Json<CustomerPage>, Problem> {
    let customers = state
        .gateway
        .due_diligence()
        .list(
            q.tenant_id,
            q.after.unwrap_or_default(),
            q.limit.unwrap_or(kernel::DEFAULT_PAGE),
        )
        .await?;
    Ok(Json(CustomerPage {
        data: customers.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearMatch {
    /// The list of the entry (`ofac-sdn`, …, or `internal` for the watchlist).
    pub list: String,
    /// The entry within its list (OFAC's `ent_num`, a watchlist item's id).
    pub entry_id: String,
    /// Why the match is a false positive (1 to 500 characters).
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClearanceView {
    pub customer_id: String,
    pub list: String,
    pub entry_id: String,
    pub reason: String,
    pub cleared_by: String,
    pub cleared_at: String,
    /// The entry changed (or left the list) since it was cleared: matches alert again.
    pub lapsed: bool,
}

impl From<compliance::ClearanceState> for ClearanceView {
    fn from(s: compliance::ClearanceState) -> Self {
        let c = s.clearance;
        Self {
            customer_id: c.customer_id,
            list: c.list,
            entry_id: c.entry_id,
            reason: c.reason,
            cleared_by: c.cleared_by,
            cleared_at: rfc3339(c.cleared_at_ms),
            lapsed: s.lapsed,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClearancePage {
    pub data: Vec<ClearanceView>,
}

/// Clear a sanctions match of this customer as a false positive: no alert for this entry
/// while it stays as it is now; a change to the entry lapses the clearance.
#[utoipa::path(post, path = "/v1/customers/{id}/clearances", request_body = ClearMatch,
    params(("id" = String, Path, description = "The customer's id")),
    responses(
        (status = 201, body = ClearanceView),
        (status = 404, body = Problem, description = "`customer_not_found`"),
        (status = 422, body = Problem, description = "`invalid_field`: no such entry in a \
            list in force, or the reason"),
    ))]
pub async fn clear_match(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<ClearMatch>,
) -> Result<(StatusCode, Json<ClearanceView>), Problem> {
    let b = body.value;
    let cleared = state
        .gateway
        .due_diligence()
        .clear(&caller.actor, &id, &b.list, &b.entry_id, &b.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(cleared.into())))
}

/// The customer's clearances, each marked whether it lapsed.
#[utoipa::path(get, path = "/v1/customers/{id}/clearances",
    params(("id" = String, Path, description = "The customer's id")),
    responses(
        (status = 200, body = ClearancePage),
        (status = 404, body = Problem, description = "`customer_not_found`"),
    ))]
pub async fn list_clearances(
    State(state): State<ApiState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ClearancePage>, Problem> {
    let found = state.gateway.due_diligence().clearances(&id).await?;
    Ok(Json(ClearancePage {
        data: found.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndRelationship {
    /// Why the relationship ends (kept in the audit trail).
    pub reason: String,
}

/// End the customer relationship now (final, never back-dated): its accounts send
/// nothing more, and its records are deleted once the retention period (`[retention]`
/// years) has run.
#[utoipa::path(post, path = "/v1/customers/{id}/end-relationship", request_body = EndRelationship,
    params(("id" = String, Path, description = "The customer's id")),
    responses(
        (status = 200, body = CustomerView),
        (status = 404, body = Problem, description = "`customer_not_found`"),
        (status = 422, body = Problem, description = "`invalid_field`: the reason; \
            `customer_relationship_ended`: ended already"),
    ))]
pub async fn end_relationship(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<EndRelationship>,
) -> Result<Json<CustomerView>, Problem> {
    let ended = state
        .gateway
        .due_diligence()
        .end_relationship(&caller.actor, &id, &body.value.reason)
        .await?;
    Ok(Json(ended.into()))
}
