-- 0002: upload tracking for the 24-hour rule, frozen job snapshots, server acks, audit detail,
-- and an append-only audit log.

ALTER TABLE visits ADD COLUMN uploaded_at INTEGER;          -- when the card upload was confirmed
CREATE INDEX visits_pending_due ON visits (upload_due_at) WHERE uploaded_at IS NULL;

ALTER TABLE outbox ADD COLUMN visit_version INTEGER;        -- the visit version the payload froze
ALTER TABLE outbox ADD COLUMN server_ack BLOB;              -- sealed acknowledgement from the server
ALTER TABLE outbox ADD COLUMN order_seq INTEGER;            -- per-patient position; NULL = seq (a
                                                            -- correction takes its rejected job's)

ALTER TABLE audit ADD COLUMN detail TEXT NOT NULL DEFAULT '';  -- never patient data

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
