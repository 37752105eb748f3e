-- Screening, misuse reviews, metered usage, and SMS as a second notice
-- channel.

-- +goose Up
ALTER TABLE customers
    ADD COLUMN screening_outcome text   NOT NULL DEFAULT '',
    ADD COLUMN screening_score   integer NOT NULL DEFAULT 0,
    ADD COLUMN phone_verified    boolean NOT NULL DEFAULT false;

-- Sign-up velocity is counted over the last day by each of these.
CREATE INDEX customers_signup_ip_idx    ON customers (signup_ip, created_at);
CREATE INDEX customers_phone_idx        ON customers (phone, created_at);
CREATE INDEX customers_email_domain_idx ON customers (lower(split_part(email, '@', 2)), created_at);
CREATE INDEX customers_card_bin_idx     ON customers (card_bin, created_at) WHERE card_bin <> '';

ALTER TABLE invoices ADD COLUMN usage_minor bigint NOT NULL DEFAULT 0 CHECK (usage_minor >= 0);

-- usage_id is the reporter's idempotency key.
CREATE TABLE usage_records (
    usage_id     text PRIMARY KEY,
    customer_id  text        NOT NULL REFERENCES customers,
    amount_minor bigint      NOT NULL CHECK (amount_minor > 0),
    currency     char(3)     NOT NULL,
    description  text        NOT NULL DEFAULT '',
    period       integer     NOT NULL,
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX usage_records_customer_idx ON usage_records (customer_id, period);

-- Reviews staff owe: onboarding decisions and reported misuse.
CREATE TABLE reviews (
    customer_id text        NOT NULL REFERENCES customers,
    review_id   text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('onboarding', 'misuse')),
    source      text        NOT NULL DEFAULT '',
    notice_id   text        NOT NULL DEFAULT '',
    category    text        NOT NULL DEFAULT '',
    severity    text        NOT NULL DEFAULT '',
    reason      text        NOT NULL,
    opened_at   timestamptz NOT NULL,
    deadline    timestamptz NOT NULL,
    reminders   integer     NOT NULL DEFAULT 0,
    lapsed      boolean     NOT NULL DEFAULT false,
    decision    text        NOT NULL DEFAULT '',
    decided_by  text        NOT NULL DEFAULT '',
    decided_at  timestamptz,
    PRIMARY KEY (customer_id, review_id)
);
CREATE INDEX reviews_open_idx ON reviews (deadline) WHERE decision = '';

-- A notice can go by email or SMS; to_email then holds the phone number.
ALTER TABLE email_outbox ADD COLUMN channel text NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'sms'));

-- +goose Down
ALTER TABLE email_outbox DROP COLUMN channel;
DROP TABLE reviews;
DROP TABLE usage_records;
ALTER TABLE invoices DROP COLUMN usage_minor;
DROP INDEX customers_card_bin_idx;
DROP INDEX customers_email_domain_idx;
DROP INDEX customers_phone_idx;
DROP INDEX customers_signup_ip_idx;
ALTER TABLE customers DROP COLUMN phone_verified, DROP COLUMN screening_score, DROP COLUMN screening_outcome;
