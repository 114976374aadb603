-- What each account sent or holds for sending per UTC day, in EUR cents: the sum of its
-- payments' `eur_cents` by the day of `created_at_ms`, failed and rejected ones left
-- out. The velocity limits (daily, monthly) and a customer's limits (daily, monthly,
-- annual) read at most 366 rows per account here instead of every payment since the
-- window's start (a year of payments for the annual limit). Kept by triggers on
-- `payments`, so every writer (the gateway, the retention purge, an operator's SQL)
-- keeps it exact.
CREATE TABLE payment_spend_days (
    account_id TEXT NOT NULL,
    day_start_ms INTEGER NOT NULL,
    eur_cents INTEGER NOT NULL,
    PRIMARY KEY (account_id, day_start_ms)
);

INSERT INTO payment_spend_days (account_id, day_start_ms, eur_cents)
SELECT account_id, created_at_ms - created_at_ms % 86400000, SUM(COALESCE(eur_cents, 0))
FROM payments WHERE status NOT IN ('failed', 'rejected')
GROUP BY account_id, created_at_ms - created_at_ms % 86400000;

CREATE TRIGGER payments_spend_insert AFTER INSERT ON payments
WHEN NEW.status NOT IN ('failed', 'rejected') AND COALESCE(NEW.eur_cents, 0) <> 0
BEGIN
    INSERT INTO payment_spend_days (account_id, day_start_ms, eur_cents)
    VALUES (NEW.account_id, NEW.created_at_ms - NEW.created_at_ms % 86400000, NEW.eur_cents)
    ON CONFLICT (account_id, day_start_ms) DO UPDATE SET eur_cents = eur_cents + excluded.eur_cents;
END;

-- An update takes the row's old contribution out and puts its new one in, only when what
-- it counts for changes (most status changes do not change it).
CREATE TRIGGER payments_spend_update
AFTER UPDATE OF status, eur_cents, account_id, created_at_ms ON payments
WHEN (OLD.status NOT IN ('failed', 'rejected')) <> (NEW.status NOT IN ('failed', 'rejected'))
    OR OLD.eur_cents IS NOT NEW.eur_cents
    OR OLD.account_id <> NEW.account_id
    OR OLD.created_at_ms <> NEW.created_at_ms
BEGIN
    INSERT INTO payment_spend_days (account_id, day_start_ms, eur_cents)
    SELECT OLD.account_id, OLD.created_at_ms - OLD.created_at_ms % 86400000, -OLD.eur_cents
    WHERE OLD.status NOT IN ('failed', 'rejected') AND COALESCE(OLD.eur_cents, 0) <> 0
    ON CONFLICT (account_id, day_start_ms) DO UPDATE SET eur_cents = eur_cents + excluded.eur_cents;
    INSERT INTO payment_spend_days (account_id, day_start_ms, eur_cents)
    SELECT NEW.account_id, NEW.created_at_ms - NEW.created_at_ms % 86400000, NEW.eur_cents
    WHERE NEW.status NOT IN ('failed', 'rejected') AND COALESCE(NEW.eur_cents, 0) <> 0
    ON CONFLICT (account_id, day_start_ms) DO UPDATE SET eur_cents = eur_cents + excluded.eur_cents;
END;

CREATE TRIGGER payments_spend_delete AFTER DELETE ON payments
WHEN OLD.status NOT IN ('failed', 'rejected') AND COALESCE(OLD.eur_cents, 0) <> 0
BEGIN
    INSERT INTO payment_spend_days (account_id, day_start_ms, eur_cents)
    VALUES (OLD.account_id, OLD.created_at_ms - OLD.created_at_ms % 86400000, -OLD.eur_cents)
    ON CONFLICT (account_id, day_start_ms) DO UPDATE SET eur_cents = eur_cents + excluded.eur_cents;
END;

-- Which changes to a payer's history the monitoring rules have seen. Every change that
-- moves an account's history (a payment recorded, one that stops or starts counting, an
-- invoice paid; an operator's edit of what the rules read) takes the account's next
-- `history_version` and stamps the row with it; a deleted row (the retention purge)
-- counts in `history_deletes`. A replica keeps a payer's last 30 days in memory and,
-- before each payment, reads only the rows stamped after its copy.
ALTER TABLE accounts ADD COLUMN history_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN history_deletes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN history_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN history_version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX payments_history_changes ON payments (account_id, history_version);
CREATE INDEX invoices_history_changes ON invoices (account_id, history_version);

CREATE TRIGGER payments_history_insert AFTER INSERT ON payments
BEGIN
    UPDATE accounts SET history_version = history_version + 1 WHERE id = NEW.account_id;
    UPDATE payments SET history_version =
        (SELECT history_version FROM accounts WHERE id = NEW.account_id) WHERE id = NEW.id;
END;

CREATE TRIGGER payments_history_update
AFTER UPDATE OF status, eur_cents, created_at_ms, destination, account_id ON payments
WHEN (OLD.status NOT IN ('failed', 'rejected')) <> (NEW.status NOT IN ('failed', 'rejected'))
    OR OLD.eur_cents IS NOT NEW.eur_cents
    OR OLD.created_at_ms <> NEW.created_at_ms
    OR OLD.destination <> NEW.destination
    OR OLD.account_id <> NEW.account_id
BEGIN
    UPDATE accounts SET history_deletes = history_deletes + 1
        WHERE id = OLD.account_id AND OLD.account_id <> NEW.account_id;
    UPDATE accounts SET history_version = history_version + 1 WHERE id = NEW.account_id;
    UPDATE payments SET history_version =
        (SELECT history_version FROM accounts WHERE id = NEW.account_id) WHERE id = NEW.id;
END;

CREATE TRIGGER payments_history_delete AFTER DELETE ON payments
BEGIN
    UPDATE accounts SET history_deletes = history_deletes + 1 WHERE id = OLD.account_id;
END;

CREATE TRIGGER invoices_history_insert AFTER INSERT ON invoices WHEN NEW.status = 'paid'
BEGIN
    UPDATE accounts SET history_version = history_version + 1 WHERE id = NEW.account_id;
    UPDATE invoices SET history_version =
        (SELECT history_version FROM accounts WHERE id = NEW.account_id) WHERE id = NEW.id;
END;

CREATE TRIGGER invoices_history_update
AFTER UPDATE OF status, received_msat, amount_msat, paid_at_ms, account_id ON invoices
WHEN (OLD.status = 'paid') <> (NEW.status = 'paid')
    OR (NEW.status = 'paid' AND (
        OLD.received_msat IS NOT NEW.received_msat
        OR OLD.amount_msat <> NEW.amount_msat
        OR OLD.paid_at_ms IS NOT NEW.paid_at_ms))
    OR OLD.account_id <> NEW.account_id
BEGIN
    UPDATE accounts SET history_deletes = history_deletes + 1
        WHERE id = OLD.account_id AND OLD.account_id <> NEW.account_id;
    UPDATE accounts SET history_version = history_version + 1 WHERE id = NEW.account_id;
    UPDATE invoices SET history_version =
        (SELECT history_version FROM accounts WHERE id = NEW.account_id) WHERE id = NEW.id;
END;

CREATE TRIGGER invoices_history_delete AFTER DELETE ON invoices WHEN OLD.status = 'paid'
BEGIN
    UPDATE accounts SET history_deletes = history_deletes + 1 WHERE id = OLD.account_id;
END;

-- Operational copies are kept `[retention] operational_days` (webhook deliveries and
-- their attempts, the outbox events they carried, payments' idempotent answers), then
-- deleted oldest first in bounded steps: these find them without a scan.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at_ms);

-- The history read also names each payment (a changed row replaces the copy's by id):
-- the covering index carries the id, so the read still touches no table row.
DROP INDEX payments_account_history;
CREATE INDEX payments_account_history ON payments
    (account_id, created_at_ms, status, eur_cents, destination, id);
