//! Issue 14 items 1 and 3 against the VPN simulator, through the facade: corrections that are
//! never lost (an edit after acceptance is a correction keyed by the visit code, done only when the
//! simulator acknowledged that content; a conflicting `Duplicate` is a conflict; the 3-month
//! window on the device and on the simulator; deletion through the correction path) and the
//! cancellation of a visit (`ZA`/`ZB` within 24 h, exactly once, also across a crash and a retry
//! by request id). Virtual time on the device (`ManualClock`); no sleeps.

use homevisit_core::app::{
    AppConfig, AppError, CardInput, EditPath, HomeVisit, VisitDetails, VisitEdit, VisitStanding,
};
use homevisit_core::platform::{Clock, ManualClock, MemoryKeyStore};
use homevisit_core::rules::correction;
use homevisit_core::sync::{JobKind, JobState, NewJob};
use homevisit_core::vpn::upload_xml;
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::path::Path;
use std::sync::Arc;

const INSTITUTION: &str = "3501200000";
const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    // The simulator's clock is the real one: the device starts at it, then moves virtually.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn open(dir: &Path, clock: Arc<ManualClock>) -> Arc<HomeVisit> {
    Arc::new(
        HomeVisit::open(
            AppConfig {
                data_dir: dir.to_path_buf(),
                institution_code: INSTITUTION.into(),
                device_id: "audit-corrections".into(),
            },
            Arc::new(MemoryKeyStore::with_seed(14)),
            clock,
        )
        .expect("app opens"),
    )
}

fn card() -> CardInput {
    CardInput {
        card_number: "000012345678".into(),
        name: "王小明".into(),
        national_id: "A123456789".into(),
        birth_date: "0500101".into(),
        sex: "M".into(),
        issue_date: "1100301".into(),
    }
}

/// A counted home visit (01) the simulator's checker accepts once its fee is set.
fn details() -> VisitDetails {
    VisitDetails {
        practitioner_id: "B234567894".into(),
        visit_type: "01".into(),
        sequence_number: "0001".into(),
        diagnoses: vec!["I10".into()],
        note: "stable".into(),
        abnormal_reason: None,
    }
}

fn edit(dx: &[&str]) -> VisitEdit {
    VisitEdit {
        diagnoses: dx.iter().map(|d| d.to_string()).collect(),
        drug_orders: None,
        note: "edited".into(),
        fee_points: Some(1631),
        copayment_points: Some(0),
    }
}

struct World {
    _dir: tempfile::TempDir,
    sim: VpnSim,
    clock: Arc<ManualClock>,
    app: Arc<HomeVisit>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let sim = VpnSim::start(SimConfig::default()).await.expect("simulator");
    let clock = ManualClock::new(now_ms());
    let app = open(dir.path(), clock.clone());
    let b = sim.new_binding().expect("binding");
    app.enrol(&b.qr, &b.pin, "audit corrections")
        .await
        .expect("enrolled");
    World {
        _dir: dir,
        sim,
        clock,
        app,
    }
}

impl World {
    /// A visit recorded now, with its fee so the simulator accepts it (not yet uploaded).
    fn record(&self) -> (String, String) {
        let v = self
            .app
            .record_visit_from_input(&card(), details())
            .expect("recorded");
        // The fee is part of what the UI edits; set it before the first upload.
        let r = self
            .app
            .corrections()
            .edit_visit(&v.id, edit(&["I10"]))
            .expect("fee set");
        assert_eq!(r.path, EditPath::Replaced);
        (v.id, v.visit_code)
    }

    async fn drain(&self) {
        self.app.sync().drain_once(0).await.expect("drain");
    }

    fn jobs(&self, visit_id: &str) -> Vec<homevisit_core::sync::Job> {
        self.app.store().jobs_for_visit(visit_id).unwrap()
    }

    fn standing(&self, visit_id: &str) -> VisitStanding {
        self.app.corrections().visit_status(visit_id).unwrap().standing
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_after_acceptance_reaches_the_simulator_and_is_done_only_after_acknowledgement() {
    let w = world().await;
    let (id, code) = w.record();
    w.drain().await;
    assert_eq!(w.standing(&id), VisitStanding::Uploaded);
    let before = w.sim.stored_record(&code).expect("stored");
    assert_eq!(before.mb1.get("M36"), None);

    let r = w
        .app
        .corrections()
        .edit_visit(&id, edit(&["I10", "E119"]))
        .unwrap();
    assert_eq!(r.path, EditPath::Correction);
    // Queued, not done, and the simulator still holds the old content.
    let fix = w
        .jobs(&id)
        .into_iter()
        .find(|j| j.kind == JobKind::VisitCorrection)
        .unwrap();
    assert_eq!(fix.state, JobState::Queued);
    assert_eq!(w.standing(&id), VisitStanding::CorrectionPending);
    assert_eq!(w.sim.stored_record(&code).unwrap().digest, before.digest);

    w.drain().await;
    let after = w.sim.stored_record(&code).unwrap();
    assert_eq!(after.mb1.get("M36").map(String::as_str), Some("E119"));
    assert_eq!((after.record_state.as_str(), after.corrections), ("3", 1));
    assert_eq!(
        w.sim.stored_visit_count(&code),
        1,
        "a correction, never a second visit"
    );
    let fix = w.jobs(&id).into_iter().find(|j| j.id == fix.id).unwrap();
    assert_eq!(fix.state, JobState::Done);
    // Done on the digest of exactly what was sent.
    assert_eq!(correction::expected_digest(&fix.payload), Some(after.digest));
    assert_eq!(w.standing(&id), VisitStanding::Corrected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_before_upload_replaces_the_pending_upload() {
    let w = world().await;
    let (id, code) = w.record();
    w.app
        .corrections()
        .edit_visit(&id, edit(&["I10", "E119"]))
        .unwrap();
    let live: Vec<_> = w
        .jobs(&id)
        .into_iter()
        .filter(|j| j.state != JobState::Superseded)
        .collect();
    assert_eq!(live.len(), 1, "never two uploads");
    assert_eq!(live[0].kind, JobKind::CardUpload);
    w.drain().await;
    let stored = w.sim.stored_record(&code).unwrap();
    assert_eq!(stored.mb1.get("M36").map(String::as_str), Some("E119"));
    assert_eq!(stored.corrections, 0);
    assert_eq!(w.standing(&id), VisitStanding::Uploaded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_duplicate_is_a_conflict_never_a_success() {
    let w = world().await;
    let (id, code) = w.record();
    w.drain().await;
    // The bug the issue measured: other content re-sent as a new record under the same code.
    let mut other = w.app.store().get_visit(&id).unwrap().visit;
    other.diagnoses = vec!["E119".into()];
    let job = homevisit_core::sync::visit_day::card_upload_job(&other, 99).unwrap();
    w.app.store().enqueue(Some(&id), &[job]).unwrap();
    w.drain().await;

    let rejected = w.app.sync().rejected_jobs().unwrap();
    assert_eq!(rejected.len(), 1, "shown, not swallowed");
    match &rejected[0].state {
        JobState::Rejected(r) => {
            assert!(r.reason.starts_with("duplicate_conflict"), "{}", r.reason);
            assert_eq!(r.fields[0].field, "M15");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.standing(&id), VisitStanding::Conflict);
    let listed = w
        .app
        .corrections()
        .visits_standing(VisitStanding::Conflict, 10)
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        w.sim
            .stored_record(&code)
            .unwrap()
            .mb1
            .get("M35")
            .map(String::as_str),
        Some("I10")
    );

    // Resolved by a correction: the NHI then holds the edit.
    let r = w.app.corrections().edit_visit(&id, edit(&["E119"])).unwrap();
    assert_eq!(r.path, EditPath::Correction);
    w.drain().await;
    assert_eq!(
        w.sim
            .stored_record(&code)
            .unwrap()
            .mb1
            .get("M35")
            .map(String::as_str),
        Some("E119")
    );
    assert_eq!(w.standing(&id), VisitStanding::Corrected);
    assert!(w.app.sync().rejected_jobs().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_after_3_months_is_refused_on_the_device_and_nothing_changes() {
    let w = world().await;
    let (id, _) = w.record();
    w.drain().await;
    let visited = w
        .app
        .store()
        .get_visit(&id)
        .unwrap()
        .visit
        .visited_at
        .timestamp_millis();
    let deadline = correction::correction_deadline_ms(visited);
    let jobs_before = w.jobs(&id).len();
    w.clock.set_unix_ms(deadline + 1);
    let e = w.app.corrections().edit_visit(&id, edit(&["E119"])).unwrap_err();
    assert_eq!(
        e,
        AppError::CorrectionWindowClosed {
            deadline_ms: deadline
        }
    );
    assert_eq!(e.code(), "correction_window_closed");
    let e = w.app.corrections().delete_visit(&id).unwrap_err();
    assert_eq!(e.code(), "correction_window_closed");
    assert_eq!(w.jobs(&id).len(), jobs_before, "nothing queued");
    assert_eq!(w.app.store().get_visit(&id).unwrap().visit.diagnoses, ["I10"]);
    // At the deadline itself it is still allowed.
    w.clock.set_unix_ms(deadline);
    assert!(w.app.corrections().edit_visit(&id, edit(&["E119"])).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_after_3_months_is_refused_by_the_simulator() {
    let w = world().await;
    // A visit made 3 months and a day ago, uploaded now.
    let real_now = w.clock.now_unix_ms();
    w.clock.set_unix_ms(real_now - 93 * DAY_MS);
    let (id, code) = w.record();
    w.clock.set_unix_ms(real_now);
    w.drain().await;
    assert!(w.sim.stored_record(&code).is_some());
    // A device that skipped its own rule (hostile): the simulator is the second line.
    let mut visit = w.app.store().get_visit(&id).unwrap().visit;
    visit.diagnoses = vec!["E119".into()];
    let payload = upload_xml::as_correction(&upload_xml::record_big5(&visit).unwrap(), false).unwrap();
    let job = NewJob::new(JobKind::VisitCorrection, format!("fx-{code}-late"), payload);
    w.app.store().enqueue(Some(&id), &[job]).unwrap();
    w.drain().await;
    let rejected = w.app.sync().rejected_jobs().unwrap();
    assert_eq!(rejected.len(), 1);
    match &rejected[0].state {
        JobState::Rejected(r) => {
            assert_eq!(r.fields[0].field, "M11");
            assert!(r.reason.contains("3 months"), "{}", r.reason);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.sim
            .stored_record(&code)
            .unwrap()
            .mb1
            .get("M35")
            .map(String::as_str),
        Some("I10")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_goes_through_the_correction_path() {
    let w = world().await;
    let (id, code) = w.record();
    // Offline first: queued after the visit's own upload.
    let r = w.app.corrections().delete_visit(&id).unwrap();
    assert_eq!(r.path, EditPath::Deletion);
    assert_eq!(
        w.app.corrections().delete_visit(&id).unwrap().job_id,
        r.job_id,
        "once"
    );
    assert_eq!(w.standing(&id), VisitStanding::Deleted);
    w.drain().await;
    w.drain().await;
    let stored = w.sim.stored_record(&code).unwrap();
    assert_eq!(stored.state, "deleted");
    assert_eq!(stored.digest, correction::deletion_digest(&code));
    assert!(
        w.jobs(&id)
            .iter()
            .all(|j| matches!(j.state, JobState::Done | JobState::Superseded)),
        "upload then deletion, both acknowledged"
    );
    let e = w.app.corrections().edit_visit(&id, edit(&["E119"])).unwrap_err();
    assert!(
        matches!(e, AppError::WrongState { ref state, .. } if state == "deleted"),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_within_24_hours_happens_exactly_once() {
    let w = world().await;
    let (id, code) = w.record();
    // Offline first: nothing reaches the server until the drain.
    w.app.set_online(false);
    let start = w.clock.now_unix_ms();
    w.clock.advance_ms(23 * 3_600_000);
    let corr = w.app.corrections();
    let first = corr.cancel_visit(&id, "cancel-1").await.unwrap();
    assert_eq!(first.cancel_type, "ZA");
    assert!(
        !first.card_cancelled,
        "a visit never written to a card: card-absent case"
    );
    let again = corr.cancel_visit(&id, "cancel-1").await.unwrap();
    let other = corr.cancel_visit(&id, "cancel-2").await.unwrap();
    assert_eq!(
        (again.job_id.as_str(), other.job_id.as_str()),
        (first.job_id.as_str(), first.job_id.as_str())
    );
    let cancels = w
        .jobs(&id)
        .into_iter()
        .filter(|j| j.kind == JobKind::VisitCancel)
        .count();
    assert_eq!(cancels, 1);
    assert_eq!(w.standing(&id), VisitStanding::Cancelled);
    assert_eq!(
        corr.visits_standing(VisitStanding::Cancelled, 10).unwrap().len(),
        1
    );
    // Kept and listed.
    assert_eq!(w.app.list_visits(10, 0).unwrap().len(), 1);

    // Back at the simulator's time (its clock is the real one; signed requests carry the time).
    w.clock.set_unix_ms(start);
    w.app.set_online(true);
    w.drain().await;
    w.drain().await;
    let states: Vec<_> = w.jobs(&id).iter().map(|j| j.state.clone()).collect();
    assert!(
        states
            .iter()
            .all(|s| matches!(s, JobState::Done | JobState::Superseded)),
        "{states:?}"
    );
    assert_eq!(w.sim.stored_record(&code).unwrap().state, "cancelled");
    assert_eq!(w.sim.stored_visit_count(&code), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_interrupted_after_its_intent_is_finished_once_by_a_retry_with_the_same_request_id() {
    let w = world().await;
    let (id, _) = w.record();
    w.app.set_fail_point(Arc::new(|step: &str| {
        if step == "cancel_card_done" {
            panic!("crash at {step}");
        }
    }));
    let corr = w.app.corrections();
    let crashed = tokio::spawn({
        let corr = corr.clone();
        let id = id.clone();
        async move { corr.cancel_visit(&id, "req-7").await }
    })
    .await;
    assert!(crashed.unwrap_err().is_panic());
    assert!(
        w.jobs(&id).iter().all(|j| j.kind != JobKind::VisitCancel),
        "nothing queued yet"
    );
    w.app.set_fail_point(Arc::new(|_: &str| {}));
    // The retry comes after the 24 hours: the intent kept within them still counts, once.
    w.clock.advance_ms(25 * 3_600_000);
    let done = corr.cancel_visit(&id, "req-7").await.unwrap();
    assert!(done.cancelled_at_ms < w.clock.now_unix_ms());
    assert_eq!(corr.cancel_visit(&id, "req-7").await.unwrap().job_id, done.job_id);
    let cancels = w
        .jobs(&id)
        .into_iter()
        .filter(|j| j.kind == JobKind::VisitCancel)
        .count();
    assert_eq!(cancels, 1);
    // Another request for the cancelled visit: the first cancellation.
    let other = corr.cancel_visit(&id, "req-8").await.unwrap();
    assert_eq!(other.job_id, done.job_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_after_24_hours_is_refused_and_nothing_changes() {
    let w = world().await;
    let (id, _) = w.record();
    let visited = w
        .app
        .store()
        .get_visit(&id)
        .unwrap()
        .visit
        .visited_at
        .timestamp_millis();
    let jobs_before = w.jobs(&id).len();
    w.clock.set_unix_ms(visited + 24 * 3_600_000 + 1);
    let e = w.app.corrections().cancel_visit(&id, "late-1").await.unwrap_err();
    assert_eq!(
        e,
        AppError::CancelWindowClosed {
            deadline_ms: visited + 24 * 3_600_000
        }
    );
    assert_eq!(e.code(), "cancel_window_closed");
    assert_eq!(w.jobs(&id).len(), jobs_before);
    assert_eq!(w.standing(&id), VisitStanding::Pending);
    // A bad request id is a clear error too.
    let e = w
        .app
        .corrections()
        .cancel_visit(&id, "not ok!")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "validation");
}
