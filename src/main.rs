//! The `overblick` command: runs the service (the demo when no config file is given) and mints
//! demo tokens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use overblick::app::{Application, demo_person};
use overblick::auth::demo;
use overblick::config::{Mode, Settings};
use overblick::domain::PersonId;

// Every overview allocates heavily (JSON trees, items, the GraphQL answer) on many threads;
// glibc's malloc spent about a third of the service's CPU in that, mimalloc much less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Överblick: one current overview of a person's care, gathered from every care provider.
///
/// With no --config, starts the demo: simulated care-provider sources on loopback, the service
/// on 127.0.0.1:4000, and GraphiQL ready to use.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML config file (see README, "Configuration"). Without it, the demo runs.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the config file).
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// The demo's source catalog folder.
    #[arg(long, global = true)]
    sources: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Prints a demo bearer token (accepted only by a service running in demo mode).
    Token {
        /// Personnummer of the person signing in, e.g. 19121212-1212.
        #[arg(long)]
        person: String,
        /// Display name to put in the token.
        #[arg(long)]
        name: Option<String>,
        /// How long the token is valid, e.g. 12h, 30m.
        #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
        valid_for: Duration,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token {
            person,
            name,
            valid_for,
        }) => match PersonId::parse(&person) {
            Ok(p) => {
                println!("{}", demo::mint(&p, name.as_deref(), valid_for));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: --person: {e}");
                ExitCode::from(2)
            }
        },
        None => match serve(cli.config, cli.listen, cli.sources).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    sources: Option<PathBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let mut settings = match &config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::demo(&sources.unwrap_or_else(demo_sources_dir))?,
    };
    if let Some(addr) = listen {
        settings.listen = addr;
    }
    // Simulated sources (demo catalog entries without a base URL) start first, so the
    // service finds them listening.
    let simulators = overblick::simulator::start_catalog(&mut settings.catalog).await?;
    let app = Application::build(&settings).await?;
    let addr = app.local_addr();

    if settings.mode == Mode::Demo {
        let person = demo_person();
        println!();
        println!("Överblick demo is running.");
        println!(
            "  {} simulated care-provider sources on loopback",
            simulators.len()
        );
        println!("  GraphiQL:  http://{addr}/graphql  (signed in as Tolvan Tolvansson, {person})");
        println!("  A token for scripts:  cargo run --release -- token --person {person}");
        println!(
            "  Try:  curl -s http://{addr}/graphql -H \"Authorization: Bearer $(cargo run -q --release -- token --person {person})\" \\"
        );
        println!(
            "          -H 'Content-Type: application/json' -d '{{\"query\":\"{{ overview {{ patient {{ name }} medications {{ name dosage provenance {{ sourceName }} }} }} }}\"}}'"
        );
        println!(
            "  Access log, consents, blocks and delegations: {}",
            settings.database.url
        );
        println!("  Stop with Ctrl-C.");
        println!();
    } else {
        tracing::info!(%addr, sources = settings.catalog.len(), "Överblick listening");
    }
    app.run_until(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    drop(simulators);
    Ok(())
}

/// `sources/` in the working directory, else the one in the source tree this binary was built
/// from, so `cargo run` works from any folder of the checkout.
fn demo_sources_dir() -> PathBuf {
    let here = PathBuf::from("sources");
    if here.is_dir() {
        here
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sources")
    }
}
