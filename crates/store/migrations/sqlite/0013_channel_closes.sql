-- Channels that close in the normal course (a peer's force close, LDK's own after a
-- crash, an operator's close) move a node's funds from its channels to its wallet, less the
-- on-chain fees. Once such a close is resolved (nothing closing, no payment of the node
-- unsettled), the books follow: what the ledger held beyond the open channels leaves the
-- node's account; what the wallet gained since the node last matched its books goes to the
-- node's wallet account; the rest is on-chain cost.
CREATE TABLE node_wallets (
    node_name TEXT PRIMARY KEY,
    -- The wallet when the node last matched its books with nothing closing: what a close's
    -- gain is measured from.
    baseline_msat BIGINT NOT NULL,
    -- The node's open channels then (sorted ids, comma-separated): a close is booked only
    -- once one of them is gone, never for a channel merely lagging behind the ledger.
    baseline_channels TEXT NOT NULL,
    -- A resolved close seen once (ledger beyond the channels, wallet); it is booked when a
    -- later sweep sees the same figures, so a wallet that has not yet synced its sweep is
    -- never mistaken for a loss.
    seen_beyond_msat BIGINT,
    seen_wallet_msat BIGINT,
    closes_booked BIGINT NOT NULL DEFAULT 0,
    updated_at_ms BIGINT NOT NULL
);
