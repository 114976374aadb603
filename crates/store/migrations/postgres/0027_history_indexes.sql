-- What each payment's compliance stages read: the payer's payments over its customer's
-- accounts (limits: sums since the year's start; monitoring: the last 30 days) from an
-- index that holds every column they need, and the receipts of those accounts (paid
-- invoices) by account and time instead of a scan of every invoice.
DROP INDEX payments_account_created;
CREATE INDEX payments_account_history ON payments (account_id, created_at_ms)
    INCLUDE (status, eur_cents, destination);
CREATE INDEX invoices_paid_by_account ON invoices (account_id, paid_at_ms)
    WHERE status = 'paid';
