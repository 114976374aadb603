-- Webhook dispatch: which outbox events still await fan-out to subscriptions, the attempt
-- log of every delivery, and redelivery (a fresh retry budget without losing history).
ALTER TABLE outbox ADD COLUMN webhooks_fanned_out BIGINT NOT NULL DEFAULT 0;
CREATE INDEX outbox_webhooks_pending ON outbox (seq) WHERE webhooks_fanned_out = 0;

-- A subscription receives the events after the last one that existed when it was made.
ALTER TABLE webhook_subscriptions ADD COLUMN starts_after_seq BIGINT NOT NULL DEFAULT 0;
-- After a secret rotation the old secret also signs, until it expires.
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_expires_at_ms BIGINT;
CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions (tenant_id);

ALTER TABLE webhook_deliveries ADD COLUMN retry_from_attempt BIGINT NOT NULL DEFAULT 0;
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempt BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
