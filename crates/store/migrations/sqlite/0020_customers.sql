-- Customers of a tenant (persons or organisations) and their due-diligence profile: the
-- facts given, the risk score and level they give under the scoring table (or an
-- officer's override, with its reason), KYC status, EUR limits per UTC day, month and
-- year, enhanced monitoring, the review frequency and its due date, and the last
-- screening of the name. Accounts may be linked to a customer; the customer's limits
-- then cover all its accounts together.
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    country TEXT NOT NULL,
    business_type TEXT NOT NULL,
    expected_monthly_eur_cents BIGINT NOT NULL,
    source_of_funds TEXT NOT NULL,
    risk_score BIGINT NOT NULL,
    risk_factors TEXT NOT NULL,
    risk_level TEXT NOT NULL,
    risk_override_reason TEXT,
    jurisdictions_version TEXT NOT NULL,
    kyc_status TEXT NOT NULL,
    daily_limit_eur_cents BIGINT NOT NULL,
    monthly_limit_eur_cents BIGINT NOT NULL,
    annual_limit_eur_cents BIGINT NOT NULL,
    enhanced_monitoring BIGINT NOT NULL,
    review_frequency TEXT NOT NULL,
    next_review_at_ms BIGINT NOT NULL,
    screening_hits TEXT NOT NULL,
    screened_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX customers_tenant ON customers (tenant_id, id);
CREATE INDEX customers_review ON customers (next_review_at_ms);
ALTER TABLE accounts ADD COLUMN customer_id TEXT REFERENCES customers (id);
CREATE INDEX accounts_customer ON accounts (customer_id);
