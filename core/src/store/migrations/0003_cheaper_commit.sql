-- 0003: fewer index pages written per visit commit (issue 3 benchmark: each index a commit touches
-- is one more 4 KiB page in the WAL and one more write).
--
-- * visits_pending_due goes: the upload deadline is always visited_at + 24 h, so the deadline
--   report reads visits_by_time, which now also carries uploaded_at (pending and late uploads are
--   found in the index without reading the sealed rows).
-- * visits_by_patient goes: every visit has at least one outbox job carrying the visit's current
--   patient_key (jobs follow a corrected patient), so outbox_by_patient finds a patient's visits.

DROP INDEX visits_pending_due;
DROP INDEX visits_by_patient;
DROP INDEX visits_by_time;
CREATE INDEX visits_by_time ON visits (visited_at, id, uploaded_at);
