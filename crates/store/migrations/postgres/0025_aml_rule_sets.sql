-- Monitoring rule sets, every version kept: proposed by one compliance officer against the
-- version then in force (based_on), in force only once a second person approves it; at
-- most one active. Each alert records the version it was raised under. The first version
-- is the one the configuration held when the table was empty (proposed_by 'config').
CREATE TABLE aml_rule_sets (
    version BIGINT PRIMARY KEY,
    body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('proposed', 'active', 'superseded')),
    based_on BIGINT,
    reason TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_by_subject TEXT NOT NULL,
    proposed_by_identity TEXT NOT NULL,
    proposed_at_ms BIGINT NOT NULL,
    approved_by TEXT,
    approved_at_ms BIGINT
);
CREATE UNIQUE INDEX aml_rule_sets_one_active ON aml_rule_sets (state)
    WHERE state = 'active';
