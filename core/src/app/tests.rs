//! Behaviour of the facade as the app sees it.

use super::*;
use crate::platform::{ManualClock, MemoryKeyStore};
use crate::rules::visit_code::VisitCode;
use crate::store::{JobKind, JobState};
use std::sync::atomic::{AtomicUsize, Ordering};

/// 2024-03-05 10:30:00 Taiwan time.
const T0: i64 = 1_709_605_800_000;

fn config(dir: &std::path::Path) -> AppConfig {
    AppConfig {
        data_dir: dir.to_path_buf(),
        institution_code: "3501200000".into(),
        device_id: "test-device".into(),
    }
}

fn open(dir: &std::path::Path, seed: u8) -> Result<HomeVisit, AppError> {
    HomeVisit::open(
        config(dir),
        Arc::new(MemoryKeyStore::with_seed(seed)),
        ManualClock::new(T0),
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

fn details(seq: &str) -> VisitDetails {
    VisitDetails {
        practitioner_id: "B234567894".into(),
        visit_type: "01".into(),
        sequence_number: seq.into(),
        diagnoses: vec!["g45.0".into()],
        note: "stable".into(),
        abnormal_reason: None,
    }
}

#[derive(Default)]
struct Counting {
    calls: AtomicUsize,
    last_queued: AtomicUsize,
}

impl OutboxListener for Counting {
    fn on_outbox_changed(&self, state: &OutboxState) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.last_queued.store(state.counts.queued, Ordering::SeqCst);
    }
}

#[test]
fn a_recorded_visit_is_listed_with_its_queued_card_upload_job() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path(), 1).unwrap();
    let v = app.record_visit_from_input(&card(), details("0001")).unwrap();

    assert!(
        VisitCode::parse(&v.visit_code).is_ok(),
        "a valid 20-character code"
    );
    assert_eq!(v.visited_at.to_rfc3339(), "2024-03-05T10:30:00+08:00");
    assert_eq!(v.diagnoses, vec!["G450".to_string()]);
    assert_eq!(v.national_id_masked, "A12*****89");

    let listed = app.list_visits(10, 0).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].visit_code, v.visit_code);
    assert_eq!(listed[0].patient_name, "王小明");

    let outbox = app.outbox_state().unwrap();
    assert_eq!(outbox.counts.queued, 1);
    assert_eq!(outbox.jobs.len(), 1);
    let job = &outbox.jobs[0];
    assert_eq!(job.kind, JobKind::CardUpload.as_str());
    assert_eq!(job.visit_id, v.id);
    assert_eq!(job.visit_code, v.visit_code);
    assert_eq!(job.status, JobStatus::Queued);

    // The job carries the frozen 2.0 record of this visit, ready for the sync engine.
    let stored = app.store.jobs_for_visit(&v.id).unwrap();
    assert_eq!(stored.len(), 1);
    let body = &stored[0].payload;
    let code = v.visit_code.as_bytes();
    assert!(body.windows(code.len()).any(|w| w == code), "M15 in the record");
    assert!(body.starts_with(b"<REC>"), "a 2.0 REC element");
}

#[test]
fn bad_input_is_refused_with_its_field_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path(), 1).unwrap();
    let mut bad_id = card();
    bad_id.national_id = "A123456788".into();
    let cases: Vec<(CardInput, VisitDetails, &str)> = vec![
        (bad_id, details("0001"), "national_id"),
        (
            card(),
            VisitDetails {
                visit_type: "99".into(),
                ..details("0001")
            },
            "visit_type",
        ),
        (card(), details("9999"), "sequence_number"),
        (
            card(),
            VisitDetails {
                diagnoses: vec!["H96".into()],
                ..details("0001")
            },
            "diagnosis",
        ),
        (
            card(),
            VisitDetails {
                diagnoses: vec!["G450".into(); 7],
                ..details("0001")
            },
            "diagnoses",
        ),
        (
            card(),
            VisitDetails {
                practitioner_id: "nobody".into(),
                ..details("0001")
            },
            "practitioner_id",
        ),
        (
            CardInput {
                sex: "F".into(),
                ..card()
            },
            details("0001"),
            "sex",
        ),
    ];
    for (c, d, field) in cases {
        match app.record_visit_from_input(&c, d) {
            Err(AppError::Validation { field: f, reason }) => {
                assert_eq!(f, field, "{reason}");
                assert!(!reason.contains("A12345678"), "no ID in the reason");
            }
            other => panic!("{field}: expected Validation, got {other:?}"),
        }
    }
    assert!(app.list_visits(10, 0).unwrap().is_empty());
    assert_eq!(app.outbox_state().unwrap().counts, OutboxCounts::default());
}

#[test]
fn visits_survive_a_restart_and_codes_never_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let app = open(dir.path(), 1).unwrap();
        app.record_visit_from_input(&card(), details("0001")).unwrap()
    };
    let app = open(dir.path(), 1).unwrap();
    // Same patient, same second, same institution: only the device counter differs.
    let second = app.record_visit_from_input(&card(), details("0002")).unwrap();
    assert_ne!(first.visit_code, second.visit_code);
    let codes: Vec<_> = app
        .list_visits(10, 0)
        .unwrap()
        .into_iter()
        .map(|v| v.visit_code)
        .collect();
    assert_eq!(codes.len(), 2);
    assert!(codes.contains(&first.visit_code) && codes.contains(&second.visit_code));
    assert_eq!(app.outbox_state().unwrap().counts.queued, 2);
}

#[test]
fn a_wrong_key_or_a_locked_key_store_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), 1).unwrap());
    assert_eq!(open(dir.path(), 2).unwrap_err(), AppError::WrongKey);

    struct Locked;
    impl KeyStore for Locked {
        fn get_or_create_key(&self, _: &str) -> Result<[u8; 32], crate::platform::KeyStoreError> {
            Err(crate::platform::KeyStoreError::Locked)
        }
        fn get_key(&self, _: &str) -> Result<Option<[u8; 32]>, crate::platform::KeyStoreError> {
            Err(crate::platform::KeyStoreError::Locked)
        }
    }
    let e = HomeVisit::open(config(dir.path()), Arc::new(Locked), ManualClock::new(T0)).unwrap_err();
    assert_eq!(e, AppError::Locked);
}

#[test]
fn a_corrupt_database_is_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DATABASE_FILE), vec![0x5a; 8192]).unwrap();
    assert!(
        matches!(open(dir.path(), 1).unwrap_err(), AppError::Corrupt { moved_to } if moved_to.contains("corrupt"))
    );
    let kept = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains("corrupt"));
    assert!(kept, "the corrupt file was moved aside, not deleted");
}

#[test]
fn bad_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::with_seed(1));
    let mut c = config(dir.path());
    c.institution_code = "35012".into();
    let e = HomeVisit::open(c, keys.clone(), ManualClock::new(T0)).unwrap_err();
    assert!(matches!(e, AppError::Validation { ref field, .. } if field == "institution_code"));
    let mut c = config(dir.path());
    c.device_id = " ".into();
    let e = HomeVisit::open(c, keys, ManualClock::new(T0)).unwrap_err();
    assert!(matches!(e, AppError::Validation { ref field, .. } if field == "device_id"));
}

#[test]
fn listeners_hear_each_commit_until_their_subscription_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path(), 1).unwrap();
    let listener = Arc::new(Counting::default());
    let sub = app.subscribe_outbox(listener.clone());
    app.record_visit_from_input(&card(), details("0001")).unwrap();
    app.record_visit_from_input(&card(), details("0002")).unwrap();
    assert_eq!(listener.calls.load(Ordering::SeqCst), 2);
    assert_eq!(listener.last_queued.load(Ordering::SeqCst), 2);

    // A refused visit is not a change.
    let mut bad = card();
    bad.national_id = "A123456788".into();
    assert!(app.record_visit_from_input(&bad, details("0003")).is_err());
    assert_eq!(listener.calls.load(Ordering::SeqCst), 2);

    // A change made elsewhere (the sync engine marks the job done) is reported when announced.
    let job = app.store.jobs_in_state(JobState::Queued, 1).unwrap().remove(0);
    app.store.mark_sending(std::slice::from_ref(&job.id)).unwrap();
    app.store.mark_done(&job.id, "ack-1").unwrap();
    app.notify_outbox_changed();
    assert_eq!(listener.calls.load(Ordering::SeqCst), 3);
    assert_eq!(listener.last_queued.load(Ordering::SeqCst), 1);
    assert_eq!(app.outbox_state().unwrap().counts.done, 1);

    drop(sub);
    app.record_visit_from_input(&card(), details("0004")).unwrap();
    assert_eq!(
        listener.calls.load(Ordering::SeqCst),
        3,
        "dropped subscription hears nothing"
    );
}

#[test]
fn a_panicking_listener_does_not_fail_the_visit_or_silence_the_others() {
    struct Panics;
    impl OutboxListener for Panics {
        fn on_outbox_changed(&self, _: &OutboxState) {
            panic!("host listener bug");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path(), 1).unwrap();
    let _bad = app.subscribe_outbox(Arc::new(Panics));
    let good = Arc::new(Counting::default());
    let _good = app.subscribe_outbox(good.clone());
    app.record_visit_from_input(&card(), details("0001")).unwrap();
    assert_eq!(good.calls.load(Ordering::SeqCst), 1);
    assert_eq!(app.list_visits(10, 0).unwrap().len(), 1);
}

#[test]
fn the_patient_is_not_in_clear_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let app = open(dir.path(), 1).unwrap();
        app.record_visit_from_input(&card(), details("0001")).unwrap();
    }
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for needle in ["A123456789".as_bytes(), "王小明".as_bytes(), b"stable"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "clear patient data found on disk"
            );
        }
    }
}
