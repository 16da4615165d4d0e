//! `homevisit-sim vpn serve`: the simulated NHI VPN services as a real HTTPS server a developer
//! runs, printing the binding QR-2 payload and PIN a device enrols with.

use nhi_vpn_sim::{FaultConfig, FaultKind, SimConfig, VpnSim};
use std::net::SocketAddr;
use std::path::PathBuf;

/// `homevisit-sim vpn …`
#[derive(clap::Subcommand)]
pub enum VpnCommand {
    /// Run the simulated NHI VPN services over HTTPS until Ctrl-C.
    Serve(ServeArgs),
}

/// Options of `vpn serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8443)]
    port: u16,
    /// Where the simulator's SQLite database lives.
    #[arg(long, default_value = "homevisit-vpn-data")]
    data_dir: PathBuf,
    /// The institution's 10-digit code.
    #[arg(long, default_value = "3501200000")]
    institution: String,
    /// Share of device requests that fail (0.0-1.0), over all fault kinds.
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,
    /// Latency added to every device request, in ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The server clock's skew, in ms.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    clock_skew_ms: i64,
    /// Seed of the fault sequence.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Admin token for the /admin routes (random when not given).
    #[arg(long)]
    admin_token: Option<String>,
}

/// Runs a `vpn` subcommand.
pub fn run(command: VpnCommand) -> Result<(), String> {
    match command {
        VpnCommand::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    if !(0.0..=1.0).contains(&args.failure_rate) {
        return Err("--failure-rate must be between 0.0 and 1.0".into());
    }
    homevisit_core::model::InstitutionCode::parse(&args.institution).map_err(|e| e.to_string())?;
    let config = SimConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], args.port)),
        data_dir: Some(args.data_dir.clone()),
        institution_code: args.institution.clone(),
        faults: FaultConfig {
            seed: args.seed,
            latency_ms: args.latency_ms,
            failure_rate: args.failure_rate,
            kinds: FaultKind::ALL.to_vec(),
            clock_skew_ms: args.clock_skew_ms,
            ..FaultConfig::default()
        },
        admin_token: args.admin_token.clone(),
        ..SimConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let sim = VpnSim::start(config).await?;
        let binding = sim.new_binding()?;
        println!("NHI VPN simulator listening on {}", sim.url);
        println!("  data dir        {}", args.data_dir.display());
        println!("  certificate     SHA-256 {}", hex::encode(sim.fingerprint));
        println!("  institution     {}", args.institution);
        println!("  admin token     {}", sim.admin_token());
        println!();
        println!("Device binding (QR-2) — valid 24 h, one device:");
        match homevisit_core::rx::render::qr_code(binding.qr.as_bytes()) {
            Ok(code) => {
                println!("{}", homevisit_core::rx::render::to_terminal(&code));
                let png = args.data_dir.join("binding-qr2.png");
                match homevisit_core::rx::render::to_png(&code, 6).map(|b| std::fs::write(&png, b)) {
                    Ok(Ok(())) => println!("  QR-2 image      {}", png.display()),
                    _ => println!("  (could not save the QR-2 image)"),
                }
            }
            Err(e) => println!("  (QR-2 not drawable: {e})"),
        }
        println!("  QR-2 payload    {}", binding.qr);
        println!("  PIN             {}", binding.pin);
        println!();
        println!(
            "More bindings:    curl -sk -X POST -H 'x-admin-token: {}' {}/admin/bindings",
            sim.admin_token(),
            sim.url
        );
        println!(
            "Faults:           curl -sk -X PUT -H 'x-admin-token: …' -H 'content-type: application/json' \\"
        );
        println!(
            "                    -d '{{\"failure_rate\":0.3,\"seed\":7}}' {}/admin/faults",
            sim.url
        );
        println!(
            "Stored visits:    curl -sk -H 'x-admin-token: …' {}/admin/visits",
            sim.url
        );
        println!("Pharmacy page:    {}/pharmacy", sim.url);
        println!("Ctrl-C stops the server.");
        tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
        sim.stop().await;
        Ok(())
    })
}
