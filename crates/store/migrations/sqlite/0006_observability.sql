-- Synthetic probes: a real payment between two of our nodes, booked like any other money
-- movement (the sender's node pays amount and fee, the receiver's node gets the amount,
-- the fee is the probe's cost).
CREATE TABLE probes (
    id TEXT PRIMARY KEY,
    payment_hash TEXT NOT NULL UNIQUE,
    from_node TEXT NOT NULL,
    to_node TEXT NOT NULL,
    amount_msat BIGINT NOT NULL,
    fee_msat BIGINT,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'succeeded', 'failed')),
    failure TEXT,
    started_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT
);
CREATE INDEX probes_in_flight ON probes (started_at_ms) WHERE state = 'in_flight';
CREATE INDEX probes_by_finish ON probes (finished_at_ms);

-- Service-level indicators per SLO and UTC minute, summed over replicas: good events and
-- all events. The SLA report reads windows of these (30 days = 43,200 rows per SLO).
CREATE TABLE sli_minutes (
    slo TEXT NOT NULL,
    minute_ms BIGINT NOT NULL,
    good BIGINT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (slo, minute_ms)
);
