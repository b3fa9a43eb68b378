-- Which master keys seal records in this database (id -> fingerprint, first one wins), so an
-- instance started with other keys can refuse instead of consuming secrets it cannot open.
CREATE TABLE master_keys (
    id          TEXT PRIMARY KEY,
    fingerprint BLOB NOT NULL
) WITHOUT ROWID;
