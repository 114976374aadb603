-- Emergency recovery operations (a node's funds swept to a recovery address) wait for the
-- approval policy's emergency quorum like payments do, so an approval request's subject is
-- now a payment or a recovery: the reference to payments goes.
ALTER TABLE approval_requests DROP CONSTRAINT approval_requests_payment_id_fkey;

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
