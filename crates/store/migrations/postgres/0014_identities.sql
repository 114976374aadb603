-- Who answers for a credential, for the rules that need two different people (a policy
-- change approved by a second administrator). An API key created out of band (the
-- bootstrap key, `fulgur apikey create` on the machine) is its own identity; a key
-- created over the API answers to the identity of the credential that created it, so an
-- administrator cannot mint a second administrator.
ALTER TABLE api_keys ADD COLUMN owner TEXT;
-- Keys from before: out of band, or answering to the key (or token) that created them.
UPDATE api_keys SET owner = CASE WHEN created_by IN ('system', 'cli') THEN 'key:' || id
    WHEN created_by LIKE 'key%' THEN 'key:' || created_by ELSE created_by END;
ALTER TABLE approval_policies ADD COLUMN proposed_by_identity TEXT NOT NULL DEFAULT '';
