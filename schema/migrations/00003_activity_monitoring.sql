-- Activity-log monitoring after purchase (package monitoring): the
-- customers' activity events, the regions each customer was seen in, and
-- every hit of the monitoring rules with the state of its report to the
-- customer's workflow (ReportAbuse, source "monitoring").
--
-- customer_id is not a foreign key in any of these tables: activity may
-- arrive from the provider before billing knows the customer (or for one
-- it never will), and it must be stored rather than refused.

-- +goose Up

-- event_id is the sender's unique id: an event sent again is stored once.
-- raw is the event as received, for audit. at is the event's own time;
-- received_at when we got it.
CREATE TABLE activity_events (
    event_id      text PRIMARY KEY,
    customer_id   text        NOT NULL,
    at            timestamptz NOT NULL,
    kind          text        NOT NULL,
    region        text        NOT NULL DEFAULT '',
    resource_type text        NOT NULL DEFAULT '',
    amount_minor  bigint      NOT NULL DEFAULT 0 CHECK (amount_minor >= 0),
    raw           jsonb       NOT NULL,
    received_at   timestamptz NOT NULL
);
-- The rules read a customer's trailing window of events (spend spike,
-- account change burst) by a range on at.
CREATE INDEX activity_events_customer_at_idx ON activity_events (customer_id, at);

-- The earliest event of each (customer, region): the "never seen before"
-- region rule looks at a customer's whole history, and this keeps that
-- lookup to a handful of rows instead of every event the customer ever
-- sent. The raw region is kept (not its country) so that a change of the
-- region -> country map in the risk config applies to old events too.
CREATE TABLE activity_regions (
    customer_id    text        NOT NULL,
    region         text        NOT NULL,
    first_seen_at  timestamptz NOT NULL,
    first_event_id text        NOT NULL,
    PRIMARY KEY (customer_id, region)
);

-- One row per rule that fired on an event; (event_id, rule) is unique, so
-- ingesting an event again never adds a hit. notice_id is the ReportAbuse
-- idempotency key, derived from id so that a retried report is the same
-- notice to the workflow.
--
-- report_status:
--   pending    to be reported; next_attempt_at is when (a lease while an
--              attempt runs, a backoff after a failure)
--   reported   the workflow accepted it at reported_at
--   suppressed not reported: suppressed_by, a hit of the same rule for the
--              same customer, was pending or reported within the quiet period
--   failed     not retried: unknown customer, or the workflow refused it
--              (report_error says which)
CREATE TABLE monitoring_hits (
    id              bigserial PRIMARY KEY,
    notice_id       text        GENERATED ALWAYS AS ('mon-' || id::text) STORED,
    event_id        text        NOT NULL REFERENCES activity_events,
    customer_id     text        NOT NULL,
    rule            text        NOT NULL,
    severity        text        NOT NULL CHECK (severity IN ('severe', 'moderate', 'minor')),
    evidence        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    report_status   text        NOT NULL DEFAULT 'pending'
                    CHECK (report_status IN ('pending', 'reported', 'suppressed', 'failed')),
    reported_at     timestamptz,
    suppressed_by   bigint      REFERENCES monitoring_hits,
    report_attempts integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    report_error    text        NOT NULL DEFAULT '',
    UNIQUE (event_id, rule),
    CHECK ((report_status = 'reported') = (reported_at IS NOT NULL)),
    CHECK ((report_status = 'suppressed') = (suppressed_by IS NOT NULL)),
    CHECK (report_status <> 'pending' OR next_attempt_at IS NOT NULL)
);
-- Quiet-period lookups: the latest hits of a rule for a customer.
CREATE INDEX monitoring_hits_customer_rule_idx ON monitoring_hits (customer_id, rule, id);
-- ReportPending's queue.
CREATE INDEX monitoring_hits_pending_idx ON monitoring_hits (next_attempt_at, id) WHERE report_status = 'pending';

-- +goose Down
DROP TABLE monitoring_hits;
DROP TABLE activity_regions;
DROP TABLE activity_events;
