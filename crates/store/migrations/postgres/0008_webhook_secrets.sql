-- Webhook signing secrets live in the vault (sealed_secrets): a subscription names its
-- current secret and, during a rotation's overlap, the previous one. The old columns
-- `secret` and `previous_secret` hold a secret in clear only on rows from before the
-- vault, until the service seals it at start; after that they are '' and NULL.
ALTER TABLE webhook_subscriptions ADD COLUMN secret_name TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_name TEXT;
