-- Signed-in browser sessions: only a hash of the session token is kept. `ends_at` is when the
-- session ends unless used again (the earlier of its idle deadline and its absolute end), so the
-- sweeper finds dead sessions by index.
CREATE TABLE sessions (
    hash          BLOB PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    idle_timeout  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    ends_at       INTEGER NOT NULL,
    second_factor INTEGER NOT NULL,
    client        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_account ON sessions (account_id, created_at DESC);
CREATE INDEX sessions_ends_at ON sessions (ends_at);
