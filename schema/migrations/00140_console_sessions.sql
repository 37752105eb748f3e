-- Staff console sessions: shared by every worker replica, so that signing
-- out on one ends the session on all. The cookie holds a random session ID;
-- only its SHA-256 is stored, so that a read of this table signs nobody in.

-- +goose Up
CREATE TABLE console_sessions (
    id_hash      bytea       PRIMARY KEY CHECK (length(id_hash) = 32),
    actor        text        NOT NULL,  -- the API token's name: the audit log's actor
    role         text        NOT NULL CHECK (role IN ('viewer', 'operator')),
    csrf_token   text        NOT NULL,  -- the synchronizer token every form carries
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,  -- idle expiry counts from here
    expires_at   timestamptz NOT NULL   -- absolute expiry
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
