-- Receivables reporting: the indexes the aging report and DSO read, the
-- daily aging snapshots, and the record of write-offs exported to the
-- collections agency (package reports).

-- +goose Up

-- Open receivables: the aging report scans exactly this partial index and
-- never the invoices heap (an index-only scan once the table is vacuumed).
-- Its predicate is the report's, word for word, so the planner can use it;
-- it stays small because paid, void and written-off invoices leave it.
CREATE INDEX invoices_receivables_idx ON invoices (due_at)
    INCLUDE (customer_id, currency, amount_minor, paid_minor, issued_at)
    WHERE status = 'open' AND kind = 'subscription' AND amount_minor > paid_minor;

-- Credit sales for DSO: subscription invoices billed in a trailing window,
-- read by a range on issued_at.
CREATE INDEX invoices_credit_sales_idx ON invoices (issued_at)
    INCLUDE (customer_id, currency, amount_minor)
    WHERE kind = 'subscription' AND status <> 'void';

-- One row per UTC day and currency. A second run for the same day replaces
-- that day's rows (see reports.SaveSnapshot).
CREATE TABLE aging_snapshots (
    as_of               date             NOT NULL,
    currency            char(3)          NOT NULL,
    aged_at             timestamptz      NOT NULL, -- the instant the invoices were aged at
    customers           integer          NOT NULL,
    current_count       bigint           NOT NULL,
    current_minor       bigint           NOT NULL,
    days_1_30_count     bigint           NOT NULL,
    days_1_30_minor     bigint           NOT NULL,
    days_31_60_count    bigint           NOT NULL,
    days_31_60_minor    bigint           NOT NULL,
    days_61_90_count    bigint           NOT NULL,
    days_61_90_minor    bigint           NOT NULL,
    days_90_plus_count  bigint           NOT NULL,
    days_90_plus_minor  bigint           NOT NULL,
    total_count         bigint           NOT NULL,
    total_minor         bigint           NOT NULL,
    over_60_minor       bigint           NOT NULL, -- 61+ days past due
    suspended_minor     bigint           NOT NULL, -- everything owed by suspended customers
    at_risk_minor       bigint           NOT NULL, -- either of the two, counted once
    sales_90d_minor     bigint           NOT NULL, -- credit sales billed in the trailing 90 days
    dso_days            double precision,          -- NULL when there were no such sales
    created_at          timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (as_of, currency)
);

-- A collections write-off is exported to the agency once: the primary key
-- is the arbiter when two exports run at the same time.
CREATE TABLE collections_exports (
    event_key   text        PRIMARY KEY REFERENCES write_offs (event_key),
    batch_id    text        NOT NULL,
    exported_at timestamptz NOT NULL
);
CREATE INDEX collections_exports_batch_idx ON collections_exports (batch_id);
CREATE INDEX write_offs_collections_idx ON write_offs (at) WHERE collections;

-- +goose Down
DROP INDEX write_offs_collections_idx;
DROP TABLE collections_exports;
DROP TABLE aging_snapshots;
DROP INDEX invoices_credit_sales_idx;
DROP INDEX invoices_receivables_idx;
