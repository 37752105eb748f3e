-- Indexes for the staff work queue (store/workqueue.go): failed emails and
-- promises are read on every page view, so they must not scan the whole
-- outbox or invoices. (The latest provisioning news per customer is read
-- through 00135's audit_log_provisioning_idx.)

-- +goose Up
CREATE INDEX email_outbox_failed_idx ON email_outbox (updated_at) WHERE status = 'failed';
CREATE INDEX email_outbox_delivery_failed_idx ON email_outbox_delivery (delivery_updated_at)
    WHERE delivery_status IN ('bounce', 'dropped', 'spamreport', 'blocked');
CREATE INDEX invoices_promise_idx ON invoices (promise_until) WHERE status = 'open' AND promise_until IS NOT NULL;

-- +goose Down
DROP INDEX invoices_promise_idx;
DROP INDEX email_outbox_delivery_failed_idx;
DROP INDEX email_outbox_failed_idx;
