-- Rescreening and false-positive clearances. A list version is rescreened against every
-- customer once (over the entries it added or changed against the last version
-- rescreened), claimed by `rescreened_at_ms` (−1: superseded before its turn, passed over).
-- A match raises one alert per (customer, list entry, entry content): the fingerprint
-- is a hash of what the entry says, so a changed entry matches anew. A clearance holds for
-- the entry as it was cleared and lapses when the entry changes.
-- Versions loaded before this migration count as rescreened (0): their matches were
-- screened at each customer's creation, and a superseded one is not in force.
ALTER TABLE screening_lists ADD COLUMN rescreened_at_ms BIGINT;
UPDATE screening_lists SET rescreened_at_ms = 0;
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
