-- The system of record. The workflow owns each customer's state; these
-- tables mirror it for staff, reports and integrations, and keep what must
-- outlive workflow histories: payments, emails sent and the audit log.
-- Money is bigint minor units plus an ISO 4217 code, never floats.

-- +goose Up
CREATE TABLE customers (
    customer_id       text PRIMARY KEY,
    name              text        NOT NULL,
    email             text        NOT NULL,
    phone             text        NOT NULL,
    country           char(2)     NOT NULL,
    currency          char(3)     NOT NULL,
    locale            text        NOT NULL,
    policy            text        NOT NULL,
    monthly_fee_minor bigint      NOT NULL CHECK (monthly_fee_minor > 0),
    instrument_type   text        NOT NULL,
    card_bin          text        NOT NULL DEFAULT '',
    signup_ip         inet        NOT NULL,
    risk_tier         text        NOT NULL DEFAULT '',
    status            text        NOT NULL,
    access            text        NOT NULL,
    balance_minor     bigint      NOT NULL DEFAULT 0,
    credit_minor      bigint      NOT NULL DEFAULT 0,
    overdue_minor     bigint      NOT NULL DEFAULT 0,
    dunning_stage     text        NOT NULL DEFAULT 'none',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    -- the workflow's event sequence: an older snapshot never overwrites a newer one
    event_seq         bigint      NOT NULL DEFAULT 0
);
CREATE INDEX customers_status_idx ON customers (status);

CREATE TABLE invoices (
    invoice_id    text PRIMARY KEY,
    customer_id   text        NOT NULL REFERENCES customers,
    kind          text        NOT NULL CHECK (kind IN ('prepayment', 'subscription')),
    status        text        NOT NULL CHECK (status IN ('open', 'paid', 'void', 'written_off')),
    currency      char(3)     NOT NULL,
    amount_minor  bigint      NOT NULL CHECK (amount_minor >= 0),
    paid_minor    bigint      NOT NULL DEFAULT 0 CHECK (paid_minor >= 0 AND paid_minor <= amount_minor),
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    issued_at     timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    closed_at     timestamptz,
    stage         text        NOT NULL,
    disputed      boolean     NOT NULL DEFAULT false,
    promise_until timestamptz,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX invoices_customer_idx ON invoices (customer_id, issued_at);
CREATE INDEX invoices_open_due_idx ON invoices (due_at) WHERE status = 'open';

-- payment_id is the caller's idempotency key: a payment is recorded once.
CREATE TABLE payments (
    payment_id   text PRIMARY KEY,
    customer_id  text        NOT NULL REFERENCES customers,
    amount_minor bigint      NOT NULL CHECK (amount_minor > 0),
    currency     char(3)     NOT NULL,
    method       text        NOT NULL,
    reference    text        NOT NULL DEFAULT '',
    credit_minor bigint      NOT NULL DEFAULT 0,
    actor        text        NOT NULL,
    received_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_customer_idx ON payments (customer_id, received_at);

CREATE TABLE payment_allocations (
    payment_id   text   NOT NULL REFERENCES payments,
    invoice_id   text   NOT NULL REFERENCES invoices,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (payment_id, invoice_id)
);

-- One row per intended message; message_key is the dunning_key sent to
-- SendGrid in custom_args. The row is written before the mail is sent.
CREATE TABLE email_outbox (
    id                  bigserial PRIMARY KEY,
    message_key         text        NOT NULL UNIQUE,
    customer_id         text        NOT NULL REFERENCES customers,
    invoice_id          text,
    stage               text        NOT NULL,
    template            text        NOT NULL,
    to_email            text        NOT NULL,
    subject             text        NOT NULL,
    body_text           text        NOT NULL,
    body_html           text        NOT NULL,
    status              text        NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'logged', 'failed', 'unconfirmed')),
    attempts            integer     NOT NULL DEFAULT 0,
    provider_message_id text,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz
);
CREATE INDEX email_outbox_customer_idx ON email_outbox (customer_id, id);

-- Every change to an account, with who and why. event_key makes recording
-- idempotent; rows are never updated or deleted.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    event_key   text        NOT NULL UNIQUE,
    customer_id text        NOT NULL,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    invoice_id  text,
    detail      jsonb       NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_customer_idx ON audit_log (customer_id, id);

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Unpaid money given up on; collections = handed to the agency.
CREATE TABLE write_offs (
    event_key    text PRIMARY KEY,
    customer_id  text        NOT NULL REFERENCES customers,
    invoice_ids  text[]      NOT NULL,
    amount_minor bigint      NOT NULL CHECK (amount_minor >= 0),
    currency     char(3)     NOT NULL,
    collections  boolean     NOT NULL,
    at           timestamptz NOT NULL
);

-- The default provisioner: the customer's subscriptions as the service
-- sees them.
CREATE TABLE subscriptions (
    customer_id text PRIMARY KEY REFERENCES customers,
    status      text        NOT NULL CHECK (status IN ('active', 'suspended', 'terminated')),
    access      text        NOT NULL CHECK (access IN ('limited', 'full', 'none')),
    reason      text        NOT NULL DEFAULT '',
    action_key  text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE subscriptions;
DROP TABLE write_offs;
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE email_outbox;
DROP TABLE payment_allocations;
DROP TABLE payments;
DROP TABLE invoices;
DROP TABLE customers;
