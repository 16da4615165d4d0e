//! Unit tests of the engine against the in-memory outbox and the fake server, in virtual time.

use super::fake::{FakeTarget, Fault};
use super::*;
use crate::platform::{Clock, ManualClock, ManualConnectivity};
use std::sync::Arc;

const T0: i64 = 1_700_000_000_000;

struct Rig {
    outbox: Arc<MemoryOutbox>,
    target: Arc<FakeTarget>,
    clock: Arc<ManualClock>,
    net: Arc<ManualConnectivity>,
    engine: SyncEngine,
    log: Arc<EventLog>,
    _sub: Subscription,
}

fn config(batch: usize) -> SyncConfig {
    SyncConfig {
        batch_size: batch,
        max_in_flight: 2,
        backoff: Backoff {
            base_ms: 1_000,
            cap_ms: 60_000,
        },
        jitter_seed: Some(11),
        ..SyncConfig::default()
    }
}

fn rig(target: FakeTarget, cfg: SyncConfig) -> Rig {
    let outbox = Arc::new(MemoryOutbox::new());
    let target = Arc::new(target);
    let clock = ManualClock::new(T0);
    let net = ManualConnectivity::new(true);
    let engine = SyncEngine::new(outbox.clone(), target.clone(), clock.clone(), net.clone(), cfg)
        .with_sleeper(Arc::new(ManualSleeper(clock.clone())));
    let log = EventLog::new();
    let sub = engine.subscribe(log.clone());
    Rig {
        outbox,
        target,
        clock,
        net,
        engine,
        log,
        _sub: sub,
    }
}

/// A job and the visit it belongs to, as the tests enqueue them.
struct TestJob {
    job: NewJob,
    visit: JobVisit,
}

fn visit_job(patient: usize, visit: usize) -> TestJob {
    let job = NewJob::new(
        JobKind::CardUpload,
        format!("idem-{visit}"),
        format!("<REC>{visit}</REC>").into_bytes(),
    );
    TestJob {
        job,
        visit: JobVisit {
            visit_id: format!("visit-{visit}"),
            ordering_key: format!("patient-{patient}"),
            visit_code: format!("CODE{visit:016}"),
            visited_at_ms: T0 - 3_600_000,
            abnormal_reason: None,
        },
    }
}

fn enqueue_at(outbox: &MemoryOutbox, t: TestJob, now_ms: i64) -> JobId {
    outbox.enqueue(Some(&t.visit), t.job, now_ms).unwrap()
}

impl Rig {
    fn enqueue(&self, t: TestJob) -> JobId {
        enqueue_at(&self.outbox, t, self.clock.now_unix_ms())
    }
    fn states(&self) -> Vec<String> {
        self.outbox
            .all()
            .unwrap()
            .iter()
            .map(|j| j.state.name().to_string())
            .collect()
    }
}

fn assert_exactly_once(target: &FakeTarget, n: usize) {
    let counts = target.recorded_counts();
    assert_eq!(counts.len(), n, "every visit reached the server");
    assert!(
        counts.values().all(|&c| c == 1),
        "no visit recorded twice: {counts:?}"
    );
}

#[tokio::test]
async fn drains_everything_in_batches_and_in_order_per_patient() {
    let r = rig(FakeTarget::new(), config(4));
    // 3 patients, 4 visits each, interleaved.
    for v in 0..12 {
        r.enqueue(visit_job(v % 3, v));
    }
    let sum = r.engine.drain(DrainOptions::default()).await.unwrap();
    assert!(sum.complete && sum.remaining == 0 && sum.stopped.is_none());
    assert_eq!(sum.done, 12);
    assert_exactly_once(&r.target, 12);
    // Per patient, the server saw the visits in capture order.
    let recorded = r.target.recorded();
    for p in 0..3 {
        let order: Vec<usize> = recorded
            .iter()
            .map(|i| i.idempotency_key["idem-".len()..].parse::<usize>().unwrap())
            .filter(|v| v % 3 == p)
            .collect();
        assert_eq!(
            order,
            (0..4).map(|k| k * 3 + p).collect::<Vec<_>>(),
            "patient {p} out of order"
        );
    }
    // One job per patient per round: 3 per round, 4 rounds → 4 batches of 3.
    let events = r.log.events();
    let batches: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::BatchSent { jobs, .. } => Some(*jobs),
            _ => None,
        })
        .collect();
    assert_eq!(batches, [3, 3, 3, 3]);
    assert_eq!(events.first(), Some(&SyncEvent::Started { pending: 12 }));
    assert!(matches!(events.last(), Some(SyncEvent::Drained(s)) if s.complete && s.done == 12));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, SyncEvent::JobDone { .. }))
            .count(),
        12
    );
}

#[tokio::test]
async fn many_patients_fill_whole_batches() {
    let r = rig(FakeTarget::new(), config(10));
    for v in 0..25 {
        r.enqueue(visit_job(v, v));
    }
    let sum = r.engine.drain(DrainOptions::default()).await.unwrap();
    assert!(sum.complete);
    // 20 per round (2 in flight × 10), then 5.
    assert_eq!(sum.batches, 3);
    assert_eq!(r.target.calls(), 3);
}

#[tokio::test]
async fn partial_success_is_recorded_per_job_and_lost_answers_are_not_duplicated() {
    let r = rig(FakeTarget::new(), config(6));
    for v in 0..6 {
        r.enqueue(visit_job(v, v));
    }
    // First call: the server answers for half of the batch only. Second call (the retry of the
    // other half): the server records it but the answer is lost. Third: clean.
    r.target
        .script([Some(Fault::HalfAnswered), Some(Fault::LostResponse), None]);
    let sum = r.engine.drain(DrainOptions::default()).await.unwrap();
    assert!(sum.complete, "{sum:?}");
    assert_eq!(sum.done, 6);
    // 3 unanswered, then at least the first retried one had its answer lost.
    assert!(sum.retries >= 4, "{sum:?}");
    assert_exactly_once(&r.target, 6);
    let jobs = r.outbox.all().unwrap();
    // The first half were confirmed on the first call: one attempt each; the rest needed more.
    assert!(jobs[..3].iter().all(|j| j.attempts == 1));
    assert!(jobs[3..].iter().all(|j| j.attempts >= 2));
    assert!(jobs[3..].iter().any(|j| j.attempts == 3));
}

#[tokio::test]
async fn backoff_doubles_with_jitter_up_to_the_cap_in_virtual_time() {
    let r = rig(
        FakeTarget::new(),
        SyncConfig {
            backoff: Backoff {
                base_ms: 1_000,
                cap_ms: 8_000,
            },
            ..config(5)
        },
    );
    r.enqueue(visit_job(0, 0));
    r.target.script([Some(Fault::NetworkBefore); 6]);
    let start = r.clock.now_unix_ms();
    let sum = r.engine.drain(DrainOptions::default()).await.unwrap();
    assert!(sum.complete);
    assert_eq!(sum.retries, 6);
    let waits: Vec<(u32, i64)> = r
        .log
        .events()
        .iter()
        .filter_map(|e| match e {
            SyncEvent::JobRetry {
                attempt,
                next_at_ms,
                class,
                ..
            } => {
                assert_eq!(*class, FailureClass::Network);
                Some((*attempt, *next_at_ms))
            }
            _ => None,
        })
        .collect();
    let mut prev = start;
    for (i, (attempt, at)) in waits.iter().enumerate() {
        assert_eq!(*attempt as usize, i + 1);
        let ceiling = [1_000, 2_000, 4_000, 8_000, 8_000, 8_000][i];
        let wait = at - prev;
        assert!(
            wait >= ceiling / 2 && wait <= ceiling,
            "retry {attempt}: waited {wait}, ceiling {ceiling}"
        );
        prev = *at;
    }
    // The whole schedule ran in virtual time: the clock stands at the last retry.
    assert_eq!(r.clock.now_unix_ms(), prev);
    assert_eq!(r.outbox.all().unwrap()[0].attempts, 7);
}

#[tokio::test]
async fn failures_are_sorted_into_network_server_and_record() {
    let target = FakeTarget::new().with_validator(Box::new(|item| {
        item.visit_code.ends_with("13").then(|| {
            (
                "M13 must be 0001-1500 for visit type 01".to_string(),
                vec![FieldError {
                    field: "M13".into(),
                    message: "out of range".into(),
                }],
            )
        })
    }));
    let r = rig(target, config(10));
    for v in 10..16 {
        r.enqueue(visit_job(v, v));
    }
    r.target.script([
        Some(Fault::ServerError),
        Some(Fault::ItemRetry),
        Some(Fault::GarbageAfter),
    ]);
    let sum = r.engine.drain(DrainOptions::default()).await.unwrap();
    let classes: Vec<FailureClass> = r
        .log
        .events()
        .iter()
        .filter_map(|e| match e {
            SyncEvent::JobRetry { class, .. } => Some(*class),
            _ => None,
        })
        .collect();
    assert!(
        classes.iter().all(|c| *c == FailureClass::Server),
        "5xx, per-record retry and garbage are server failures"
    );
    assert_eq!(sum.done, 5);
    assert_eq!(sum.rejected, 1);
    assert!(!sum.complete || sum.remaining == 0);
    assert!(
        sum.complete,
        "a rejected job is not owed to the server: the queue is drained"
    );
    assert_eq!(sum.rejected_total, 1);
    let rejected = r.engine.rejected().unwrap();
    assert_eq!(rejected.len(), 1);
    match &rejected[0].state {
        JobState::Rejected(rej) => {
            assert!(rej.reason.contains("M13"));
            assert_eq!(rej.fields[0].field, "M13");
        }
        other => panic!("expected rejected, got {other:?}"),
    }
    assert_eq!(r.target.recorded_counts().len(), 5);
}

#[tokio::test]
async fn a_malformed_batch_is_split_so_one_bad_record_holds_back_nobody() {
    let target = FakeTarget::new().with_malformed(Box::new(|item| item.payload.starts_with(b"<BAD")));
    let r = rig(target, config(10));
    for v in 0..5 {
        r.enqueue(visit_job(v, v));
    }
    let mut bad = visit_job(9, 9);
    bad.job.payload = b"<BAD".to_vec();
    let bad_id = r.enqueue(bad);
    let sum = r.engine.drain(DrainOptions::default()).await.unwrap();
    assert_eq!(sum.done, 5);
    assert_eq!(sum.rejected, 1);
    assert!(
        matches!(r.outbox.job(&bad_id).unwrap().state, JobState::Rejected(ref j) if j.reason.contains("malformed"))
    );
    assert_exactly_once(&r.target, 5);
}

#[tokio::test]
async fn a_rejected_job_blocks_only_its_dependants_and_is_corrected_and_accepted() {
    let target = FakeTarget::new().with_validator(Box::new(|item| {
        item.payload
            .starts_with(b"<INVALID")
            .then(|| ("M07 unknown visit type".to_string(), vec![]))
    }));
    let r = rig(target, config(10));
    let mut first = visit_job(1, 1);
    first.job.payload = b"<INVALID>".to_vec();
    let a = r.enqueue(first);
    // The prescription registration of the same visit depends on it.
    let mut rx = visit_job(1, 1);
    rx.job.kind = JobKind::PrescriptionRegistration;
    rx.job.idempotency_key = "idem-rx-1".into();
    rx.visit.visit_code = "RXOF1".into();
    rx.job.depends_on = Some(a.clone());
    let b = r.enqueue(rx);
    // The same patient's next visit and other patients' visits do not depend on it.
    let c = r.enqueue(visit_job(1, 2));
    for v in 3..6 {
        r.enqueue(visit_job(v, v));
    }
    let sum = r.engine.drain(DrainOptions::default()).await.unwrap();
    assert_eq!(sum.rejected, 1);
    assert_eq!(
        sum.done, 4,
        "the patient's later visit and the other patients went through"
    );
    assert!(!sum.complete, "the dependant job is still owed");
    assert_eq!(sum.stopped, Some(StopReason::Blocked));
    assert_eq!(r.outbox.job(&b).unwrap().state, JobState::Queued);
    assert_eq!(r.outbox.job(&c).unwrap().state, JobState::Done);
    // The user corrects the visit; the new version goes with a new idempotency key.
    let a2 = r
        .engine
        .requeue_corrected(
            &a,
            CorrectedJob {
                payload: b"<REC>1 fixed</REC>".to_vec(),
                idempotency_key: "idem-1-v2".into(),
                visit_code: None,
            },
        )
        .unwrap();
    let sum = r.engine.send_now().await.unwrap();
    assert!(sum.complete, "{sum:?}");
    assert_eq!(sum.done, 2);
    assert_eq!(r.outbox.job(&a).unwrap().state, JobState::Superseded);
    assert_eq!(r.outbox.job(&a2).unwrap().state, JobState::Done);
    assert_eq!(r.states().iter().filter(|s| *s == "done").count(), 6);
    // The dependant went after the corrected record.
    let keys: Vec<String> = r
        .target
        .recorded()
        .iter()
        .map(|i| i.idempotency_key.clone())
        .collect();
    let pos = |k: &str| keys.iter().position(|x| x == k).unwrap();
    assert!(pos("idem-1-v2") < pos("idem-rx-1"));
}

#[tokio::test]
async fn offline_sends_nothing_and_never_reports_complete() {
    let r = rig(FakeTarget::new(), config(10));
    for v in 0..3 {
        r.enqueue(visit_job(v, v));
    }
    r.net.set_online(false);
    let sum = r.engine.drain(DrainOptions::default()).await.unwrap();
    assert_eq!(sum.stopped, Some(StopReason::Offline));
    assert!(!sum.complete);
    assert_eq!(sum.remaining, 3);
    assert_eq!(r.target.calls(), 0);
    r.net.set_online(true);
    assert!(r.engine.drain(DrainOptions::default()).await.unwrap().complete);
}

#[tokio::test]
async fn time_budget_stops_with_work_remaining_and_send_now_skips_the_wait() {
    let r = rig(FakeTarget::new(), config(10));
    r.enqueue(visit_job(0, 0));
    r.target.script([Some(Fault::ServerError)]);
    let sum = r
        .engine
        .drain(DrainOptions {
            force: false,
            time_budget_ms: Some(0),
        })
        .await
        .unwrap();
    assert_eq!(sum.stopped, Some(StopReason::TimeBudget));
    assert!(!sum.complete);
    assert_eq!(sum.remaining, 1);
    let before = r.clock.now_unix_ms();
    let sum = r.engine.send_now().await.unwrap();
    assert!(sum.complete);
    assert_eq!(
        r.clock.now_unix_ms(),
        before,
        "send now did not wait for the backoff"
    );
}

#[tokio::test]
async fn start_up_requeues_jobs_a_crash_left_sending() {
    let r = rig(FakeTarget::new(), config(10));
    let id = r.enqueue(visit_job(0, 0));
    r.outbox.mark_sending(std::slice::from_ref(&id)).unwrap();
    assert_eq!(r.engine.counts().unwrap().sending, 1);
    assert_eq!(r.engine.start_up().unwrap(), 1);
    assert_eq!(r.engine.job(&id).unwrap().state, JobState::Queued);
    assert!(r.engine.drain(DrainOptions::default()).await.unwrap().complete);
}

#[tokio::test]
async fn random_faults_of_every_kind_still_give_exactly_once() {
    let r = rig(FakeTarget::new().with_fault_rate(0.4, 99), config(7));
    for v in 0..200 {
        r.enqueue(visit_job(v % 37, v));
    }
    let sum = r.engine.drain(DrainOptions::default()).await.unwrap();
    assert!(sum.complete, "{sum:?}");
    assert!(sum.retries > 0);
    assert_exactly_once(&r.target, 200);
    assert_eq!(r.engine.counts().unwrap().done, 200);
}

#[tokio::test]
async fn deadlines_list_at_risk_and_missed_visits() {
    let r = rig(FakeTarget::new(), config(10));
    let mut late = visit_job(0, 0);
    late.visit.visited_at_ms = T0 - 25 * 3_600_000;
    late.visit.abnormal_reason = Some("F00B offline card recognition".into());
    r.enqueue(late);
    let mut risk = visit_job(1, 1);
    risk.visit.visited_at_ms = T0 - 21 * 3_600_000;
    r.enqueue(risk);
    r.enqueue(visit_job(2, 2));
    let d = r.engine.deadlines().unwrap();
    assert_eq!(d.missed.len(), 1);
    assert_eq!(
        d.missed[0].abnormal_reason.as_deref(),
        Some("F00B offline card recognition")
    );
    assert_eq!(d.at_risk.len(), 1);
    assert_eq!(d.at_risk[0].visit_id, "visit-1");
    r.engine.drain(DrainOptions::default()).await.unwrap();
    let d = r.engine.deadlines().unwrap();
    assert!(d.at_risk.is_empty());
    assert_eq!(d.missed.len(), 1, "a late upload stays in the report");
    assert!(d.missed[0].uploaded_at_ms.is_some());
}

/// Waits (bounded) for a complete drain event on `rx`.
async fn until_complete(rx: &mut tokio::sync::mpsc::UnboundedReceiver<SyncEvent>) -> DrainSummary {
    let wait = async {
        loop {
            match rx.recv().await {
                Some(SyncEvent::Drained(s)) if s.complete => return s,
                Some(_) => {}
                None => panic!("engine dropped"),
            }
        }
    };
    // A bound only against a hang: a correct loop drains these jobs in milliseconds.
    tokio::time::timeout(std::time::Duration::from_secs(300), wait)
        .await
        .expect("the background loop drained")
}

#[tokio::test]
async fn background_loop_drains_when_connectivity_returns_and_on_send_now() {
    let r = rig(FakeTarget::new(), config(10));
    let net = r.net.clone();
    net.set_online(false);
    let engine = Arc::new(r.engine);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _sub = engine.subscribe(Arc::new(tx));
    let bg = engine.spawn(5);
    enqueue_at(&r.outbox, visit_job(0, 0), T0);
    // A drain while offline (serialised with the loop's) stops at once and sends nothing.
    let offline = engine.drain(DrainOptions::default()).await.unwrap();
    assert_eq!(offline.stopped, Some(StopReason::Offline));
    assert_eq!(r.target.calls(), 0, "nothing is sent while offline");
    net.set_online(true);
    let s = until_complete(&mut rx).await;
    assert_eq!(s.done, 1);
    assert_eq!(r.target.recorded_counts().len(), 1, "drained once online");
    drop(bg);
    // Without the poll loop, "send now" from the user drains at once.
    let bg = engine.spawn(3_600_000);
    enqueue_at(&r.outbox, visit_job(1, 1), T0);
    engine.request_send_now();
    until_complete(&mut rx).await;
    assert_eq!(r.target.recorded_counts().len(), 2);
    drop(bg);
}

#[test]
fn events_reach_a_channel_and_a_dropped_subscription_stops_them() {
    let r = rig(FakeTarget::new(), config(10));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sub = r.engine.subscribe(Arc::new(tx));
    r.enqueue(visit_job(0, 0));
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(r.engine.drain(DrainOptions::default())).unwrap();
    let mut got = Vec::new();
    while let Ok(e) = rx.try_recv() {
        got.push(e);
    }
    assert!(matches!(got.first(), Some(SyncEvent::Started { pending: 1 })));
    assert!(got.iter().any(|e| matches!(e, SyncEvent::JobDone { .. })));
    drop(sub);
    r.enqueue(visit_job(1, 1));
    rt.block_on(r.engine.drain(DrainOptions::default())).unwrap();
    assert!(rx.try_recv().is_err(), "no events after unsubscribing");
}

/// A server whose first call never answers (and says when it is reached); later calls are handled
/// by a fake.
struct HangsOnce {
    hung: std::sync::atomic::AtomicBool,
    reached: tokio::sync::Notify,
    inner: FakeTarget,
}

#[async_trait::async_trait]
impl UploadTarget for HangsOnce {
    async fn upload(&self, items: &[UploadItem]) -> Result<Vec<ItemResult>, UploadError> {
        if !self.hung.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.reached.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner.upload(items).await
    }
}

#[tokio::test]
async fn a_cancelled_drain_leaves_nothing_stuck_in_sending() {
    let outbox = Arc::new(MemoryOutbox::new());
    let target = Arc::new(HangsOnce {
        hung: Default::default(),
        reached: tokio::sync::Notify::new(),
        inner: FakeTarget::new(),
    });
    let clock = ManualClock::new(T0);
    let engine = SyncEngine::new(
        outbox.clone(),
        target.clone(),
        clock.clone(),
        ManualConnectivity::new(true),
        config(5),
    );
    let id = enqueue_at(&outbox, visit_job(0, 0), T0);
    // The app drops the drain (e.g. the background loop stops) once the upload hangs: chosen by
    // progress (the server was reached), not by a timer.
    tokio::select! {
        _ = engine.drain(DrainOptions::default()) => panic!("the hung upload cannot finish"),
        _ = target.reached.notified() => {}
    }
    assert_eq!(outbox.job(&id).unwrap().state, JobState::Sending);
    // The next drain takes it up again; the server records it once.
    let sum = engine.drain(DrainOptions::default()).await.unwrap();
    assert!(sum.complete);
    assert_eq!(
        target.inner.recorded_counts().get("CODE0000000000000000"),
        Some(&1)
    );
}

/// The in-memory outbox, except that the first time a ready query finds nothing, the clock jumps
/// past every retry time before the engine looks again: a machine that was slow at that point.
struct SlowAfterEmptyReady {
    inner: Arc<MemoryOutbox>,
    clock: Arc<ManualClock>,
    jumped: std::sync::atomic::AtomicBool,
}

impl Outbox for SlowAfterEmptyReady {
    fn reset_sending(&self) -> Result<usize, OutboxError> {
        self.inner.reset_sending()
    }
    fn ready(&self, now_ms: i64, limit: usize) -> Result<Vec<Job>, OutboxError> {
        let ready = self.inner.ready(now_ms, limit)?;
        if ready.is_empty() && !self.jumped.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.clock.advance_ms(3_600_000);
        }
        Ok(ready)
    }
    fn next_retry_after(&self, now_ms: i64) -> Result<Option<i64>, OutboxError> {
        self.inner.next_retry_after(now_ms)
    }
    fn make_all_due(&self, now_ms: i64) -> Result<usize, OutboxError> {
        self.inner.make_all_due(now_ms)
    }
    fn mark_sending(&self, ids: &[JobId]) -> Result<(), OutboxError> {
        self.inner.mark_sending(ids)
    }
    fn record(&self, updates: &[JobUpdate]) -> Result<(), OutboxError> {
        self.inner.record(updates)
    }
    fn counts(&self) -> Result<OutboxCounts, OutboxError> {
        self.inner.counts()
    }
    fn job(&self, id: &JobId) -> Result<Job, OutboxError> {
        self.inner.job(id)
    }
    fn rejected(&self) -> Result<Vec<Job>, OutboxError> {
        self.inner.rejected()
    }
    fn requeue_corrected(&self, id: &JobId, corrected: CorrectedJob) -> Result<JobId, OutboxError> {
        self.inner.requeue_corrected(id, corrected)
    }
    fn deadlines(
        &self,
        now_ms: i64,
        deadline_ms: i64,
        window_ms: i64,
    ) -> Result<DeadlineReport, OutboxError> {
        self.inner.deadlines(now_ms, deadline_ms, window_ms)
    }
}

#[tokio::test]
async fn a_retry_that_falls_due_while_the_engine_looks_is_sent_not_reported_blocked() {
    let clock = ManualClock::new(T0);
    let outbox = Arc::new(SlowAfterEmptyReady {
        inner: Arc::new(MemoryOutbox::new()),
        clock: clock.clone(),
        jumped: Default::default(),
    });
    let target = Arc::new(FakeTarget::new());
    // The first upload fails: the job waits for its retry, and the next ready query finds nothing.
    target.script([Some(Fault::ServerError)]);
    let engine = SyncEngine::new(
        outbox.clone(),
        target.clone(),
        clock.clone(),
        ManualConnectivity::new(true),
        config(4),
    )
    .with_sleeper(Arc::new(ManualSleeper(clock.clone())));
    enqueue_at(&outbox.inner, visit_job(0, 0), T0);
    let sum = engine.drain(DrainOptions::default()).await.unwrap();
    assert!(
        outbox.jumped.load(std::sync::atomic::Ordering::SeqCst),
        "the slow moment happened"
    );
    assert!(sum.complete, "{sum:?}");
    assert_eq!(sum.stopped, None);
    assert_eq!(target.recorded_counts().get("CODE0000000000000000"), Some(&1));
}
