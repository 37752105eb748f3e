-- +goose Up
-- Callers' idempotency keys are scoped to their customer: two customers may
-- use the same bank reference as payment_id, or the same usage_id.
ALTER TABLE payment_allocations ADD COLUMN customer_id text;
UPDATE payment_allocations a SET customer_id = p.customer_id FROM payments p WHERE p.payment_id = a.payment_id;
ALTER TABLE payment_allocations ALTER COLUMN customer_id SET NOT NULL;
ALTER TABLE payment_allocations DROP CONSTRAINT payment_allocations_pkey;
ALTER TABLE payment_allocations DROP CONSTRAINT payment_allocations_payment_id_fkey;
ALTER TABLE payments DROP CONSTRAINT payments_pkey;
ALTER TABLE payments ADD PRIMARY KEY (customer_id, payment_id);
ALTER TABLE payment_allocations ADD PRIMARY KEY (customer_id, payment_id, invoice_id);
ALTER TABLE payment_allocations ADD FOREIGN KEY (customer_id, payment_id) REFERENCES payments (customer_id, payment_id);
ALTER TABLE usage_records DROP CONSTRAINT usage_records_pkey;
ALTER TABLE usage_records ADD PRIMARY KEY (customer_id, usage_id);

-- The workflow run chain that owns the customer ID: a customer ID reused
-- after its workflow left Temporal's retention is refused rather than
-- mixed with the earlier customer's rows.
ALTER TABLE customers ADD COLUMN first_run_id text;

-- +goose Down
ALTER TABLE customers DROP COLUMN first_run_id;
ALTER TABLE usage_records DROP CONSTRAINT usage_records_pkey;
ALTER TABLE usage_records ADD PRIMARY KEY (usage_id);
ALTER TABLE payment_allocations DROP CONSTRAINT payment_allocations_customer_id_payment_id_fkey;
ALTER TABLE payment_allocations DROP CONSTRAINT payment_allocations_pkey;
ALTER TABLE payments DROP CONSTRAINT payments_pkey;
ALTER TABLE payments ADD PRIMARY KEY (payment_id);
ALTER TABLE payment_allocations ADD PRIMARY KEY (payment_id, invoice_id);
ALTER TABLE payment_allocations ADD FOREIGN KEY (payment_id) REFERENCES payments (payment_id);
ALTER TABLE payment_allocations DROP COLUMN customer_id;
