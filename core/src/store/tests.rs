//! Behaviour of the store as a user of it notices it: round trips, sealing, failure paths,
//! migrations, atomicity and outbox ordering.

use super::*;
use crate::model::{NationalId, Visit};
use crate::platform::{ManualClock, MemoryKeyStore};
use std::path::Path;

const T0: i64 = 1_763_900_000_000; // 2025-11-23, unix ms
const NAME: &str = "王小明";
const NOTE: &str = "patient reports chest tightness at night";

/// A valid national ID whose body is `prefix` (9 characters), with its check digit found by trial.
fn national_id(prefix: &str) -> NationalId {
    (0..10)
        .find_map(|d| NationalId::parse(&format!("{prefix}{d}")).ok())
        .expect("some check digit fits")
}

/// A visit built from JSON so that fields other engineers add with `#[serde(default)]` need no edit.
fn visit(id_prefix: &str, visited_at_ms: i64) -> Visit {
    let at = chrono::DateTime::from_timestamp_millis(visited_at_ms)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    serde_json::from_value(serde_json::json!({
        "id": Store::new_id(),
        "visit_code": "0123456789ABCDEFGHJK",
        "patient": {
            "card_number": "000012345678",
            "name": NAME,
            "national_id": national_id(id_prefix).expose(),
            "birth_date": "1950-03-04",
            "sex": "Male",
            "issue_date": "2020-01-02",
        },
        "institution": "3501200000",
        "practitioner_id": "B120000009",
        "visit_type": "01",
        "sequence_number": "F00B",
        "visited_at": at.to_rfc3339(),
        "diagnoses": ["G450"],
        "note": NOTE,
    }))
    .unwrap()
}

fn upload(visit: &Visit) -> NewJob {
    NewJob::new(
        JobKind::CardUpload,
        format!("upload-{}-v1", visit.id),
        visit.id.as_bytes().to_vec(),
    )
}

fn open(dir: &Path, seed: u8) -> (Store, Arc<ManualClock>) {
    let clock = ManualClock::new(T0);
    let store =
        Store::open_with_clock(dir.join("hv.db"), &MemoryKeyStore::with_seed(seed), clock.clone()).unwrap();
    (store, clock)
}

fn ids(jobs: &[Job]) -> Vec<JobId> {
    jobs.iter().map(|j| j.id.clone()).collect()
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

#[test]
fn committed_visit_reads_back_and_lists_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let old = visit("A12345678", T0 - 3_600_000);
    let new = visit("B22345678", T0);
    let c = store.commit_visit(&old, &[upload(&old)]).unwrap();
    assert_eq!(c.version, 1);
    assert_eq!(c.jobs.len(), 1);
    store.commit_visit(&new, &[upload(&new)]).unwrap();

    let got = store.get_visit(&old.id).unwrap();
    assert_eq!(got.visit, old);
    assert_eq!(got.state, VisitState::Pending);
    assert_eq!(got.upload_due_at_ms, T0 - 3_600_000 + 24 * 3_600_000);
    let listed = store.list_visits(10, 0).unwrap();
    assert_eq!(
        listed.iter().map(|v| v.visit.id.clone()).collect::<Vec<_>>(),
        vec![new.id.clone(), old.id.clone()]
    );
    assert_eq!(store.list_visits(10, 1).unwrap().len(), 1);
    assert_eq!(store.count_visits().unwrap(), 2);
    assert!(matches!(
        store.get_visit("nope"),
        Err(StoreError::NotFound { .. })
    ));

    // Reopening sees the same data.
    drop(store);
    let (store, _) = open(dir.path(), 1);
    assert_eq!(store.get_visit(&new.id).unwrap().visit, new);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn lookup_by_national_id_uses_the_keyed_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let a1 = visit("A12345678", T0 - 1000);
    let a2 = visit("A12345678", T0);
    let b = visit("B22345678", T0);
    for v in [&a1, &a2, &b] {
        store.commit_visit(v, &[upload(v)]).unwrap();
    }
    let found = store
        .find_visits_by_national_id(&national_id("A12345678"))
        .unwrap();
    assert_eq!(
        found.iter().map(|v| v.visit.id.clone()).collect::<Vec<_>>(),
        vec![a2.id.clone(), a1.id.clone()]
    );
    assert!(
        store
            .find_visits_by_national_id(&national_id("C12345678"))
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .audit_log(10)
            .unwrap()
            .iter()
            .any(|e| e.action == "patient_lookup")
    );
}

fn files_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn patient_name_id_and_note_never_reach_the_files_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let v = visit("A12345678", T0);
    store.commit_visit(&v, &[upload(&v)]).unwrap();
    store
        .kv_put("reader", "pairing-1", b"long-term reader key")
        .unwrap();
    let id = v.patient.national_id.expose().to_string();
    // While open (data in the WAL) and after close (checkpointed into the main file).
    for phase in ["open", "checkpointed"] {
        let bytes = files_bytes(dir.path());
        assert!(!bytes.is_empty());
        assert!(!contains(&bytes, id.as_bytes()), "{phase}: national ID in clear");
        assert!(!contains(&bytes, NAME.as_bytes()), "{phase}: name in clear");
        assert!(!contains(&bytes, NOTE.as_bytes()), "{phase}: note in clear");
        assert!(
            !contains(&bytes, b"long-term reader key"),
            "{phase}: kv value in clear"
        );
        // The visit code is the NHI key and is meant to be clear.
        assert!(
            contains(&bytes, v.visit_code.as_bytes()),
            "{phase}: the test must see the files"
        );
        if phase == "open" {
            assert!(
                dir.path().join("hv.db-wal").exists(),
                "the WAL is part of what is checked"
            );
            store.lock().execute_batch("PRAGMA wal_checkpoint(FULL)").unwrap();
        }
    }
    drop(store);
    let bytes = files_bytes(dir.path());
    assert!(!contains(&bytes, id.as_bytes()) && !contains(&bytes, NAME.as_bytes()));
}

#[test]
fn wrong_key_is_a_typed_error_not_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let v = visit("A12345678", T0);
    store.commit_visit(&v, &[upload(&v)]).unwrap();
    drop(store);
    let err = Store::open(dir.path().join("hv.db"), &MemoryKeyStore::with_seed(2)).unwrap_err();
    assert!(matches!(err, StoreError::WrongKey), "{err:?}");
    // The right key still opens it: nothing was lost or moved.
    let (store, _) = open(dir.path(), 1);
    assert_eq!(store.get_visit(&v.id).unwrap().visit, v);
}

/// A key store that gives the right sealing key but another index key.
struct MixedKeys;
impl crate::platform::KeyStore for MixedKeys {
    fn get_or_create_key(&self, alias: &str) -> Result<[u8; 32], crate::platform::KeyStoreError> {
        let seed = if alias == INDEX_KEY_ALIAS { 9 } else { 1 };
        MemoryKeyStore::with_seed(seed).get_or_create_key(alias)
    }
    fn get_key(&self, alias: &str) -> Result<Option<[u8; 32]>, crate::platform::KeyStoreError> {
        self.get_or_create_key(alias).map(Some)
    }
}

#[test]
fn wrong_index_key_is_detected_too() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), 1));
    assert!(matches!(
        Store::open(dir.path().join("hv.db"), &MixedKeys),
        Err(StoreError::WrongKey)
    ));
}

#[test]
fn locked_key_store_is_a_typed_error() {
    struct Locked;
    impl crate::platform::KeyStore for Locked {
        fn get_or_create_key(&self, _: &str) -> Result<[u8; 32], crate::platform::KeyStoreError> {
            Err(crate::platform::KeyStoreError::Locked)
        }
        fn get_key(&self, _: &str) -> Result<Option<[u8; 32]>, crate::platform::KeyStoreError> {
            Err(crate::platform::KeyStoreError::Locked)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Store::open(dir.path().join("hv.db"), &Locked),
        Err(StoreError::KeyStore(crate::platform::KeyStoreError::Locked))
    ));
}

#[test]
fn corrupt_file_is_moved_aside_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hv.db");
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &garbage).unwrap();
    std::fs::write(dir.path().join("hv.db-wal"), b"wal bytes").unwrap();
    let ks = MemoryKeyStore::with_seed(1);
    let err = Store::open(&path, &ks).unwrap_err();
    let StoreError::Corrupt { moved_to } = err else {
        panic!("expected Corrupt, got {err:?}")
    };
    assert!(
        moved_to
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("hv.db.corrupt-")
    );
    assert_eq!(
        std::fs::read(&moved_to).unwrap(),
        garbage,
        "the corrupt file is kept byte for byte"
    );
    assert_eq!(
        std::fs::read(format!("{}-wal", moved_to.display())).unwrap(),
        b"wal bytes"
    );
    assert!(!path.exists());
    // Open refused; opening again starts a fresh store, and the moved file stays.
    let store = Store::open(&path, &ks).unwrap();
    assert_eq!(store.count_visits().unwrap(), 0);
    assert!(moved_to.exists());
    // Recovery reads nothing from garbage, with a reason, and no panic.
    let report = recovery::read_moved_aside(&moved_to, &ks);
    assert!(report.is_err() || report.as_ref().unwrap().stopped_by.is_some());
}

#[test]
fn damaged_schema_page_is_moved_aside_with_its_wal() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let a = visit("A12345678", T0);
    store.commit_visit(&a, &[upload(&a)]).unwrap();
    store
        .lock()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let b = visit("B22345678", T0);
    store.commit_visit(&b, &[upload(&b)]).unwrap();
    // Copy the files while open: the WAL holds the second visit, unsynced anywhere else.
    let copy = tempfile::tempdir().unwrap();
    let path = copy.path().join("hv.db");
    let mut main = std::fs::read(dir.path().join("hv.db")).unwrap();
    let wal = std::fs::read(dir.path().join("hv.db-wal")).unwrap();
    assert!(!wal.is_empty());
    for byte in &mut main[100..4096] {
        *byte = 0xA5;
    }
    std::fs::write(&path, &main).unwrap();
    std::fs::write(copy.path().join("hv.db-wal"), &wal).unwrap();
    drop(store);

    let err = Store::open(&path, &MemoryKeyStore::with_seed(1)).unwrap_err();
    let StoreError::Corrupt { moved_to } = err else {
        panic!("expected Corrupt, got {err:?}")
    };
    assert_eq!(std::fs::read(&moved_to).unwrap(), main);
    // Recovery on the damaged file reports where it stopped (read-only, no panic).
    match recovery::read_moved_aside(&moved_to, &MemoryKeyStore::with_seed(1)) {
        Ok(report) => assert!(report.stopped_by.is_some() || report.visits.len() <= 2),
        Err(e) => assert!(matches!(e, StoreError::Sqlite(_))),
    }
    assert_eq!(
        std::fs::read(format!("{}-wal", moved_to.display())).unwrap(),
        wal,
        "WAL kept intact"
    );
    assert!(!path.exists());
}

#[test]
fn recovery_lists_visits_and_pending_jobs_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let v = visit("A12345678", T0);
    store.commit_visit(&v, &[upload(&v)]).unwrap();
    drop(store);
    let before = std::fs::read(dir.path().join("hv.db")).unwrap();
    let report =
        recovery::read_moved_aside(&dir.path().join("hv.db"), &MemoryKeyStore::with_seed(1)).unwrap();
    assert_eq!(report.visits, vec![v]);
    assert_eq!(report.pending_jobs.len(), 1);
    assert_eq!(report.pending_jobs[0].2, "queued");
    assert!(report.stopped_by.is_none());
    assert_eq!(
        std::fs::read(dir.path().join("hv.db")).unwrap(),
        before,
        "recovery wrote nothing"
    );
    // With the wrong key, rows are counted unreadable rather than returned as garbage.
    let report =
        recovery::read_moved_aside(&dir.path().join("hv.db"), &MemoryKeyStore::with_seed(3)).unwrap();
    assert!(report.visits.is_empty());
    assert_eq!(report.unreadable_visits, 1);
}

#[test]
fn a_sealed_body_swapped_between_rows_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let a = visit("A12345678", T0);
    let b = visit("B22345678", T0);
    store.commit_visit(&a, &[upload(&a)]).unwrap();
    store.commit_visit(&b, &[upload(&b)]).unwrap();
    {
        let conn = store.lock();
        conn.execute(
            "UPDATE visits SET body = (SELECT body FROM visits WHERE id = ?2) WHERE id = ?1",
            [&a.id, &b.id],
        )
        .unwrap();
    }
    assert!(matches!(store.get_visit(&a.id), Err(StoreError::Tampered { .. })));
    assert_eq!(store.get_visit(&b.id).unwrap().visit, b);
}

#[test]
fn visit_and_jobs_commit_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let first = visit("A12345678", T0);
    store.commit_visit(&first, &[upload(&first)]).unwrap();

    // The second job of this commit reuses an idempotency key: the whole commit fails.
    let v = visit("B22345678", T0);
    let dup = NewJob::new(
        JobKind::PrescriptionRegistration,
        format!("upload-{}-v1", first.id),
        b"rx".to_vec(),
    );
    let err = store.commit_visit(&v, &[upload(&v), dup]).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(matches!(store.get_visit(&v.id), Err(StoreError::NotFound { .. })));
    assert!(store.jobs_for_visit(&v.id).unwrap().is_empty());
    assert_eq!(store.outbox_counts().unwrap().queued, 1);

    // A visit without jobs is refused; so is a job for a visit that does not exist.
    assert!(matches!(store.commit_visit(&v, &[]), Err(StoreError::Invalid(_))));
    assert!(matches!(store.get_visit(&v.id), Err(StoreError::NotFound { .. })));
    assert!(matches!(
        store.enqueue(Some("missing"), &[upload(&v)]),
        Err(StoreError::NotFound { .. })
    ));
    // The same visit id twice is a conflict, and the first stays intact.
    assert!(matches!(
        store.commit_visit(&first, &[upload(&v)]),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_visit(&first.id).unwrap().visit, first);
    assert_eq!(store.count_visits().unwrap(), 1);
}

#[test]
fn bulk_commit_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let a = visit("A12345678", T0);
    let b = visit("B22345678", T0);
    let clash = NewJob::new(JobKind::CardUpload, format!("upload-{}-v1", a.id), b"x".to_vec());
    let err = store.commit_visits(&[(a.clone(), vec![upload(&a)]), (b.clone(), vec![clash])]);
    assert!(matches!(err, Err(StoreError::Conflict(_))));
    assert_eq!(store.count_visits().unwrap(), 0);
    assert_eq!(
        store
            .commit_visits(&[(a.clone(), vec![upload(&a)]), (b.clone(), vec![upload(&b)])])
            .unwrap(),
        2
    );
    assert_eq!(store.count_visits().unwrap(), 2);
}

#[test]
fn jobs_of_one_patient_go_in_order_and_retry_waits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = open(dir.path(), 1);
    let a1 = visit("A12345678", T0);
    let a2 = visit("A12345678", T0 + 1);
    let b = visit("B22345678", T0 + 2);
    let j_a1 = store.commit_visit(&a1, &[upload(&a1)]).unwrap().jobs[0].clone();
    let j_a2 = store.commit_visit(&a2, &[upload(&a2)]).unwrap().jobs[0].clone();
    let j_b = store.commit_visit(&b, &[upload(&b)]).unwrap().jobs[0].clone();

    assert_eq!(
        ids(&store.ready_jobs(T0, 10).unwrap()),
        vec![j_a1.clone(), j_b.clone()]
    );
    store.mark_sending(&[j_a1.clone(), j_b.clone()]).unwrap();
    assert!(
        store.ready_jobs(T0, 10).unwrap().is_empty(),
        "a2 waits while a1 is sending"
    );
    // Sending twice is refused and changes nothing.
    assert!(matches!(
        store.mark_sending(std::slice::from_ref(&j_a1)),
        Err(StoreError::Conflict(_))
    ));

    store
        .mark_retry(&j_a1, FailureClass::Network, "timeout", T0 + 60_000)
        .unwrap();
    store.mark_done(&j_b, "batch-1").unwrap();
    assert!(
        store.ready_jobs(T0 + 1_000, 10).unwrap().is_empty(),
        "a2 waits behind a1's retry"
    );
    let due = store.ready_jobs(T0 + 60_000, 10).unwrap();
    assert_eq!(ids(&due), vec![j_a1.clone()]);
    assert_eq!(due[0].last_error.as_deref(), Some("timeout"));
    assert_eq!(due[0].last_error_class, Some(FailureClass::Network));
    assert_eq!(due[0].attempts, 1);
    assert_eq!(store.next_retry_at().unwrap(), Some(T0 + 60_000));

    // "Send now" makes it due at once.
    clock.set_unix_ms(T0 + 5_000);
    assert_eq!(store.retry_all_now().unwrap(), 1);
    assert_eq!(
        ids(&store.ready_jobs(T0 + 5_000, 10).unwrap()),
        vec![j_a1.clone()]
    );

    store.mark_sending(std::slice::from_ref(&j_a1)).unwrap();
    store.mark_done(&j_a1, "batch-2").unwrap();
    store.mark_done(&j_a1, "batch-2").unwrap(); // idempotent
    assert_eq!(
        ids(&store.ready_jobs(T0 + 5_000, 10).unwrap()),
        vec![j_a2.clone()]
    );
    let done = store.get_job(&j_a1).unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.server_ack.as_deref(), Some("batch-2"));
    assert_eq!(done.attempts, 2);
    assert_eq!(done.done_at_ms, Some(T0 + 5_000));
    assert_eq!(done.visit_code, a1.visit_code);
    // A done job cannot be rejected or retried afterwards.
    assert!(store.mark_rejected(&j_a1, "late", &[]).is_err());
}

#[test]
fn a_rejected_job_blocks_only_what_depends_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let a1 = visit("A12345678", T0);
    let a2 = visit("A12345678", T0 + 1);
    let b = visit("B22345678", T0 + 2);
    let up = upload(&a1);
    let rx = NewJob::new(
        JobKind::PrescriptionRegistration,
        format!("rx-{}", a1.id),
        b"rx".to_vec(),
    )
    .after(&up.id);
    let c1 = store.commit_visit(&a1, &[up, rx]).unwrap();
    let (j_up, j_rx) = (c1.jobs[0].clone(), c1.jobs[1].clone());
    let j_a2 = store.commit_visit(&a2, &[upload(&a2)]).unwrap().jobs[0].clone();
    let j_b = store.commit_visit(&b, &[upload(&b)]).unwrap().jobs[0].clone();

    store.mark_sending(std::slice::from_ref(&j_up)).unwrap();
    let fields = vec![FieldError {
        field: "M13".into(),
        message: "sequence number does not fit the visit type".into(),
    }];
    store.mark_rejected(&j_up, "invalid record", &fields).unwrap();
    // The patient's later visit and the other patient go on; the dependent prescription waits.
    assert_eq!(
        ids(&store.ready_jobs(T0, 10).unwrap()),
        vec![j_a2.clone(), j_b.clone()]
    );
    let rejected = store.rejected_jobs(10).unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].rejection().unwrap().fields, fields);
    assert_eq!(rejected[0].last_error_class, Some(FailureClass::Record));
    assert_eq!(store.outbox_counts().unwrap().rejected, 1);

    // Correct and re-queue: the corrected visit is a new version, the dependant follows the new job.
    let mut fixed = a1.clone();
    fixed.sequence_number = "A021".into();
    let new_job = NewJob::new(
        JobKind::CardUpload,
        format!("upload-{}-v2", a1.id),
        b"fixed".to_vec(),
    );
    let new_id = store
        .requeue_after_correction(
            &j_up,
            Correction {
                visit: Some(fixed.clone()),
                job: new_job,
            },
        )
        .unwrap();
    assert_eq!(store.get_visit(&a1.id).unwrap().visit, fixed);
    assert_eq!(store.get_visit(&a1.id).unwrap().version, 2);
    assert_eq!(store.get_job(&j_up).unwrap().state, JobState::Superseded);
    assert_eq!(store.get_job(&j_rx).unwrap().depends_on.as_ref(), Some(&new_id));
    // The correction takes the rejected job's place: it goes first for the patient, and the later
    // visit and the dependent prescription follow it.
    assert_eq!(
        ids(&store.ready_jobs(T0, 10).unwrap()),
        vec![j_b.clone(), new_id.clone()]
    );
    store.mark_sending(std::slice::from_ref(&new_id)).unwrap();
    store.mark_done(&new_id, "ok").unwrap();
    assert_eq!(
        ids(&store.ready_jobs(T0, 10).unwrap()),
        vec![j_rx.clone(), j_b.clone()]
    );
    store.mark_sending(std::slice::from_ref(&j_rx)).unwrap();
    store.mark_done(&j_rx, "ok").unwrap();
    assert_eq!(
        ids(&store.ready_jobs(T0, 10).unwrap()),
        vec![j_a2.clone(), j_b.clone()]
    );
    // Re-queueing something that is not rejected is refused.
    let again = Correction {
        visit: None,
        job: NewJob::new(JobKind::CardUpload, "other", b"x".to_vec()),
    };
    assert!(matches!(
        store.requeue_after_correction(&j_up, again),
        Err(StoreError::Conflict(_))
    ));
}

#[test]
fn editing_a_visit_whose_job_is_sending_makes_a_new_version_and_job() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let v = visit("A12345678", T0);
    let first = upload(&v);
    let first_payload = first.payload.clone();
    let j1 = store.commit_visit(&v, &[first]).unwrap().jobs[0].clone();
    store.mark_sending(std::slice::from_ref(&j1)).unwrap();

    let mut edited = v.clone();
    edited.note = "edited note".into();
    let j2 = NewJob::new(JobKind::CardUpload, format!("upload-{}-v2", v.id), b"v2".to_vec());
    let c = store.update_visit(&edited, 1, &[j2]).unwrap();
    assert_eq!(c.version, 2);
    // The job in flight keeps its frozen payload; the new one waits behind it.
    let sending = store.get_job(&j1).unwrap();
    assert_eq!(sending.state, JobState::Sending);
    assert_eq!(sending.payload, first_payload);
    assert_eq!(sending.visit_version, Some(1));
    assert!(store.ready_jobs(T0, 10).unwrap().is_empty());
    store.mark_done(&j1, "ok").unwrap();
    let ready = store.ready_jobs(T0, 10).unwrap();
    assert_eq!(ids(&ready), c.jobs);
    assert_eq!(ready[0].visit_version, Some(2));
    assert_eq!(store.get_visit(&v.id).unwrap().visit.note, "edited note");

    // A stale edit is refused; an edit of a queued job supersedes it.
    assert!(matches!(
        store.update_visit(&edited, 1, &[upload(&v)]),
        Err(StoreError::Conflict(_))
    ));
    let j3 = NewJob::new(JobKind::CardUpload, format!("upload-{}-v3", v.id), b"v3".to_vec());
    let c3 = store.update_visit(&edited, 2, &[j3]).unwrap();
    assert_eq!(store.get_job(&c.jobs[0]).unwrap().state, JobState::Superseded);
    assert_eq!(ids(&store.ready_jobs(T0, 10).unwrap()), c3.jobs);
}

#[test]
fn interrupted_sends_restart_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let v = visit("A12345678", T0);
    let j = store.commit_visit(&v, &[upload(&v)]).unwrap().jobs[0].clone();
    store.mark_sending(std::slice::from_ref(&j)).unwrap();
    drop(store); // the "crash"
    let (store, _) = open(dir.path(), 1);
    assert_eq!(store.outbox_counts().unwrap().sending, 1);
    assert_eq!(store.reset_sending_to_queued().unwrap(), 1);
    let c = store.outbox_counts().unwrap();
    assert_eq!((c.queued, c.sending, c.remaining()), (1, 0, 1));
    assert_eq!(ids(&store.ready_jobs(T0, 10).unwrap()), vec![j.clone()]);
    assert_eq!(store.unfinished_jobs().unwrap().len(), 1);
}

#[test]
fn batch_outcomes_are_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let a = visit("A12345678", T0);
    let b = visit("B22345678", T0);
    let ja = store.commit_visit(&a, &[upload(&a)]).unwrap().jobs[0].clone();
    let jb = store.commit_visit(&b, &[upload(&b)]).unwrap().jobs[0].clone();
    store.mark_sending(std::slice::from_ref(&ja)).unwrap();
    // jb is not sending: the batch fails and ja's outcome is not recorded either.
    let outcomes = [
        JobUpdate::Done {
            id: ja.clone(),
            at_ms: T0,
            ack: "ok".into(),
        },
        JobUpdate::Done {
            id: jb.clone(),
            at_ms: T0,
            ack: "ok".into(),
        },
    ];
    assert!(matches!(
        store.record_outcomes(&outcomes),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_job(&ja).unwrap().state, JobState::Sending);
    store.mark_sending(std::slice::from_ref(&jb)).unwrap();
    store.record_outcomes(&outcomes).unwrap();
    assert_eq!(store.outbox_counts().unwrap().done, 2);
    assert!(matches!(
        store.mark_done(&"nope".to_string(), "x"),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn upload_deadlines_list_visits_at_risk_and_missed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = open(dir.path(), 1);
    let hour = 3_600_000;
    let old = visit("A12345678", T0 - 30 * hour); // due 6 h ago
    let soon = visit("B22345678", T0 - 22 * hour); // due in 2 h
    let fresh = visit("C12345678", T0 - hour); // due in 23 h
    let late = visit("D12345678", T0 - 26 * hour); // due 2 h ago; uploaded now (late)
    let mut jobs = Vec::new();
    for v in [&old, &soon, &fresh, &late] {
        jobs.push(store.commit_visit(v, &[upload(v)]).unwrap().jobs[0].clone());
    }
    store.mark_sending(std::slice::from_ref(&jobs[3])).unwrap();
    store.mark_done(&jobs[3], "ok").unwrap();
    assert_eq!(store.get_visit(&late.id).unwrap().state, VisitState::Uploaded);
    assert_eq!(store.get_visit(&late.id).unwrap().uploaded_at_ms, Some(T0));

    let report = store.upload_deadlines(T0, UPLOAD_DEADLINE_MS, 4 * hour).unwrap();
    assert_eq!(
        report
            .at_risk
            .iter()
            .map(|d| d.visit_id.clone())
            .collect::<Vec<_>>(),
        vec![soon.id.clone()]
    );
    assert_eq!(
        report
            .missed
            .iter()
            .map(|d| d.visit_id.clone())
            .collect::<Vec<_>>(),
        vec![old.id.clone(), late.id.clone()]
    );
    // Uploading in time takes a visit off the list.
    clock.set_unix_ms(T0 + hour);
    store.mark_sending(std::slice::from_ref(&jobs[1])).unwrap();
    store.mark_done(&jobs[1], "ok").unwrap();
    assert!(
        store
            .upload_deadlines(T0 + hour, UPLOAD_DEADLINE_MS, 4 * hour)
            .unwrap()
            .at_risk
            .is_empty()
    );
}

#[test]
fn kv_values_are_sealed_and_bound_to_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    store.kv_put("reader", "r1", b"key-1").unwrap();
    store.kv_put("reader", "r2", b"key-2").unwrap();
    store.kv_put("reader", "r1", b"key-1b").unwrap();
    assert_eq!(
        store.kv_get("reader", "r1").unwrap().as_deref(),
        Some(&b"key-1b"[..])
    );
    assert_eq!(
        store.kv_keys("reader").unwrap(),
        vec!["r1".to_string(), "r2".to_string()]
    );
    assert_eq!(store.kv_updated_at("reader", "r1").unwrap(), Some(T0));
    assert_eq!(store.kv_get("reader", "r3").unwrap(), None);
    {
        let conn = store.lock();
        conn.execute(
            "UPDATE kv SET value = (SELECT value FROM kv WHERE key = 'r2') WHERE key = 'r1'",
            [],
        )
        .unwrap();
    }
    assert!(matches!(
        store.kv_get("reader", "r1"),
        Err(StoreError::Tampered { .. })
    ));
    assert!(store.kv_delete("reader", "r1").unwrap());
    assert!(!store.kv_delete("reader", "r1").unwrap());
}

#[test]
fn audit_log_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let v = visit("A12345678", T0);
    store.commit_visit(&v, &[upload(&v)]).unwrap();
    store.audit("card_read", &v.id, "").unwrap();
    let log = store.audit_log(10).unwrap();
    assert_eq!(log[0].action, "card_read");
    let mut edited = v.clone();
    edited.note = "edited".into();
    store
        .update_visit(
            &edited,
            1,
            &[NewJob::new(JobKind::CardUpload, "v2", b"x".to_vec())],
        )
        .unwrap();
    let log = store.audit_log(10).unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "visit_updated" && e.subject == v.id)
    );
    assert!(log.iter().any(|e| e.action == "card_read" && e.subject == v.id));
    let conn = store.lock();
    assert!(conn.execute("DELETE FROM audit", []).is_err());
    assert!(conn.execute("UPDATE audit SET action = 'x'", []).is_err());
}

/// Writes a visit and its job the way a version-1 build did (no `visit_version`, no `detail`, a
/// UUID job id); returns that UUID.
fn insert_v1_rows(store: &Store, v: &Visit) -> String {
    let conn = store.lock();
    let key = store
        .sealer()
        .index_hash("national_id", v.patient.national_id.expose());
    let body = visits::seal_body(store.sealer(), v, 1).unwrap();
    let at = v.visited_at.timestamp_millis();
    conn.execute(
        "INSERT INTO visits (id, visit_code, patient_key, visited_at, upload_due_at, state, version, body,
                             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 1, ?6, ?7, ?7)",
        rusqlite::params![v.id, v.visit_code, key, at, at + UPLOAD_DEADLINE_MS, body, T0],
    )
    .unwrap();
    let job = Store::new_id();
    let payload = store
        .sealer()
        .seal(
            seal::Place {
                table: "outbox",
                row: job.as_str(),
                column: "payload",
            },
            b"v1 payload",
        )
        .unwrap();
    conn.execute(
        "INSERT INTO outbox (id, kind, idempotency_key, visit_id, patient_key, state, created_at, updated_at, payload)
         VALUES (?1, 'card_upload', ?2, ?3, ?4, 'queued', ?5, ?5, ?6)",
        rusqlite::params![job.as_str(), format!("v1-{}", v.id), v.id, key, T0, payload],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO audit (at, action, subject) VALUES (?1, 'visit_committed', ?2)",
        rusqlite::params![T0, v.id],
    )
    .unwrap();
    job
}

fn schema_of(path: &Path) -> Vec<(String, String, Option<String>)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_version_1_database_with_data_upgrades_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hv.db");
    let ks = MemoryKeyStore::with_seed(1);
    let clock = ManualClock::new(T0);
    let v = visit("A12345678", T0);
    let uuid = {
        let old = Store::open_at_version(&path, &ks, clock.clone(), 1).unwrap();
        assert_eq!(old.schema_version().unwrap(), 1);
        let uuid = insert_v1_rows(&old, &v);
        old.kv_put("reader", "r1", b"pairing").unwrap();
        uuid
    };
    let store = Store::open_with_clock(&path, &ks, clock.clone()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.get_visit(&v.id).unwrap().visit, v);
    // The version-1 visit is still found by patient and still tracked against the 24-hour rule
    // (migration 0003 serves both from other indexes).
    let found = store.find_visits_by_national_id(&v.patient.national_id).unwrap();
    assert_eq!(found.iter().map(|s| &s.visit).collect::<Vec<_>>(), vec![&v]);
    let day = UPLOAD_DEADLINE_MS;
    let at = v.visited_at.timestamp_millis();
    let deadlines = store.upload_deadlines(at + day + 1, day, 0).unwrap();
    assert_eq!(deadlines.missed.len(), 1);
    assert_eq!(deadlines.missed[0].due_at_ms, at + day);
    assert_eq!(
        store
            .upload_deadlines(at + day - 10, day, 60)
            .unwrap()
            .at_risk
            .len(),
        1
    );
    assert_eq!(
        store.kv_get("reader", "r1").unwrap().as_deref(),
        Some(&b"pairing"[..])
    );
    // The old job is named by its integer key now; its sealed payload (bound to the UUID) opens.
    let job = store.all_jobs().unwrap().remove(0).id;
    assert_ne!(job, uuid);
    let j = store.get_job(&job).unwrap();
    assert_eq!(
        (j.state, j.payload.as_slice(), j.visit_version),
        (JobState::Queued, &b"v1 payload"[..], None)
    );
    // The upgraded store works: the old job goes out and marks the visit uploaded (a v2 column).
    assert_eq!(ids(&store.ready_jobs(T0, 10).unwrap()), vec![job.clone()]);
    store.mark_sending(std::slice::from_ref(&job)).unwrap();
    store.mark_done(&job, "ok").unwrap();
    assert_eq!(store.get_visit(&v.id).unwrap().uploaded_at_ms, Some(T0));
    assert!(
        store
            .audit_log(10)
            .unwrap()
            .iter()
            .any(|e| e.action == "visit_committed" && e.subject == v.id)
    );
    drop(store);

    // The upgraded schema is exactly the fresh one.
    let fresh = dir.path().join("fresh.db");
    drop(Store::open(&fresh, &ks).unwrap());
    assert_eq!(schema_of(&path), schema_of(&fresh));
}

#[test]
fn a_database_from_a_newer_app_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hv.db");
    drop(open(dir.path(), 1));
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Store::open(&path, &MemoryKeyStore::with_seed(1)).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");
    assert!(path.exists());
}

#[test]
fn errors_carry_no_patient_data() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let v = visit("A12345678", T0);
    store.commit_visit(&v, &[upload(&v)]).unwrap();
    let err = store.commit_visit(&v, &[upload(&v)]).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(v.patient.national_id.expose()) && !text.contains(NAME));
    let dbg = format!(
        "{:?} {:?}",
        store.get_visit(&v.id).unwrap(),
        store.jobs_for_visit(&v.id).unwrap()
    );
    assert!(!dbg.contains(v.patient.national_id.expose()) && !dbg.contains(NAME) && !dbg.contains(NOTE));
}

#[test]
fn correcting_the_patient_moves_the_visit_and_its_jobs_to_the_right_patient() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), 1);
    let wrong = visit("A12345678", T0);
    let other = visit("B22345678", T0 + 1);
    let j1 = store.commit_visit(&wrong, &[upload(&wrong)]).unwrap().jobs[0].clone();
    let j_other = store.commit_visit(&other, &[upload(&other)]).unwrap().jobs[0].clone();
    store.mark_sending(std::slice::from_ref(&j1)).unwrap();

    // The card was the wrong patient's: the visit belongs to B's patient.
    let mut fixed = wrong.clone();
    fixed.patient.national_id = other.patient.national_id.clone();
    let j2 = NewJob::new(
        JobKind::CardUpload,
        format!("upload-{}-v2", wrong.id),
        b"v2".to_vec(),
    );
    let c = store.update_visit(&fixed, 1, &[j2]).unwrap();
    let found = store
        .find_visits_by_national_id(&other.patient.national_id)
        .unwrap();
    assert_eq!(found.len(), 2);
    assert!(
        store
            .find_visits_by_national_id(&wrong.patient.national_id)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&store.jobs_for_visit(&wrong.id).unwrap()),
        vec![j1.clone(), c.jobs[0].clone()]
    );
    // Both of the visit's jobs now order with B's jobs: B's queued upload goes first, the new
    // version after it and after the job still in flight.
    assert_eq!(ids(&store.ready_jobs(T0, 10).unwrap()), Vec::<JobId>::new());
    store.mark_done(&j1, "ok").unwrap();
    assert_eq!(ids(&store.ready_jobs(T0, 10).unwrap()), vec![j_other.clone()]);
}
