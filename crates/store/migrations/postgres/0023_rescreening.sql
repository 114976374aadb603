-- Rescreening and false-positive clearances. A list version is rescreened against every
-- customer once (over the entries it added or changed), claimed by `rescreened_at_ms`.
-- A match raises one alert per (customer, list entry, entry content): the fingerprint
-- is a hash of what the entry says, so a changed entry matches anew. A clearance holds for
-- the entry as it was cleared and lapses when the entry changes.
ALTER TABLE screening_lists ADD COLUMN rescreened_at_ms BIGINT;
CREATE TABLE screening_matches (
    customer_id TEXT NOT NULL,
    list TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    matched_at_ms BIGINT NOT NULL,
    PRIMARY KEY (customer_id, list, entry_id, fingerprint)
);
CREATE TABLE screening_clearances (
    customer_id TEXT NOT NULL,
    list TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    reason TEXT NOT NULL,
    cleared_by TEXT NOT NULL,
    cleared_at_ms BIGINT NOT NULL,
    PRIMARY KEY (customer_id, list, entry_id)
);
