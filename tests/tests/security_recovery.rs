//! Issue 11, finding 7: a corrupt database's visits are not stranded. The facade moves the corrupt
//! file aside and says where; after the next open (a fresh store) `recover_moved_aside` re-imports
//! every readable visit with the uploads still owed, once (a second call imports nothing), and the
//! visit-code counter stays above every counter the moved file used.

use homevisit_core::app::{AppConfig, AppError, CardInput, DATABASE_FILE, HomeVisit, VisitDetails};
use homevisit_core::model::{InstitutionCode, NationalId, RocDateTime};
use homevisit_core::platform::{Clock, ManualClock, MemoryKeyStore};
use homevisit_core::rules::visit_code::{VisitCodeGenerator, VisitCodeInput};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::path::Path;
use std::sync::Arc;

const INSTITUTION: &str = "3501200000";
const DEVICE: &str = "recovery-phone";
const IDS: [&str; 4] = ["A123456789", "B123456780", "A223456781", "B234567894"];

fn open(dir: &Path, keys: &Arc<MemoryKeyStore>, clock: &Arc<ManualClock>) -> Result<HomeVisit, AppError> {
    HomeVisit::open(
        AppConfig {
            data_dir: dir.to_path_buf(),
            institution_code: INSTITUTION.into(),
            device_id: DEVICE.into(),
        },
        keys.clone(),
        clock.clone(),
    )
}

fn card(n: usize) -> CardInput {
    CardInput {
        card_number: format!("{:012}", 12_345_678 + n),
        name: "王小明".into(),
        national_id: IDS[n].into(),
        birth_date: "0500101".into(),
        sex: if IDS[n].as_bytes()[1] == b'1' { "M" } else { "F" }.into(),
        issue_date: "1100301".into(),
    }
}

fn details() -> VisitDetails {
    VisitDetails {
        practitioner_id: "B234567894".into(),
        visit_type: "AH".into(),
        sequence_number: "0001".into(),
        diagnoses: vec!["I10".into()],
        note: "stable".into(),
        abnormal_reason: None,
    }
}

/// The device counter behind a visit code (the device key recomputes codes from their inputs).
fn counter_of(keys: &MemoryKeyStore, code: &str, patient: usize, at_ms: i64) -> u64 {
    let generator = VisitCodeGenerator::from_key_store(keys, DEVICE).unwrap();
    let person = NationalId::parse(IDS[patient]).unwrap();
    let institution = InstitutionCode::parse(INSTITUTION).unwrap();
    let input = VisitCodeInput {
        person: &person,
        at: RocDateTime::from_unix_ms(at_ms).unwrap(),
        institution: &institution,
    };
    (1..=100)
        .find(|&c| generator.generate(c, &input).unwrap().as_str() == code)
        .expect("the code was made from a small counter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_through_the_facade_reimports_readable_visits_and_owed_uploads_once_and_keeps_the_counter_monotonic()
 {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::with_seed(3));
    let clock = ManualClock::new(homevisit_core::platform::SystemClock.now_unix_ms());
    let at = clock.now_unix_ms();
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();

    // A day: the first visit uploaded, two still owed.
    let app = Arc::new(open(dir.path(), &keys, &clock).unwrap());
    let b = sim.new_binding().unwrap();
    app.enrol(&b.qr, &b.pin, "recovery").await.unwrap();
    let first = app.record_visit_from_input(&card(0), details()).unwrap();
    assert!(app.sync().drain_once(60_000).await.unwrap().complete);
    app.set_online(false);
    let owed: Vec<_> = (1..3)
        .map(|n| app.record_visit_from_input(&card(n), details()).unwrap())
        .collect();
    drop(app);

    // The file breaks (its header), the app moves it aside and says where; the next open is fresh.
    let db = dir.path().join(DATABASE_FILE);
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[..16].copy_from_slice(b"garbage-garbage!");
    std::fs::write(&db, &bytes).unwrap();
    let Err(AppError::Corrupt { moved_to }) = open(dir.path(), &keys, &clock) else {
        panic!("a corrupt store is refused with where it went");
    };
    assert!(!moved_to.is_empty());
    let app = Arc::new(open(dir.path(), &keys, &clock).unwrap());
    assert!(app.list_visits(10, 0).unwrap().is_empty());
    assert_eq!(app.moved_aside_databases().unwrap(), vec![moved_to.clone()]);

    // Recovery brings the three visits back and queues the two owed uploads.
    let out = app.recover_moved_aside(&moved_to).unwrap();
    assert_eq!(
        (
            out.visits_found,
            out.visits_imported,
            out.uploads_queued,
            out.unreadable_visits
        ),
        (3, 3, 2, 0),
        "{out:?}"
    );
    assert!(out.complete);
    let mut codes: Vec<String> = app
        .list_visits(10, 0)
        .unwrap()
        .into_iter()
        .map(|v| v.visit_code)
        .collect();
    codes.sort();
    let mut expected: Vec<String> = std::iter::once(&first)
        .chain(&owed)
        .map(|v| v.visit_code.clone())
        .collect();
    expected.sort();
    assert_eq!(codes, expected);
    assert_eq!(app.outbox_counts().unwrap().queued, 2);
    // The moved file is untouched.
    assert_eq!(std::fs::read(&moved_to).unwrap(), bytes);

    // Again: nothing new.
    let again = app.recover_moved_aside(&moved_to).unwrap();
    assert_eq!(
        (again.visits_found, again.visits_imported, again.uploads_queued),
        (3, 0, 0)
    );
    assert_eq!(app.list_visits(10, 0).unwrap().len(), 3);
    assert_eq!(app.outbox_counts().unwrap().queued, 2);

    // The next visit's counter is above every recovered one (no code is ever issued twice).
    let next = app.record_visit_from_input(&card(3), details()).unwrap();
    let recovered_max = std::iter::once((&first, 0))
        .chain(owed.iter().zip(1..))
        .map(|(v, n)| counter_of(&keys, &v.visit_code, n, at))
        .max()
        .unwrap();
    assert!(counter_of(&keys, &next.visit_code, 3, at) > recovered_max);

    // Re-enrolled, the owed uploads (and the new visit's) reach the NHI once each.
    app.set_online(true);
    let b = sim.new_binding().unwrap();
    app.enrol(&b.qr, &b.pin, "recovery").await.unwrap();
    assert!(app.sync().drain_once(60_000).await.unwrap().complete);
    assert_eq!(sim.stored_visit_total(), 4);
    for v in std::iter::once(&first).chain(&owed) {
        assert_eq!(sim.stored_visit_count(&v.visit_code), 1);
    }
}

#[test]
fn recovery_refuses_a_path_that_is_not_a_moved_aside_database() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::with_seed(3));
    let clock = ManualClock::new(1_700_000_000_000);
    let app = open(dir.path(), &keys, &clock).unwrap();
    let live = dir.path().join(DATABASE_FILE).display().to_string();
    for bad in [live.as_str(), "/etc/passwd", "homevisit.db.corrupt-x", ""] {
        assert!(
            matches!(
                app.recover_moved_aside(bad),
                Err(AppError::Validation { .. } | AppError::NotFound { .. })
            ),
            "{bad}"
        );
    }
}
