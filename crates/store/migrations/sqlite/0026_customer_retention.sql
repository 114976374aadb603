-- The end of a customer relationship starts the retention clock (5 years by default,
-- `[retention] years`); once it has run, a bounded job deletes the customer's
-- transaction and compliance records and erases its personal data, then records when.
ALTER TABLE customers ADD COLUMN relationship_ended_at_ms BIGINT;
ALTER TABLE customers ADD COLUMN purged_at_ms BIGINT;
-- When the job last found records of the customer that may not go yet (open, or newer
-- than the period): it comes back to it after the others.
ALTER TABLE customers ADD COLUMN retention_checked_at_ms BIGINT;
CREATE INDEX customers_retention ON customers (relationship_ended_at_ms)
    WHERE relationship_ended_at_ms IS NOT NULL AND purged_at_ms IS NULL;
