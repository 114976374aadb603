-- Zero-trust access: API keys, kept only as keyed hashes of their secrets, and the
-- tamper-evident audit trail (hash-chained records, signed checkpoints).
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    -- NULL: a platform credential, not bound to one tenant.
    tenant_id TEXT REFERENCES tenants (id),
    name TEXT NOT NULL,
    -- HMAC-SHA256 of the secret under the server's pepper.
    secret_hash BYTEA NOT NULL,
    roles TEXT NOT NULL,
    scopes TEXT NOT NULL,
    -- Comma-separated CIDRs; empty allows any source.
    ip_allowlist TEXT NOT NULL,
    rate_tier TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at_ms BIGINT,
    revoked_at_ms BIGINT,
    -- The key that replaced this one in a rotation.
    rotated_to TEXT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

-- One row: the chain's last sequence number and hash. Appending updates it first, which
-- serialises appends in commit order.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    tenant_id TEXT,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    request_id TEXT NOT NULL,
    source_ip TEXT,
    details TEXT,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq);

CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL,
    at_ms BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    signature BYTEA NOT NULL
);
