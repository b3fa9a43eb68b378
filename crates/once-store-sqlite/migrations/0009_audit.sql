-- The audit trail (once_store::audit): an append-only hash chain. `seq` counts 1, 2, 3, … with no
-- gap; `prev` is the hash of the record before (or of the anchor), `hash` the record's own. Only
-- the writer appends, reading the head inside its transaction, so the chain never forks.
CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY,
    time    INTEGER NOT NULL,
    event   TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor   TEXT NOT NULL,
    client  TEXT NOT NULL,
    record  TEXT NOT NULL,
    detail  TEXT NOT NULL,
    prev    BLOB NOT NULL,
    hash    BLOB NOT NULL
);
-- Where the kept chain starts: the last pruned record's seq and hash (0 and zeros before any
-- pruning). One row, moved in the same transaction as the pruning.
CREATE TABLE audit_anchor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB NOT NULL
);
INSERT INTO audit_anchor (id, seq, hash) VALUES (1, 0, zeroblob(32));
