-- Indexes for the metrics collector, which reads at every Prometheus
-- scrape: the counts read small indexes instead of the whole audit log, the
-- outbox (whose rows carry the rendered bodies) and the payments; the
-- recovery figures (the recovery report's statement over the last 30 days)
-- find the invoices due in the window and each payment's last email without
-- a scan. Measured in docs/benchmarks.md.

-- +goose Up
CREATE INDEX audit_log_provisioning_idx ON audit_log (action)
    WHERE action IN ('provisioning.failed', 'provisioning.escalated', 'provisioning.recovered');
CREATE INDEX email_outbox_metrics_idx ON email_outbox (channel, stage, status);
CREATE INDEX payments_metrics_idx ON payments (method, currency) INCLUDE (amount_minor);
CREATE INDEX invoices_due_idx ON invoices (due_at);
CREATE INDEX email_outbox_sent_invoice_idx ON email_outbox (customer_id, invoice_id, sent_at)
    WHERE status IN ('sent', 'logged');

-- +goose Down
DROP INDEX email_outbox_sent_invoice_idx;
DROP INDEX invoices_due_idx;
DROP INDEX payments_metrics_idx;
DROP INDEX email_outbox_metrics_idx;
DROP INDEX audit_log_provisioning_idx;
