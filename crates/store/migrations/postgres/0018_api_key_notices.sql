-- Every change to an API key's row is announced on channel `fulgur_api_keys` (payload:
-- the key's id) when its transaction commits, whoever makes it: a replica, the CLI or an
-- operator's SQL. Replicas keep verified keys in memory and drop one on its notice.
CREATE FUNCTION fulgur_api_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fulgur_api_keys', OLD.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION fulgur_api_key_changed();
