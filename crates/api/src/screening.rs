//! Sanctions screening for compliance officers (platform audience only, SPEC §4): names
//! screened in batches, the list versions loaded, and the internal watchlist.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use compliance::{ListVersion, NameHit, RefusedLine, WatchItem, WatchKind};
use kernel::rfc3339;
use screening::{Query, QueryKind};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{JsonBody, PathParams};
use crate::problem::Problem;
use crate::ApiState;

/// Names per call at most (SPEC §4).
pub const MAX_NAMES: usize = 1_000;
/// A screening call's body: 1,000 names of up to 300 characters fit.
pub const MAX_SCREENING_BODY_BYTES: usize = 1024 * 1024;
const MAX_NAME_CHARS: usize = 300;
const MAX_COUNTRY_CHARS: usize = 60;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameQuery {
    pub name: String,
    /// `person`, `organization`, `vessel` or `any` (default).
    pub kind: Option<String>,
    /// An ISO 3166 code (`SY`, `SYR`) or an English name (`Syria`).
    pub country: Option<String>,
    pub birth_year: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenNames {
    /// 1 to 1,000 names.
    pub names: Vec<NameQuery>,
    /// The score a hit must reach, 0.5 to 1 (default: the configured threshold, 0.8).
    pub threshold: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NameHitView {
    /// `ofac-sdn`, `opensanctions`, … or `internal` (the watchlist).
    pub list: String,
    pub list_version: Option<i64>,
    /// Within its list; for OFAC the SDN entity number (`ent_num`).
    pub entry_id: String,
    pub matched_name: String,
    /// In [0, 1].
    pub score: f64,
    /// Which tokens matched how, and what kind, country and birth year did.
    pub explanation: String,
}

impl From<NameHit> for NameHitView {
    fn from(h: NameHit) -> Self {
        Self {
            list: h.list,
            list_version: h.list_version,
            entry_id: h.entry_id,
            matched_name: h.matched_name,
            score: h.score,
            explanation: h.explanation,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NameResult {
    pub name: String,
    /// Best first; empty when nothing reaches the threshold.
    pub hits: Vec<NameHitView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScreenNamesResult {
    /// One per name, in the order given.
    pub results: Vec<NameResult>,
}

/// A name to screen, checked; `field` names its fields in problems (`names[3].kind`).
pub(crate) fn query(field: impl Fn(&str) -> String, q: NameQuery) -> Result<Query, Problem> {
    let chars = q.name.chars().count();
    if q.name.trim().is_empty() || chars > MAX_NAME_CHARS {
        return Err(Problem::invalid(format!(
            "{} must be 1 to {MAX_NAME_CHARS} characters",
            field("name")
        )));
    }
    let kind = match q.kind.as_deref() {
        None | Some("any") => QueryKind::Any,
        Some("person") => QueryKind::Person,
        Some("organization") => QueryKind::Organization,
        Some("vessel") => QueryKind::Vessel,
        Some(_) => {
            return Err(Problem::invalid(format!(
                "{} must be person, organization, vessel or any",
                field("kind")
            )))
        }
    };
    if q.country
        .as_deref()
        .is_some_and(|c| c.trim().is_empty() || c.chars().count() > MAX_COUNTRY_CHARS)
    {
        return Err(Problem::invalid(format!(
            "{} must be an ISO 3166 code or a country's name",
            field("country")
        )));
    }
    let birth_year = match q.birth_year {
        None => None,
        Some(year) => Some(
            u16::try_from(year)
                .ok()
                .filter(|y| (1800..=2100).contains(y))
                .ok_or_else(|| {
                    Problem::invalid(format!(
                        "{} must be a year from 1800 to 2100",
                        field("birth_year")
                    ))
                })?,
        ),
    };
    Ok(Query {
        name: q.name,
        kind,
        country: q.country,
        birth_year,
    })
}

/// Screen up to 1,000 names against the lists in force and the watchlist.
#[utoipa::path(post, path = "/v1/screening/names", request_body = ScreenNames,
    responses(
        (status = 200, body = ScreenNamesResult),
        (status = 422, body = Problem, description = "`invalid_field`: no names, more than \
            1,000, or a name, kind, country or birth year out of bounds (the detail names it)"),
        (status = 503, body = Problem, description = "`screening_loading`: the lists are \
            still being loaded; retry"),
    ))]
pub async fn screen_names(
    State(state): State<ApiState>,
    body: JsonBody<ScreenNames>,
) -> Result<Json<ScreenNamesResult>, Problem> {
    let ScreenNames { names, threshold } = body.value;
    if names.is_empty() || names.len() > MAX_NAMES {
        return Err(Problem::invalid(format!(
            "names must hold 1 to {MAX_NAMES} names, not {}",
            names.len()
        )));
    }
    if let Some(t) = threshold {
        if !(compliance::MIN_THRESHOLD..=1.0).contains(&t) {
            return Err(Problem::invalid(format!(
                "threshold must be from {} to 1",
                compliance::MIN_THRESHOLD
            )));
        }
    }
    let queries = names
        .into_iter()
        .enumerate()
        .map(|(at, q)| query(|f| format!("names[{at}].{f}"), q))
        .collect::<Result<Vec<_>, _>>()?;
    let screening = state.gateway.screening().clone();
    // About 0.1 ms of CPU per name: off the async workers.
    let (queries, hits) = tokio::task::spawn_blocking(move || {
        let hits = screening.screen_names(&queries, threshold);
        (queries, hits)
    })
    .await
    .map_err(|_| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "screening stopped",
        )
    })?;
    let hits = hits?;
    Ok(Json(ScreenNamesResult {
        results: queries
            .into_iter()
            .zip(hits)
            .map(|(q, hits)| NameResult {
                name: q.name,
                hits: hits.into_iter().map(Into::into).collect(),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefusedLineView {
    pub file: String,
    /// 0 when the value came from an entry rather than a line of its own.
    pub line: u64,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListVersionView {
    pub version: i64,
    pub list: String,
    /// `ofac-csv`, `opensanctions-ftm` or `opensanctions-simple`.
    pub format: String,
    pub source: String,
    pub list_date: Option<String>,
    pub sha256: String,
    pub entries: u64,
    pub names: u64,
    pub addresses: u64,
    /// Listed addresses that are not Bitcoin addresses, reported and not kept.
    pub refused: Vec<RefusedLineView>,
    pub imported_at: String,
    pub imported_by: String,
    pub in_force: bool,
}

impl From<RefusedLine> for RefusedLineView {
    fn from(r: RefusedLine) -> Self {
        Self {
            file: r.file,
            line: r.line,
            value: r.value,
            reason: r.reason,
        }
    }
}

impl From<ListVersion> for ListVersionView {
    fn from(v: ListVersion) -> Self {
        Self {
            version: v.version,
            list: v.list,
            format: v.format,
            source: v.source,
            list_date: v.list_date,
            sha256: v.sha256,
            entries: v.entries,
            names: v.names,
            addresses: v.addresses,
            refused: v.refused.into_iter().map(Into::into).collect(),
            imported_at: rfc3339(v.imported_at_ms),
            imported_by: v.imported_by,
            in_force: v.in_force,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListVersions {
    /// Newest first.
    pub data: Vec<ListVersionView>,
}

/// Every list version loaded, newest first; the newest of each list is in force.
#[utoipa::path(get, path = "/v1/screening/lists", responses((status = 200, body = ListVersions)))]
pub async fn list_versions(State(state): State<ApiState>) -> Result<Json<ListVersions>, Problem> {
    let versions = state.gateway.screening().versions(kernel::MAX_PAGE).await?;
    Ok(Json(ListVersions {
        data: versions.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWatchItemBody {
    /// `name`, `node_pubkey` or `address`.
    pub kind: String,
    /// A name; a node's compressed public key in hex; an address of the gateway's network.
    pub value: String,
    /// Why it is watched (1 to 500 characters), for the record.
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WatchItemView {
    pub id: String,
    pub kind: String,
    /// As stored: a key in lowercase hex, an address in its canonical form.
    pub value: String,
    pub reason: String,
    pub created_at: String,
    pub created_by: String,
}

impl From<WatchItem> for WatchItemView {
    fn from(w: WatchItem) -> Self {
        Self {
            id: w.id,
            kind: w.kind.as_str().to_string(),
            value: w.value,
            reason: w.reason,
            created_at: rfc3339(w.created_at_ms),
            created_by: w.created_by,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WatchItems {
    pub data: Vec<WatchItemView>,
}

/// Put a name, node key or address on the internal watchlist (in force at once).
#[utoipa::path(post, path = "/v1/screening/watchlist", request_body = NewWatchItemBody,
    responses(
        (status = 201, body = WatchItemView),
        (status = 409, body = Problem, description = "`already_watched`"),
        (status = 422, body = Problem, description = "`invalid_field`: an unknown kind, a \
            value that is not a key or an address of this network, an empty reason"),
    ))]
pub async fn add_watch_item(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<NewWatchItemBody>,
) -> Result<(StatusCode, Json<WatchItemView>), Problem> {
    let item = body.value;
    let kind: WatchKind = item
        .kind
        .parse()
        .map_err(|_| Problem::invalid("kind must be name, node_pubkey or address"))?;
    // A name is screened against every customer before the answer: each match is an
    // alert the officer finds in `GET /v1/alerts`.
    let (added, _alerts) = state
        .gateway
        .due_diligence()
        .watch(&caller.actor, kind, &item.value, &item.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(added.into())))
}

/// The active watchlist items, oldest first.
#[utoipa::path(get, path = "/v1/screening/watchlist", responses((status = 200, body = WatchItems)))]
pub async fn list_watch_items(State(state): State<ApiState>) -> Result<Json<WatchItems>, Problem> {
    let items = state.gateway.screening().watchlist().await?;
    Ok(Json(WatchItems {
        data: items.into_iter().map(Into::into).collect(),
    }))
}

/// Take an item off the watchlist (the record of it stays in the audit trail).
#[utoipa::path(delete, path = "/v1/screening/watchlist/{id}",
    params(("id" = String, Path, description = "The item's id")),
    responses(
        (status = 204, description = "removed"),
        (status = 404, body = Problem, description = "`watch_item_not_found`"),
    ))]
pub async fn remove_watch_item(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, Problem> {
    state
        .gateway
        .screening()
        .unwatch(&caller.actor, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
