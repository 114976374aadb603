-- Per-account velocity limits in EUR cents per UTC day and month (either may be absent),
-- checked in the transaction that holds a payment's funds, after the account's row is
-- locked, so concurrent payments cannot pass a limit together. A payment records its
-- EUR value at acceptance; failed and rejected payments do not count.
CREATE TABLE velocity_limits (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    daily_eur_cents BIGINT,
    monthly_eur_cents BIGINT,
    updated_at_ms BIGINT NOT NULL
);
ALTER TABLE payments ADD COLUMN eur_cents BIGINT;
CREATE INDEX payments_account_created ON payments (account_id, created_at_ms);
