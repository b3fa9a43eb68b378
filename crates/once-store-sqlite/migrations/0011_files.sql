-- File secrets: the record's content (once_store::FileInfo as `size:chunks`), and the content
-- itself in numbered chunks beside the record, each carrying its secret's expiry for the sweeper.
ALTER TABLE secrets ADD COLUMN file TEXT;
CREATE TABLE chunks (
    secret_id BLOB NOT NULL,
    idx INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (secret_id, idx)
);
CREATE INDEX chunks_expires_at ON chunks (expires_at);
