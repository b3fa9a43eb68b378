-- The last TOTP time step accepted per account, so a code is accepted once (replays refused).
CREATE TABLE totp_steps (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    last_step  INTEGER NOT NULL
) WITHOUT ROWID;
