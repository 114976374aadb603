-- A payment the approval policy holds for signatures: the policy version and rule that
-- decided, the requirement as it was then, the EUR amount with the rate used, and the
-- intent approvers sign. One vote per approver; HSM keys vote as themselves.
CREATE TABLE approval_requests (
    payment_id TEXT PRIMARY KEY REFERENCES payments (id),
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
CREATE INDEX approval_requests_pending ON approval_requests (expires_at_ms)
    WHERE state = 'pending';
CREATE INDEX approval_requests_tenant ON approval_requests (tenant_id, payment_id);

CREATE TABLE approval_votes (
    payment_id TEXT NOT NULL REFERENCES approval_requests (payment_id),
    approver_id TEXT NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('approve', 'reject')),
    signature TEXT NOT NULL,
    -- The credential that cast it; 'hsm' for Fulgur's own keys.
    credential TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (payment_id, approver_id)
);
