-- Approval policies, every version kept: proposed by one administrator, in force only
-- once a second one (another credential and another subject) approves; at most one
-- active. Each approval decision records the version that made it.
CREATE TABLE approval_policies (
    version BIGINT PRIMARY KEY,
    body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('proposed', 'active', 'superseded')),
    proposed_by TEXT NOT NULL,
    proposed_by_subject TEXT NOT NULL,
    proposed_at_ms BIGINT NOT NULL,
    approved_by TEXT,
    approved_at_ms BIGINT
);
CREATE UNIQUE INDEX approval_policies_one_active ON approval_policies (state)
    WHERE state = 'active';
