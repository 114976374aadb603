-- Tenants, accounts, the double-entry journal and holds.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);

-- balance_msat is the sum of the account's postings; pending_msat the sum of its active
-- holds. The database itself refuses a negative available balance.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    allow_negative BIGINT NOT NULL DEFAULT 0,
    balance_msat BIGINT NOT NULL DEFAULT 0,
    pending_msat BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, name),
    CHECK (pending_msat >= 0),
    CHECK (allow_negative <> 0 OR balance_msat - pending_msat >= 0)
);

-- One balanced transaction: its postings sum to zero.
CREATE TABLE journal (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    reference TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX journal_by_reference ON journal (reference);

CREATE TABLE postings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    journal_id TEXT NOT NULL REFERENCES journal (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    amount_msat BIGINT NOT NULL CHECK (amount_msat <> 0),
    balance_after_msat BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX postings_by_account ON postings (account_id, seq);
CREATE INDEX postings_by_journal ON postings (journal_id);

-- Funds set aside for an in-flight payment until it settles or is released.
CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    amount_msat BIGINT NOT NULL CHECK (amount_msat > 0),
    reference TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'settled', 'released')),
    created_at_ms BIGINT NOT NULL,
    resolved_at_ms BIGINT
);
CREATE INDEX holds_active_by_account ON holds (account_id) WHERE state = 'active';
