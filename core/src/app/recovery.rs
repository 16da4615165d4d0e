//! Recovery of a corrupt store through the facade. [`HomeVisit::open`] moves a corrupt database
//! aside (never deletes it) and refuses with [`AppError::Corrupt`] naming where; the next open
//! starts a fresh store. [`HomeVisit::recover_moved_aside`] then re-imports every visit it can
//! still read from the moved file, with a new card-upload job for each whose upload was not done
//! (same idempotency key as before, so an upload the server already has is not stored twice),
//! once: a visit whose code the store holds is skipped, so calling it again imports nothing. The
//! visit-code counter is raised above every counter the moved file used, so no code is ever
//! issued twice, and the open finish plans come along (a visit a crash left on a card is still
//! reconciled).

use super::{AppError, COUNTER_KEY, COUNTER_NAMESPACE, DATABASE_FILE, HomeVisit};
use crate::sync::visit_day::card_upload_job;
use std::path::{Path, PathBuf};

/// Key/value namespace of the finish plans (as `visit.rs` keeps them).
const PLAN_NAMESPACE: &str = "visit-request";

/// What [`HomeVisit::recover_moved_aside`] brought back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryOutcome {
    /// Visits the moved file still holds readably.
    pub visits_found: u32,
    /// Of those, visits imported now (the others were imported before).
    pub visits_imported: u32,
    /// Card uploads queued again for imported visits whose upload was not done.
    pub uploads_queued: u32,
    /// Visit rows whose sealed body could not be opened (lost).
    pub unreadable_visits: u32,
    /// Unfinished jobs of other kinds (prescription registrations, cancellations) that cannot be
    /// rebuilt from the visit alone (redo them from their screens).
    pub jobs_not_recovered: u32,
    /// Whether the whole file could be read (false: it stopped part way; what was read is in).
    pub complete: bool,
}

impl HomeVisit {
    /// The databases moved aside as corrupt in the data directory (full paths, oldest first).
    pub fn moved_aside_databases(&self) -> Result<Vec<String>, AppError> {
        let dir = self.data_dir();
        let prefix = format!("{DATABASE_FILE}.corrupt-");
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            tracing::warn!(target: "homevisit::app", kind = %e.kind(), "data directory unreadable");
            AppError::Storage
        })?;
        let mut found: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.starts_with(&prefix) && is_main_file(n))
            .map(|n| dir.join(n).display().to_string())
            .collect();
        found.sort();
        Ok(found)
    }

    /// Re-imports what the database moved aside to `moved_to` (as [`AppError::Corrupt`] named it)
    /// still holds into this store: see the module doc. The moved file is never written.
    pub fn recover_moved_aside(&self, moved_to: &str) -> Result<RecoveryOutcome, AppError> {
        let path = self.moved_aside_path(moved_to)?;
        let report = self
            .store
            .read_moved_aside(&path, &[COUNTER_NAMESPACE, PLAN_NAMESPACE])?;
        let mut out = RecoveryOutcome {
            visits_found: count(report.visits.len()),
            unreadable_visits: count(report.unreadable_visits),
            jobs_not_recovered: count(
                report
                    .pending_jobs
                    .iter()
                    .filter(|(_, kind, _)| kind != "card_upload")
                    .count(),
            ),
            complete: report.stopped_by.is_none(),
            ..RecoveryOutcome::default()
        };
        // The counter first: a visit recorded meanwhile must not take a counter the file used.
        let mut highest = 0u64;
        for (ns, key, value) in &report.kv {
            if ns == COUNTER_NAMESPACE && key == COUNTER_KEY {
                if let Ok(b) = <[u8; 8]>::try_from(value.as_slice()) {
                    highest = highest.max(u64::from_be_bytes(b));
                }
            } else if ns == PLAN_NAMESPACE {
                let counter = serde_json::from_slice::<serde_json::Value>(value)
                    .ok()
                    .and_then(|v| v.get("code_counter").and_then(serde_json::Value::as_u64));
                highest = highest.max(counter.unwrap_or(0));
            }
        }
        self.raise_code_counter(highest)?;
        for (ns, key, value) in &report.kv {
            if ns == PLAN_NAMESPACE && self.store.kv_get(PLAN_NAMESPACE, key)?.is_none() {
                self.store.kv_put(PLAN_NAMESPACE, key, value)?;
            }
        }
        for (visit, version) in report.visits.iter().zip(&report.versions) {
            let owed = report.unfinished_uploads.contains(&visit.id);
            let jobs = if owed {
                vec![card_upload_job(visit, *version)?]
            } else {
                Vec::new()
            };
            if self.store.import_recovered_visit(visit, &jobs)? {
                out.visits_imported += 1;
                out.uploads_queued += u32::from(owed);
            }
        }
        tracing::info!(
            target: "homevisit::app",
            found = out.visits_found,
            imported = out.visits_imported,
            uploads = out.uploads_queued,
            unreadable = out.unreadable_visits,
            "moved-aside database recovered"
        );
        if out.visits_imported > 0 {
            self.changed();
            self.sync.wake();
        }
        Ok(out)
    }

    /// The app's data directory.
    fn data_dir(&self) -> PathBuf {
        self.store
            .path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// `moved_to` if it names a moved-aside database of this data directory.
    fn moved_aside_path(&self, moved_to: &str) -> Result<PathBuf, AppError> {
        let invalid = || super::input::invalid("moved_to", "is not a moved-aside database of this app");
        let path = PathBuf::from(moved_to.trim());
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(invalid)?;
        let same_dir = path
            .parent()
            .and_then(|p| p.canonicalize().ok())
            .zip(self.data_dir().canonicalize().ok())
            .is_some_and(|(a, b)| a == b);
        if !same_dir || !name.starts_with(&format!("{DATABASE_FILE}.corrupt-")) || !is_main_file(name) {
            return Err(invalid());
        }
        if !path.is_file() {
            return Err(AppError::NotFound {
                what: "moved-aside database".into(),
            });
        }
        Ok(path)
    }

    /// Raises the visit-code counter to at least `at_least` (never lowers it).
    fn raise_code_counter(&self, at_least: u64) -> Result<(), AppError> {
        let _guard = self.record_lock.lock().unwrap_or_else(|p| p.into_inner());
        let current = match self.store.kv_get(COUNTER_NAMESPACE, COUNTER_KEY)? {
            Some(b) => u64::from_be_bytes(<[u8; 8]>::try_from(b.as_slice()).map_err(|_| AppError::Internal)?),
            None => 0,
        };
        if at_least > current {
            self.store
                .kv_put(COUNTER_NAMESPACE, COUNTER_KEY, &at_least.to_be_bytes())?;
        }
        Ok(())
    }
}

/// Whether a moved-aside name is the database itself (not its WAL, shared memory or scratch copy).
fn is_main_file(name: &str) -> bool {
    !(name.ends_with("-wal") || name.ends_with("-shm") || name.ends_with(".recovering"))
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
