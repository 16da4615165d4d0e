//! The simulator's request authentication seen from a raw HTTP client: unsigned, tampered,
//! replayed, stale and unknown-device requests are refused; the admin routes need their token.

use homevisit_core::vpn::pinning::{PinnedVerifier, client_config};
use homevisit_core::vpn::signing::DeviceKey;
use homevisit_core::vpn::{BindingQr, ClientOptions, VpnClient};
use nhi_vpn_sim::{SimConfig, VpnSim};

fn raw_client(sim: &VpnSim) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(client_config(PinnedVerifier::new(sim.fingerprint)).unwrap())
        .no_proxy()
        .build()
        .unwrap()
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

async fn error_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn signed_requests_only_once_and_on_time() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let b = sim.new_binding().unwrap();
    let client = VpnClient::enrol(
        &BindingQr::parse(&b.qr).unwrap(),
        &b.pin,
        "t",
        ClientOptions::default(),
    )
    .await
    .unwrap();
    let device = client.enrolment().device_id.clone();
    let key = DeviceKey::from_pkcs8(client.device_key().pkcs8()).unwrap();
    let http = raw_client(&sim);
    let url = format!("{}/v1/order-sets", sim.url);

    let (status, code) = error_code(http.get(&url).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (401, "unsigned"));

    let signed = |ts: i64, nonce: &str, dev: &str| {
        let mut req = http.get(&url);
        for (k, v) in key.sign_request("GET", "/v1/order-sets", dev, ts, nonce, b"") {
            req = req.header(k, v);
        }
        req
    };
    let ts = now_ms();
    assert_eq!(signed(ts, "0001", &device).send().await.unwrap().status(), 200);
    // The very same request again: a replay.
    let (status, code) = error_code(signed(ts, "0001", &device).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (401, "replay"));
    // Ten minutes old: refused, with the server's time so the device can correct itself.
    let resp = signed(ts - 600_000, "0002", &device).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "clock_skew");
    assert!(body["server_time_ms"].as_i64().unwrap() >= ts);
    // Signed for another path (a tampered request).
    let mut req = http.get(format!("{}/v1/upload/Bx", sim.url));
    for (k, v) in key.sign_request("GET", "/v1/order-sets", &device, ts, "0003", b"") {
        req = req.header(k, v);
    }
    let (status, code) = error_code(req.send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (401, "bad_signature"));
    // A device that was never enrolled.
    let (status, code) = error_code(signed(ts, "0004", "D99999").send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (401, "unknown_device"));
    sim.stop().await;
}

#[tokio::test]
async fn admin_routes_need_the_token() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let http = raw_client(&sim);
    let resp = http
        .post(format!("{}/admin/bindings", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http
        .post(format!("{}/admin/bindings?ttl_s=60", sim.url))
        .header("x-admin-token", sim.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let binding: serde_json::Value = resp.json().await.unwrap();
    assert!(BindingQr::parse(binding["qr"].as_str().unwrap()).is_ok());
    assert_eq!(binding["pin"].as_str().unwrap().len(), 6);

    let resp = http
        .put(format!("{}/admin/faults", sim.url))
        .header("x-admin-token", sim.admin_token())
        .header("content-type", "application/json")
        .body(r#"{"failure_rate":1.0,"kinds":["status503"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http
        .get(format!("{}/v1/order-sets", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let resp = http
        .get(format!("{}/admin/visits", sim.url))
        .header("x-admin-token", sim.admin_token())
        .send()
        .await
        .unwrap();
    let counts: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(counts["total"], 0);
    sim.stop().await;
}
