-- API calls per tenant per UTC day: counted for chargeback, capped by the daily quota.
CREATE TABLE api_usage (
    tenant_id TEXT NOT NULL,
    -- YYYY-MM-DD, UTC.
    day TEXT NOT NULL,
    calls BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
