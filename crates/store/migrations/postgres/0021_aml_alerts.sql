-- Transaction monitoring alerts: one per rule that fired on a payment (or on an attempt a
-- rule blocked, then without a payment), with the rule's version, its decision (review or
-- block), score (per mille), evidence, and the EUR value and rate it was judged at. A
-- review alert holds its payment until a compliance officer releases or rejects it; the
-- decision, its author and reason are kept with the alert for as long as it is retained.
CREATE TABLE aml_alerts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    customer_id TEXT,
    payment_id TEXT,
    invoice_id TEXT,
    direction TEXT NOT NULL,
    rule TEXT NOT NULL,
    rule_version BIGINT NOT NULL,
    decision TEXT NOT NULL,
    score_permille BIGINT NOT NULL,
    evidence TEXT NOT NULL,
    eur_cents BIGINT NOT NULL,
    eur_rate TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decision_reason TEXT,
    decided_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX aml_alerts_payment ON aml_alerts (payment_id);
CREATE INDEX aml_alerts_customer ON aml_alerts (customer_id, created_at_ms);
CREATE INDEX aml_alerts_created ON aml_alerts (created_at_ms, id);
