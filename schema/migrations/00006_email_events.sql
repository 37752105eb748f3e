-- SendGrid Event Webhook: delivery events for the mail we send, the latest
-- delivery status of each outbox message, and addresses that stopped
-- working. Written by package sgevents.

-- +goose Up
-- Every event SendGrid posted, once: sg_event_id is SendGrid's own unique id,
-- so a batch that is delivered again records nothing new. message_key is the
-- dunning_key custom arg (NULL for mail that is not ours); customer_id is as
-- the event names it, not a foreign key, because an event may name a
-- customer this database does not know (another environment on the account).
CREATE TABLE email_events (
    sg_event_id   text PRIMARY KEY,
    sg_message_id text        NOT NULL DEFAULT '',
    message_key   text,
    customer_id   text,
    invoice_id    text,
    stage         text,
    event         text        NOT NULL,
    bounce_type   text        NOT NULL DEFAULT '',
    reason        text        NOT NULL DEFAULT '',
    status        text        NOT NULL DEFAULT '',
    email         text        NOT NULL DEFAULT '',
    occurred_at   timestamptz NOT NULL,
    raw           jsonb       NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_events_message_idx ON email_events (message_key, occurred_at) WHERE message_key IS NOT NULL;
CREATE INDEX email_events_customer_idx ON email_events (customer_id, occurred_at) WHERE customer_id IS NOT NULL;

-- One row per (customer, message) whose address failed (hard bounce,
-- dropped, spam report): staff are told once. notified_at stays NULL until
-- the notifier succeeded, so a failed notification is retried when SendGrid
-- posts the batch again.
CREATE TABLE email_undeliverable_notices (
    customer_id text        NOT NULL REFERENCES customers,
    message_key text        NOT NULL,
    sg_event_id text        NOT NULL REFERENCES email_events,
    event       text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    notified_at timestamptz,
    PRIMARY KEY (customer_id, message_key)
);
CREATE INDEX email_undeliverable_notices_pending_idx ON email_undeliverable_notices (created_at) WHERE notified_at IS NULL;

-- The furthest delivery status SendGrid reported for each outbox message
-- (see sgevents.StatusOrder), never moved backwards by late events;
-- delivery_updated_at is when SendGrid saw that status. One row per
-- email_outbox row that has had an event. It is a table of its own, not
-- columns on email_outbox, because package store reads email_outbox with
-- SELECT * into a struct and sqlx refuses columns the struct lacks.
CREATE TABLE email_outbox_delivery (
    message_key         text PRIMARY KEY REFERENCES email_outbox (message_key) ON DELETE CASCADE,
    delivery_status     text        NOT NULL,
    delivery_reason     text        NOT NULL DEFAULT '',
    delivery_event_id   text        NOT NULL,
    delivery_updated_at timestamptz NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now()
);

-- Set when mail to the customer's current address bounced hard, was
-- dropped or was reported as spam. Whoever changes customers.email clears it.
ALTER TABLE customers
    ADD COLUMN email_undeliverable        boolean NOT NULL DEFAULT false,
    ADD COLUMN email_undeliverable_reason text    NOT NULL DEFAULT '',
    ADD COLUMN email_undeliverable_at     timestamptz;

-- +goose Down
ALTER TABLE customers
    DROP COLUMN email_undeliverable_at,
    DROP COLUMN email_undeliverable_reason,
    DROP COLUMN email_undeliverable;
DROP TABLE email_outbox_delivery;
DROP TABLE email_undeliverable_notices;
DROP TABLE email_events;
