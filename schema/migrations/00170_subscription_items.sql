-- Subscriptions one by one. The default provisioner keeps each
-- subscription's service state in subscription_items (the subscriptions
-- table stays the account's as a whole), written by the per-subscription
-- provisioning actions; action_key makes a repeated action one change.
-- Invoices keep their lines (a line per subscription and per usage item;
-- empty for invoices from before subscriptions).

-- +goose Up
ALTER TABLE invoices ADD COLUMN lines jsonb NOT NULL DEFAULT '[]';

CREATE TABLE subscription_items (
    customer_id     text        NOT NULL REFERENCES customers,
    subscription_id text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled')),
    reason          text        NOT NULL DEFAULT '',
    action_key      text        NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (customer_id, subscription_id)
);

-- +goose Down
DROP TABLE subscription_items;
ALTER TABLE invoices DROP COLUMN lines;
