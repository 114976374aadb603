-- Emergency recovery operations (a node's funds swept to a recovery address) wait for the
-- approval policy's emergency quorum like payments do, so an approval request's subject is
-- now a payment or a recovery: the reference to payments goes (SQLite rebuilds the tables
-- to drop it; ids and votes are kept).
CREATE TABLE approval_requests_next (
    payment_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    policy_version BIGINT NOT NULL REFERENCES approval_policies (version),
    rule TEXT NOT NULL,
    requirement TEXT NOT NULL,
    initiator_may_approve BIGINT NOT NULL,
    initiator TEXT NOT NULL,
    eur_cents BIGINT NOT NULL,
    rate_eur_cents_per_btc BIGINT NOT NULL,
    rate_source TEXT NOT NULL,
    intent TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
    expires_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT
);
INSERT INTO approval_requests_next SELECT * FROM approval_requests;
CREATE TABLE approval_votes_next (
    payment_id TEXT NOT NULL REFERENCES approval_requests_next (payment_id),
    approver_id TEXT NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('approve', 'reject')),
    signature TEXT NOT NULL,
    credential TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (payment_id, approver_id)
);
INSERT INTO approval_votes_next SELECT * FROM approval_votes;
DROP TABLE approval_votes;
DROP TABLE approval_requests;
ALTER TABLE approval_requests_next RENAME TO approval_requests;
ALTER TABLE approval_votes_next RENAME TO approval_votes;
CREATE INDEX approval_requests_pending ON approval_requests (expires_at_ms)
    WHERE state = 'pending';
CREATE INDEX approval_requests_tenant ON approval_requests (tenant_id, payment_id);

-- A recovery: sweep `node_name`'s funds to `address` once the emergency quorum approves.
-- awaiting_approval -> closing (node fenced, channels closed) -> sweeping (on-chain drain
-- broadcast as `txid`) -> succeeded (booked: the node's ledger balance and wallet moved to
-- the recovered account, what the closes and the sweep cost booked as on-chain cost);
-- rejected by an approver or on expiry.
CREATE TABLE recoveries (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('node_sweep')),
    node_name TEXT NOT NULL,
    address TEXT NOT NULL,
    reason TEXT NOT NULL,
    initiator TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('awaiting_approval', 'closing', 'sweeping', 'succeeded', 'rejected')),
    ledger_msat BIGINT NOT NULL,
    -- The node's wallet (and closing outputs) before the first close: the owner's on-chain
    -- funds, which were never on the books.
    wallet_msat BIGINT,
    txid TEXT,
    swept_msat BIGINT,
    fee_msat BIGINT,
    failure_reason TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
-- At most one recovery of a node at a time.
CREATE UNIQUE INDEX recoveries_open_node ON recoveries (node_name)
    WHERE state IN ('awaiting_approval', 'closing', 'sweeping');
