-- +goose Up
-- Each collections export is a batch whose file is kept, so that an export
-- generated but never delivered (the CLI or the HTTP client died after the
-- write-offs were marked exported) can be fetched again, byte for byte.
-- Written in the same transaction that claims the batch's write-offs in
-- collections_exports. Batches from before this table have no file here;
-- they are regenerated from collections_exports on request.
CREATE TABLE collections_export_batches (
    batch_id    text        PRIMARY KEY,
    exported_at timestamptz NOT NULL,
    row_count   integer     NOT NULL CHECK (row_count > 0),
    csv         bytea       NOT NULL,
    sha256      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX collections_export_batches_exported_idx ON collections_export_batches (exported_at);

-- +goose Down
DROP TABLE collections_export_batches;
