-- 0004: one outbox model: a job's id is its integer key (seq, the row id), so a commit no longer
-- writes a UUID index per job (issue 10 benchmark: one B-tree fewer per visit commit).
--
-- * outbox.id (TEXT UNIQUE, its own index) goes; a job is named by seq. Jobs of an older store keep
--   their UUID in seal_id: their sealed columns stay bound to it (AAD), and new jobs are sealed
--   under their seq.
-- * depends_on names the job by seq (a row-id lookup instead of the UUID index).
-- * field_errors keep their sealed JSON; the job model reads the old "reason" key as "message".
--
-- The table is rebuilt (SQLite cannot drop a UNIQUE column); foreign keys are checked at commit.

PRAGMA defer_foreign_keys = ON;

CREATE TABLE outbox_v4 (
    seq                INTEGER PRIMARY KEY,                -- the job's id and global enqueue order
                                                           -- (never reused: no deletes)
    kind               TEXT NOT NULL,
    idempotency_key    TEXT NOT NULL UNIQUE,
    visit_id           TEXT REFERENCES visits (id),
    patient_key        BLOB,                               -- per-patient ordering
    depends_on         INTEGER REFERENCES outbox_v4 (seq),
    state              TEXT NOT NULL CHECK (state IN
                         ('queued', 'sending', 'done', 'rejected', 'waiting_retry', 'superseded')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_error_kind    TEXT,                               -- 'network' | 'server' | 'record'
    last_error_message BLOB,                               -- sealed
    field_errors       BLOB,                               -- sealed JSON [{field, message}]
    next_attempt_at    INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    payload            BLOB NOT NULL,                      -- sealed
    visit_version      INTEGER,                            -- the visit version the payload froze
    server_ack         BLOB,                               -- sealed acknowledgement from the server
    order_seq          INTEGER,                            -- per-patient position; NULL = seq
    seal_id            TEXT                                -- the UUID an older job is sealed under
) STRICT;

INSERT INTO outbox_v4 (seq, kind, idempotency_key, visit_id, patient_key, depends_on, state, attempts,
                       last_error_kind, last_error_message, field_errors, next_attempt_at, created_at,
                       updated_at, payload, visit_version, server_ack, order_seq, seal_id)
SELECT o.seq, o.kind, o.idempotency_key, o.visit_id, o.patient_key,
       (SELECT d.seq FROM outbox d WHERE d.id = o.depends_on), o.state, o.attempts,
       o.last_error_kind, o.last_error_message, o.field_errors, o.next_attempt_at, o.created_at,
       o.updated_at, o.payload, o.visit_version, o.server_ack, o.order_seq, o.id
FROM outbox o;

DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;
CREATE INDEX outbox_by_state ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_patient ON outbox (patient_key, seq);
