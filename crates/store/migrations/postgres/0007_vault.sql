-- The vault's key-encryption key (held in the key store, versioned NAME.vN) and the
-- version new secrets are sealed under. A seal commits only while its version is still
-- the current one, so a rotation never misses a secret sealed under the old version.
CREATE TABLE vault_keks (
    name TEXT PRIMARY KEY,
    current_label TEXT NOT NULL,
    rotated_at_ms BIGINT NOT NULL
);

-- Secrets under envelope encryption (node seeds, the API-key pepper, webhook secrets):
-- the data is sealed under its own data key, and the data key is wrapped by a version of
-- the KEK. Rotation rewrites kek_label and wrapped_key only.
CREATE TABLE sealed_secrets (
    name TEXT PRIMARY KEY,
    kek_label TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    sealed BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL,
    wrapped_at_ms BIGINT NOT NULL
);
CREATE INDEX sealed_secrets_by_kek ON sealed_secrets (kek_label);
