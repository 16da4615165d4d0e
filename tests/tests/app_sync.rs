//! The facade's sync service, MediCloud, log forwarding and directory lock against the VPN
//! simulator: offline nothing is sent; online the drain is seen as events and by the outbox
//! listeners; a record the checker refuses is corrected and re-queued; a server answering garbage
//! or half a body loses nothing; MediCloud is fresh online and cached (with its age) offline;
//! forwarded logs never carry a patient's ID or name; a second open of a directory is refused.

use homevisit_core::app::{
    AppConfig, AppError, CardInput, HomeVisit, OutboxListener, OutboxState, VisitDetails, install_log_sink,
};
use homevisit_core::platform::{Clock, LogLevel, LogSink, ManualClock, MemoryKeyStore, SystemClock};
use homevisit_core::sync::{EventLog, StopReason, SyncEvent};
use nhi_vpn_sim::{FaultConfig, FaultKind, SimConfig, VpnSim};
use std::path::Path;
use std::sync::{Arc, Mutex};

const INSTITUTION: &str = "3501200000";
const PATIENT_ID: &str = "A123456789";
const PATIENT_NAME: &str = "王小明";

fn config(dir: &Path) -> AppConfig {
    AppConfig {
        data_dir: dir.to_path_buf(),
        institution_code: INSTITUTION.into(),
        device_id: "app-sync-test".into(),
    }
}

fn open(dir: &Path, clock: Arc<dyn Clock>) -> HomeVisit {
    HomeVisit::open(config(dir), Arc::new(MemoryKeyStore::with_seed(9)), clock).expect("app opens")
}

fn card(n: u32) -> CardInput {
    // Distinct valid IDs: A12345678 + check digit computed by the rule's own parser.
    let ids = ["A123456789", "B123456780", "A223456781", "B234567894"];
    CardInput {
        card_number: format!("{:012}", 12_345_678 + n),
        name: PATIENT_NAME.into(),
        national_id: ids[n as usize % ids.len()].into(),
        birth_date: "0500101".into(),
        sex: if ids[n as usize % ids.len()].as_bytes()[1] == b'1' {
            "M"
        } else {
            "F"
        }
        .into(),
        issue_date: "1100301".into(),
    }
}

/// A home-care follow-up (AH, not counted: the checker needs no fee) that the simulator accepts.
fn follow_up(seq: &str) -> VisitDetails {
    VisitDetails {
        practitioner_id: "B234567894".into(),
        visit_type: "AH".into(),
        sequence_number: seq.into(),
        diagnoses: vec!["I10".into()],
        note: "stable".into(),
        abnormal_reason: None,
    }
}

/// A counted first visit (01) with no fee: the simulator's checker refuses it on M44.
fn counted_without_fee() -> VisitDetails {
    VisitDetails {
        visit_type: "01".into(),
        ..follow_up("0002")
    }
}

async fn sim() -> VpnSim {
    VpnSim::start(SimConfig::default())
        .await
        .expect("simulator starts")
}

async fn enrol(app: &HomeVisit, sim: &VpnSim) {
    let b = sim.new_binding().expect("binding");
    let status = app.enrol(&b.qr, &b.pin, "app sync test").await.expect("enrolled");
    assert!(status.enrolled);
}

/// Keeps every outbox change.
#[derive(Default)]
struct Changes(Mutex<Vec<OutboxState>>);

impl OutboxListener for Changes {
    fn on_outbox_changed(&self, change: &OutboxState) {
        self.0.lock().unwrap().push(change.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_nothing_is_sent_online_the_drain_is_heard_and_a_rejection_is_corrected() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let app = open(dir.path(), Arc::new(SystemClock));
    let sync = app.sync();
    app.record_visit_from_input(&card(0), follow_up("0001")).unwrap();

    // Not enrolled: the drain stops with NotEnrolled, the job stays queued.
    assert_eq!(sync.drain_once(0).await.unwrap_err(), AppError::NotEnrolled);
    assert_eq!(app.outbox_state().unwrap().counts.queued, 1);

    enrol(&app, &sim).await;
    app.record_visit_from_input(&card(1), follow_up("0001")).unwrap();
    app.record_visit_from_input(&card(2), counted_without_fee())
        .unwrap();

    // Offline: nothing reaches the server.
    app.set_online(false);
    let s = sync.drain_once(0).await.unwrap();
    assert_eq!((s.done, s.batches), (0, 0));
    assert_eq!(s.stopped, Some(StopReason::Offline));
    assert_eq!(sim.stored_visit_total(), 0);

    let events = EventLog::new();
    let _events = sync.subscribe(events.clone());
    let changes = Arc::new(Changes::default());
    let _changes = app.subscribe_outbox(changes.clone());

    app.set_online(true);
    let s = sync.drain_once(0).await.unwrap();
    assert_eq!((s.done, s.rejected, s.remaining), (2, 1, 0), "{s:?}");
    assert!(s.complete);
    assert_eq!(sim.stored_visit_total(), 2);
    let ev = events.events();
    assert!(
        matches!(ev.first(), Some(SyncEvent::Started { pending: 3 })),
        "{ev:?}"
    );
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, SyncEvent::JobDone { .. }))
            .count(),
        2
    );
    let rejected_event = ev.iter().find_map(|e| match e {
        SyncEvent::JobRejected { fields, .. } => Some(fields.clone()),
        _ => None,
    });
    assert_eq!(rejected_event.unwrap()[0].field, "M44");
    assert!(matches!(ev.last(), Some(SyncEvent::Drained(d)) if d.done == 2));

    // The outbox listeners heard the outcomes: small changes, exact final counts.
    let heard = changes.0.lock().unwrap().clone();
    let last = heard.last().expect("outbox listeners heard the drain");
    assert_eq!(
        (last.counts.done, last.counts.rejected, last.counts.queued),
        (2, 1, 0)
    );
    assert!(heard.iter().all(|c| c.jobs.len() <= 3));
    assert!(heard.iter().any(|c| !c.jobs.is_empty()));

    // The upload-result table of the drain and the rejected record with its field.
    let table = sync.last_upload_result().expect("a table");
    assert_eq!((table.received, table.valid, table.invalid), (3, 2, 1));
    assert_eq!(table.invalid_rows[0].field, "M44");
    let rejected = sync.rejected_jobs().unwrap();
    assert_eq!(rejected.len(), 1);

    // A correction that still breaks a rule is refused with its field; nothing changes.
    let bad = VisitDetails {
        sequence_number: "9999".into(),
        ..follow_up("0002")
    };
    assert!(matches!(
        sync.correct_rejected(&rejected[0].id, bad),
        Err(AppError::Validation { field, .. }) if field == "sequence_number"
    ));
    // Corrected as a follow-up: re-queued as a new version, accepted.
    let new_job = sync.correct_rejected(&rejected[0].id, follow_up("0002")).unwrap();
    assert_ne!(new_job, rejected[0].id);
    assert!(
        changes
            .0
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .jobs
            .iter()
            .any(|j| j.id == new_job)
    );
    assert!(matches!(
        sync.correct_rejected(&rejected[0].id, follow_up("0002")),
        Err(AppError::Validation { field, .. }) if field == "job"
    ));
    let s = sync.drain_once(0).await.unwrap();
    assert_eq!((s.done, s.rejected, s.rejected_total), (1, 0, 0), "{s:?}");
    assert!(s.complete);
    assert_eq!(sim.stored_visit_total(), 3);
    assert!(sync.rejected_jobs().unwrap().is_empty());
    let d = sync.deadlines().unwrap();
    assert!(d.missed.is_empty() && d.at_risk.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_or_half_a_body_during_a_drain_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let app = open(dir.path(), Arc::new(SystemClock));
    enrol(&app, &sim).await;
    for n in 0..4 {
        app.record_visit_from_input(&card(n), follow_up("0001")).unwrap();
    }
    let sync = app.sync();
    for kind in [
        FaultKind::Garbage,
        FaultKind::Truncate,
        FaultKind::WrongContentType,
    ] {
        sim.set_faults(FaultConfig::always(kind));
        // "Send now": the jobs waiting for their retry time from the previous kind go at once.
        let s = sync.send_now().await.unwrap();
        assert_eq!(s.done, 0, "{kind:?}");
        assert!(s.retries >= 1, "{kind:?}: {s:?}");
        assert_eq!(s.remaining, 4, "{kind:?}");
        assert_eq!(s.stopped, Some(StopReason::TimeBudget));
        assert_eq!(app.outbox_state().unwrap().counts.waiting_retry, 4);
    }
    sim.set_faults(FaultConfig::none());
    let s = sync.send_now().await.unwrap();
    assert!(s.complete, "{s:?}");
    assert_eq!(s.done, 4);
    // Faults after the handler may have stored a visit before: still once each.
    assert_eq!(sim.stored_visit_total(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_loop_drains_when_the_network_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let app = open(dir.path(), Arc::new(SystemClock));
    enrol(&app, &sim).await;
    app.set_online(false);
    app.record_visit_from_input(&card(0), follow_up("0001")).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sync = app.sync();
    let _sub = sync.subscribe(Arc::new(tx));
    // A long poll: only the wake from set_online(true) can start the drain in time.
    sync.start(3_600_000).unwrap();
    assert!(sync.is_running());
    app.set_online(true);
    let drained = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(e) = rx.recv().await {
            if let SyncEvent::Drained(s) = e {
                return s;
            }
        }
        panic!("event stream closed");
    })
    .await
    .expect("a drain (the timeout only guards against a hang)");
    assert_eq!(drained.done, 1);
    sync.stop();
    assert!(!sync.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medicloud_is_fresh_online_and_cached_with_its_age_offline() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let clock = ManualClock::new(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    );
    let app = open(dir.path(), clock.clone());
    assert_eq!(
        app.medicloud(PATIENT_ID).await.unwrap_err(),
        AppError::NotEnrolled
    );
    enrol(&app, &sim).await;
    assert!(matches!(
        app.medicloud("A123456788").await,
        Err(AppError::Validation { field, .. }) if field == "national_id"
    ));
    let fresh = app.medicloud(PATIENT_ID).await.unwrap();
    assert!(!fresh.offline);
    assert_eq!(fresh.age_ms, 0);
    assert!(!fresh.record.medications.is_empty());

    app.set_online(false);
    clock.advance_ms(2 * 3_600_000);
    let cached = app.medicloud(PATIENT_ID).await.unwrap();
    assert!(cached.offline);
    assert_eq!(cached.age_ms, 2 * 3_600_000);
    assert_eq!(cached.age_text(), "2 h");
    assert_eq!(cached.record, fresh.record);
    // Never fetched and offline: a typed error.
    assert_eq!(app.medicloud("B123456780").await.unwrap_err(), AppError::Network);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_clock_far_ahead_is_a_clock_skew_error() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let app = open(dir.path(), Arc::new(SystemClock));
    enrol(&app, &sim).await;
    sim.set_faults(FaultConfig {
        clock_skew_ms: 30 * 60_000,
        ..FaultConfig::none()
    });
    match app.medicloud(PATIENT_ID).await {
        Err(e @ AppError::ClockSkew { .. }) => assert_eq!(e.code(), "clock_skew"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), Arc::new(SystemClock));
    let second = HomeVisit::open(
        config(dir.path()),
        Arc::new(MemoryKeyStore::with_seed(9)),
        Arc::new(SystemClock),
    );
    assert_eq!(second.unwrap_err(), AppError::AlreadyOpen);
    drop(first);
    let _again = open(dir.path(), Arc::new(SystemClock));
}

/// Keeps every forwarded line.
#[derive(Default)]
struct Lines(Mutex<Vec<String>>);

impl LogSink for Lines {
    fn log(&self, _: LogLevel, target: &str, message: &str) {
        self.0.lock().unwrap().push(format!("{target}: {message}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_logs_never_carry_a_patients_id_or_name() {
    let lines = Arc::new(Lines::default());
    install_log_sink(lines.clone(), LogLevel::Debug).expect("sink installed");
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let app = open(dir.path(), Arc::new(SystemClock));
    enrol(&app, &sim).await;
    app.record_visit_from_input(&card(0), follow_up("0001")).unwrap();
    app.record_visit_from_input(&card(0), counted_without_fee())
        .unwrap();
    let bad = CardInput {
        national_id: "A123456788".into(),
        ..card(0)
    };
    assert!(app.record_visit_from_input(&bad, follow_up("0003")).is_err());
    app.sync().drain_once(0).await.unwrap();
    app.medicloud(PATIENT_ID).await.unwrap();
    let got = lines.0.lock().unwrap().clone();
    assert!(got.iter().any(|l| l.contains("visit recorded")), "{got:?}");
    assert!(got.iter().any(|l| l.contains("drain ended")), "{got:?}");
    for l in &got {
        assert!(
            !l.contains(PATIENT_ID) && !l.contains("A123456788") && !l.contains(PATIENT_NAME),
            "{l}"
        );
    }
    // Replaceable: a new sink at a higher level gets only what passes it.
    let quiet = Arc::new(Lines::default());
    install_log_sink(quiet.clone(), LogLevel::Error).unwrap();
    app.record_visit_from_input(&card(1), follow_up("0001")).unwrap();
    assert!(quiet.0.lock().unwrap().is_empty());
}
