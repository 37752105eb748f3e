-- Collecting the money through a payment gateway (Stripe): the gateway's
-- customer for each of ours, every charge attempt, the hosted pay-now pages
-- put in reminders, and every webhook event the gateway posted.

-- +goose Up
-- Written by the AttachCard activity: one gateway customer per customer.
CREATE TABLE gateway_customers (
    customer_id         text PRIMARY KEY REFERENCES customers,
    gateway             text        NOT NULL,
    gateway_customer_id text        NOT NULL UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- The record of every try to charge a card: written as 'pending' before the
-- request is sent (so an attempt whose answer was lost is known and settled
-- by looking it up before anything is sent again), then settled with the
-- gateway's answer. idempotency_key is the gateway's idempotency key,
-- derived from the invoice and the attempt number.
CREATE TABLE charge_attempts (
    customer_id         text        NOT NULL REFERENCES customers,
    invoice_id          text        NOT NULL,
    attempt             integer     NOT NULL CHECK (attempt > 0),
    idempotency_key     text        NOT NULL UNIQUE,
    amount_minor        bigint      NOT NULL CHECK (amount_minor > 0),
    currency            char(3)     NOT NULL,
    payment_method_id   text        NOT NULL,
    trigger             text        NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'card_update', 'prepayment')),
    status              text        NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'succeeded', 'declined', 'requires_action', 'processing')),
    payment_intent_id   text,
    code                text        NOT NULL DEFAULT '',
    decline_code        text        NOT NULL DEFAULT '',
    advice_code         text        NOT NULL DEFAULT '',
    network_advice_code text        NOT NULL DEFAULT '',
    message             text        NOT NULL DEFAULT '',
    requests            integer     NOT NULL DEFAULT 0, -- times the request was sent (the same key each time)
    requested_at        timestamptz NOT NULL DEFAULT now(),
    settled_at          timestamptz,
    PRIMARY KEY (customer_id, invoice_id, attempt)
);
CREATE INDEX charge_attempts_intent_idx ON charge_attempts (payment_intent_id) WHERE payment_intent_id IS NOT NULL;
CREATE INDEX charge_attempts_requested_idx ON charge_attempts (requested_at);

-- Hosted pay-now pages (Checkout Sessions), cached per invoice and amount
-- while they are valid, so that every retry of a reminder links the same page.
CREATE TABLE pay_links (
    session_id   text PRIMARY KEY,
    customer_id  text        NOT NULL REFERENCES customers,
    invoice_id   text        NOT NULL,
    amount_minor bigint      NOT NULL CHECK (amount_minor > 0),
    currency     char(3)     NOT NULL,
    url          text        NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pay_links_invoice_idx ON pay_links (customer_id, invoice_id, amount_minor, expires_at DESC);

-- Every webhook event the gateway posted, once (event_id is Stripe's evt_
-- id, so a replayed delivery records nothing new). processed_at stays NULL
-- until the event was turned into its update (or found to need none), so
-- that a failed hand-over is retried.
CREATE TABLE gateway_events (
    event_id     text PRIMARY KEY,
    type         text        NOT NULL,
    customer_id  text,
    object_id    text        NOT NULL DEFAULT '',
    created      timestamptz NOT NULL,
    payload      jsonb       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    outcome      text        NOT NULL DEFAULT '',
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text        NOT NULL DEFAULT ''
);
CREATE INDEX gateway_events_pending_idx ON gateway_events (received_at) WHERE processed_at IS NULL;

-- +goose Down
DROP TABLE gateway_events;
DROP TABLE pay_links;
DROP TABLE charge_attempts;
DROP TABLE gateway_customers;
