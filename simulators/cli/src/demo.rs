//! `homevisit-sim demo`: a home-visit day end to end on embedded defaults — the app's sealed SQLite
//! store under `--data-dir`, and in-process simulators (the NHI VPN services over HTTPS on
//! loopback, a Bluetooth reader with a practitioner card and patient cards) whose own state lives
//! under `--sim-dir`, outside the app's data: the simulators stand for other devices (the card,
//! the NHI), not for what the phone stores.
//!
//! The day: enrol the device (first run), pair the reader (first run; later runs reconnect), the
//! practitioner's PIN, one visit online through the cloud SAM with the card written, two visits
//! with no signal (abnormal sequence number, card not written), the queue drained when the signal
//! comes back, the upload-result table, and the prescription QR played through a pharmacist.

use homevisit_core::app::{AppConfig, HomeVisit, VisitSummary};
use homevisit_core::card::records::{PrescriptionEntry, VisitBody};
use homevisit_core::card::visit_txn::{VisitPlan, run_visit};
use homevisit_core::card::{basic_data, hpc};
use homevisit_core::model::{Order, RocDateTime, Visit, VisitType};
use homevisit_core::platform::{
    Clock, Connectivity, FileKeyStore, KeyStore, ManualConnectivity, SystemClock,
};
use homevisit_core::reader::{CardSlot, ReaderSession, StorePairingStore};
use homevisit_core::rx::orderset::{OrderSet, cached_order_sets, refresh_order_sets};
use homevisit_core::rx::sheet::IssuedPrescription;
use homevisit_core::sync::{DrainOptions, SyncConfig, SyncEvent, SyncListener};
use homevisit_core::vpn::{BindingQr, ClientOptions, VpnClient};
use indicatif::{ProgressBar, ProgressStyle};
use nhi_reader_sim::SimReader;
use nhi_vpn_sim::pharmacy::demo::PresentedAs;
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
    let app = HomeVisit::open(
        AppConfig {
            data_dir: data_dir.to_path_buf(),
            institution_code: INSTITUTION.into(),
            device_id: device_id.clone(),
        },
        keys.clone(),
        clock.clone(),
    )
    .map_err(|e| format!("opening the app store: {e}"))?;
    let earlier = app.list_visits(1000, 0).map_err(|e| e.to_string())?;
    println!("app store open: {} visit(s) from earlier runs", earlier.len());

    let client = Arc::new(enrol(&app, &vpn, clock.clone()).await?);
    let order_sets = order_sets(&app, client.as_ref()).await?;
    let reader = match reader_addr {
        None => Some(reader(sim_dir)?),
        Some(_) => None,
    };
    let session = match (&reader, reader_addr) {
        (Some(reader), _) => connect_reader(&app, reader, &device_id).await?,
        (None, Some(addr)) => connect_loopback(&app, addr, &device_id).await?,
        (None, None) => return Err("no reader".into()),
    };

    step("Practitioner card");
    let practitioner = hpc::open(&session)
        .await
        .map_err(|e| format!("practitioner card: {e}"))?;
    hpc::verify_pin(&session, HPC_PIN)
        .await
        .map_err(|e| format!("practitioner PIN: {e}"))?;
    println!(
        "HPC PIN verified for practitioner {}",
        mask(&practitioner.national_id)
    );
    let practitioner_id = practitioner.national_id.clone();

    let connectivity = ManualConnectivity::new(true);
    let round = Round {
        app: &app,
        session: &session,
        sam: client.as_ref(),
        connectivity: connectivity.as_ref(),
        practitioner_id: &practitioner_id,
        order_sets: &order_sets,
        clock: &clock,
    };
    step("Visit 1 — online: cloud SAM, sequence number, card written");
    let first = visit(&round, 0).await?;
    // A chronic continuous prescription: three fills, the first today.
    let first_rx = prescription(&app, &first, Some(3), client.as_ref(), sim_dir)?;

    step("Visits 2 and 3 — no signal in the mountains");
    connectivity.set_online(false);
    let mut offline_rx = None;
    for patient in [1, 2] {
        // In-process, the next patient's card goes into the reader; over loopback the card that
        // `reader serve` holds stays in.
        if let Some(reader) = &reader {
            reader.insert(CardSlot::Patient, Box::new(patient_card(sim_dir, patient)?));
        }
        let v = visit(&round, patient).await?;
        if !v.orders.is_empty() && offline_rx.is_none() {
            // Issued offline: the family gets the QR and the code now; the registration waits.
            offline_rx = Some(prescription(&app, &v, None, client.as_ref(), sim_dir)?);
        }
    }
    if let Some(reader) = &reader {
        reader.insert(CardSlot::Patient, Box::new(patient_card(sim_dir, 0)?));
    }
    let state = app.outbox_state().map_err(|e| e.to_string())?;
    println!(
        "outbox: {} queued, {} waiting for retry, {} done (nothing leaves the phone while offline)",
        state.counts.queued, state.counts.waiting_retry, state.counts.done
    );

    step("Signal is back — the queue drains");
    connectivity.set_online(true);
    drain(&app, client.clone(), clock.clone(), connectivity.clone()).await?;

    step("At the pharmacy — visit 1's chronic prescription, by QR");
    let mut out = std::io::stdout();
    nhi_vpn_sim::pharmacy::demo::pharmacist_dispenses(
        &vpn.url,
        vpn.fingerprint,
        &first_rx,
        PresentedAs::Qr,
        &mut out,
    )
    .await?;
    if let Some(issued) = &offline_rx {
        step("At another pharmacy — the prescription issued offline, by its one-time code");
        nhi_vpn_sim::pharmacy::demo::pharmacist_dispenses(
            &vpn.url,
            vpn.fingerprint,
            issued,
            PresentedAs::OneTimeCode,
            &mut out,
        )
        .await?;
    }

    step("Visits on this device");
    let all = app.list_visits(1000, 0).map_err(|e| e.to_string())?;
    print_visits(&all);
    let state = app.outbox_state().map_err(|e| e.to_string())?;
    println!(
        "outbox: {} done, {} queued, {} waiting for retry, {} rejected",
        state.counts.done, state.counts.queued, state.counts.waiting_retry, state.counts.rejected
    );
    session.disconnect().await;
    vpn.stop().await;
    Ok(())
}

/// A stable id of this device, derived from a key the host key store keeps.
fn device_id(keys: &dyn KeyStore) -> Result<String, String> {
    let key = keys
        .get_or_create_key("device-id")
        .map_err(|e| format!("key store: {e}"))?;
    Ok(format!("desktop-{}", hex::encode(&key[..6])))
}

/// Enrols the device on first run (QR-2 + PIN), or loads the kept enrolment.
async fn enrol(app: &HomeVisit, vpn: &VpnSim, clock: Arc<dyn Clock>) -> Result<VpnClient, String> {
    step("Device enrolment");
    let store = app.store();
    let options = || ClientOptions {
        clock: clock.clone(),
        ..ClientOptions::default()
    };
    if let Some(kept) = VpnClient::load(store.as_ref(), options()).map_err(|e| e.to_string())? {
        // The simulator listens on a new local port each run; the certificate pin is unchanged.
        let mut enrolment = kept.enrolment().clone();
        enrolment.endpoint = vpn.url.clone();
        let client = VpnClient::from_enrolment(enrolment, options()).map_err(|e| e.to_string())?;
        println!(
            "already enrolled as device {} of institution {} (cloud SAM {})",
            client.enrolment().device_id,
            client.enrolment().institution_code,
            client.enrolment().sam_id
        );
        return Ok(client);
    }
    let binding = vpn.new_binding()?;
    println!("administrator's portal shows QR-2 and PIN {}", binding.pin);
    let qr = BindingQr::parse(&binding.qr).map_err(|e| format!("QR-2: {e}"))?;
    println!(
        "scanned QR-2: institution {}, endpoint {}",
        qr.institution_code, qr.endpoint
    );
    let client = VpnClient::enrol(&qr, &binding.pin, "homevisit desktop demo", options())
        .await
        .map_err(|e| format!("enrolment: {e}"))?;
    client.save(store.as_ref()).map_err(|e| e.to_string())?;
    println!(
        "enrolled: device {} bound to cloud SAM {}; device key kept sealed",
        client.enrolment().device_id,
        client.enrolment().sam_id
    );
    Ok(client)
}

/// The simulated reader, its cards' state kept in the sim dir.
fn reader(sim_dir: &Path) -> Result<SimReader, String> {
    crate::reader_serve::build_reader(READER_MODEL, "0001", Some(sim_dir.join("reader")), Some(0))
}

fn patient_card(sim_dir: &Path, index: usize) -> Result<nhi_reader_sim::card::PatientCard, String> {
    nhi_reader_sim::card::demo_patient_card_in(&sim_dir.join("reader"), index)
        .map_err(|e| format!("patient card: {e}"))
}

/// Pairs with the reader on first run (the user compares the code), or reconnects.
async fn connect_reader(
    app: &HomeVisit,
    reader: &SimReader,
    phone_id: &str,
) -> Result<ReaderSession, String> {
    step("Bluetooth reader");
    let pairings = Arc::new(StorePairingStore::new(app.store()));
    let was_paired = reader.is_paired_with(phone_id);
    let (_client, session) = nhi_reader_sim::gatt::connect_in_process(reader, pairings, phone_id)
        .await
        .map_err(|e| format!("reader: {e}"))?;
    if was_paired {
        println!(
            "reconnected to paired reader {} without pairing again",
            reader.name()
        );
    } else {
        println!(
            "paired with reader {} (the 6-digit code matched on both screens)",
            reader.name()
        );
    }
    println!("secure session open (ChaCha20-Poly1305, counters per direction)");
    Ok(session)
}

/// Connects over TCP to `homevisit-sim reader serve` (the loopback transport): pairs on first run
/// (the code the reader prints is confirmed), or reconnects.
async fn connect_loopback(
    app: &HomeVisit,
    addr: std::net::SocketAddr,
    phone_id: &str,
) -> Result<ReaderSession, String> {
    step("Bluetooth reader (loopback to `homevisit-sim reader serve`)");
    let pairings = Arc::new(StorePairingStore::new(app.store()));
    let (_client, session) = nhi_reader_sim::gatt::tcp::connect_loopback(addr, pairings, phone_id)
        .await
        .map_err(|e| format!("reader at {addr}: {e}"))?;
    println!("secure session open with the reader at {addr} (ChaCha20-Poly1305, counters per direction)");
    Ok(session)
}

/// One visit of the demo patient `patient`: the card transaction, then one commit.
/// What every visit of the day shares: the app, the reader session, the cloud SAM, the network,
/// the practitioner and the order sets.
struct Round<'a> {
    app: &'a HomeVisit,
    session: &'a ReaderSession,
    sam: &'a VpnClient,
    connectivity: &'a dyn Connectivity,
    practitioner_id: &'a str,
    order_sets: &'a [OrderSet],
    clock: &'a Arc<dyn Clock>,
}

async fn visit(round: &Round<'_>, patient: usize) -> Result<Visit, String> {
    let Round {
        app,
        session,
        sam,
        connectivity,
        practitioner_id,
        order_sets,
        clock,
    } = *round;
    let basic = basic_data::read(session)
        .await
        .map_err(|e| format!("patient card: {e}"))?;
    let follow_up = app.has_visited(&basic.national_id).map_err(|e| e.to_string())?;
    let visit_type = if follow_up {
        VisitType::HomeCareFollowUp
    } else {
        VisitType::WesternOutpatient
    };
    println!(
        "patient card read: {} {} (born {}), {} visit ({})",
        mask_name(&basic.name),
        mask(basic.national_id.expose()),
        basic.birth_date.format("%Y"),
        if follow_up { "a later home-care" } else { "a first" },
        visit_type.code()
    );
    let at = RocDateTime::now(clock.as_ref()).map_err(|e| e.to_string())?;
    let (diagnoses, orders) = clinical(patient, order_sets)?;
    let body = VisitBody {
        diagnoses: diagnoses.clone(),
        fee_points: 1631,
        copayment: 0,
    };
    let plan = VisitPlan {
        txn_id: txn_id(),
        visit_type,
        newborn: false,
        replacement: false,
        institution: app.institution().clone(),
        at,
        code_counter: app.reserve_code_counter().map_err(|e| e.to_string())?,
        body: body.clone(),
        prescriptions: orders
            .iter()
            .map(|o| PrescriptionEntry::from_order(o, at, true))
            .collect(),
        online: connectivity.is_online(),
    };
    let outcome = run_visit(session, sam, app.visit_codes(), &plan)
        .await
        .map_err(|e| format!("visit: {e}"))?;
    let visit = outcome.to_visit(
        app.institution(),
        practitioner_id,
        &body,
        "居家訪視：生命徵象穩定".into(),
        orders,
    );
    let summary = app.commit_visit(&visit).map_err(|e| format!("commit: {e}"))?;
    println!("visit identification code {}", summary.visit_code);
    println!(
        "sequence number {} ({})",
        visit.sequence_number,
        sequence_meaning(&visit)
    );
    if visit.card_written {
        println!(
            "card written: visit record + {} prescription entries, read back and matched",
            visit.orders.len()
        );
    } else if let Some(why) = &visit.abnormal_reason {
        println!("card NOT written — for the abnormal-situation report: {why}");
    }
    println!("stored sealed with its card-upload job in one transaction");
    Ok(visit)
}

fn sequence_meaning(visit: &Visit) -> String {
    homevisit_core::model::SequenceNumber::parse(&visit.sequence_number)
        .map(|s| s.meaning().en.to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Diagnoses and orders of the demo visits.
fn clinical(patient: usize, order_sets: &[OrderSet]) -> Result<(Vec<String>, Vec<Order>), String> {
    let (dx, sets): (&[&str], &[&str]) = match patient {
        0 => (&["I10", "E119"], &["HT28", "DM28"]),
        1 => (&["G309", "I639"], &["CONST7"]),
        _ => (&["J449"], &[]),
    };
    let mut orders: Vec<Order> = Vec::new();
    for id in sets {
        let set = order_sets
            .iter()
            .find(|s| s.id == *id)
            .ok_or_else(|| format!("order set {id} was not downloaded"))?;
        for line in &set.lines {
            if !orders.iter().any(|o| o.code == line.drug_code) {
                orders.push(line.to_order());
            }
        }
    }
    Ok((dx.iter().map(|s| s.to_string()).collect(), orders))
}

/// Downloads the institution's order sets (處方套餐) into the sealed cache, or reads the cache when
/// the VPN cannot be reached.
async fn order_sets(app: &HomeVisit, client: &VpnClient) -> Result<Vec<OrderSet>, String> {
    step("Order sets (處方套餐)");
    let store = app.store();
    match refresh_order_sets(client, store.as_ref()).await {
        Ok((sets, refused)) => {
            let names: Vec<String> = sets.iter().map(|s| format!("{} {}", s.id, s.name)).collect();
            println!(
                "downloaded {} order set(s), cached sealed: {}",
                sets.len(),
                names.join(", ")
            );
            for (id, why) in refused {
                println!("refused order set {id}: {why}");
            }
            Ok(sets)
        }
        Err(e) => {
            let sets = cached_order_sets(store.as_ref()).map_err(|e| e.to_string())?;
            println!("order sets not downloaded ({e}); using {} cached", sets.len());
            Ok(sets)
        }
    }
}

fn txn_id() -> [u8; 16] {
    *uuid::Uuid::now_v7().as_bytes()
}

/// Drains the outbox with a progress bar, then prints the NHI upload-result table.
async fn drain(
    app: &HomeVisit,
    client: Arc<VpnClient>,
    clock: Arc<dyn Clock>,
    connectivity: Arc<ManualConnectivity>,
) -> Result<(), String> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("uploading {bar:30} {pos}/{len} {msg}").map_err(|e| e.to_string())?,
    );
    let listener = Arc::new(Progress(bar.clone()));
    let report = homevisit_core::sync::visit_day::drain_visit_day(
        app.store(),
        client,
        clock,
        connectivity,
        listener,
        SyncConfig::default(),
        DrainOptions {
            force: true,
            time_budget_ms: Some(30_000),
        },
    )
    .await
    .map_err(|e| format!("sync: {e}"))?;
    bar.finish();
    let s = &report.summary;
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
    let t = &report.table;
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
    visit: &Visit,
    chronic_refills: Option<u8>,
    client: &VpnClient,
    sim_dir: &Path,
) -> Result<IssuedPrescription, String> {
    use homevisit_core::rx::{otc, render};
    let issued = app
        .issue_prescription_signed_by(&visit.id, chronic_refills, client.device_key(), CONTACT)
        .map_err(|e| format!("prescription: {e}"))?;
    let code = render::qr_code(issued.qr_text.as_bytes()).map_err(|e| e.to_string())?;
    println!(
        "prescription QR: version {} (level M), {} characters, signed with the device key (Ed25519)",
        render::version_number(&code),
        issued.qr_text.len()
    );
    if chronic_refills.is_some() {
        println!("{}", render::to_terminal(&code));
    }
    let png = sim_dir.join(format!("prescription-{}.png", visit.visit_code));
    std::fs::write(&png, issued.qr_png(4).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{}: {e}", png.display()))?;
    println!("QR saved as {}", png.display());
    println!(
        "one-time code for pharmacies without a scanner: {}",
        otc::display(&issued.one_time_code)
    );
    println!("abnormal-situation contact: {}", issued.contact);
    for line in issued.pick_up_lines() {
        println!("{line}");
    }
    println!("registration with the VPN pharmacy service queued in the outbox");
    Ok(issued)
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
            mask_name(&v.patient_name),
            v.national_id_masked
        );
    }
}

/// `A123456789` → `A12****789` (what the screen shows; the clear value stays sealed).
fn mask(id: &str) -> String {
    id.chars()
        .enumerate()
        .map(|(i, c)| if (3..7).contains(&i) { '*' } else { c })
        .collect()
}

/// `王小明` → `王○明`.
fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 | 1 => name.to_string(),
        2 => format!("{}○", chars[0]),
        n => format!("{}{}{}", chars[0], "○".repeat(n - 2), chars[n - 1]),
    }
}
