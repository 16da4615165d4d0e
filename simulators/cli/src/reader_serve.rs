//! `homevisit-sim reader serve`: one simulated BLE card reader (with the demo practitioner and
//! patient cards in its slots) served over TCP on 127.0.0.1 for the loopback transport.

use homevisit_core::reader::{CardSlot, ReaderModel};
use nhi_reader_sim::card;
use nhi_reader_sim::{ReaderConfig, SimReader};
use std::path::PathBuf;

/// `reader …` subcommands.
#[derive(clap::Subcommand)]
pub enum ReaderCommand {
    /// Serve a simulated reader on 127.0.0.1 until Ctrl-C.
    Serve(ServeArgs),
}

/// Options of `reader serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one; the chosen port is printed).
    #[arg(long, default_value_t = 7410)]
    port: u16,
    /// Where the reader keeps its pairings and the cards their state across runs (in memory if absent).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Reader model: HV-BT200, HV-Mini or HV-S3.
    #[arg(long, default_value = "HV-BT200")]
    model: String,
    /// Serial number (the reader's id is `sim-<serial>`).
    #[arg(long, default_value = "0001")]
    serial: String,
    /// Which demo patient card (0–3) sits in the patient slot.
    #[arg(long, default_value_t = 0)]
    patient: usize,
    /// Start with empty slots.
    #[arg(long)]
    no_cards: bool,
}

/// Runs a `reader` subcommand.
pub fn run(command: ReaderCommand) -> Result<(), String> {
    match command {
        ReaderCommand::Serve(args) => serve(args),
    }
}

/// Builds the reader `reader serve` would serve (also used by the demo's loopback mode).
pub fn build_reader(
    args_model: &str,
    serial: &str,
    state_dir: Option<PathBuf>,
    patient: Option<usize>,
) -> Result<SimReader, String> {
    let model: ReaderModel = args_model.parse()?;
    let mut config = ReaderConfig::new(model, serial);
    config.state_dir = state_dir.clone();
    let reader = SimReader::new(config);
    if let Some(index) = patient {
        match &state_dir {
            Some(dir) => {
                let hpc = card::demo_practitioner_card_in(dir)
                    .map_err(|e| format!("practitioner card state: {e}"))?;
                let pc =
                    card::demo_patient_card_in(dir, index).map_err(|e| format!("patient card state: {e}"))?;
                reader.insert(CardSlot::Practitioner, Box::new(hpc));
                reader.insert(CardSlot::Patient, Box::new(pc));
            }
            None => {
                let profile = card::demo_patients()
                    .into_iter()
                    .nth(index)
                    .ok_or_else(|| format!("no demo patient {index} (0–3)"))?;
                reader.insert(
                    CardSlot::Practitioner,
                    Box::new(card::PractitionerCard::new(card::demo_practitioner())),
                );
                reader.insert(CardSlot::Patient, Box::new(card::PatientCard::new(profile)));
            }
        }
    }
    Ok(reader)
}

fn serve(args: ServeArgs) -> Result<(), String> {
    if let Some(dir) = &args.state_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let reader = build_reader(
        &args.model,
        &args.serial,
        args.state_dir.clone(),
        (!args.no_cards).then_some(args.patient),
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!(
            "reader {} (id {}) listening on {addr}",
            reader.name(),
            reader.id()
        );
        let shown = reader.clone();
        tokio::spawn(async move {
            // The reader's display: print the pairing code when one appears.
            let mut last = None;
            loop {
                let now = shown.displayed_code();
                if now != last {
                    if let Some(code) = &now {
                        println!("pairing: the reader shows code {code}");
                    }
                    last = now;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        });
        tokio::select! {
            r = nhi_reader_sim::gatt::tcp::serve(listener, reader) => r.map_err(|e| e.to_string()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
