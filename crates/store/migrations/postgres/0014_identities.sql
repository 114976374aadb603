-- Who answers for a credential, for the rules that need two different people (a policy
-- change approved by a second administrator). An API key created out of band (the
-- bootstrap key, `fulgur apikey create` on the machine) is its own identity; a key
-- created over the API answers to the identity of the credential that created it, so an
-- administrator cannot mint a second administrator.
ALTER TABLE api_keys ADD COLUMN owner TEXT;
-- Keys from before: out of band, their own identity; minted over the API, an identity
-- no one can use for a two-person rule (`legacy:`): who minted them is not recorded well
-- enough to tell one person from two. Such an administrator gets a new key out of band.
UPDATE api_keys SET owner = CASE WHEN created_by IN ('system', 'cli') THEN 'key:' || id
    ELSE 'legacy:' || id END;
-- A version proposed before this migration has no proposer identity: it cannot be
-- approved (the proposer could approve it with a key it minted); propose it again.
ALTER TABLE approval_policies ADD COLUMN proposed_by_identity TEXT NOT NULL DEFAULT '';
-- Who initiated a held payment or recovery, as a person: the initiator may not approve it
-- with another key of its own either.
ALTER TABLE approval_requests ADD COLUMN initiator_person TEXT NOT NULL DEFAULT '';
