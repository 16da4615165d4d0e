//! Prescriptions end to end against the pharmacy services of the VPN simulator on 127.0.0.1:
//! every failure of the pharmacist's side has its own error; exactly one of 100 concurrent
//! dispenses succeeds; chronic refills, `C`/`E`; the audited abnormal-case restore.

use homevisit_core::platform::{Clock, ManualClock};
use homevisit_core::rx::base45;
use homevisit_core::rx::payload;
use homevisit_core::rx::pharmacy::wire::{Presented, RefillOpRequest, Restore};
use homevisit_core::rx::pharmacy::{HttpPharmacy, Pharmacist, PharmacyError, PharmacyService};
use homevisit_core::rx::sheet::{self, IssuedPrescription};
use homevisit_core::vpn::DeviceKey;
use nhi_vpn_sim::pharmacy::demo::{home_care_extras, sample_order_set, sample_visit};
use nhi_vpn_sim::pharmacy::{DEMO_PHARMACY, PharmacyState, RunningPharmacy, serve};
use std::sync::Arc;

const INST: &str = "3501200000";
/// 2024-03-01 10:00 Taiwan time.
const VISIT_MS: i64 = 1_709_258_400_000;
const DAY_MS: i64 = 86_400_000;

struct Fixture {
    clock: Arc<ManualClock>,
    state: PharmacyState,
    server: RunningPharmacy,
    key: DeviceKey,
}

async fn fixture() -> Fixture {
    let clock = ManualClock::new(VISIT_MS);
    let state = PharmacyState::open(None, clock.clone(), None).unwrap();
    let key = DeviceKey::from_seed_for_tests(&[11; 32]);
    state.register_signer(INST, "D00001", key.public_key()).unwrap();
    state.add_pharmacy("5901010020", "第二藥局", "second").unwrap();
    let server = serve(state.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Fixture {
        clock,
        state,
        server,
        key,
    }
}

impl Fixture {
    fn issue(
        &self,
        visit_code: &str,
        chronic: Option<u8>,
        key: &DeviceKey,
        inst: &str,
    ) -> IssuedPrescription {
        let mut v = sample_visit(visit_code, inst, VISIT_MS).unwrap();
        sample_order_set(false, 28).apply_to(&mut v).unwrap();
        let issued = sheet::issue(&v, chronic, key, "02-2345-6789", &home_care_extras()).unwrap();
        self.state
            .register(&issued.registration(&v, key).unwrap())
            .unwrap();
        issued
    }

    async fn api(&self, who: (&str, &str)) -> HttpPharmacy {
        let mut api = HttpPharmacy::new(&self.server.base_url, self.server.fingerprint).unwrap();
        api.login(who.0, who.1).await.unwrap();
        api
    }

    async fn pharmacist(&self, who: (&str, &str)) -> Pharmacist {
        let clock: Arc<dyn Clock> = self.clock.clone();
        let p = Pharmacist::new(Arc::new(self.api(who).await), clock);
        assert!(p.refresh_keys().await.unwrap() >= 1);
        p
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_gives_its_own_error() {
    let f = fixture().await;
    let issued = f.issue("3K7Q2M9X4T8W1Z5R6N0B", None, &f.key, INST);
    let ph = f.pharmacist(DEMO_PHARMACY).await;

    // Tampered: one byte of the payload changed.
    let mut bytes = base45::decode(&issued.qr_text[3..]).unwrap();
    bytes[25] ^= 0x01;
    let tampered = format!("{}{}", payload::QR_PREFIX, base45::encode(&bytes));
    assert_eq!(ph.scan(&tampered).await.unwrap_err(), PharmacyError::Tampered);
    assert_eq!(
        ph.dispense_qr(&tampered).await.unwrap_err(),
        PharmacyError::Tampered
    );
    // The server refuses it too, on its own check.
    let raw = f.api(DEMO_PHARMACY).await;
    let err = raw
        .dispense(&Presented {
            qr: Some(tampered),
            code: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err, PharmacyError::Tampered);

    // Unknown institution: a genuine signature by a clinic whose keys are not published.
    let stranger = DeviceKey::from_seed_for_tests(&[12; 32]);
    let foreign = sheet::issue(
        &{
            let mut v = sample_visit("5C3D2E1F0G9H8J7K6L5M", "1234567890", VISIT_MS).unwrap();
            sample_order_set(false, 7).apply_to(&mut v).unwrap();
            v
        },
        None,
        &stranger,
        "x",
        &home_care_extras(),
    )
    .unwrap();
    assert_eq!(
        ph.scan(&foreign.qr_text).await.unwrap_err(),
        PharmacyError::UnknownInstitution("1234567890".into())
    );
    // Unknown signer: our institution code, a device that was never enrolled.
    let rogue = sheet::issue(
        &{
            let mut v = sample_visit("6C3D2E1F0G9H8J7K6L5M", INST, VISIT_MS).unwrap();
            sample_order_set(false, 7).apply_to(&mut v).unwrap();
            v
        },
        None,
        &stranger,
        "x",
        &home_care_extras(),
    )
    .unwrap();
    assert_eq!(
        ph.scan(&rogue.qr_text).await.unwrap_err(),
        PharmacyError::UnknownSigner(INST.into())
    );

    // Random QR from the street, and a damaged one of ours.
    assert_eq!(
        ph.scan("https://www.nhi.gov.tw/").await.unwrap_err(),
        PharmacyError::NotOurs
    );
    assert!(matches!(
        ph.scan("RX:0000").await.unwrap_err(),
        PharmacyError::Malformed(_)
    ));
    // A genuine QR that was never registered, and an unknown code.
    let unregistered = sheet::issue(
        &{
            let mut v = sample_visit("7C3D2E1F0G9H8J7K6L5M", INST, VISIT_MS).unwrap();
            sample_order_set(false, 7).apply_to(&mut v).unwrap();
            v
        },
        None,
        &f.key,
        "x",
        &home_care_extras(),
    )
    .unwrap();
    assert_eq!(
        ph.scan(&unregistered.qr_text).await.unwrap_err(),
        PharmacyError::NotRegistered
    );
    assert_eq!(
        ph.lookup_code("ABCD-EFGH").await.unwrap_err(),
        PharmacyError::UnknownCode
    );
    assert_eq!(
        ph.lookup_code("no").await.unwrap_err(),
        PharmacyError::UnknownCode
    );

    // Genuine: details, then dispense, then a second attempt anywhere is refused with who/when.
    let scan = ph.scan(&issued.qr_text).await.unwrap();
    assert_eq!(scan.details.visit_code, "3K7Q2M9X4T8W1Z5R6N0B");
    assert_eq!(scan.details.patient_id_masked, "A12****789");
    assert_eq!(scan.details.due_refill, Some(1));
    let receipt = ph.dispense_qr(&issued.qr_text).await.unwrap();
    assert_eq!((receipt.refill, receipt.pharmacy.as_str()), (1, DEMO_PHARMACY.0));
    let other = f.pharmacist(("5901010020", "second")).await;
    let expected = PharmacyError::AlreadyDispensed {
        by: DEMO_PHARMACY.0.into(),
        at: receipt.dispensed_at.clone(),
    };
    assert_eq!(other.dispense_qr(&issued.qr_text).await.unwrap_err(), expected);
    assert_eq!(
        other.dispense_code(&issued.one_time_code).await.unwrap_err(),
        expected
    );
    assert_eq!(ph.dispense_qr(&issued.qr_text).await.unwrap_err(), expected);

    // Expired: an ordinary prescription is good for 3 days (3/1–3/3).
    let late = f.issue("8C3D2E1F0G9H8J7K6L5M", None, &f.key, INST);
    f.clock.advance_ms(3 * DAY_MS);
    let ph = f.pharmacist(DEMO_PHARMACY).await;
    assert_eq!(
        ph.scan(&late.qr_text).await.unwrap_err(),
        PharmacyError::Expired {
            valid_until: "1130303".into()
        }
    );
    assert!(matches!(
        ph.dispense_code(&late.one_time_code).await.unwrap_err(),
        PharmacyError::Expired { .. }
    ));

    // A registration not signed by the QR's device, or changed on the way, is refused.
    let mut v = sample_visit("DC3D2E1F0G9H8J7K6L5M", INST, VISIT_MS).unwrap();
    sample_order_set(false, 28).apply_to(&mut v).unwrap();
    let fresh = sheet::issue(&v, None, &f.key, "x", &home_care_extras()).unwrap();
    let mut changed = fresh.registration(&v, &f.key).unwrap();
    changed.one_time_code = "ZZZZZZZZ".into();
    assert_eq!(f.state.register(&changed).unwrap_err(), PharmacyError::Tampered);
    let foreign_signed = fresh.registration(&v, &stranger).unwrap();
    assert_eq!(
        f.state.register(&foreign_signed).unwrap_err(),
        PharmacyError::Tampered
    );
    let good = fresh.registration(&v, &f.key).unwrap();
    f.state.register(&good).unwrap();
    f.state.register(&good).unwrap();

    // Sessions end after 12 hours.
    f.clock.advance_ms(13 * 3600 * 1000);
    assert_eq!(
        ph.lookup_code(&fresh.one_time_code).await.unwrap_err(),
        PharmacyError::Unauthorized
    );
    f.clock.advance_ms(-13 * 3600 * 1000);

    // Wrong password, and the API without a session.
    let mut bad = HttpPharmacy::new(&f.server.base_url, f.server.fingerprint).unwrap();
    assert_eq!(
        bad.login(DEMO_PHARMACY.0, "nope").await.unwrap_err(),
        PharmacyError::Unauthorized
    );
    assert_eq!(
        bad.lookup(&Presented::default()).await.unwrap_err(),
        PharmacyError::Unauthorized
    );
    // Five wrong passwords in a row lock the account for this address for 15 minutes, even for
    // the right one.
    for _ in 0..4 {
        assert_eq!(
            bad.login("5901010020", "nope").await.unwrap_err(),
            PharmacyError::Unauthorized
        );
    }
    bad.login("5901010020", "second").await.unwrap();
    for _ in 0..5 {
        assert_eq!(
            bad.login("5901010020", "nope").await.unwrap_err(),
            PharmacyError::Unauthorized
        );
    }
    assert!(matches!(
        bad.login("5901010020", "second").await.unwrap_err(),
        PharmacyError::Throttled { .. }
    ));
    f.clock.advance_ms(16 * 60 * 1000);
    bad.login("5901010020", "second").await.unwrap();

    // A client pinned to another certificate never talks to this server.
    let mut wrong_pin = HttpPharmacy::new(&f.server.base_url, [0; 32]).unwrap();
    assert!(matches!(
        wrong_pin
            .login(DEMO_PHARMACY.0, DEMO_PHARMACY.1)
            .await
            .unwrap_err(),
        PharmacyError::Network(_)
    ));
    f.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_dispenses_exactly_one_succeeds() {
    let f = fixture().await;
    let issued = f.issue("9C3D2E1F0G9H8J7K6L5M", None, &f.key, INST);
    let a = Arc::new(f.api(DEMO_PHARMACY).await);
    let b = Arc::new(f.api(("5901010020", "second")).await);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let api = if i % 2 == 0 { a.clone() } else { b.clone() };
        let presented = if i % 3 == 0 {
            Presented {
                qr: None,
                code: Some(issued.one_time_code.clone()),
            }
        } else {
            Presented {
                qr: Some(issued.qr_text.clone()),
                code: None,
            }
        };
        tasks.push(tokio::spawn(async move { api.dispense(&presented).await }));
    }
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => ok.push(r),
            Err(e) => refused.push(e),
        }
    }
    assert_eq!(ok.len(), 1, "exactly one dispense succeeds");
    let winner = &ok[0];
    assert_eq!(refused.len(), 99);
    for e in &refused {
        assert_eq!(
            e,
            &PharmacyError::AlreadyDispensed {
                by: winner.pharmacy.clone(),
                at: winner.dispensed_at.clone()
            }
        );
    }
    let log = f.state.audit_log("9C3D2E1F0G9H8J7K6L5M").unwrap();
    assert_eq!(log.iter().filter(|e| e.1 == "dispense").count(), 1);
    f.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chronic_refills_and_cancel_undo() {
    let f = fixture().await;
    let issued = f.issue("AC3D2E1F0G9H8J7K6L5M", Some(3), &f.key, INST);
    let code = "AC3D2E1F0G9H8J7K6L5M";
    let ph = f.pharmacist(DEMO_PHARMACY).await;
    let api = f.api(DEMO_PHARMACY).await;
    assert_eq!(ph.dispense_qr(&issued.qr_text).await.unwrap().refill, 1);
    // Day 5: refill 2 (3/19–3/28) is not due yet.
    f.clock.set_unix_ms(VISIT_MS + 5 * DAY_MS);
    let ph = f.pharmacist(DEMO_PHARMACY).await; // a new working day, a new session
    assert_eq!(
        ph.dispense_qr(&issued.qr_text).await.unwrap_err(),
        PharmacyError::NotYetDue {
            from: "1130319".into()
        }
    );
    // 3/19: due.
    f.clock.set_unix_ms(VISIT_MS + 18 * DAY_MS);
    let ph = f.pharmacist(DEMO_PHARMACY).await; // a new working day, a new session
    assert_eq!(ph.dispense_qr(&issued.qr_text).await.unwrap().refill, 2);
    // `C` on refill 3 by another institution is refused; by the prescriber it works.
    let other_inst = DeviceKey::from_seed_for_tests(&[13; 32]);
    f.state
        .register_signer("3501209999", "D00009", other_inst.public_key())
        .unwrap();
    let now = || f.clock.now_unix_ms();
    let c_other = RefillOpRequest::signed(true, code, 3, "3501209999", now(), &other_inst).unwrap();
    assert!(matches!(
        api.refill_op(&c_other).await.unwrap_err(),
        PharmacyError::Refused(_)
    ));
    // A request claiming our institution but signed by another key is not ours.
    let forged = RefillOpRequest::signed(true, code, 3, INST, now(), &other_inst).unwrap();
    assert_eq!(
        api.refill_op(&forged).await.unwrap_err(),
        PharmacyError::UnknownSigner(INST.into())
    );
    let cancel3 = || RefillOpRequest::signed(true, code, 3, INST, now(), &f.key).unwrap();
    assert_eq!(api.refill_op(&cancel3()).await.unwrap().status, "cancelled");
    assert!(matches!(
        api.refill_op(&cancel3()).await.unwrap_err(),
        PharmacyError::Refused(_)
    ));
    // 4/16 (refill 3 window): cancelled.
    f.clock.set_unix_ms(VISIT_MS + 46 * DAY_MS);
    let ph = f.pharmacist(DEMO_PHARMACY).await; // a new working day, a new session
    assert_eq!(
        ph.dispense_qr(&issued.qr_text).await.unwrap_err(),
        PharmacyError::Cancelled
    );
    // `E` undoes it; then refill 3 can be dispensed, and a dispensed refill cannot be cancelled.
    let e = RefillOpRequest::signed(false, code, 3, INST, now(), &f.key).unwrap();
    assert_eq!(api.refill_op(&e).await.unwrap().status, "open");
    assert_eq!(ph.dispense_qr(&issued.qr_text).await.unwrap().refill, 3);
    assert!(matches!(
        api.refill_op(&cancel3()).await.unwrap_err(),
        PharmacyError::AlreadyDispensed { .. }
    ));
    let c2 = RefillOpRequest::signed(true, code, 2, INST, now(), &f.key).unwrap();
    assert!(matches!(
        api.refill_op(&c2).await.unwrap_err(),
        PharmacyError::AlreadyDispensed { .. }
    ));
    let log = f.state.audit_log(code).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(actions, ["dispense", "dispense", "C", "E", "dispense"]);
    // After the last window the prescription is spent.
    f.clock.set_unix_ms(VISIT_MS + 60 * DAY_MS);
    let ph = f.pharmacist(DEMO_PHARMACY).await; // a new working day, a new session
    assert!(matches!(
        ph.scan(&issued.qr_text).await.unwrap_err(),
        PharmacyError::Expired { .. }
    ));
    f.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abnormal_case_restore_is_audited() {
    let f = fixture().await;
    let issued = f.issue("BC3D2E1F0G9H8J7K6L5M", None, &f.key, INST);
    let code = "BC3D2E1F0G9H8J7K6L5M";
    let ph = f.pharmacist(DEMO_PHARMACY).await;
    let api = f.api(DEMO_PHARMACY).await;
    let other = f.api(("5901010020", "second")).await;
    ph.dispense_code(&issued.one_time_code).await.unwrap();
    // The one-time code is single use.
    assert!(matches!(
        ph.lookup_code(&issued.one_time_code).await.unwrap_err(),
        PharmacyError::AlreadyDispensed { .. }
    ));
    let restore = |reason: &str| Restore {
        visit_code: code.into(),
        refill: 1,
        reason: reason.into(),
    };
    assert!(matches!(
        api.restore(&restore("  ")).await.unwrap_err(),
        PharmacyError::Refused(_)
    ));
    assert!(matches!(
        other.restore(&restore("not mine")).await.unwrap_err(),
        PharmacyError::Refused(_)
    ));
    api.restore(&restore("drug out of stock after stamping"))
        .await
        .unwrap();
    let log = f.state.audit_log(code).unwrap();
    assert_eq!(
        log.last().unwrap(),
        &(
            DEMO_PHARMACY.0.to_string(),
            "restore".to_string(),
            1,
            "drug out of stock after stamping".to_string()
        )
    );
    // The prescription (and its code) can be filled again, once.
    assert_eq!(
        other
            .dispense(&Presented {
                qr: None,
                code: Some(issued.one_time_code.clone())
            })
            .await
            .unwrap()
            .pharmacy,
        "5901010020"
    );
    assert!(matches!(
        ph.dispense_qr(&issued.qr_text).await.unwrap_err(),
        PharmacyError::AlreadyDispensed { .. }
    ));
    f.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_the_qr_saves_the_png_and_shows_the_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("rx.png");
    let key = DeviceKey::from_seed_for_tests(&[31; 32]);
    let now = homevisit_core::platform::SystemClock.now_unix_ms();
    let mut v = sample_visit("3K7Q2M9X4T8W1Z5R6N0B", INST, now).unwrap();
    sample_order_set(true, 28).apply_to(&mut v).unwrap();
    let mut out = Vec::new();
    let issued = nhi_vpn_sim::pharmacy::demo::run(&v, Some(3), &key, &png, &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    assert!(out.contains("version 11"), "{out}");
    assert!(out.contains('█'));
    assert!(out.contains("Dispensed: receipt"));
    assert!(out.contains("Second attempt (one-time code) refused: already dispensed by 5901010010"));
    assert!(out.contains("Second attempt (QR) refused"));
    assert!(out.contains("第2次領藥") && out.contains("第3次領藥"));
    assert_eq!(issued.prescription.lines.len(), 10);
    assert!(
        !out.contains("A123456789"),
        "no clear national ID in the demo output"
    );
}
