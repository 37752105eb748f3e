-- Outbound webhooks for integrators: the endpoints they registered, the
-- public account events (an outbox written in the same transaction as the
-- audit rows they come from), one delivery per endpoint and event, and the
-- log of every attempt.

-- +goose Up
-- A registered receiver. secret signs every delivery (HMAC-SHA256); it is
-- shown once, at registration. event_types are the public event types it
-- takes.
CREATE TABLE webhook_endpoints (
    endpoint_id text PRIMARY KEY,
    url         text        NOT NULL,
    secret      text        NOT NULL,
    event_types text[]      NOT NULL CHECK (cardinality(event_types) > 0),
    active      boolean     NOT NULL DEFAULT true,
    description text        NOT NULL DEFAULT '',
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per public event. event_id is derived from the audit event key
-- (and the public type), so a retried write adds nothing. seq orders a
-- customer's events: they are written in the order the workflow records
-- them. body is the exact JSON every delivery of the event sends.
CREATE TABLE webhook_events (
    seq         bigserial PRIMARY KEY,
    event_id    text        NOT NULL UNIQUE,
    event_type  text        NOT NULL,
    customer_id text        NOT NULL,
    event_key   text        NOT NULL, -- the audit_log row it comes from
    occurred_at timestamptz NOT NULL,
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_customer_idx ON webhook_events (customer_id, seq);

-- One delivery of an event to an endpoint. 'pending' is due at
-- next_attempt_at; a claimed delivery has next_attempt_at pushed past its
-- attempt (a lease), so a worker that dies mid-attempt leaves it due again.
-- A customer's later delivery to the same endpoint waits while an earlier
-- one (lower event_seq) is pending. 'cancelled' is an event whose audit row
-- turned out to be a failed workflow task's (see store.recordEvent).
CREATE TABLE webhook_deliveries (
    delivery_id     bigserial PRIMARY KEY,
    endpoint_id     text        NOT NULL REFERENCES webhook_endpoints,
    event_seq       bigint      NOT NULL REFERENCES webhook_events,
    customer_id     text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts        integer     NOT NULL DEFAULT 0, -- every attempt, numbering the log
    round_attempts  integer     NOT NULL DEFAULT 0, -- attempts since the schedule (re)started
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    round_started   timestamptz,           -- when the retry schedule (re)started
    last_status     integer,               -- the receiver's last HTTP status
    last_error      text        NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_seq)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (endpoint_id, customer_id, event_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (endpoint_id, status, delivery_id);

-- Every attempt: written when it is claimed, completed with its outcome.
-- One left without duration_ms never got an outcome (its worker died).
CREATE TABLE webhook_attempts (
    delivery_id bigint      NOT NULL REFERENCES webhook_deliveries,
    attempt     integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    duration_ms integer,
    status_code integer,                   -- NULL: no answer (timeout, refused connection)
    error       text        NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, attempt)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
