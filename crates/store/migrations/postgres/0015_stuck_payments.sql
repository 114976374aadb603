-- A payment in flight on a node that left the pool is `stuck`: still in flight for the
-- books (its hold stays, the invoice stays taken), shown as `stuck` until its node
-- returns and reports, or an operator decides. Set and cleared by the reconciler.
ALTER TABLE payments ADD COLUMN stuck_since_ms BIGINT;
ALTER TABLE payments ADD COLUMN stuck_reason TEXT;
CREATE INDEX payments_stuck ON payments (stuck_since_ms) WHERE stuck_since_ms IS NOT NULL;
