//! `homevisit-sim demo`: a home-visit day end to end on embedded defaults — the app's sealed SQLite
//! store under `--data-dir`, and in-process simulators (the NHI VPN services over HTTPS on
//! loopback, a Bluetooth reader with a practitioner card and patient cards) whose own state lives
//! under `--sim-dir`, outside the app's data: the simulators stand for other devices (the card,
//! the NHI), not for what the phone stores.
//!
//! The demo is a client of the facade, like the Kotlin app: it starts the simulators, calls
//! `homevisit_core::app::HomeVisit` (enrolment, readers, the practitioner PIN, the visit session,
//! prescriptions, sync) and the pharmacist object, and prints. No flow is assembled here.
//!
//! The day: enrol the device (first run), pair the reader (first run; later runs reconnect), the
//! practitioner's PIN, one visit online through the cloud SAM with the card written, two visits
//! with no signal (abnormal sequence number, card not written), the queue drained when the signal
//! comes back, the upload-result table, and the prescription QR played through a pharmacist.

use homevisit_core::app::{
    AppConfig, HomeVisit, IssuedPrescriptionView, OrderSetOrigin, Pharmacist, ReaderTransport, VisitSummary,
};
use homevisit_core::model::SequenceNumber;
use homevisit_core::platform::{Clock, FileKeyStore, KeyStore, SystemClock};
use homevisit_core::reader::{CardSlot, MemoryTransport};
use homevisit_core::sync::{SyncEvent, SyncListener};
use indicatif::{ProgressBar, ProgressStyle};
use nhi_reader_sim::SimReader;
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The demo's institution (the simulator's default institution).
const INSTITUTION: &str = "3501200000";
/// The demo practitioner's HPC PIN.
const HPC_PIN: &str = "1234";
/// The reader the demo pairs with.
const READER_MODEL: &str = "HV-BT200";
/// Who the pharmacy calls when something is wrong with the prescription.
const CONTACT: &str = "居家醫療示範診所 02-2345-6789";
/// How long a drain may wait for retries when the signal returns (clock ms).
const DRAIN_BUDGET_MS: u64 = 30_000;

/// Runs the demo over `data_dir` (the app's data) and `sim_dir` (the simulators' state).
pub fn run(
    data_dir: &Path,
    sim_dir: Option<&Path>,
    reader_addr: Option<std::net::SocketAddr>,
) -> Result<(), String> {
    let sim_dir: PathBuf = match sim_dir {
        Some(d) => d.to_path_buf(),
        None => sibling(data_dir, "-simulators"),
    };
    for dir in [data_dir, sim_dir.as_path()] {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(day(data_dir, &sim_dir, reader_addr))
}

/// `DIR` + `suffix` beside `DIR` (e.g. `demo-data-simulators`).
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "homevisit".into());
    dir.with_file_name(format!("{name}{suffix}"))
}

fn step(title: &str) {
    println!("\n== {title}");
}

/// An app error as the demo prints it: its stable code and message (never patient data).
fn err(what: &str) -> impl Fn(homevisit_core::app::AppError) -> String + '_ {
    move |e| format!("{what}: {e} [{}]", e.code())
}

async fn day(
    data_dir: &Path,
    sim_dir: &Path,
    reader_addr: Option<std::net::SocketAddr>,
) -> Result<(), String> {
    println!(
        "homevisit demo — app data in {}, simulators in {}",
        data_dir.display(),
        sim_dir.display()
    );

    // The NHI VPN services (HTTPS on loopback; certificate kept in the sim dir, so the device's
    // pin holds across runs).
    let vpn = VpnSim::start(SimConfig {
        data_dir: Some(sim_dir.join("vpn")),
        institution_code: INSTITUTION.into(),
        ..SimConfig::default()
    })
    .await?;

    // The app: sealed store under the host key store (a key file here; Keystore/Keychain on phones).
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let keys: Arc<dyn KeyStore> = Arc::new(FileKeyStore::new(data_dir.join("keys")));
    let device_id = device_id(keys.as_ref())?;
    let app = Arc::new(
        HomeVisit::open(
            AppConfig {
                data_dir: data_dir.to_path_buf(),
                institution_code: INSTITUTION.into(),
                device_id,
            },
            keys,
            clock.clone(),
        )
        .map_err(err("opening the app store"))?,
    );
    let earlier = app.list_visits(1000, 0).map_err(err("visits"))?;
    println!("app store open: {} visit(s) from earlier runs", earlier.len());

    enrol(&app, &vpn).await?;
    order_sets(&app).await?;
    let reader = match reader_addr {
        None => Some(reader(sim_dir)?),
        Some(_) => None,
    };
    connect_reader(&app, reader.as_ref(), reader_addr).await?;

    step("Practitioner card");
    let practitioner = app
        .readers()
        .verify_practitioner_pin(HPC_PIN)
        .await
        .map_err(err("practitioner PIN"))?;
    println!(
        "HPC PIN verified for practitioner {}",
        practitioner.national_id_masked
    );

    step("Visit 1 — online: cloud SAM, sequence number, card written");
    let first = visit(&app, 0).await?;
    // A chronic continuous prescription: three fills, the first today.
    let first_rx = prescription(&app, &first, Some(3), sim_dir)?;
    virtual_card_visit(&app, &vpn).await?;

    step("Visits 2 and 3 — no signal in the mountains");
    app.set_online(false);
    let mut offline_rx = None;
    for patient in [1, 2] {
        // In-process, the next patient's card goes into the reader; over loopback the card that
        // `reader serve` holds stays in.
        if let Some(reader) = &reader {
            reader.insert(CardSlot::Patient, Box::new(patient_card(sim_dir, patient)?));
        }
        let v = visit(&app, patient).await?;
        if v.orders > 0 && offline_rx.is_none() {
            // Issued offline: the family gets the QR and the code now; the registration waits.
            offline_rx = Some(prescription(&app, &v, None, sim_dir)?);
        }
    }
    if let Some(reader) = &reader {
        reader.insert(CardSlot::Patient, Box::new(patient_card(sim_dir, 0)?));
    }
    let state = app.outbox_state().map_err(err("outbox"))?;
    println!(
        "outbox: {} queued, {} waiting for retry, {} done (nothing leaves the phone while offline)",
        state.counts.queued, state.counts.waiting_retry, state.counts.done
    );

    step("Signal is back — the queue drains");
    app.set_online(true);
    drain(&app).await?;
    correction_after_acceptance(&app, &first, &vpn).await?;

    let pharmacist = Pharmacist::login(
        &vpn.url,
        &hex::encode(vpn.fingerprint),
        nhi_vpn_sim::pharmacy::DEMO_PHARMACY.0,
        nhi_vpn_sim::pharmacy::DEMO_PHARMACY.1,
        clock.clone(),
    )
    .await
    .map_err(err("pharmacist login"))?;
    let keys = pharmacist.refresh_keys().await.map_err(err("pharmacy keys"))?;
    step("At the pharmacy — visit 1's chronic prescription, by QR");
    println!(
        "pharmacist {} logged in; {keys} signing key(s) of institutions cached for offline checks",
        pharmacist.account()
    );
    dispense(&pharmacist, &first_rx, true).await?;
    if let Some(issued) = &offline_rx {
        step("At another pharmacy — the prescription issued offline, by its one-time code");
        dispense(&pharmacist, issued, false).await?;
    }

    referral_round_trip(&app, &vpn).await?;
    team_record(&app, &vpn).await?;
    card_less_and_emergency(&app, clock.now_unix_ms()).await?;
    abnormal_situation_report(&app, clock.as_ref(), data_dir)?;
    hmic_case(&app).await?;

    step("Visits on this device");
    let all = app.list_visits(1000, 0).map_err(err("visits"))?;
    print_visits(&all);
    let state = app.outbox_state().map_err(err("outbox"))?;
    println!(
        "outbox: {} done, {} queued, {} waiting for retry, {} rejected",
        state.counts.done, state.counts.queued, state.counts.waiting_retry, state.counts.rejected
    );
    app.readers().disconnect().await;
    vpn.stop().await;
    Ok(())
}

/// One correction after acceptance (issue 14): visit 1, accepted by the NHI, gets a second
/// diagnosis; the edit goes out as a correction keyed by its visit code (A01 = 3) and is done only
/// when the simulator acknowledged that content.
async fn correction_after_acceptance(
    app: &Arc<HomeVisit>,
    first: &VisitSummary,
    vpn: &VpnSim,
) -> Result<(), String> {
    step("A correction after acceptance — visit 1 gets a second diagnosis");
    let corrections = app.corrections();
    let mut diagnoses = first.diagnoses.clone();
    diagnoses.push("E11.9".into());
    let edit = homevisit_core::app::VisitEdit {
        diagnoses,
        drug_orders: None,
        note: "second diagnosis added after the upload".into(),
        fee_points: None,
        copayment_points: None,
    };
    let receipt = corrections.edit_visit(&first.id, edit).map_err(err("edit"))?;
    let before = corrections.visit_status(&first.id).map_err(err("status"))?;
    println!(
        "edit of visit {} went out as a {} (job {}): {}",
        first.visit_code,
        receipt.path.as_str(),
        receipt.job_id,
        before.standing.as_str()
    );
    drain(app).await?;
    let after = corrections.visit_status(&first.id).map_err(err("status"))?;
    let stored = vpn
        .stored_record(&first.visit_code)
        .ok_or_else(|| "the simulator holds no record for visit 1".to_string())?;
    println!(
        "the NHI holds record state {} with diagnoses {:?} after {} correction(s); visit 1 is {}",
        stored.record_state,
        ["M35", "M36", "M37"]
            .iter()
            .filter_map(|f| stored.mb1.get(*f))
            .collect::<Vec<_>>(),
        stored.corrections,
        after.standing.as_str()
    );
    Ok(())
}

/// One visit on a virtual NHI card (虛擬健保卡): the patient's phone (the simulator's patient app)
/// shows a single-use QR, the app scans it, the patient taps "同意", the app reads the card data
/// through the NHI and the visit gets a `V` sequence number from the NHI; no card is written.
async fn virtual_card_visit(app: &Arc<HomeVisit>, vpn: &VpnSim) -> Result<VisitSummary, String> {
    step("Visit on a virtual NHI card — QR, consent, V sequence number, no card write");
    let patient = &nhi_reader_sim::card::demo_patients()[3];
    let nhi = &vpn.state().vcard;
    let (qr, expires) = nhi
        .issue_qr(&patient.national_id, nhi.now_ms(vpn.state().now_ms()))
        .map_err(|e| format!("patient app: {}", e.1.message))?;
    println!(
        "patient's phone shows a single-use QR ({} characters), valid until {}",
        qr.len(),
        chrono::DateTime::from_timestamp_millis(expires)
            .map(|t| t
                .with_timezone(&homevisit_core::model::taiwan_offset())
                .format("%H:%M:%S")
                .to_string())
            .unwrap_or_default()
    );
    let vc = app.virtual_card();
    let scan = vc.scan(&qr).await.map_err(err("virtual card scan"))?;
    println!(
        "QR verified (NHI signature, not expired, first use); consent asked: {:?}",
        vc.consent_state(&scan.session).await.map_err(err("consent"))?
    );
    nhi.answer(&qr, true)
        .map_err(|e| format!("patient app: {}", e.1.message))?;
    println!(
        "the patient taps 同意 in their app: {:?}",
        vc.consent_state(&scan.session).await.map_err(err("consent"))?
    );
    let session = vc
        .begin_visit(&scan.session)
        .await
        .map_err(err("virtual card data"))?;
    let who = session.patient();
    println!(
        "virtual card read through the NHI: {} {} (born {}), visit type {}",
        who.name_masked,
        who.national_id_masked,
        who.birth_year,
        session.draft().visit_type.code()
    );
    session.add_diagnosis("I10").map_err(err("diagnosis"))?;
    session.set_fees(1631, 0).map_err(err("fees"))?;
    let summary = session
        .finish(&uuid::Uuid::now_v7().to_string())
        .await
        .map_err(err("virtual-card visit"))?;
    println!(
        "visit identification code {}, sequence number {} from the NHI; card written: {} (no chip)",
        summary.visit_code, summary.sequence_number, summary.card_written
    );
    match vc.scan(&qr).await {
        Err(e) => println!("the same QR again is refused: {e} [{}]", e.code()),
        Ok(_) => return Err("a reused virtual-card QR was accepted".into()),
    }
    Ok(summary)
}

/// A stable id of this device, derived from a key the host key store keeps.
fn device_id(keys: &dyn KeyStore) -> Result<String, String> {
    let key = keys
        .get_or_create_key("device-id")
        .map_err(|e| format!("key store: {e}"))?;
    Ok(format!("desktop-{}", hex::encode(&key[..6])))
}

/// Enrols the device on first run (QR-2 + PIN), or reuses the kept enrolment.
async fn enrol(app: &HomeVisit, vpn: &VpnSim) -> Result<(), String> {
    step("Device enrolment");
    let status = app.enrolment_status();
    if status.enrolled {
        // The simulator listens on a new local port each run; the certificate pin is unchanged.
        let status = app.set_vpn_endpoint(&vpn.url).map_err(err("enrolment"))?;
        println!(
            "already enrolled as device {} of institution {} (cloud SAM {})",
            status.device_id, status.institution_code, status.sam_id
        );
        return Ok(());
    }
    let binding = vpn.new_binding()?;
    println!("administrator's portal shows QR-2 and PIN {}", binding.pin);
    let status = app
        .enrol(&binding.qr, &binding.pin, "homevisit desktop demo")
        .await
        .map_err(err("enrolment"))?;
    println!(
        "enrolled: device {} of institution {} bound to cloud SAM {}; device key kept sealed",
        status.device_id, status.institution_code, status.sam_id
    );
    Ok(())
}

/// Downloads the institution's order sets (處方套餐) into the sealed cache, or reads the cache when
/// the VPN cannot be reached.
async fn order_sets(app: &HomeVisit) -> Result<(), String> {
    step("Order sets (處方套餐)");
    let list = app.refresh_order_sets().await.map_err(err("order sets"))?;
    let names: Vec<String> = list.sets.iter().map(|s| format!("{} {}", s.id, s.name)).collect();
    match list.origin {
        OrderSetOrigin::Downloaded => println!(
            "downloaded {} order set(s), cached sealed: {}",
            list.sets.len(),
            names.join(", ")
        ),
        OrderSetOrigin::Cache => println!(
            "order sets not downloaded; using {} cached ({} min old)",
            list.sets.len(),
            list.age_ms.unwrap_or(0) / 60_000
        ),
    }
    for refused in &list.refused {
        println!("refused order set {}: {}", refused.id, refused.reason);
    }
    Ok(())
}

/// The simulated reader, its cards' state kept in the sim dir.
fn reader(sim_dir: &Path) -> Result<SimReader, String> {
    crate::reader_serve::build_reader(READER_MODEL, "0001", Some(sim_dir.join("reader")), Some(0))
}

fn patient_card(sim_dir: &Path, index: usize) -> Result<nhi_reader_sim::card::PatientCard, String> {
    nhi_reader_sim::card::demo_patient_card_in(&sim_dir.join("reader"), index)
        .map_err(|e| format!("patient card: {e}"))
}

/// Chooses the transport (the in-process simulated reader, or the loopback socket of `homevisit-sim
/// reader serve`), pairs on first run (the user compares the code on both screens), or reconnects.
async fn connect_reader(
    app: &HomeVisit,
    sim_reader: Option<&SimReader>,
    reader_addr: Option<std::net::SocketAddr>,
) -> Result<(), String> {
    let readers = app.readers();
    match (sim_reader, reader_addr) {
        (Some(r), _) => {
            step("Bluetooth reader");
            let transport = MemoryTransport::new();
            transport.add(Arc::new(r.clone()));
            readers
                .set_transport(ReaderTransport::Custom(Arc::new(transport)))
                .await
                .map_err(err("reader"))?;
        }
        (None, Some(addr)) => {
            step("Bluetooth reader (loopback to `homevisit-sim reader serve`)");
            readers
                .set_transport(ReaderTransport::Loopback(addr.to_string()))
                .await
                .map_err(err("reader"))?;
        }
        (None, None) => return Err("no reader".into()),
    }
    let paired = readers.paired_readers().map_err(err("reader"))?;
    if let Some(known) = paired.first() {
        let r = readers.connect(Some(&known.id)).await.map_err(err("reader"))?;
        println!("reconnected to paired reader {} without pairing again", r.name);
    } else {
        let found = readers.scan(3_000).await.map_err(err("reader scan"))?;
        let candidate = found
            .iter()
            .find(|r| r.model.is_some())
            .ok_or("no card reader in range")?;
        let code = readers.pair(&candidate.id).await.map_err(err("pairing"))?;
        // The user compares the phone's code with the reader's display and, when they match,
        // presses the reader's button (its own confirmation) before confirming on the phone.
        press_reader_button(sim_reader, reader_addr, &code.code).await?;
        let r = readers
            .confirm_pairing(&code.code)
            .await
            .map_err(err("pairing"))?;
        println!(
            "paired with reader {} (the 6-digit code matched on both screens)",
            r.name
        );
        readers.connect(Some(&r.id)).await.map_err(err("reader"))?;
    }
    println!("secure session open (fresh X25519 per session, ChaCha20-Poly1305, counters per direction)");
    Ok(())
}

/// The user at the reader: reads its display and presses its button when the code is the phone's
/// (the in-process reader directly, `reader serve` through its loopback admin message).
async fn press_reader_button(
    sim_reader: Option<&SimReader>,
    reader_addr: Option<std::net::SocketAddr>,
    phone_code: &str,
) -> Result<(), String> {
    let loopback = reader_addr.map(homevisit_core::reader::LoopbackTransport::new);
    let shown = match (sim_reader, &loopback) {
        (Some(r), _) => r.displayed_code(),
        (None, Some(t)) => t
            .read_display()
            .await
            .map_err(|e| format!("reader display: {e}"))?,
        (None, None) => None,
    };
    if shown.as_deref() != Some(phone_code) {
        return Err("the reader shows another pairing code: not confirmed".into());
    }
    let pressed = match (sim_reader, &loopback) {
        (Some(r), _) => r.press_button(),
        (None, Some(t)) => t
            .press_button()
            .await
            .map_err(|e| format!("reader button: {e}"))?,
        (None, None) => false,
    };
    if !pressed {
        return Err("the reader's button did not confirm the pairing".into());
    }
    println!("pairing code {phone_code} — the reader shows the same; its button pressed");
    Ok(())
}

/// One visit of the demo patient `patient` through the facade's visit session.
async fn visit(app: &Arc<HomeVisit>, patient: usize) -> Result<VisitSummary, String> {
    let session = app.begin_visit().await.map_err(err("patient card"))?;
    let who = session.patient();
    let draft = session.draft();
    println!(
        "patient card read: {} {} (born {}), {} visit ({})",
        who.name_masked,
        who.national_id_masked,
        who.birth_year,
        if draft.follow_up {
            "a later home-care"
        } else {
            "a first"
        },
        draft.visit_type.code()
    );
    let (diagnoses, sets): (&[&str], &[&str]) = match patient {
        0 => (&["I10", "E119"], &["HT28", "DM28"]),
        1 => (&["G309", "I639"], &["CONST7"]),
        _ => (&["J449"], &[]),
    };
    for dx in diagnoses {
        session.add_diagnosis(dx).map_err(err("diagnosis"))?;
    }
    for set in sets {
        session.add_order_set(set).map_err(err("order set"))?;
    }
    session.set_note("居家訪視：生命徵象穩定").map_err(err("note"))?;
    session.set_fees(1631, 0).map_err(err("fees"))?;
    let summary = session
        .finish(&uuid::Uuid::now_v7().to_string())
        .await
        .map_err(err("visit"))?;
    println!("visit identification code {}", summary.visit_code);
    println!(
        "sequence number {} ({})",
        summary.sequence_number,
        SequenceNumber::parse(&summary.sequence_number)
            .map(|s| s.meaning().en.to_string())
            .unwrap_or_else(|_| "unknown".into())
    );
    if summary.card_written {
        println!(
            "card written: visit record + {} prescription entries, read back and matched",
            summary.orders
        );
    } else if let Some(why) = &summary.abnormal_reason {
        println!("card NOT written — for the abnormal-situation report: {why}");
    }
    println!("stored sealed with its card-upload job in one transaction");
    Ok(summary)
}

/// Drains the outbox through the facade's sync service with a progress bar, then prints the NHI
/// upload-result table.
async fn drain(app: &HomeVisit) -> Result<(), String> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("uploading {bar:30} {pos}/{len} {msg}").map_err(|e| e.to_string())?,
    );
    let sync = app.sync();
    let _progress = sync.subscribe(Arc::new(Progress(bar.clone())));
    let s = sync.drain_once(DRAIN_BUDGET_MS).await.map_err(err("sync"))?;
    bar.finish();
    println!(
        "drained: {} done, {} rejected, {} retries, {} batch(es); {}",
        s.done,
        s.rejected,
        s.retries,
        s.batches,
        if s.complete {
            "nothing owed to the NHI".to_string()
        } else {
            format!("{} still owed", s.remaining)
        }
    );
    let Some(t) = sync.last_upload_result() else {
        return Ok(());
    };
    println!("NHI upload result (上傳結果查詢)");
    println!(
        "  {:<34} {:>8} {:>6} {:>8}",
        "batch", "received", "valid", "invalid"
    );
    for (id, received, valid, invalid) in &t.batches {
        println!("  {id:<34} {received:>8} {valid:>6} {invalid:>8}");
    }
    println!(
        "  {:<34} {:>8} {:>6} {:>8}",
        "total", t.received, t.valid, t.invalid
    );
    for row in &t.invalid_rows {
        println!(
            "  invalid: {} field {}: {}",
            row.visit_code, row.field, row.reason
        );
    }
    Ok(())
}

/// Moves the progress bar on sync events.
struct Progress(ProgressBar);

impl SyncListener for Progress {
    fn on_event(&self, event: &SyncEvent) {
        match event {
            SyncEvent::Started { pending } => self.0.set_length(*pending as u64),
            SyncEvent::JobDone { .. } | SyncEvent::JobRejected { .. } => self.0.inc(1),
            SyncEvent::JobRetry { attempt, .. } => self.0.set_message(format!("retry {attempt}")),
            _ => {}
        }
    }
}

/// Issues the prescription of `visit` through the app (its registration with the VPN pharmacy
/// service goes into the outbox, so it works with no signal), shows the QR in the terminal, saves
/// the PNG in the sim dir (the patient's copy, not the app's data), the one-time code and, for a
/// chronic prescription, the refill pick-up dates.
fn prescription(
    app: &HomeVisit,
    visit: &VisitSummary,
    chronic_refills: Option<u8>,
    sim_dir: &Path,
) -> Result<IssuedPrescriptionView, String> {
    use homevisit_core::rx::render;
    let issued = app
        .issue_prescription(&visit.id, chronic_refills, CONTACT)
        .map_err(err("prescription"))?;
    let code = render::qr_code(issued.qr_text.as_bytes()).map_err(|e| e.to_string())?;
    println!(
        "prescription QR: version {} (level M), {} characters, signed with the device key (Ed25519), naming the verified practitioner",
        render::version_number(&code),
        issued.qr_text.len()
    );
    if chronic_refills.is_some() {
        println!("{}", render::to_terminal(&code));
    }
    let png = sim_dir.join(format!("prescription-{}.png", visit.visit_code));
    std::fs::write(&png, &issued.qr_png).map_err(|e| format!("{}: {e}", png.display()))?;
    println!("QR saved as {}", png.display());
    println!(
        "one-time code for pharmacies without a scanner: {}",
        issued.one_time_code_display
    );
    println!("abnormal-situation contact: {}", issued.contact);
    for line in &issued.pick_up_lines {
        println!("{line}");
    }
    println!("registration with the VPN pharmacy service queued in the outbox");
    Ok(issued)
}

/// The pharmacist verifies the prescription (the QR offline against the cached keys, or the typed
/// one-time code), dispenses it, and a second attempt is refused with who and when.
async fn dispense(p: &Pharmacist, issued: &IssuedPrescriptionView, by_qr: bool) -> Result<(), String> {
    let details = if by_qr {
        let verified = p.verify_offline(&issued.qr_text).map_err(err("QR"))?;
        println!(
            "QR verified offline: signed by institution {} for prescriber {} (practitioner card verified), {} drug line(s)",
            verified.institution,
            verified.prescriber_id_masked,
            verified.lines.len()
        );
        p.scan(&issued.qr_text).await.map_err(err("scan"))?
    } else {
        p.lookup_code(&issued.one_time_code)
            .await
            .map_err(err("one-time code"))?
    };
    println!(
        "prescription {} of {} for {} {}: {} line(s){}",
        details.visit_code,
        details.issued_on_roc,
        mask_name(&details.patient_name),
        details.patient_id_masked,
        details.lines.len(),
        match details.due_refill {
            Some(n) if details.chronic => format!(", chronic fill {n} of {}", details.refills.len()),
            _ => String::new(),
        }
    );
    let receipt = if by_qr {
        p.dispense_qr(&issued.qr_text).await
    } else {
        p.dispense_code(&issued.one_time_code).await
    }
    .map_err(err("dispense"))?;
    println!(
        "dispensed: receipt {} at {} by pharmacy {}",
        receipt.receipt_no, receipt.dispensed_at_roc, receipt.pharmacy
    );
    let again = if by_qr {
        p.dispense_qr(&issued.qr_text).await
    } else {
        p.dispense_code(&issued.one_time_code).await
    };
    match again {
        Err(e) => println!("second attempt refused: {e} [{}]", e.code()),
        Ok(_) => return Err("the same prescription was dispensed twice".into()),
    }
    Ok(())
}

fn print_visits(visits: &[VisitSummary]) {
    println!(
        "  {:<20}  {:<16}  {:<4}  {:<4}  {:<8}  patient",
        "visit code", "visited at", "type", "seq", "dx"
    );
    for v in visits {
        println!(
            "  {:<20}  {:<16}  {:<4}  {:<4}  {:<8}  {} {}",
            v.visit_code,
            v.visited_at.format("%Y-%m-%d %H:%M"),
            v.visit_type,
            v.sequence_number,
            v.diagnoses.first().map(String::as_str).unwrap_or(""),
            v.patient_name_masked,
            v.national_id_masked
        );
    }
}

/// `王小明` → `王○明` (what a printed receipt shows; the pharmacist's screen shows the name).
fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 | 1 => name.to_string(),
        2 => format!("{}○", chars[0]),
        n => format!("{}{}{}", chars[0], "○".repeat(n - 2), chars[n - 1]),
    }
}

/// One e-referral round trip: a type 01 referral prefilled from the patient's visits, opened and
/// sent while offline (queued), sent when the signal is back, answered `04` by the simulated LTC
/// centre, re-referred (same number, count 2), sent again and accepted. Prints masked data only.
async fn referral_round_trip(app: &HomeVisit, vpn: &VpnSim) -> Result<(), String> {
    use homevisit_core::referral::vectors::{SAMPLE_ID, SIM_LTC_CENTRE, SIM_LTC_CENTRE_2, sample_form};
    use homevisit_core::referral::{ProcessingStatus, ReferralType, Unit};
    use nhi_vpn_sim::referral as ltc;
    step("E-referral — home care to long-term care (type 01), opened with no signal");
    let svc = app.referrals();
    let mut form = sample_form(app.institution().as_str(), SIM_LTC_CENTRE);
    let (prefilled, is_case) = svc
        .prefill(ReferralType::HomeCareToLtc, SAMPLE_ID)
        .map_err(err("referral prefill"))?;
    if is_case {
        form.patient = prefilled.patient;
        form.assessment = prefilled.assessment;
    }
    app.set_online(false);
    let opened = svc
        .open(ReferralType::HomeCareToLtc, form)
        .map_err(err("referral open"))?;
    let number = opened.referral.number.clone();
    svc.send(&opened.id).map_err(err("referral send"))?;
    println!(
        "referral {number} for {} ({}): {}; outbox: {}",
        opened.masked_name(),
        if is_case {
            "birth date and case data from this institution's visits"
        } else {
            "typed"
        },
        svc.get(&opened.id)
            .map_err(err("referral"))?
            .referral
            .sender_state()
            .label(),
        svc.delivery(&opened.id)
            .map_err(err("referral"))?
            .unwrap_or_default()
    );
    app.set_online(true);
    let quiet_drain = || async {
        let s = app
            .sync()
            .drain_once(DRAIN_BUDGET_MS)
            .await
            .map_err(err("sync"))?;
        println!("signal back: {} job(s) sent, {} owed", s.done, s.remaining);
        Ok::<(), String>(())
    };
    quiet_drain().await?;
    let answer = |status: ProcessingStatus, text: &str| -> Result<(), String> {
        let now = vpn.state().now_ms();
        ltc::ltc_process(&vpn.state().db(), &number, status, text, now).map_err(|e| format!("{:?}", e.1))?;
        ltc::ltc_reply(&vpn.state().db(), &number, now).map_err(|e| format!("{:?}", e.1))?;
        Ok(())
    };
    answer(
        ProcessingStatus::ArrangeReReferral,
        "本中心額滿，請轉新北市長照中心",
    )?;
    svc.refresh().await.map_err(err("referral refresh"))?;
    let r = svc.get(&opened.id).map_err(err("referral"))?.referral;
    println!(
        "LTC centre {SIM_LTC_CENTRE} replied: {} {} — re-referral allowed",
        ProcessingStatus::ArrangeReReferral.code(),
        r.reply().map(|p| p.status.label()).unwrap_or_default()
    );
    let again = svc
        .re_refer(
            &opened.id,
            Unit {
                code: SIM_LTC_CENTRE_2.into(),
                name: "新北市長期照顧管理中心".into(),
                ..Unit::default()
            },
        )
        .map_err(err("re-referral"))?;
    svc.send(&opened.id).map_err(err("referral send"))?;
    quiet_drain().await?;
    answer(ProcessingStatus::Accepted, "已收案")?;
    svc.refresh().await.map_err(err("referral refresh"))?;
    let r = svc.get(&opened.id).map_err(err("referral"))?.referral;
    println!(
        "re-referral {} count {}: {} — {} {}",
        again.referral.number,
        r.count,
        r.sender_state().label(),
        r.reply().map(|p| p.status.code()).unwrap_or_default(),
        r.reply().map(|p| p.status.label()).unwrap_or_default()
    );
    Ok(())
}

/// The care team's shared record for the demo patient: the simulator registers the case for the
/// institution's care team (as the HMIC side does once an application is accepted), the
/// institution writes special notes and a care plan, a nurse records a visit with no signal (the
/// next visit date proposed from the plan), a partner institution posts a message; one sync sends
/// and pulls it all. Prints masked data only.
async fn team_record(app: &HomeVisit, vpn: &VpnSim) -> Result<(), String> {
    use homevisit_core::app::RecordInput;
    use homevisit_core::model::care::Role;
    use homevisit_core::team::{FrequencyUnit, Message, PlanContent, TeamWrite, VisitFrequency};
    use nhi_vpn_sim::team::{self as platform, SeedCase};
    const PARTNER: &str = "3501200011";
    step("Care team shared record — the demo patient's case, a nurse's visit record with no signal");
    let inst = app.institution().as_str().to_string();
    let now = vpn.state().now_ms();
    let case_id = platform::seed_case(
        &vpn.state().db(),
        &SeedCase {
            team: "HM00000001".into(),
            enrolling: inst.clone(),
            members: vec![inst.clone(), PARTNER.into()],
            access: vec![PARTNER.into()],
            national_id: homevisit_core::referral::vectors::SAMPLE_ID.into(),
            name: "王小明".into(),
            birth_date: "0290501".into(),
            sex: "M".into(),
            ..Default::default()
        },
        now,
    )
    .map_err(|e| format!("{:?}", e.1))?;
    let team = app.team();
    app.set_online(true);
    team.refresh().await.map_err(err("team refresh"))?;
    app.set_online(false);
    team.set_special_notes(&case_id, "家有惡犬，請先電話聯絡")
        .map_err(err("special notes"))?;
    let plan = team
        .add_plan(
            &case_id,
            PlanContent {
                goals: "維持鼻胃管通暢，預防壓瘡".into(),
                frequency: VisitFrequency {
                    times: 1,
                    every: 2,
                    unit: FrequencyUnit::Week,
                },
            },
            None,
        )
        .map_err(err("care plan"))?;
    let today = homevisit_core::model::roc::RocDate::today(&SystemClock)
        .map_err(|e| e.to_string())?
        .naive();
    let record = team
        .save_record(
            &case_id,
            RecordInput {
                id: String::new(),
                role: Role::Nurse,
                visit_date: today,
                next_visit_date: None,
                health_status: "意識清楚，生命徵象穩定".into(),
                problem: "鼻胃管需更換".into(),
                service: "更換鼻胃管，衛教家屬灌食".into(),
                visit_code: None,
            },
        )
        .map_err(err("visit record"))?;
    // The partner institution's message reaches the platform from its own device.
    let message = Message {
        id: uuid::Uuid::now_v7().to_string(),
        case_id: case_id.clone(),
        author: PARTNER.into(),
        to: Vec::new(),
        reply_to: None,
        text: "下週三可聯合訪視".into(),
        created_ms: now,
        rev: 1,
    };
    platform::push(&mut vpn.state().db(), PARTNER, &TeamWrite::Message(message), now)
        .map_err(|e| format!("{:?}", e.1))?;
    app.set_online(true);
    let s = app
        .sync()
        .drain_once(DRAIN_BUDGET_MS)
        .await
        .map_err(err("sync"))?;
    team.refresh().await.map_err(err("team refresh"))?;
    let case = team.case_file(&case_id).map_err(err("team case"))?.case;
    println!(
        "case {case_id} of {} ({}), team {}: special notes set, shared with {}",
        case.masked_name(),
        case.masked_id(),
        case.team,
        case.access.join(", ")
    );
    println!(
        "care plan: {} visit(s) every {} {}(s); nurse's record of {} → next visit proposed {}",
        plan.content.frequency.times,
        plan.content.frequency.every,
        plan.content.frequency.unit.as_str(),
        homevisit_core::app::team_date_text(record.visit_date),
        record
            .next_visit_date
            .map(homevisit_core::app::team_date_text)
            .unwrap_or_default()
    );
    println!(
        "signal back: {} write(s) sent; unread messages from the team: {}; team members: {}",
        s.done,
        team.unread_count().map_err(err("unread"))?,
        team.members().map_err(err("members"))?.len()
    );
    Ok(())
}

/// The abnormal-situation report (異常狀況報備單) of today's visits that ran offline or missed their
/// upload deadline: the printable HTML written to the data directory (patient IDs masked, no
/// names: the smoke test greps that directory), a CSV excerpt, and this month's upload-quality
/// indicators against their 90% line.
fn abnormal_situation_report(app: &HomeVisit, clock: &dyn Clock, data_dir: &Path) -> Result<(), String> {
    step("Abnormal-situation report (異常狀況報備單) and upload quality");
    let today = homevisit_core::model::roc::RocDateTime::from_unix_ms(clock.now_unix_ms())
        .map_err(|e| format!("today: {e}"))?
        .date()
        .naive();
    let rows = app
        .abnormal_report(today, today)
        .map_err(err("abnormal report"))?;
    let html = app
        .abnormal_report_html(today, today)
        .map_err(err("abnormal report"))?;
    let path = data_dir.join("abnormal-report.html");
    std::fs::write(&path, html).map_err(|e| format!("writing {}: {e}", path.display()))?;
    println!(
        "{} visit(s) on today's report; printable HTML: {}",
        rows.len(),
        path.display()
    );
    let csv = app
        .abnormal_report_csv(today, today, homevisit_core::referral::csv::CsvEncoding::Utf8Bom)
        .map_err(err("abnormal report CSV"))?;
    let text = String::from_utf8_lossy(csv.bytes.get(3..).unwrap_or_default()).into_owned();
    for line in text.lines().take(4) {
        println!("  {line}");
    }
    use chrono::Datelike;
    let quality = app
        .upload_quality(today.year(), today.month())
        .map_err(err("upload quality"))?;
    for i in quality {
        let value = i
            .percent
            .map(|p| format!("{p:.1}%"))
            .unwrap_or_else(|| "—".into());
        println!(
            "  {} {value} ({}/{}) {}",
            i.kind.label_zh(),
            i.numerator,
            i.denominator,
            if i.meets_line { "≥90% ✓" } else { "<90% ✗" }
        );
    }
    Ok(())
}

/// A card-less visit and its card replacement, then an emergency visit at night with its
/// surcharge and a second one the same day that is not payable (issue 14 items 4 and 5).
async fn card_less_and_emergency(app: &Arc<HomeVisit>, now: i64) -> Result<(), String> {
    use homevisit_core::app::{CardLessPatient, claim_mark};
    step("A patient without the card — out of pocket, visit code offline");
    let patient = CardLessPatient {
        national_id: "A123456789".into(),
        name: "王小明".into(),
        birth_date: "0290517".into(),
    };
    let v = app
        .begin_card_less_visit(&patient)
        .map_err(err("card-less visit"))?;
    v.add_diagnosis("I10").map_err(err("diagnosis"))?;
    v.set_fees(1631, 50).map_err(err("fees"))?;
    v.set_out_of_pocket(1631).map_err(err("out of pocket"))?;
    let s = v
        .finish(&uuid::Uuid::now_v7().to_string())
        .await
        .map_err(err("card-less visit"))?;
    let pending = app.card_less().get(&s.id).map_err(err("card-less visit"))?;
    println!(
        "card-less visit {} (code taken offline, no card written): paid NT$ {} out of pocket; \
         nothing uploaded until the card comes, at the latest on {}",
        s.visit_code,
        pending.paid,
        pending
            .deadline
            .as_deref()
            .unwrap_or("(calendar does not cover it)")
    );
    if let Err(e) = app.issue_prescription(&s.id, Some(3), CONTACT) {
        println!("chronic prescription refused: {} ({e})", e.code());
    }
    step("The card is brought — card replacement (補卡)");
    // In life the card comes days later; the demo runs on the wall clock, so it waits for the next
    // second: the replacement's M11 (to the second) must be later than M49, the card-less visit's
    // time, or the NHI checker refuses the record.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let r = app
        .card_less()
        .replace(&s.id, &uuid::Uuid::now_v7().to_string())
        .await
        .map_err(err("card replacement"))?;
    let after = app.card_less().get(&s.id).map_err(err("card-less visit"))?;
    println!(
        "replacement visit {} sequence {}: upload with M12 = 2, M49 = the card-less visit's time, \
         M52 = {}; refund {} points",
        r.visit_code,
        r.sequence_number,
        s.visit_code,
        after.refund_points.unwrap_or(0)
    );

    step("Emergency visits at night (緊急訪視)");
    // Tonight 21:30 to 22:31 Taiwan time: 31 minutes into late night.
    let tonight = now - (now + 8 * 3_600_000).rem_euclid(86_400_000) + 21 * 3_600_000 + 30 * 60_000;
    for (n, (arrival, minutes)) in [(tonight, 61), (tonight + 100 * 60_000, 30)]
        .into_iter()
        .enumerate()
    {
        let v = app.begin_visit().await.map_err(err("patient card"))?;
        v.add_diagnosis("R509").map_err(err("diagnosis"))?;
        let marked = v
            .set_emergency(&["fever".into()], arrival, arrival + minutes * 60_000)
            .map_err(err("emergency"))?;
        let s = v
            .finish(&uuid::Uuid::now_v7().to_string())
            .await
            .map_err(err("emergency visit"))?;
        let e = app
            .emergency_of(&s.id)
            .map_err(err("emergency"))?
            .unwrap_or(marked);
        println!(
            "emergency visit {}: {} min, bracket {} → +{}%, claim mark {}, {}",
            n + 1,
            minutes,
            e.bracket,
            e.surcharge_percent,
            claim_mark(Some(&e)).unwrap_or("-"),
            if e.payable {
                "payable"
            } else {
                "NOT payable (one per doctor per patient per day)"
            }
        );
    }
    let due = app.emergency_deadlines().map_err(err("deadlines"))?;
    println!(
        "emergency uploads due within 1 hour: {} at risk, {} missed",
        due.at_risk.len(),
        due.missed.len()
    );
    Ok(())
}

/// One HMIC case application (issue 12): drafted and submitted with no signal (sex from the ID,
/// ADL total and dependency computed, every rule checked on the device), sent when online (the
/// NHI runs the same rules), then found by the query and exported as CSV.
async fn hmic_case(app: &HomeVisit) -> Result<(), String> {
    use homevisit_core::hmic::vectors::{SAMPLE_ID, SAMPLE_TEAM, sample_on};
    use homevisit_core::hmic::{CaseState, ClosingReason};
    use homevisit_core::model::roc::RocDate;
    use homevisit_core::referral::csv::CsvEncoding;
    use homevisit_core::rules::hmic::assessment::{adl_total, dependency};
    step("HMIC case application — drafted and submitted with no signal");
    let cases = app.cases();
    let today = RocDate::today(&SystemClock).map_err(|e| e.to_string())?.naive();
    let sample = sample_on("", INSTITUTION, SAMPLE_TEAM, today);
    // A rerun on the same data finds the last run's case open: a new enrolment needs it closed.
    if let Some(birth) = sample.patient.birth_date
        && let Some(open) = cases.latest(SAMPLE_ID, birth).map_err(err("case query"))?
        && open.application.state == CaseState::Submitted
    {
        cases
            .close(&open.application.id, today, ClosingReason::Improved)
            .map_err(err("case close"))?;
    }
    app.set_online(false);
    let (c, warnings) = cases.create(sample).map_err(err("case application"))?;
    let a = &c.application;
    let adl = a.adl.as_ref().map(adl_total).unwrap_or(0);
    println!(
        "case {} for {}: {} {} sex {} from the ID, ADL {adl} ({}), {} diagnoses, {} month(s); {} warning(s)",
        &a.id[..8.min(a.id.len())],
        c.masked_id(),
        a.kind.as_str(),
        a.care_stage.map(|s| s.code()).unwrap_or("-"),
        a.patient.sex,
        dependency(adl).as_str(),
        a.diagnoses.len(),
        a.care_months,
        warnings.len()
    );
    let c = cases.submit(&c.application.id).map_err(err("case submit"))?;
    println!(
        "submitted offline: acceptance date {}; outbox: {}",
        c.application
            .acceptance_date
            .and_then(|d| RocDate::from_naive(d).ok())
            .map(|d| d.to_slashed())
            .unwrap_or_default(),
        cases
            .delivery(&c.application.id)
            .map_err(err("case"))?
            .unwrap_or_default()
    );
    app.set_online(true);
    drain(app).await?;
    println!(
        "the NHI's answer: {}",
        cases
            .delivery(&c.application.id)
            .map_err(err("case"))?
            .unwrap_or_default()
    );
    let rows = cases
        .query(today, today, Some(SAMPLE_TEAM))
        .await
        .map_err(err("case query"))?;
    let csv = cases.export_csv(&rows, CsvEncoding::Big5);
    println!(
        "query {SAMPLE_TEAM} today: {} application(s); CSV {} bytes (Big5)",
        rows.len(),
        csv.bytes.len()
    );
    Ok(())
}
