-- What each account sent or holds for sending per UTC day, in EUR cents: the sum of its
-- payments' `eur_cents` by the day of `created_at_ms`, failed and rejected ones left
-- out. The velocity limits (daily, monthly) and a customer's limits (daily, monthly,
-- annual) read at most 366 rows per account here instead of every payment since the
-- window's start (a year of payments for the annual limit). Kept by triggers on
-- `payments`, so every writer (the gateway, the retention purge, an operator's SQL)
-- keeps it exact.
CREATE TABLE payment_spend_days (
    account_id TEXT NOT NULL,
    day_start_ms BIGINT NOT NULL,
    eur_cents BIGINT NOT NULL,
    PRIMARY KEY (account_id, day_start_ms)
);

INSERT INTO payment_spend_days (account_id, day_start_ms, eur_cents)
SELECT account_id, created_at_ms - MOD(created_at_ms, 86400000), SUM(COALESCE(eur_cents, 0))
FROM payments WHERE status NOT IN ('failed', 'rejected')
GROUP BY account_id, created_at_ms - MOD(created_at_ms, 86400000);

CREATE FUNCTION fulgur_payment_spend_add(account TEXT, at_ms BIGINT, delta BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF delta <> 0 THEN
        INSERT INTO payment_spend_days (account_id, day_start_ms, eur_cents)
        VALUES (account, at_ms - MOD(at_ms, 86400000), delta)
        ON CONFLICT (account_id, day_start_ms)
        DO UPDATE SET eur_cents = payment_spend_days.eur_cents + EXCLUDED.eur_cents;
    END IF;
END
$$;

CREATE FUNCTION fulgur_payment_spend_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status NOT IN ('failed', 'rejected') THEN
        PERFORM fulgur_payment_spend_add(OLD.account_id, OLD.created_at_ms, -COALESCE(OLD.eur_cents, 0));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status NOT IN ('failed', 'rejected') THEN
        PERFORM fulgur_payment_spend_add(NEW.account_id, NEW.created_at_ms, COALESCE(NEW.eur_cents, 0));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER payments_spend_insert AFTER INSERT ON payments
    FOR EACH ROW EXECUTE FUNCTION fulgur_payment_spend_track();
-- Only a change to what the row counts for (most status changes do not change it).
CREATE TRIGGER payments_spend_update
    AFTER UPDATE OF status, eur_cents, account_id, created_at_ms ON payments
    FOR EACH ROW WHEN (
        (OLD.status NOT IN ('failed', 'rejected')) <> (NEW.status NOT IN ('failed', 'rejected'))
        OR OLD.eur_cents IS DISTINCT FROM NEW.eur_cents
        OR OLD.account_id <> NEW.account_id
        OR OLD.created_at_ms <> NEW.created_at_ms
    )
    EXECUTE FUNCTION fulgur_payment_spend_track();
CREATE TRIGGER payments_spend_delete AFTER DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION fulgur_payment_spend_track();

-- Which changes to a payer's history the monitoring rules have seen. Every change that
-- moves an account's history (a payment recorded, one that stops or starts counting, an
-- invoice paid; an operator's edit of what the rules read) takes the account's next
-- `history_version` and stamps the row with it; a deleted row (the retention purge)
-- counts in `history_deletes`. A replica keeps a payer's last 30 days in memory and,
-- before each payment, reads only the rows stamped after its copy; versions are taken
-- under the account's row lock, so they commit in order.
ALTER TABLE accounts ADD COLUMN history_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN history_deletes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN history_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN history_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX payments_history_changes ON payments (account_id, history_version);
CREATE INDEX invoices_history_changes ON invoices (account_id, history_version);

CREATE FUNCTION fulgur_history_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.account_id <> NEW.account_id THEN
        UPDATE accounts SET history_deletes = history_deletes + 1 WHERE id = OLD.account_id;
    END IF;
    UPDATE accounts SET history_version = history_version + 1 WHERE id = NEW.account_id
        RETURNING history_version INTO NEW.history_version;
    RETURN NEW;
END
$$;

CREATE FUNCTION fulgur_history_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET history_deletes = history_deletes + 1 WHERE id = OLD.account_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER payments_history_insert BEFORE INSERT ON payments
    FOR EACH ROW EXECUTE FUNCTION fulgur_history_stamp();
CREATE TRIGGER payments_history_update
    BEFORE UPDATE OF status, eur_cents, created_at_ms, destination, account_id ON payments
    FOR EACH ROW WHEN (
        (OLD.status NOT IN ('failed', 'rejected')) <> (NEW.status NOT IN ('failed', 'rejected'))
        OR OLD.eur_cents IS DISTINCT FROM NEW.eur_cents
        OR OLD.created_at_ms <> NEW.created_at_ms
        OR OLD.destination <> NEW.destination
        OR OLD.account_id <> NEW.account_id
    )
    EXECUTE FUNCTION fulgur_history_stamp();
CREATE TRIGGER payments_history_delete AFTER DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION fulgur_history_deleted();

CREATE TRIGGER invoices_history_insert BEFORE INSERT ON invoices
    FOR EACH ROW WHEN (NEW.status = 'paid') EXECUTE FUNCTION fulgur_history_stamp();
CREATE TRIGGER invoices_history_update
    BEFORE UPDATE OF status, received_msat, amount_msat, paid_at_ms, account_id ON invoices
    FOR EACH ROW WHEN (
        (OLD.status = 'paid') <> (NEW.status = 'paid')
        OR (NEW.status = 'paid' AND (
            OLD.received_msat IS DISTINCT FROM NEW.received_msat
            OR OLD.amount_msat <> NEW.amount_msat
            OR OLD.paid_at_ms IS DISTINCT FROM NEW.paid_at_ms))
        OR OLD.account_id <> NEW.account_id
    )
    EXECUTE FUNCTION fulgur_history_stamp();
CREATE TRIGGER invoices_history_delete AFTER DELETE ON invoices
    FOR EACH ROW WHEN (OLD.status = 'paid') EXECUTE FUNCTION fulgur_history_deleted();

-- Operational copies are kept `[retention] operational_days` (webhook deliveries and
-- their attempts, the outbox events they carried, payments' idempotent answers), then
-- deleted oldest first in bounded steps: these find them without a scan.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at_ms);

-- The history read also names each payment (a changed row replaces the copy's by id):
-- the covering index carries the id, so the read still touches no table row.
DROP INDEX payments_account_history;
CREATE INDEX payments_account_history ON payments (account_id, created_at_ms)
    INCLUDE (status, eur_cents, destination, id);
