//! The encrypted SQLite store: migrations, sealing, repositories, the outbox and the audit log.
