-- Account passwords, as Argon2id PHC strings (never the password).
CREATE TABLE passwords (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    phc        TEXT NOT NULL
) WITHOUT ROWID;
