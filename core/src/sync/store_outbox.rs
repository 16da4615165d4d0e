//! The store's outbox as the engine's [`Outbox`]: a thin mapping onto `store::Store`'s outbox API
//! (ready jobs, transitions recorded per batch in one transaction, counts, reset at start-up).

use super::deadline::{DeadlineEntry, DeadlineReport, DeadlineStatus};
use super::job::{FieldError, Job, JobId, JobState, JobUpdate, OutboxCounts, Rejection};
use super::outbox::{CorrectedJob, Outbox, OutboxError};
use super::target::FailureClass;
use crate::store::{self, Store, StoreError};

impl From<StoreError> for OutboxError {
    fn from(e: StoreError) -> Self {
        OutboxError(e.to_string())
    }
}

/// The visit identification code (M15) inside a frozen 2.0 record, if there is one. Big5 never
/// uses `<` as a trail byte, so the ASCII search cannot match inside a Chinese character.
pub fn visit_code_of_record(record: &[u8]) -> Option<String> {
    let open = b"<M15>";
    let start = record.windows(open.len()).position(|w| w == open)? + open.len();
    let len = record[start..].iter().position(|&b| b == b'<')?;
    let code = &record[start..start + len];
    (code.len() == 20 && code.iter().all(u8::is_ascii_alphanumeric))
        .then(|| String::from_utf8_lossy(code).into_owned())
}

fn sid(id: &JobId) -> store::JobId {
    store::JobId::from_string(id.clone())
}

fn map_job(j: store::Job) -> Job {
    let state = match j.state {
        store::JobState::Queued => JobState::Queued,
        store::JobState::Sending => JobState::Sending,
        store::JobState::Done => JobState::Done,
        store::JobState::Rejected => JobState::Rejected(Rejection {
            reason: j
                .last_error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
            fields: j
                .field_errors
                .iter()
                .map(|f| FieldError {
                    field: f.field.clone(),
                    message: f.reason.clone(),
                })
                .collect(),
        }),
        store::JobState::WaitingRetry => JobState::WaitingRetry {
            next_at_ms: j.next_attempt_at_ms.unwrap_or(0),
        },
        store::JobState::Superseded => JobState::Superseded,
    };
    // A card upload carries its code in the frozen record (M15); any other job of a visit takes the
    // visit's code from the store.
    let stored_code = j.visit_code.clone().unwrap_or_default();
    let visit_code = if j.kind == store::JobKind::CardUpload {
        visit_code_of_record(&j.payload).unwrap_or(stored_code)
    } else {
        stored_code
    };
    Job {
        id: j.id.as_str().to_string(),
        kind: j.kind.as_str().to_string(),
        ordering_key: j.ordering_key,
        visit_id: j.visit_id,
        visit_code,
        depends_on: j.depends_on.map(|d| d.as_str().to_string()),
        idempotency_key: j.idempotency_key,
        done_at_ms: (j.state == store::JobState::Done).then_some(j.updated_at_ms),
        last_error: j.last_error.map(|e| e.message),
        payload: j.payload,
        state,
        attempts: j.attempts,
        seq: j.seq,
        created_at_ms: j.created_at_ms,
        visited_at_ms: j.visited_at_ms,
        abnormal_reason: None,
    }
}

fn error_kind(c: FailureClass) -> store::JobErrorKind {
    match c {
        FailureClass::Network => store::JobErrorKind::Network,
        FailureClass::Server => store::JobErrorKind::Server,
        FailureClass::Record => store::JobErrorKind::Record,
    }
}

fn outcome(u: &JobUpdate) -> store::Outcome {
    match u {
        JobUpdate::Done { id, ack, .. } => store::Outcome::Done {
            id: sid(id),
            server_ack: ack.clone(),
        },
        JobUpdate::Retry {
            id,
            next_at_ms,
            class,
            error,
        } => store::Outcome::Retry {
            id: sid(id),
            error: store::JobError {
                kind: error_kind(*class),
                message: error.clone(),
            },
            next_attempt_at_ms: *next_at_ms,
        },
        JobUpdate::Rejected { id, rejection } => store::Outcome::Rejected {
            id: sid(id),
            reason: rejection.reason.clone(),
            field_errors: rejection
                .fields
                .iter()
                .map(|f| store::FieldError {
                    field: f.field.clone(),
                    reason: f.message.clone(),
                })
                .collect(),
        },
    }
}

impl Outbox for Store {
    fn reset_sending(&self) -> Result<usize, OutboxError> {
        Ok(self.reset_sending_to_queued()?)
    }

    fn ready(&self, now_ms: i64, limit: usize) -> Result<Vec<Job>, OutboxError> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        Ok(self.ready_jobs(now_ms, limit)?.into_iter().map(map_job).collect())
    }

    fn next_retry_after(&self, now_ms: i64) -> Result<Option<i64>, OutboxError> {
        match self.next_retry_at()? {
            Some(at) if at > now_ms => Ok(Some(at)),
            None => Ok(None),
            // Some waiting job is due but not ready (it waits behind another): look further.
            Some(_) => Ok(self
                .jobs_in_state(store::JobState::WaitingRetry, u32::MAX)?
                .iter()
                .filter_map(|j| j.next_attempt_at_ms)
                .filter(|&at| at > now_ms)
                .min()),
        }
    }

    fn make_all_due(&self, _now_ms: i64) -> Result<usize, OutboxError> {
        Ok(self.retry_all_now()?)
    }

    fn mark_sending(&self, ids: &[JobId]) -> Result<(), OutboxError> {
        let ids: Vec<store::JobId> = ids.iter().map(sid).collect();
        Ok(Store::mark_sending(self, &ids)?)
    }

    fn record(&self, updates: &[JobUpdate]) -> Result<(), OutboxError> {
        let outcomes: Vec<store::Outcome> = updates.iter().map(outcome).collect();
        Ok(self.record_outcomes(&outcomes)?)
    }

    fn counts(&self) -> Result<OutboxCounts, OutboxError> {
        let c = self.outbox_counts()?;
        let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Ok(OutboxCounts {
            queued: n(c.queued),
            sending: n(c.sending),
            done: n(c.done),
            rejected: n(c.rejected),
            waiting_retry: n(c.waiting_retry),
        })
    }

    fn job(&self, id: &JobId) -> Result<Job, OutboxError> {
        Ok(map_job(self.get_job(&sid(id))?))
    }

    fn rejected(&self) -> Result<Vec<Job>, OutboxError> {
        Ok(self
            .jobs_in_state(store::JobState::Rejected, u32::MAX)?
            .into_iter()
            .map(map_job)
            .collect())
    }

    fn requeue_corrected(&self, id: &JobId, corrected: CorrectedJob) -> Result<JobId, OutboxError> {
        let old = self.get_job(&sid(id))?;
        let mut job = store::NewJob::new(old.kind, corrected.idempotency_key, corrected.payload);
        job.depends_on = old.depends_on;
        let new_id = self.requeue_after_correction(&sid(id), store::Correction { visit: None, job })?;
        Ok(new_id.as_str().to_string())
    }

    fn deadlines(
        &self,
        now_ms: i64,
        _deadline_ms: i64,
        window_ms: i64,
    ) -> Result<DeadlineReport, OutboxError> {
        let report = self.upload_deadlines(now_ms, window_ms)?;
        let entry = |d: store::VisitDeadline, status: DeadlineStatus| -> Result<DeadlineEntry, OutboxError> {
            let jobs = self.jobs_for_visit(&d.visit_id)?;
            let worst = jobs
                .iter()
                .filter(|j| j.state != store::JobState::Superseded)
                .min_by_key(|j| match j.state {
                    store::JobState::Rejected => 0,
                    store::JobState::WaitingRetry => 1,
                    store::JobState::Queued => 2,
                    store::JobState::Sending => 3,
                    _ => 4,
                });
            let abnormal_reason = self.get_visit(&d.visit_id)?.visit.abnormal_reason;
            Ok(DeadlineEntry {
                visit_id: d.visit_id,
                visit_code: d.visit_code,
                visited_at_ms: d.visited_at_ms,
                due_at_ms: d.upload_due_at_ms,
                uploaded_at_ms: d.uploaded_at_ms,
                status,
                state: worst.map(|j| j.state.as_str()).unwrap_or("done").to_string(),
                abnormal_reason,
                last_error: jobs
                    .iter()
                    .rev()
                    .find_map(|j| j.last_error.as_ref().map(|e| e.message.clone())),
            })
        };
        Ok(DeadlineReport {
            at_risk: report
                .at_risk
                .into_iter()
                .map(|d| entry(d, DeadlineStatus::AtRisk))
                .collect::<Result<_, _>>()?,
            missed: report
                .missed
                .into_iter()
                .map(|d| entry(d, DeadlineStatus::Missed))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InstitutionCode;
    use crate::platform::{ManualClock, ManualConnectivity, MemoryKeyStore};
    use crate::rules::visit_code::VisitCodeGenerator;
    use crate::sync::fake::{FakeTarget, Fault};
    use crate::sync::visit_day::{capture, synthetic_visit};
    use crate::sync::{Backoff, DrainOptions, ManualSleeper, SyncConfig, SyncEngine};
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
        assert_eq!((counts.done, counts.rejected, counts.pending()), (5, 1, 0));
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
        let jobs: Vec<Job> = store
            .jobs_for_visit(&v.id)
            .unwrap()
            .into_iter()
            .map(map_job)
            .collect();
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
