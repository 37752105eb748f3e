-- Indexes for the staff work queue (store/workqueue.go): failed emails and
-- the latest provisioning news per customer are read on every page view,
-- so they must not scan the whole outbox or audit log.

-- +goose Up
CREATE INDEX email_outbox_failed_idx ON email_outbox (updated_at) WHERE status = 'failed';
CREATE INDEX email_outbox_delivery_failed_idx ON email_outbox_delivery (delivery_updated_at)
    WHERE delivery_status IN ('bounce', 'dropped', 'spamreport', 'blocked');
CREATE INDEX audit_log_provisioning_news_idx ON audit_log (customer_id, id)
    WHERE action IN ('provisioning.failed', 'provisioning.escalated', 'provisioning.recovered');
CREATE INDEX invoices_promise_idx ON invoices (promise_until) WHERE status = 'open' AND promise_until IS NOT NULL;

-- +goose Down
DROP INDEX invoices_promise_idx;
DROP INDEX audit_log_provisioning_news_idx;
DROP INDEX email_outbox_delivery_failed_idx;
DROP INDEX email_outbox_failed_idx;
