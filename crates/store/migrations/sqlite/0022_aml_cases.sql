-- Cases: alerts grouped by a compliance officer (per customer), with an owner, a state
-- (open, investigating, closed as false positive / no action / reported), notes (the
-- officer's findings and evidence, append-only) and at most one suspicious activity
-- report. A report is due a configured time after the case's first detection (its oldest
-- alert); once filed, its content is frozen with the unit's reference.
CREATE TABLE aml_cases (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    customer_id TEXT,
    owner TEXT NOT NULL,
    state TEXT NOT NULL,
    detected_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    closed_at_ms BIGINT
);
CREATE INDEX aml_cases_created ON aml_cases (created_at_ms, id);
ALTER TABLE aml_alerts ADD COLUMN case_id TEXT;
CREATE INDEX aml_alerts_case ON aml_alerts (case_id);
CREATE TABLE aml_case_notes (
    case_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    evidence TEXT,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE aml_reports (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    due_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    reference TEXT,
    filed_by TEXT,
    filed_at_ms BIGINT,
    filed_report TEXT
);
CREATE INDEX aml_reports_due ON aml_reports (state, due_at_ms);
