-- Indexes for the metrics collector, which counts at every Prometheus
-- scrape: these let it read small indexes instead of the whole audit log,
-- the outbox (whose rows carry the rendered bodies) and the payments.

-- +goose Up
CREATE INDEX audit_log_provisioning_idx ON audit_log (action)
    WHERE action IN ('provisioning.failed', 'provisioning.escalated', 'provisioning.recovered');
CREATE INDEX email_outbox_metrics_idx ON email_outbox (channel, stage, status);
CREATE INDEX payments_metrics_idx ON payments (method, currency) INCLUDE (amount_minor);

-- +goose Down
DROP INDEX payments_metrics_idx;
DROP INDEX email_outbox_metrics_idx;
DROP INDEX audit_log_provisioning_idx;
