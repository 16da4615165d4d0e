//! homevisit-sim: the desktop command. `demo` runs a home visit on embedded defaults, `bench`
//! prints the benchmark metrics, and the simulators can run as servers.

mod bench;
mod demo;
mod reader_serve;
mod vpn_serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "homevisit-sim",
    version,
    about = "homevisit desktop simulator: demo, benchmarks, simulated NHI services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a home visit end to end on embedded defaults (SQLite, in-process simulators).
    Demo {
        /// Where the app's data lives; a second run over the same directory sees the first run's visits.
        #[arg(long, default_value = "homevisit-demo-data")]
        data_dir: PathBuf,
        /// Where the simulators (VPN services, reader and cards) keep their state; default: beside
        /// the data directory, named `<data-dir>-simulators`.
        #[arg(long)]
        sim_dir: Option<PathBuf>,
        /// Use the loopback transport to a reader started with `homevisit-sim reader serve`
        /// (e.g. `127.0.0.1:7000`) instead of the in-process reader.
        #[arg(long)]
        reader_addr: Option<std::net::SocketAddr>,
    },
    /// Run the benchmarks and print their metrics.
    Bench {
        /// One JSON object per line, one per metric.
        #[arg(long)]
        json: bool,
        /// Only the metrics whose name starts with this prefix.
        #[arg(long)]
        only: Option<String>,
    },
    /// The simulated BLE card reader (`reader serve`), for the loopback transport.
    Reader {
        #[command(subcommand)]
        command: reader_serve::ReaderCommand,
    },
    /// The simulated NHI VPN services (`vpn serve`).
    Vpn {
        #[command(subcommand)]
        command: vpn_serve::VpnCommand,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo {
            data_dir,
            sim_dir,
            reader_addr,
        } => demo::run(&data_dir, sim_dir.as_deref(), reader_addr),
        Command::Bench { json, only } => bench::run(json, only.as_deref()),
        Command::Vpn { command } => vpn_serve::run(command),
        Command::Reader { command } => reader_serve::run(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
