//! The prescription part of `homevisit-sim demo`: issue the visit's prescription, print its QR in
//! the terminal, save the PNG, then play the pharmacist against a pharmacy server on loopback —
//! verify offline, dispense — and show that a second attempt is refused with who/when.

use super::{DEMO_PHARMACY, PharmacyState, serve};
use homevisit_core::model::{CardBasicData, InstitutionCode, Sex, Visit};
use homevisit_core::platform::{Clock, SystemClock};
use homevisit_core::rx::barcode::BarcodeExtras;
use homevisit_core::rx::orderset::{OrderSet, RxLine};
use homevisit_core::rx::pharmacy::{HttpPharmacy, Pharmacist, PharmacyError};
use homevisit_core::rx::sheet::{self, IssuedPrescription};
use homevisit_core::rx::{otc, render};
use homevisit_core::vpn::DeviceKey;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// A home-care order set used by the demo, the tests and the benchmark (10 lines when `ten`).
pub fn sample_order_set(ten: bool, days: u16) -> OrderSet {
    let mut lines = vec![
        RxLine::new("A012345100", 100, "QD", "PO", days),
        RxLine::new("AC45791100", 50, "BID", "PO", days),
        RxLine::new("B023456200", 100, "TID", "PO", days),
    ];
    if ten {
        for i in 0..7u32 {
            lines.push(RxLine::new(
                &format!("A0{i}9876100"),
                100 + 50 * (i % 2),
                ["QD", "BID", "HS"][i as usize % 3],
                "PO",
                days,
            ));
        }
    }
    OrderSet {
        id: if ten { "DEMO10".into() } else { "HTN".into() },
        name: "居家慢性病處方 home chronic".into(),
        lines,
    }
}

/// A sample home visit at `now` (Taiwan time), with no orders yet.
pub fn sample_visit(visit_code: &str, institution: &str, now_ms: i64) -> Result<Visit, String> {
    let visited_at = chrono::DateTime::from_timestamp_millis(now_ms)
        .ok_or("clock out of range")?
        .with_timezone(&homevisit_core::model::roc::taiwan_offset());
    Ok(Visit {
        id: uuid::Uuid::now_v7().to_string(),
        visit_code: visit_code.to_string(),
        patient: CardBasicData {
            card_number: "000012345678".into(),
            name: "王小明".into(),
            national_id: homevisit_core::model::NationalId::parse("A123456789").map_err(|e| e.to_string())?,
            birth_date: chrono::NaiveDate::from_ymd_opt(1950, 5, 6).ok_or("date")?,
            sex: Sex::Male,
            issue_date: chrono::NaiveDate::from_ymd_opt(2020, 1, 2).ok_or("date")?,
        },
        institution: InstitutionCode::parse(institution).map_err(|e| e.to_string())?,
        practitioner_id: "B234567894".into(),
        visit_type: "AH".into(),
        sequence_number: "0007".into(),
        visited_at,
        diagnoses: vec!["I10".into(), "E119".into()],
        note: String::new(),
        orders: vec![],
        security_signature: None,
        sam_id: None,
        abnormal_reason: None,
        card_written: false,
        fee_points: None,
        copayment_points: None,
        context: Default::default(),
    })
}

/// The claim-side codes of a home medical care visit for the pharmacies' barcode.
pub fn home_care_extras() -> BarcodeExtras {
    BarcodeExtras {
        case_type: "E1".into(),
        department: "01".into(),
        copayment: "K00".into(),
    }
}

/// Runs the prescription demo for `visit` (whose orders hold the drug lines), signed by `key`:
/// writes to `out`, saves the PNG at `png_path`. Needs a tokio runtime.
pub async fn run(
    visit: &Visit,
    chronic_refills: Option<u8>,
    key: &DeviceKey,
    png_path: &Path,
    out: &mut dyn Write,
) -> Result<IssuedPrescription, String> {
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    let issued = sheet::issue(
        visit,
        chronic_refills,
        key,
        "居家醫療示範診所 02-2345-6789",
        &home_care_extras(),
    )
    .map_err(|e| e.to_string())?;
    let code = render::qr_code(issued.qr_text.as_bytes()).map_err(|e| e.to_string())?;
    w(
        out,
        format!(
            "Prescription QR (version {}, {} characters, signed Ed25519):",
            render::version_number(&code),
            issued.qr_text.len()
        ),
    )?;
    w(out, render::to_terminal(&code))?;
    std::fs::write(png_path, issued.qr_png(4).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{}: {e}", png_path.display()))?;
    w(out, format!("QR saved as {}", png_path.display()))?;
    w(
        out,
        format!(
            "One-time code for pharmacies without a scanner: {}",
            otc::display(&issued.one_time_code)
        ),
    )?;
    w(out, format!("Abnormal-situation contact: {}", issued.contact))?;
    for l in issued.pick_up_lines() {
        w(out, l)?;
    }

    // The VPN side: the device key is published for the institution (its enrolment).
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = PharmacyState::open(None, clock.clone(), None)?;
    state.register_signer(visit.institution.as_str(), "DEMO-DEVICE", key.public_key())?;
    let server = serve(state, "127.0.0.1:0".parse().map_err(|_| "address")?).await?;
    let result = pharmacist_part(&server.base_url, server.fingerprint, visit, key, &issued, out).await;
    server.shutdown();
    result.map(|()| issued)
}

/// The pharmacist's half of the demo against a running VPN simulator at `base_url` (certificate
/// pin `fingerprint`) whose published keys include `key` (an enrolled device): register the
/// issued prescription, verify it offline, dispense it, and show the second attempt refused.
pub async fn pharmacist_part(
    base_url: &str,
    fingerprint: [u8; 32],
    visit: &Visit,
    key: &DeviceKey,
    issued: &IssuedPrescription,
    out: &mut dyn Write,
) -> Result<(), String> {
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    let e = |e: PharmacyError| e.to_string();
    let device = HttpPharmacy::new(base_url, fingerprint).map_err(e)?;
    let registration = issued.registration(visit, key).map_err(|e| e.to_string())?;
    device.register(&registration).await.map_err(e)?;
    w(
        out,
        format!("Registered with the VPN pharmacy service at {base_url}"),
    )?;
    pharmacist_dispenses(base_url, fingerprint, issued, PresentedAs::Qr, out).await
}

/// How the patient presents the prescription at the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedAs {
    /// The pharmacist scans the QR and checks its signature offline.
    Qr,
    /// A pharmacy without a scanner types the one-time code.
    OneTimeCode,
}

/// The pharmacist at the counter, against the VPN simulator at `base_url` where `issued` is
/// already registered: look it up (QR verified offline, or the typed one-time code), dispense, and
/// show both second attempts (one-time code, QR) refused with who/when.
pub async fn pharmacist_dispenses(
    base_url: &str,
    fingerprint: [u8; 32],
    issued: &IssuedPrescription,
    presented: PresentedAs,
    out: &mut dyn Write,
) -> Result<(), String> {
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    let e = |e: PharmacyError| e.to_string();
    let mut api = HttpPharmacy::new(base_url, fingerprint).map_err(e)?;
    api.login(DEMO_PHARMACY.0, DEMO_PHARMACY.1).await.map_err(e)?;
    let pharmacist = Pharmacist::new(Arc::new(api), Arc::new(SystemClock));
    // The pharmacy's system keeps the institutions' published keys, to verify QR codes offline.
    let n = pharmacist.refresh_keys().await.map_err(e)?;
    let (how, details) = match presented {
        PresentedAs::Qr => {
            let scan = pharmacist.scan(&issued.qr_text).await.map_err(e)?;
            (
                format!("QR signature verified offline against {n} published key(s)"),
                scan.details,
            )
        }
        PresentedAs::OneTimeCode => {
            let typed = otc::display(&issued.one_time_code);
            let details = pharmacist.lookup_code(&typed).await.map_err(e)?;
            (format!("one-time code {typed} typed"), details)
        }
    };
    let due = match (details.chronic, details.due_refill) {
        (true, Some(n)) => format!(
            "fill {n} of {} of the chronic prescription due",
            details.refills.len()
        ),
        (true, None) => "no fill of the chronic prescription due today".to_string(),
        (false, _) => "single prescription".to_string(),
    };
    w(
        out,
        format!(
            "Pharmacist {}: {how}; {} line(s), {due}",
            DEMO_PHARMACY.0,
            details.lines.len()
        ),
    )?;
    let receipt = match presented {
        PresentedAs::Qr => pharmacist.dispense_qr(&issued.qr_text).await,
        PresentedAs::OneTimeCode => pharmacist.dispense_code(&issued.one_time_code).await,
    }
    .map_err(e)?;
    w(
        out,
        format!(
            "Dispensed: receipt {} at {} — the prescription is now invalid",
            receipt.receipt_no, receipt.dispensed_at
        ),
    )?;
    match pharmacist.dispense_code(&issued.one_time_code).await {
        Err(err @ PharmacyError::AlreadyDispensed { .. }) => {
            w(out, format!("Second attempt (one-time code) refused: {err}"))?
        }
        other => return Err(format!("second dispense was not refused: {other:?}")),
    }
    match pharmacist.dispense_qr(&issued.qr_text).await {
        Err(err @ PharmacyError::AlreadyDispensed { .. }) => {
            w(out, format!("Second attempt (QR) refused: {err}"))?
        }
        other => return Err(format!("second dispense was not refused: {other:?}")),
    }
    Ok(())
}
