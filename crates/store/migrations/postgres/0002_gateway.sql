-- Invoices, payments, idempotency keys, the outbox and webhooks.
CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    node_name TEXT NOT NULL,
    payment_hash TEXT NOT NULL UNIQUE,
    bolt11 TEXT NOT NULL,
    amount_msat BIGINT NOT NULL CHECK (amount_msat > 0),
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'expired', 'canceled')),
    expires_at_ms BIGINT NOT NULL,
    received_msat BIGINT,
    paid_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX invoices_open_by_expiry ON invoices (expires_at_ms) WHERE status = 'open';

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    bolt11 TEXT NOT NULL,
    payment_hash TEXT NOT NULL,
    destination TEXT NOT NULL,
    amount_msat BIGINT NOT NULL CHECK (amount_msat > 0),
    max_fee_msat BIGINT NOT NULL CHECK (max_fee_msat >= 0),
    fee_msat BIGINT,
    status TEXT NOT NULL CHECK (status IN
        ('pending', 'awaiting_approval', 'in_flight', 'succeeded', 'failed', 'rejected')),
    route TEXT NOT NULL CHECK (route IN ('lightning', 'internal')),
    node_name TEXT,
    hold_id TEXT,
    preimage TEXT,
    failure_code TEXT,
    failure_reason TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
-- An invoice is paid at most once: one live or successful payment per payment hash.
CREATE UNIQUE INDEX payments_one_live_per_hash ON payments (payment_hash)
    WHERE status IN ('pending', 'awaiting_approval', 'in_flight', 'succeeded');
CREATE INDEX payments_in_flight ON payments (node_name) WHERE status = 'in_flight';

-- The first response to each (tenant, key); a replay with another body is refused.
CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    response_body TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
);

-- Events written in the same transaction as the change they announce.
CREATE TABLE outbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- How far each consumer of the outbox has read.
CREATE TABLE outbox_cursors (
    consumer TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);

CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    event_types TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id),
    event_id TEXT NOT NULL REFERENCES outbox (id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error TEXT,
    created_at_ms BIGINT NOT NULL,
    delivered_at_ms BIGINT,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms)
    WHERE state = 'pending';
