-- Sanctions lists as loaded: each load is a version (a number across all lists) with its
-- source, publication date, counts and the SHA-256 of its files, and the files themselves,
-- so that every replica builds the same index from the same bytes and an auditor can have
-- the exact list a decision was made against. The newest version of each list is in force.
CREATE TABLE screening_lists (
    version BIGINT PRIMARY KEY,
    list TEXT NOT NULL,
    format TEXT NOT NULL,
    source TEXT NOT NULL,
    list_date TEXT,
    sha256 TEXT NOT NULL,
    entries BIGINT NOT NULL,
    names BIGINT NOT NULL,
    addresses BIGINT NOT NULL,
    refused TEXT NOT NULL,
    imported_at_ms BIGINT NOT NULL,
    imported_by TEXT NOT NULL,
    UNIQUE (list, sha256)
);
CREATE TABLE screening_list_files (
    version BIGINT NOT NULL REFERENCES screening_lists (version),
    name TEXT NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (version, name)
);
-- The internal watchlist: names, node public keys and on-chain addresses the institution
-- screens against besides the public lists. `value` is canonical (a key in lowercase hex,
-- an address as the network writes it). Removal keeps the row (the audit trail names it).
CREATE TABLE watchlist_items (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    removed_at_ms BIGINT
);
CREATE UNIQUE INDEX watchlist_items_active ON watchlist_items (kind, value) WHERE removed_at_ms IS NULL;
