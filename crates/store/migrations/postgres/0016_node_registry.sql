-- The nodes on the books, by name and by identity, and which gateway instance runs each.
-- A name that reappears with another public key is another node: refused, never merged
-- into the first one's account. One instance at a time holds a node's lease (renewed
-- while it runs); a second instance with the same configuration refuses to start rather
-- than book, execute or re-send the first one's payments.
CREATE TABLE node_registry (
    name TEXT PRIMARY KEY,
    pubkey TEXT NOT NULL,
    owner_instance TEXT,
    lease_expires_at_ms BIGINT,
    registered_at_ms BIGINT NOT NULL
);
