CREATE TABLE secrets (
    id             BLOB    PRIMARY KEY,
    receipt_id     BLOB    NOT NULL,
    envelope       BLOB    NOT NULL,
    has_passphrase INTEGER NOT NULL,
    views_left     INTEGER NOT NULL,
    failures       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX secrets_expires_at ON secrets (expires_at);

CREATE TABLE receipts (
    id                 BLOB    PRIMARY KEY,
    secret_id          BLOB    NOT NULL,
    owner              TEXT,
    sealed_secret_key  BLOB,
    sealed_receipt_key BLOB,
    state              TEXT    NOT NULL,
    burn_reason        TEXT,
    has_passphrase     INTEGER NOT NULL,
    max_views          INTEGER NOT NULL,
    views              INTEGER NOT NULL DEFAULT 0,
    failures           INTEGER NOT NULL DEFAULT 0,
    recipient          TEXT,
    share_domain       TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    received_at        INTEGER,
    secret_expires_at  INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX receipts_expires_at ON receipts (expires_at);
CREATE INDEX receipts_owner_recent ON receipts (owner, created_at DESC, id DESC) WHERE owner IS NOT NULL;

CREATE TABLE accounts (
    id         TEXT    PRIMARY KEY,
    email      TEXT    NOT NULL UNIQUE,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE api_keys (
    hash              BLOB    PRIMARY KEY,
    account_id        TEXT    NOT NULL REFERENCES accounts (id),
    name              TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    last_used_at      INTEGER,
    wrapped_vault_key BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_keys_account ON api_keys (account_id);
