-- Received payments an inbound stage held: the money sits in the suspense account until a
-- decision releases it to the invoice's account (once: the state moves from 'held' only
-- once, and the release's journal entry has one id per hold).
CREATE TABLE inbound_holds (
    id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    amount_msat BIGINT NOT NULL,
    stage TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT,
    decided_by TEXT
);
CREATE INDEX inbound_holds_by_tenant ON inbound_holds (tenant_id, state, created_at_ms);
