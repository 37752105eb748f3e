-- Reconciliation runs: each comparison of the workflows with PostgreSQL
-- (the daily Schedule's, or `starter reconcile` with --save) and its
-- per-customer drift report as JSON.

-- +goose Up
CREATE TABLE reconcile_runs (
    run_key     text PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    checked     integer     NOT NULL,
    drifted     integer     NOT NULL,
    repaired    integer     NOT NULL,
    errors      integer     NOT NULL,
    report      jsonb       NOT NULL
);
CREATE INDEX reconcile_runs_finished_idx ON reconcile_runs (finished_at DESC);

-- +goose Down
DROP TABLE reconcile_runs;
