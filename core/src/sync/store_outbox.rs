//! The store's outbox as the engine's [`Outbox`]: the store keeps the same job model the engine
//! drives (`crate::sync::job`), so each method is one call of `store::Store`'s outbox API.

use super::deadline::DeadlineReport;
use super::job::{Job, JobId, JobUpdate, NewJob, OutboxCounts};
use super::outbox::{CorrectedJob, Outbox, OutboxError};
use crate::store::{Correction, Store, StoreError};

pub use crate::store::outbox::visit_code_of_record;

impl From<StoreError> for OutboxError {
    fn from(e: StoreError) -> Self {
        OutboxError(e.to_string())
    }
}

impl Outbox for Store {
    fn reset_sending(&self) -> Result<usize, OutboxError> {
        Ok(self.reset_sending_to_queued()?)
    }

    fn ready(&self, now_ms: i64, limit: usize) -> Result<Vec<Job>, OutboxError> {
        Ok(self.ready_jobs(now_ms, u32::try_from(limit).unwrap_or(u32::MAX))?)
    }

    fn next_retry_after(&self, now_ms: i64) -> Result<Option<i64>, OutboxError> {
        Ok(Store::next_retry_after(self, now_ms)?)
    }

    fn make_all_due(&self, _now_ms: i64) -> Result<usize, OutboxError> {
        Ok(self.retry_all_now()?)
    }

    fn mark_sending(&self, ids: &[JobId]) -> Result<(), OutboxError> {
        Ok(Store::mark_sending(self, ids)?)
    }

    fn record(&self, updates: &[JobUpdate]) -> Result<(), OutboxError> {
        Ok(self.record_outcomes(updates)?)
    }

    fn counts(&self) -> Result<OutboxCounts, OutboxError> {
        Ok(self.outbox_counts()?)
    }

    fn job(&self, id: &JobId) -> Result<Job, OutboxError> {
        Ok(self.get_job(id)?)
    }

    fn rejected(&self) -> Result<Vec<Job>, OutboxError> {
        Ok(self.rejected_jobs(u32::MAX)?)
    }

    fn requeue_corrected(&self, id: &JobId, corrected: CorrectedJob) -> Result<JobId, OutboxError> {
        let old = self.get_job(id)?;
        let mut job = NewJob::new(old.kind, corrected.idempotency_key, corrected.payload);
        job.depends_on = old.depends_on;
        Ok(self.requeue_after_correction(id, Correction { visit: None, job })?)
    }

    fn deadlines(
        &self,
        now_ms: i64,
        deadline_ms: i64,
        window_ms: i64,
    ) -> Result<DeadlineReport, OutboxError> {
        Ok(self.upload_deadlines(now_ms, deadline_ms, window_ms)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InstitutionCode;
    use crate::platform::{ManualClock, ManualConnectivity, MemoryKeyStore};
    use crate::rules::visit_code::VisitCodeGenerator;
    use crate::store;
    use crate::sync::fake::{FakeTarget, Fault};
    use crate::sync::visit_day::{capture, synthetic_visit};
    use crate::sync::{Backoff, DrainOptions, ManualSleeper, SyncConfig, SyncEngine};
    use crate::sync::{FieldError, JobState};
    use std::sync::Arc;

    const H: i64 = 3_600_000;

    #[tokio::test]
    async fn the_engine_drives_the_real_store() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_763_900_000_000;
        let clock = ManualClock::new(now);
        let store = Arc::new(
            Store::open_with_clock(
                dir.path().join("app.db"),
                &MemoryKeyStore::with_seed(1),
                clock.clone(),
            )
            .unwrap(),
        );
        let codes = VisitCodeGenerator::new(&[1; 32], "unit").unwrap();
        let inst = InstitutionCode::parse("3501200000").unwrap();
        let mut visits = Vec::new();
        for n in 0..6u64 {
            let visited = if n == 0 {
                now - 25 * H
            } else {
                now - H + n as i64 * 1000
            };
            let mut v = synthetic_visit(&codes, &inst, n % 2, n, visited).unwrap();
            if n == 0 {
                v.abnormal_reason = Some("A020 network unavailable".into());
            }
            capture(&store, &v).unwrap();
            visits.push(v);
        }
        let bad_code = visits[1].visit_code.clone();
        let target = Arc::new(FakeTarget::new().with_validator(Box::new(move |item| {
            (item.visit_code == bad_code).then(|| {
                (
                    "M13 out of range".to_string(),
                    vec![FieldError {
                        field: "M13".into(),
                        message: "out of range".into(),
                    }],
                )
            })
        })));
        // The first answer is lost after the server stored the batch.
        target.script([Some(Fault::LostResponse)]);
        let engine = SyncEngine::new(
            store.clone(),
            target.clone(),
            clock.clone(),
            ManualConnectivity::new(true),
            SyncConfig {
                batch_size: 10,
                backoff: Backoff {
                    base_ms: 1_000,
                    cap_ms: 10_000,
                },
                jitter_seed: Some(1),
                ..SyncConfig::default()
            },
        )
        .with_sleeper(Arc::new(ManualSleeper(clock.clone())));
        let sum = engine.drain(DrainOptions::default()).await.unwrap();
        assert!(sum.complete, "{sum:?}");
        assert_eq!((sum.done, sum.rejected), (5, 1));
        let counts = store.outbox_counts().unwrap();
        assert_eq!((counts.done, counts.rejected, counts.remaining()), (5, 1, 0));
        // Exactly once, in capture order per patient.
        let recorded = target.recorded();
        assert_eq!(recorded.len(), 5);
        let order = |p: usize| -> Vec<String> {
            recorded
                .iter()
                .filter(|r| visits.iter().position(|v| v.visit_code == r.visit_code).unwrap() % 2 == p)
                .map(|r| r.visit_code.clone())
                .collect()
        };
        assert_eq!(order(0), [0, 2, 4].map(|i| visits[i].visit_code.clone()));
        assert_eq!(order(1), [3, 5].map(|i| visits[i].visit_code.clone()));
        // The rejection is stored with its field, and shown through the engine.
        let rejected = engine.rejected().unwrap();
        assert_eq!(rejected[0].visit_code, visits[1].visit_code);
        assert!(matches!(&rejected[0].state, JobState::Rejected(r) if r.fields[0].field == "M13"));
        // The late visit is in the deadline report with why it was abnormal; the rejected one
        // (due in 23 h) is not yet at risk.
        let d = engine.deadlines().unwrap();
        assert_eq!(d.missed.len(), 1);
        assert_eq!(d.missed[0].visit_code, visits[0].visit_code);
        assert_eq!(
            d.missed[0].abnormal_reason.as_deref(),
            Some("A020 network unavailable")
        );
        assert!(d.missed[0].uploaded_at_ms.is_some());
        assert!(d.at_risk.is_empty());
        clock.advance_ms(21 * H);
        let d = engine.deadlines().unwrap();
        assert_eq!(d.at_risk.len(), 1);
        assert_eq!(d.at_risk[0].state, "rejected");
    }

    #[tokio::test]
    async fn start_up_requeues_what_a_crash_left_sending_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path().join("app.db"), &MemoryKeyStore::with_seed(1)).unwrap());
        let codes = VisitCodeGenerator::new(&[1; 32], "unit").unwrap();
        let inst = InstitutionCode::parse("3501200000").unwrap();
        let v = synthetic_visit(&codes, &inst, 0, 0, 1_763_900_000_000).unwrap();
        let id = capture(&store, &v).unwrap();
        Store::mark_sending(&store, std::slice::from_ref(&id)).unwrap();
        let target = Arc::new(FakeTarget::new());
        let engine = SyncEngine::new(
            store.clone(),
            target.clone(),
            Arc::new(crate::platform::SystemClock),
            ManualConnectivity::new(true),
            SyncConfig::default(),
        );
        assert_eq!(engine.start_up().unwrap(), 1);
        assert!(engine.drain(DrainOptions::default()).await.unwrap().complete);
        assert_eq!(target.recorded_counts().get(&v.visit_code), Some(&1));
    }

    #[test]
    fn jobs_carry_the_visit_time_and_code_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("app.db"), &MemoryKeyStore::with_seed(1)).unwrap();
        let codes = VisitCodeGenerator::new(&[1; 32], "unit").unwrap();
        let inst = InstitutionCode::parse("3501200000").unwrap();
        let visited = 1_763_900_000_000;
        let v = synthetic_visit(&codes, &inst, 0, 0, visited).unwrap();
        capture(&store, &v).unwrap();
        // A job of another kind of the same visit takes the visit's code from the store.
        store
            .enqueue(
                Some(&v.id),
                &[store::NewJob::new(
                    store::JobKind::PrescriptionRegistration,
                    "rx-k",
                    b"{}".to_vec(),
                )],
            )
            .unwrap();
        let jobs: Vec<Job> = store.jobs_for_visit(&v.id).unwrap();
        assert_eq!(jobs.len(), 2);
        for j in &jobs {
            assert_eq!(j.visited_at_ms, Some(v.visited_at.timestamp_millis()), "{j:?}");
            assert_eq!(j.visit_code, v.visit_code);
        }
        let ready = Outbox::ready(&store, visited + 1, 10).unwrap();
        assert_eq!(ready[0].visited_at_ms, Some(v.visited_at.timestamp_millis()));
    }

    #[test]
    fn finds_the_visit_code_in_a_record() {
        let rec = b"<REC><MB><MB1><M13>F00B</M13><M15>0123456789ABCDEFGHJK</M15></MB1></MB></REC>";
        assert_eq!(visit_code_of_record(rec).as_deref(), Some("0123456789ABCDEFGHJK"));
        assert_eq!(visit_code_of_record(b"<REC><M15>SHORT</M15></REC>"), None);
        assert_eq!(visit_code_of_record(b"garbage"), None);
        assert_eq!(visit_code_of_record(b"<M15>0123456789ABCDEFGHJK"), None);
    }
}
