//! The guard in front of every `/v1` endpoint: authenticate the bearer credential,
//! authorize the endpoint's scope (deny by default), apply the credential's rate limit,
//! and audit what must be audited — authentication failures, refusals, and mutating calls
//! that fail (a mutating call that succeeds is audited by the domain, in its own
//! transaction).
//!
//! Over 500 lines: the whole guard, whose order (authenticate, throttle, authorize, limit,
//! audit) is the security argument and is read top to bottom.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use access::{Admission, ApiKeys, ApiScope, Audience, Principal, Usage};
use audit::{Entry, Origin, Outcome};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kernel::{rfc3339, Actor, Clock, IdSource};
use oidc::OidcVerifier;
use store::Store;

use crate::client_addr::TrustedProxies;
use crate::edge::RequestId;
use crate::failure_log::{FailureLog, Suppressed};
use crate::problem::{Problem, ProblemCode};
use crate::ratelimit::{Decision, FailureKey, RateLimitConfig, RateLimits};
use crate::tls::{Peer, PeerCert};

/// The authenticated caller, for handlers.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// Whose data the call may touch and what the audit trail records about it.
    pub actor: Actor,
    /// Idempotency keys are per tenant (so a retry after a key rotation still matches)
    /// and, for platform credentials, per identity (likewise).
    pub tenant_key: String,
}

struct Inner {
    keys: ApiKeys,
    /// Bearer tokens that are not API keys are JWTs of these issuers, if any.
    oidc: Option<Arc<OidcVerifier>>,
    store: Store,
    limits: RateLimits,
    failure_log: FailureLog,
    proxies: TrustedProxies,
    usage: Arc<Usage>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

/// Authentication, authorization and rate limiting; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

impl Auth {
    pub fn new(
        keys: ApiKeys,
        oidc: Option<Arc<OidcVerifier>>,
        store: Store,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        limits: &RateLimitConfig,
        proxies: TrustedProxies,
    ) -> Self {
        let usage = Arc::new(Usage::new(store.clone(), limits.quotas.clone()));
        Self {
            inner: Arc::new(Inner {
                keys,
                usage,
                oidc,
                store,
                limits: RateLimits::new(limits),
                failure_log: FailureLog::default(),
                proxies,
                clock,
                ids,
            }),
        }
    }

    pub fn keys(&self) -> &ApiKeys {
        &self.inner.keys
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub(crate) fn usage(&self) -> &Usage {
        &self.inner.usage
    }

    /// Writes the call counts not yet written, and the authentication failures counted but
    /// not yet summarised in the audit trail (on shutdown).
    pub async fn flush_usage(&self) -> Result<(), store::StoreError> {
        let drained = self.inner.failure_log.drain();
        if !drained.is_empty() {
            self.record_summaries(drained, self.now_ms()).await;
        }
        self.inner.usage.flush().await
    }

    /// Counts the call against its tenant's daily quota; `Some(response)`: refused.
    async fn within_quota(&self, tenant: Option<&str>, now_ms: i64) -> Option<Response> {
        let tenant = tenant?;
        let usage = &self.inner.usage;
        let admission = usage.admit(tenant, now_ms).await;
        if usage.flush_due(now_ms) {
            let usage = Arc::clone(usage);
            tokio::spawn(async move {
                if let Err(error) = usage.flush().await {
                    tracing::warn!(%error, "API usage counts not written; kept for the next try");
                }
            });
        }
        match admission {
            Ok(Admission::Allowed) => None,
            Ok(Admission::OverQuota {
                quota,
                retry_after_ms,
            }) => {
                refused("quota_exceeded");
                let problem = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "quota_exceeded",
                    format!("this tenant's {quota} calls for today are used; retry tomorrow (UTC)"),
                );
                let wait = Duration::from_millis(u64::try_from(retry_after_ms).unwrap_or(0));
                Some(retry_after(problem.into_response(), wait))
            }
            Err(error) => {
                tracing::error!(%error, "usage count failed");
                Some(
                    Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "auth_unavailable",
                        "the call cannot be counted now; retry",
                    )
                    .into_response(),
                )
            }
        }
    }

    /// `Ok(Err(why))`: refused; `Err(_)`: the credential cannot be checked now.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        cert: &PeerCert,
        source: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<Result<Principal, &'static str>, String> {
        let Some(token) = bearer(headers) else {
            // No bearer: the connection's client certificate, if it names a caller and
            // has not expired since the handshake.
            return Ok(match cert {
                PeerCert::None => Err("missing_credential"),
                PeerCert::Unusable => Err("certificate_names_no_caller"),
                PeerCert::Revoked => Err("certificate_revoked"),
                PeerCert::Identity(id) if id.not_after_unix.saturating_mul(1000) < now_ms => {
                    Err("certificate_expired")
                }
                PeerCert::Identity(id) => Ok(id.principal()),
            });
        };
        if token.starts_with(access::API_KEY_PREFIX) {
            return self
                .inner
                .keys
                .authenticate(token, source)
                .await
                .map(|r| r.map_err(|why| why.as_str()))
                .map_err(|e| e.to_string());
        }
        match &self.inner.oidc {
            Some(oidc) => oidc
                .verify(token, now_ms)
                .await
                .map(|r| r.map_err(|why| why.as_str()))
                .map_err(|e| e.to_string()),
            None => Ok(Err("unknown_credential_type")),
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn ids(&self) -> &Arc<dyn IdSource> {
        &self.inner.ids
    }

    /// Appends a record outside any domain transaction (refusals, failures); a failure to
    /// write it is logged, never hidden.
    /// The failures counted but not recorded one by one, as one write.
    async fn record_summaries(&self, summaries: Vec<Suppressed>, now_ms: i64) {
        let entries: Vec<Entry> = summaries.iter().map(|s| summary_entry(s, now_ms)).collect();
        let written = self
            .inner
            .store
            .write(move |sql| {
                for entry in &entries {
                    audit::append(sql, entry)?;
                }
                Ok::<_, store::StoreError>(())
            })
            .await;
        if let Err(error) = written {
            tracing::error!(%error, summaries = summaries.len(), "auth failure summaries not written");
        }
    }

    async fn record(&self, entry: Entry) {
        let action = entry.action.clone();
        if let Err(error) = self
            .inner
            .store
            .write(move |sql| audit::append(sql, &entry))
            .await
        {
            tracing::error!(%error, action, "audit record not written");
        }
    }
}

/// What an endpoint needs: a scope, an audience, and for a mutating endpoint the action
/// its audit records name. `audit_success`: the guard also records success (for endpoints whose
/// handler does not reach an audited domain operation, such as devnet control).
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    pub scope: ApiScope,
    pub audience: Audience,
    pub action: Option<&'static str>,
    pub audit_success: bool,
}

/// Counts a refusal of an authenticated (or throttled) caller by its problem code.
fn refused(code: &'static str) {
    metrics::counter!("fulgur_api_refusals_total", "code" => code).increment(1);
}

/// The audit record of failures counted but not recorded one by one.
fn summary_entry(summary: &Suppressed, now_ms: i64) -> Entry {
    Entry {
        at_ms: now_ms,
        origin: Origin {
            actor_id: "anonymous".to_string(),
            subject: "anonymous".to_string(),
            request_id: String::new(),
            source_ip: summary.source.map(|ip| ip.to_string()),
        },
        tenant_id: None,
        action: "auth.failure.summary".to_string(),
        target: None,
        outcome: Outcome::Denied,
        details: Some(format!(
            "{} more failures in the minute from {}{}",
            summary.count,
            rfc3339(summary.minute_ms),
            if summary.source.is_none() {
                " (sources beyond the tracked bound)"
            } else {
                ""
            }
        )),
    }
}

/// What a failed request presented, for counting its failures: an API key's id (never
/// its secret), or the kind of credential.
fn presented_key(headers: &HeaderMap, cert: &PeerCert) -> String {
    match bearer(headers) {
        Some(token) => match access::presented_key_id(token) {
            Some(id) => id,
            None if token.starts_with(access::API_KEY_PREFIX) => "malformed-key".to_string(),
            None => "bearer-token".to_string(),
        },
        None if matches!(cert, PeerCert::None) => "no-credential".to_string(),
        None => "certificate".to_string(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn retry_after(mut response: Response, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn rate_headers(response: &mut Response, limit: u32, remaining: u32, reset_secs: u64) {
    let headers = response.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", u64::from(limit)),
        ("ratelimit-remaining", u64::from(remaining)),
        ("ratelimit-reset", reset_secs),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
}

pub(crate) async fn guard(
    State((auth, need)): State<(Auth, Requirement)>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0.clone());
    // Behind a trusted proxy, the client it forwards for: allowlists, throttles and the
    // audit trail see the client, not the proxy.
    let source: Option<IpAddr> = peer
        .as_ref()
        .and_then(|p| auth.inner.proxies.client(p.addr.ip(), req.headers()));
    // A certificate revoked since its connection's handshake: refused from now on.
    let cert = match peer {
        Some(p) if p.cert_revoked() => PeerCert::Revoked,
        Some(p) => p.cert,
        None => PeerCert::None,
    };
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map_or_else(String::new, |r| r.0.clone());
    let target = format!("{} {}", req.method(), req.uri().path());
    let limits = &auth.inner.limits;
    let origin = |actor_id: &str, subject: &str| Origin {
        actor_id: actor_id.to_string(),
        subject: subject.to_string(),
        request_id: request_id.clone(),
        source_ip: source.map(|ip| ip.to_string()),
    };
    let now_ms = auth.inner.clock.now_ms();
    let entry =
        |origin: Origin, tenant: Option<String>, action: &str, outcome, details: String| Entry {
            at_ms: now_ms,
            origin,
            tenant_id: tenant,
            action: action.to_string(),
            target: Some(target.clone()),
            outcome,
            details: Some(details),
        };
    let principal = match auth
        .authenticate(req.headers(), &cert, source, now_ms)
        .await
    {
        Ok(Ok(principal)) => principal,
        Ok(Err(why)) => {
            metrics::counter!("fulgur_api_auth_failures_total", "reason" => why).increment(1);
            // Into the audit trail one by one up to a few per source and minute, then as
            // one summary: a spray cannot saturate the writer.
            let (record_it, summaries) = auth.inner.failure_log.admit(source, now_ms);
            if !summaries.is_empty() {
                // In one write, off the request: a request's timeout must not cancel them.
                let auth = auth.clone();
                tokio::spawn(async move { auth.record_summaries(summaries, now_ms).await });
            }
            if record_it {
                let anonymous = origin("anonymous", "anonymous");
                auth.record(entry(
                    anonymous,
                    None,
                    "auth.failure",
                    Outcome::Denied,
                    why.to_string(),
                ))
                .await;
            }
            // Failures are counted per source and presented key: a valid credential was
            // authenticated above, whatever others sent from its address.
            let failure_key: Option<FailureKey> =
                source.map(|ip| (ip, presented_key(req.headers(), &cert)));
            if let Some(wait) = failure_key.as_ref().and_then(|k| limits.throttled(k)) {
                refused("too_many_auth_failures");
                let problem = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_auth_failures",
                    "too many failed authentications with this credential from this address; \
                     retry later",
                );
                return retry_after(problem.into_response(), wait);
            }
            if let Some(key) = failure_key {
                limits.record_failure(key);
            }
            let mut response = Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "a valid bearer credential is required",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        Err(error) => {
            tracing::error!(error, "credential lookup failed");
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "auth_unavailable",
                "credentials cannot be checked now; retry",
            )
            .into_response();
        }
    };
    let who = origin(&principal.credential_id, &principal.subject);
    let tenant = principal.tenant_id.clone();
    let action = need.action.unwrap_or("read");
    // The credential's rate first: a valid credential looping on what it may not do
    // spends its own allowance, not the audit writer.
    let (limit, remaining) = match limits.check(&principal.credential_id, &principal.rate_tier) {
        Decision::Allowed { limit, remaining } => (limit, remaining),
        Decision::Refused {
            limit,
            retry_after: wait,
        } => {
            refused("rate_limited");
            let mut response = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "this credential's request rate is exceeded; retry after the given time",
            )
            .into_response();
            rate_headers(&mut response, limit, 0, wait.as_secs().max(1));
            return retry_after(response, wait);
        }
    };
    // The audience first (a tenant credential never reaches a platform route, whatever
    // its scopes), then the scope.
    let refusal = if !need.audience.admits(tenant.as_deref()) {
        Some((
            "platform_only",
            format!("audience {}", need.audience.as_str()),
            "this endpoint serves platform credentials only, not a tenant's".to_string(),
        ))
    } else if !principal.allows(need.scope) {
        Some((
            "forbidden",
            format!("missing scope {}", need.scope.as_str()),
            format!("this credential lacks the scope {}", need.scope.as_str()),
        ))
    } else {
        None
    };
    if let Some((code, details, sentence)) = refusal {
        auth.record(entry(who, tenant, action, Outcome::Denied, details))
            .await;
        refused(code);
        return Problem::new(StatusCode::FORBIDDEN, code, sentence).into_response();
    }
    if let Some(response) = auth.within_quota(tenant.as_deref(), now_ms).await {
        return response;
    }
    req.extensions_mut().insert(Caller {
        actor: Actor {
            scope: principal.tenant_scope(),
            origin: who.clone(),
            identity: principal.identity.clone(),
        },
        // A platform credential's keys are its identity's: two platform systems never
        // replay each other's answers, and a retry after a key rotation still matches.
        // (`:` is in no tenant id, and no tenant is `platform`.)
        tenant_key: tenant
            .clone()
            .unwrap_or_else(|| format!("platform:{}", principal.identity)),
        principal,
    });
    let mut response = next.run(req).await;
    rate_headers(&mut response, limit, remaining, 1);
    if let Some(action) = need.action {
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            let code = response
                .extensions()
                .get::<ProblemCode>()
                .map_or_else(|| status.as_u16().to_string(), |c| c.0.clone());
            auth.record(entry(who, tenant, action, Outcome::Failed, code))
                .await;
        } else if need.audit_success {
            auth.record(entry(
                who,
                tenant,
                action,
                Outcome::Success,
                status.as_u16().to_string(),
            ))
            .await;
        }
    }
    response
}
