//! The pharmacist's dispensing on the simulator's web page, end to end in headless Chromium:
//! starts the pharmacy server on 127.0.0.1, registers a prescription, and runs
//! `tests/browser/pharmacy.py` (W3C WebDriver through `/usr/bin/chromedriver`). Issue 11,
//! finding 8: the script checks the page's `Cache-Control: no-store`, its CSP with
//! `frame-ancestors 'none'`, and that a form posted without the session's anti-forgery token is
//! refused (`csrf`).

use homevisit_core::platform::{Clock, SystemClock};
use homevisit_core::rx::base45;
use homevisit_core::rx::sheet;
use homevisit_core::vpn::DeviceKey;
use nhi_vpn_sim::pharmacy::demo::{home_care_extras, sample_order_set, sample_visit};
use nhi_vpn_sim::pharmacy::{DEMO_PHARMACY, PharmacyState, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pharmacist_dispenses_on_the_web_page_and_the_second_attempt_is_refused() {
    let state = PharmacyState::in_memory().unwrap();
    let key = DeviceKey::from_seed_for_tests(&[21; 32]);
    state
        .register_signer("3501200000", "D00001", key.public_key())
        .unwrap();
    let now = SystemClock.now_unix_ms();
    let mut visit = sample_visit("3K7Q2M9X4T8W1Z5R6N0B", "3501200000", now).unwrap();
    sample_order_set(false, 28).apply_to(&mut visit).unwrap();
    let issued = sheet::issue(&visit, None, &key, "02-2345-6789", &home_care_extras()).unwrap();
    state
        .register(&issued.registration(&visit, &key).unwrap())
        .unwrap();
    let mut bytes = base45::decode(&issued.qr_text[3..]).unwrap();
    bytes[20] ^= 0x02;
    let tampered = format!("RX:{}", base45::encode(&bytes));
    let server = serve(state, "127.0.0.1:0".parse().unwrap()).await.unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/pharmacy.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args([
            server.base_url.as_str(),
            DEMO_PHARMACY.0,
            DEMO_PHARMACY.1,
            issued.one_time_code.as_str(),
            visit.visit_code.as_str(),
            issued.qr_text.as_str(),
            tampered.as_str(),
        ])
        .output()
        .await
        .expect("python3 runs");
    server.shutdown();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser test failed:\n{stdout}");
    assert!(stdout.contains("browser: 20 passed, 0 failed"), "{stdout}");
}
