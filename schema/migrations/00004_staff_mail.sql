-- Mail to the billing team that is about no single customer (the daily
-- receivables summary) goes through the same outbox, without a customer.

-- +goose Up
ALTER TABLE email_outbox ALTER COLUMN customer_id DROP NOT NULL;

-- +goose Down
DELETE FROM email_outbox WHERE customer_id IS NULL;
ALTER TABLE email_outbox ALTER COLUMN customer_id SET NOT NULL;
