-- API keys: what each may do (bits: 1 share, 2 read, 4 burn, 8 admin; existing keys get share,
-- read and burn, as before), when it stops working, and when it was revoked.
ALTER TABLE api_keys ADD COLUMN scopes INTEGER NOT NULL DEFAULT 7;
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;
-- An account's second factor: its TOTP secret sealed under the master key ring (never in clear).
CREATE TABLE totp (
    account_id    TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    sealed_secret BLOB NOT NULL,
    enabled_at    INTEGER NOT NULL
) WITHOUT ROWID;
-- Hashes of an account's unused recovery codes; a code is used up by deleting its row.
CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    hash       BLOB NOT NULL,
    PRIMARY KEY (account_id, hash)
) WITHOUT ROWID;
-- Failure counters per subject (e.g. `2fa:EMAIL`): failures in the current round, the last
-- failure's time, and the end of the lock (NULL if the round has not locked).
CREATE TABLE lockouts (
    subject      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_failure INTEGER NOT NULL,
    locked_until INTEGER
) WITHOUT ROWID;
CREATE INDEX lockouts_locked_until ON lockouts (locked_until) WHERE locked_until IS NOT NULL;
