//! Issue 11, findings 4, 5 and 8 (prescriptions and the pharmacy): one hostile test per defence,
//! each named after its finding, against the VPN simulator's pharmacy on 127.0.0.1 with a virtual
//! clock (no sleeps). Each fails without its defence (see the report of issue 11).

use homevisit_core::platform::{Clock, ManualClock};
use homevisit_core::rx::otc;
use homevisit_core::rx::pharmacy::wire::{Presented, RefillOpRequest, Restore, TrustList};
use homevisit_core::rx::pharmacy::{HttpPharmacy, Pharmacist, PharmacyError, PharmacyService};
use homevisit_core::rx::sheet::{self, IssuedPrescription};
use homevisit_core::vpn::DeviceKey;
use homevisit_core::vpn::pinning::{PinnedVerifier, client_config};
use nhi_vpn_sim::pharmacy::demo::{home_care_extras, sample_order_set, sample_visit};
use nhi_vpn_sim::pharmacy::{Caller, DEMO_PHARMACY, PharmacyState, RunningPharmacy, serve, store};
use std::net::IpAddr;
use std::sync::Arc;

const INST: &str = "3501200000";
/// 2024-03-01 10:00 Taiwan time.
const VISIT_MS: i64 = 1_709_258_400_000;
const DAY_MS: i64 = 86_400_000;
const PATIENT_NAME: &str = "王小明";

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
    fn issue(&self, visit_code: &str, chronic: Option<u8>, key: &DeviceKey) -> IssuedPrescription {
        let mut v = sample_visit(visit_code, INST, VISIT_MS).unwrap();
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

    async fn pharmacist(&self) -> Pharmacist {
        let clock: Arc<dyn Clock> = self.clock.clone();
        let p = Pharmacist::new(Arc::new(self.api(DEMO_PHARMACY).await), clock);
        p.refresh_keys().await.unwrap();
        p
    }

    /// A raw HTTPS client pinned to the server, connecting from `from` (another loopback address
    /// is another client address to the server).
    fn raw(&self, from: Option<IpAddr>) -> reqwest::Client {
        let tls = client_config(PinnedVerifier::new(self.server.fingerprint)).unwrap();
        let mut b = reqwest::Client::builder().tls_backend_preconfigured(tls);
        if let Some(ip) = from {
            b = b.local_address(ip);
        }
        b.build().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url)
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn urlencoded(pairs: &[(&str, String)]) -> String {
    let enc = |v: &str| {
        v.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn caller(pharmacy: &str, source: &str) -> Caller {
    Caller {
        pharmacy: pharmacy.into(),
        source: source.into(),
    }
}

/// Finding 4: the administrator revokes a stolen phone on the VPN; the pharmacy's trust list
/// carries it, a pharmacist whose cached list passes its maximum age fetches it again and refuses
/// the phone's QR as `revoked` (the server refuses it at once, even to a pharmacist still within
/// the age), and the phone can neither register new prescriptions nor send `C`/`E`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding4_a_qr_signed_by_a_revoked_device_is_refused_after_the_pharmacys_refresh() {
    let f = fixture().await;
    let kept = DeviceKey::from_seed_for_tests(&[12; 32]);
    f.state
        .register_signer(INST, "D00002", kept.public_key())
        .unwrap();
    let stolen_qr = f.issue("3K7Q2M9X4T8W1Z5R6N0B", Some(3), &f.key);
    let kept_qr = f.issue("4K7Q2M9X4T8W1Z5R6N0B", None, &kept);
    let ph = f.pharmacist().await;
    assert!(ph.verify(&stolen_qr.qr_text).is_ok());

    // The administrator revokes device D00001 (the admin token is required).
    let http = f.raw(None);
    let url = f.url("/admin/devices/D00001/revoke");
    let denied = http.post(&url).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let ok = http
        .post(&url)
        .header("x-admin-token", f.state.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let trust: TrustList = http
        .get(f.url("/pharmacy/api/trust"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(trust.revoked.len(), 1);
    assert_eq!(trust.revoked[0].device_id, "D00001");
    assert!(
        trust
            .keys
            .iter()
            .flat_map(|d| &d.keys)
            .all(|k| k.device_id != "D00001")
    );
    assert!(trust.max_age_ms > 0 && trust.max_age_ms <= 3_600_000);

    // The server refuses the stolen phone's QR at once, with its own error.
    assert_eq!(
        ph.dispense_qr(&stolen_qr.qr_text).await.unwrap_err(),
        PharmacyError::Revoked(INST.into())
    );
    // Past the maximum age the pharmacist's cache is not used: a scan fetches the list again.
    f.clock.advance_ms(trust.max_age_ms + 1);
    assert_eq!(
        ph.verify(&stolen_qr.qr_text).unwrap_err(),
        PharmacyError::KeysStale
    );
    assert_eq!(
        ph.scan(&stolen_qr.qr_text).await.unwrap_err(),
        PharmacyError::Revoked(INST.into())
    );
    assert_eq!(
        ph.verify(&stolen_qr.qr_text).unwrap_err(),
        PharmacyError::Revoked(INST.into()),
        "offline too, now"
    );
    assert!(
        ph.verify(&kept_qr.qr_text).is_ok(),
        "the institution's other phone still works"
    );

    // The thief's new prescriptions (back-dated or not) cannot be registered …
    let mut v = sample_visit("5K7Q2M9X4T8W1Z5R6N0B", INST, VISIT_MS - 30 * DAY_MS).unwrap();
    sample_order_set(false, 28).apply_to(&mut v).unwrap();
    let forged = sheet::issue(&v, None, &f.key, "x", &home_care_extras()).unwrap();
    assert_eq!(
        f.state
            .register(&forged.registration(&v, &f.key).unwrap())
            .unwrap_err(),
        PharmacyError::Revoked(INST.into())
    );
    // … nor may it cancel the patient's refills.
    let api = f.api(DEMO_PHARMACY).await;
    let c = RefillOpRequest::signed(
        true,
        "3K7Q2M9X4T8W1Z5R6N0B",
        3,
        INST,
        f.clock.now_unix_ms(),
        &f.key,
    )
    .unwrap();
    assert_eq!(
        api.refill_op(&c).await.unwrap_err(),
        PharmacyError::UnknownSigner(INST.into())
    );
    f.server.shutdown();
}

/// Finding 5: 10⁴ random one-time codes from one pharmacy account are throttled after 10 wrong
/// ones and reveal no patient data; while throttled even the right code is refused; another
/// account from the same address is throttled too (per address), a pharmacy elsewhere is not;
/// the window passes in virtual time. Over HTTPS, the same throttle answers `throttled`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding5_ten_thousand_random_one_time_codes_are_throttled_after_about_ten_and_reveal_no_patient_data()
 {
    let f = fixture().await;
    let issued = f.issue("3K7Q2M9X4T8W1Z5R6N0B", None, &f.key);
    let attacker = caller("5901010020", "10.0.0.66");
    let (mut unknown, mut throttled, mut found) = (0, 0, 0);
    for _ in 0..10_000 {
        let code = otc::generate().unwrap();
        let p = Presented {
            qr: None,
            code: Some(code),
        };
        match f.state.lookup(&p, &attacker) {
            Ok(_) => found += 1,
            Err(PharmacyError::UnknownCode) => unknown += 1,
            Err(PharmacyError::Throttled { retry_after_s }) => {
                assert!(retry_after_s > 0 && retry_after_s <= 15 * 60);
                throttled += 1
            }
            Err(e) => {
                assert!(!e.to_string().contains(PATIENT_NAME), "{e}");
                unknown += 1
            }
        }
    }
    assert_eq!(found, 0, "no details for any guess");
    assert_eq!(
        unknown,
        store::MAX_CODE_FAILURES as usize,
        "about 10 tries, then nothing"
    );
    assert_eq!(throttled, 10_000 - unknown);
    let right = Presented {
        qr: None,
        code: Some(issued.one_time_code.clone()),
    };
    assert!(matches!(
        f.state.lookup(&right, &attacker),
        Err(PharmacyError::Throttled { .. })
    ));
    assert!(matches!(
        f.state.dispense(&right, &attacker),
        Err(PharmacyError::Throttled { .. })
    ));
    // Another account from the same address: throttled by address.
    assert!(matches!(
        f.state.lookup(&right, &caller(DEMO_PHARMACY.0, "10.0.0.66")),
        Err(PharmacyError::Throttled { .. })
    ));
    // A pharmacy elsewhere works as before.
    let honest = caller(DEMO_PHARMACY.0, "192.0.2.10");
    let d = f.state.lookup(&right, &honest).unwrap();
    assert_eq!(d.patient_name, PATIENT_NAME);
    // The window passes (virtual time): the attacker gets another 10 tries, no more.
    f.clock.advance_ms(store::CODE_WINDOW_MS);
    assert_eq!(
        f.state
            .lookup(
                &Presented {
                    qr: None,
                    code: Some("22222222".into())
                },
                &attacker
            )
            .unwrap_err(),
        PharmacyError::UnknownCode
    );

    // Over HTTPS: the account is throttled by its failures from any address.
    let api = f.api(("5901010020", "second")).await;
    let mut last = None;
    for _ in 0..12 {
        last = Some(
            api.lookup(&Presented {
                qr: None,
                code: Some(otc::generate().unwrap()),
            })
            .await,
        );
    }
    assert!(
        matches!(last, Some(Err(PharmacyError::Throttled { .. }))),
        "{last:?}"
    );
    f.server.shutdown();
}

/// Finding 5: a one-time code of a prescription with nothing left to dispense (dispensed by QR,
/// or past its last day) shows nothing — no name, ID, drugs or contact — only why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding5_a_dead_or_expired_one_time_code_shows_no_patient_data() {
    let f = fixture().await;
    let dead = f.issue("3K7Q2M9X4T8W1Z5R6N0B", None, &f.key);
    let later = f.issue("4K7Q2M9X4T8W1Z5R6N0B", None, &f.key);
    let ph = f.pharmacist().await;
    ph.dispense_qr(&dead.qr_text).await.unwrap();
    let e = ph.lookup_code(&dead.one_time_code).await.unwrap_err();
    assert!(matches!(e, PharmacyError::AlreadyDispensed { .. }), "{e:?}");
    // The code expires with the prescription's last pick-up day (3 days for an ordinary one).
    assert!(ph.lookup_code(&later.one_time_code).await.is_ok());
    f.clock.advance_ms(3 * DAY_MS);
    let ph = f.pharmacist().await;
    let e = ph.lookup_code(&later.one_time_code).await.unwrap_err();
    assert!(matches!(e, PharmacyError::Expired { .. }), "{e:?}");
    assert!(!format!("{e:?}{e}").contains(PATIENT_NAME));
    f.server.shutdown();
}

/// Finding 5: a stranger's wrong passwords from another address lock only that address out;
/// the pharmacy's own counter logs in; the stranger stays locked even with the right password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding5_a_strangers_wrong_passwords_from_another_address_do_not_lock_the_pharmacy_out() {
    let f = fixture().await;
    let stranger = f.raw(Some("127.0.0.2".parse().unwrap()));
    let login = |pw: &str| serde_json::json!({"pharmacy": DEMO_PHARMACY.0, "password": pw});
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = stranger
            .post(f.url("/pharmacy/api/login"))
            .json(&login("guess"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    let r = stranger
        .post(f.url("/pharmacy/api/login"))
        .json(&login(DEMO_PHARMACY.1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "the stranger's address stays locked");
    // The pharmacy, from its own address, logs in.
    let mut own = HttpPharmacy::new(&f.server.base_url, f.server.fingerprint).unwrap();
    own.login(DEMO_PHARMACY.0, DEMO_PHARMACY.1).await.unwrap();
    f.server.shutdown();
}

/// Finding 8: a captured `C`/`E` request cannot be sent again, nor an old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding8_a_replayed_refill_request_is_refused() {
    let f = fixture().await;
    let code = "3K7Q2M9X4T8W1Z5R6N0B";
    f.issue(code, Some(3), &f.key);
    let api = f.api(DEMO_PHARMACY).await;
    let c = RefillOpRequest::signed(true, code, 3, INST, f.clock.now_unix_ms(), &f.key).unwrap();
    assert_eq!(api.refill_op(&c).await.unwrap().status, "cancelled");
    let e = RefillOpRequest::signed(false, code, 3, INST, f.clock.now_unix_ms(), &f.key).unwrap();
    assert_eq!(api.refill_op(&e).await.unwrap().status, "open");
    // The captured `C` sent again would cancel the refill again: refused.
    assert_eq!(api.refill_op(&c).await.unwrap_err(), PharmacyError::Replayed);
    // Its time changed (to look new) breaks the signature; an old request is refused by its time.
    let mut moved = c.clone();
    moved.nonce = "00112233445566778899aabbccddeeff".into();
    assert_eq!(
        api.refill_op(&moved).await.unwrap_err(),
        PharmacyError::UnknownSigner(INST.into())
    );
    let old =
        RefillOpRequest::signed(true, code, 3, INST, f.clock.now_unix_ms() - 10 * 60_000, &f.key).unwrap();
    assert_eq!(api.refill_op(&old).await.unwrap_err(), PharmacyError::Replayed);
    f.server.shutdown();
}

/// Finding 8: an abnormal-case restore happens once per dispense; a dispense–restore loop
/// (handing the medicine out again and again) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding8_a_restored_dispense_cannot_be_restored_again() {
    let f = fixture().await;
    let code = "3K7Q2M9X4T8W1Z5R6N0B";
    let issued = f.issue(code, None, &f.key);
    let ph = f.pharmacist().await;
    let api = f.api(DEMO_PHARMACY).await;
    let restore = Restore {
        visit_code: code.into(),
        refill: 1,
        reason: "wrong bag".into(),
    };
    ph.dispense_qr(&issued.qr_text).await.unwrap();
    api.restore(&restore).await.unwrap();
    ph.dispense_qr(&issued.qr_text).await.unwrap();
    assert_eq!(
        api.restore(&restore).await.unwrap_err(),
        PharmacyError::RestoreLimit
    );
    assert!(matches!(
        ph.dispense_qr(&issued.qr_text).await.unwrap_err(),
        PharmacyError::AlreadyDispensed { .. }
    ));
    let log = f.state.audit_log(code).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(actions, ["dispense", "restore", "dispense"]);
    f.server.shutdown();
}

/// Finding 8: every pharmacy page is `no-store`, has a CSP that forbids framing, and a form post
/// without the session's anti-forgery token (or from another origin) is refused — the session
/// cookie alone is not enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding8_pharmacy_page_headers_and_a_form_post_without_the_csrf_token_is_refused() {
    let f = fixture().await;
    let issued = f.issue("3K7Q2M9X4T8W1Z5R6N0B", None, &f.key);
    let http = f.raw(None);
    let page = http.get(f.url("/pharmacy")).send().await.unwrap();
    let h = page.headers();
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    // A logged-in session (the cookie a browser would send along with a forged form).
    let token: serde_json::Value = http
        .post(f.url("/pharmacy/api/login"))
        .json(&serde_json::json!({"pharmacy": DEMO_PHARMACY.0, "password": DEMO_PHARMACY.1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cookie = format!("rx_session={}", token["token"].as_str().unwrap());
    let home = http
        .get(f.url("/pharmacy"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = home
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(csrf.len(), 32);
    let post = |form: Vec<(&'static str, String)>| {
        http.post(f.url("/pharmacy/dispense"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencoded(&form))
            .send()
    };
    let forged = post(vec![("query", issued.one_time_code.clone())]).await.unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains(">csrf<"));
    let wrong = post(vec![
        ("query", issued.one_time_code.clone()),
        ("csrf", "0".repeat(32)),
    ])
    .await
    .unwrap();
    assert_eq!(wrong.status(), 403);
    let cross = http
        .post(f.url("/pharmacy/login"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[
            ("pharmacy", DEMO_PHARMACY.0.into()),
            ("password", DEMO_PHARMACY.1.into()),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403, "a login form posted from another site");
    // Nothing was dispensed; with the token it is.
    let ok = post(vec![("query", issued.one_time_code.clone()), ("csrf", csrf)])
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("data-status=\"ok\""));
    f.server.shutdown();
}
