-- 0001: the first schema: meta (key check), visits, outbox, audit, kv.
-- Sealed columns (BLOB) hold 1 || nonce || AES-256-GCM ciphertext || tag; see store/seal.rs.

CREATE TABLE meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE visits (
    id            TEXT PRIMARY KEY NOT NULL,  -- UUIDv7
    visit_code    TEXT NOT NULL,              -- 就醫識別碼, clear: the key shared with the NHI
    patient_key   BLOB NOT NULL,              -- HMAC-SHA256 of the national ID (index key)
    visited_at    INTEGER NOT NULL,           -- unix ms
    upload_due_at INTEGER NOT NULL,           -- visited_at + 24 h, unix ms
    state         TEXT NOT NULL,              -- 'pending' | 'uploaded'
    version       INTEGER NOT NULL,
    body          BLOB NOT NULL,              -- sealed JSON of model::Visit
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX visits_by_patient ON visits (patient_key);
CREATE INDEX visits_by_time ON visits (visited_at, id);

CREATE TABLE outbox (
    seq                INTEGER PRIMARY KEY,                -- global enqueue order (never reused: no deletes)
    id                 TEXT NOT NULL UNIQUE,               -- UUIDv7
    kind               TEXT NOT NULL,
    idempotency_key    TEXT NOT NULL UNIQUE,
    visit_id           TEXT REFERENCES visits (id),
    patient_key        BLOB,                               -- per-patient ordering
    depends_on         TEXT REFERENCES outbox (id),
    state              TEXT NOT NULL CHECK (state IN
                         ('queued', 'sending', 'done', 'rejected', 'waiting_retry', 'superseded')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_error_kind    TEXT,                               -- 'network' | 'server' | 'record'
    last_error_message BLOB,                               -- sealed
    field_errors       BLOB,                               -- sealed JSON [{field, reason}]
    next_attempt_at    INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    payload            BLOB NOT NULL                       -- sealed
) STRICT;
CREATE INDEX outbox_by_state ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_patient ON outbox (patient_key, seq);

CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY,     -- append-only: never reused
    at      INTEGER NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL            -- a local id (visit/job UUID), never patient data
) STRICT;

CREATE TABLE kv (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,        -- sealed
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) STRICT, WITHOUT ROWID;
