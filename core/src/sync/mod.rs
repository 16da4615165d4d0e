//! The outbox engine: per-patient ordering, batching, idempotency, backoff, job states, deadlines.
