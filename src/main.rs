//! The `overblick` command: runs the service (the demo when no config file is given) and mints
//! demo tokens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

use overblick::app::{Application, demo_person};
use overblick::auth::demo;
use overblick::config::{Mode, Settings};
use overblick::domain::{HsaId, PersonId};

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
    /// In the demo, keep the sources still: without this, Gottsunda vårdcentral adds a
    /// blood-pressure reading or moves a booking of Tolvan's every 20 to 40 s and notifies the
    /// service, so a live overview visibly updates.
    #[arg(long)]
    no_source_changes: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Prints a demo bearer token (accepted only by a service running in demo mode).
    ///
    /// Each role signs in as one of the demo's people: patient Tolvan Tolvansson, guardian Lena
    /// Tolvansson, delegate Margareta Tolvansson, staff Karin Lindqvist (Läkare, Gottsunda
    /// vårdcentral, Region Uppsala), staff-with-consent Sara Holm (Läkare, Hjärtkliniken Fyris,
    /// another care provider, whom Tolvan has given his consent). The token says who someone
    /// is; what they may see as guardian, delegate or staff is decided by the service.
    Token {
        #[command(flatten)]
        who: TokenRequest,
        /// How long the token is valid, e.g. 12h, 30m.
        #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
        valid_for: Duration,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Role {
    Patient,
    Staff,
    /// Staff at another care provider, with the patient's consent (Sara Holm).
    StaffWithConsent,
    Guardian,
    Delegate,
}

/// The options of `overblick token` that describe who signs in.
#[derive(clap::Args)]
struct TokenRequest {
    /// Whom to sign in as.
    #[arg(long, value_enum, default_value_t = Role::Patient)]
    role: Role,
    /// Personnummer of the person signing in, e.g. 19121212-1212 (not for staff).
    #[arg(long)]
    person: Option<String>,
    /// Display name to put in the token (default: the demo person's or staff member's;
    /// none for another --person).
    #[arg(long)]
    name: Option<String>,
    /// Staff: their HSA-id.
    #[arg(long, help_heading = "Staff")]
    hsa_id: Option<String>,
    /// Staff: HSA-id of the care unit they sign in at.
    #[arg(long, help_heading = "Staff")]
    care_unit: Option<String>,
    /// Staff: name of that care unit.
    #[arg(long, help_heading = "Staff")]
    care_unit_name: Option<String>,
    /// Staff: HSA-id of the unit's care provider.
    #[arg(long, help_heading = "Staff")]
    care_provider: Option<String>,
    /// Staff: name of that care provider.
    #[arg(long, help_heading = "Staff")]
    care_provider_name: Option<String>,
    /// Staff: profession, e.g. Läkare, Sjuksköterska.
    #[arg(long, help_heading = "Staff")]
    profession: Option<String>,
}

/// A demo token as asked for, or the message for the error naming the offending option.
fn demo_token(r: TokenRequest, valid_for: Duration) -> Result<String, String> {
    let staff_options = [
        ("--hsa-id", &r.hsa_id),
        ("--care-unit", &r.care_unit),
        ("--care-unit-name", &r.care_unit_name),
        ("--care-provider", &r.care_provider),
        ("--care-provider-name", &r.care_provider_name),
        ("--profession", &r.profession),
    ];
    let demo_person = match r.role {
        Role::Staff | Role::StaffWithConsent => {
            if r.person.is_some() {
                return Err(
                    "--person: staff sign in with their HSA-id (--hsa-id), not a personnummer"
                        .into(),
                );
            }
            let mut staff = if r.role == Role::StaffWithConsent {
                demo::DEMO_STAFF_WITH_CONSENT.identity()
            } else {
                demo::DEMO_STAFF.identity()
            };
            let id = |flag: &str, value: &Option<String>, into: &mut HsaId| {
                if let Some(v) = value {
                    *into = HsaId::parse(v).map_err(|e| format!("{flag}: {e}"))?;
                }
                Ok::<(), String>(())
            };
            id("--hsa-id", &r.hsa_id, &mut staff.hsa_id)?;
            id("--care-unit", &r.care_unit, &mut staff.care_unit)?;
            id(
                "--care-provider",
                &r.care_provider,
                &mut staff.care_provider,
            )?;
            for (value, into) in [
                (r.name, &mut staff.name),
                (r.profession, &mut staff.profession),
                (r.care_unit_name, &mut staff.care_unit_name),
                (r.care_provider_name, &mut staff.care_provider_name),
            ] {
                if value.is_some() {
                    *into = value;
                }
            }
            return Ok(demo::mint_staff(&staff, valid_for));
        }
        Role::Patient => demo::DEMO_PATIENT,
        Role::Guardian => demo::DEMO_GUARDIAN,
        Role::Delegate => demo::DEMO_DELEGATE,
    };
    if let Some((flag, _)) = staff_options.iter().find(|(_, v)| v.is_some()) {
        return Err(format!("{flag} is for --role staff only"));
    }
    let (person, name) = match &r.person {
        Some(text) => (
            PersonId::parse(text).map_err(|e| format!("--person: {e}"))?,
            r.name,
        ),
        None => (
            demo_person.id(),
            r.name.or_else(|| Some(demo_person.name.to_owned())),
        ),
    };
    Ok(demo::mint(&person, name.as_deref(), valid_for))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token { who, valid_for }) => match demo_token(who, valid_for) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        None => match serve(cli.config, cli.listen, cli.sources, !cli.no_source_changes).await {
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
    source_changes: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    init_logging()?;

    let demo_dir = config
        .is_none()
        .then(|| sources.unwrap_or_else(demo_sources_dir));
    let mut settings = match (&config, &demo_dir) {
        (Some(path), _) => Settings::from_file(path)?,
        (None, Some(dir)) => Settings::demo(dir)?,
        (None, None) => unreachable!("the demo has a sources folder"),
    };
    if let Some(addr) = listen {
        settings.listen = addr;
    }
    // Simulated sources (demo catalog entries without a base URL) start first, so the
    // service finds them listening.
    let simulated = simulate(&mut settings, demo_dir.as_deref()).await?;
    let app = Application::build(&settings).await?;
    let addr = app.local_addr();
    if settings.mode == Mode::Demo && config.is_none() {
        overblick::app::seed_demo(app.store()).await?;
    }

    // The built-in demo only: a configured service's sources change when their systems do.
    let _changes = simulated.notify_service(&settings, addr, source_changes && config.is_none());
    if settings.mode == Mode::Demo {
        let person = demo_person();
        let panel = simulated.control_panel(addr).await;
        println!();
        println!("Överblick demo is running.");
        println!("  {}", simulated.describe());
        println!("  GraphiQL:  http://{addr}/graphql  (signed in as Tolvan Tolvansson, {person})");
        println!("  The overview page:  http://{addr}/  (sign in as any of the demo's people)");
        println!(
            "  A token for scripts:  cargo run --release -- token [--role patient|staff|staff-with-consent|guardian|delegate]"
        );
        println!("  Try:  TOKEN=$(cargo run -q --release -- token --person {person})");
        println!(
            "        curl -s http://{addr}/graphql -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\"
        );
        println!(
            "          -d '{{\"query\":\"{{ overview {{ patient {{ name }} medications {{ name dosage provenance {{ sourceName }} }} }} }}\"}}'"
        );
        if let Some(panel) = panel {
            println!(
                "  Make a source misbehave:  curl -X PUT http://{panel}/sources/akademiska-sjukhuset -d slow"
            );
            println!(
                "        (normal, slow, hang, fail, error, garbage, reset; GET http://{panel}/sources lists them)"
            );
            println!(
                "  Change a source's records (it notifies the service; live overviews update):"
            );
            println!(
                "        curl -X POST 'http://{panel}/sources/vc-gottsunda/change?person={}' -d measurement   (or booking)",
                person.digits()
            );
        }
        println!(
            "  Karin Lindqvist (--role staff) has a care relationship with Tolvan; Tolvan has delegated"
        );
        println!(
            "  his medications and bookings to Margareta (--role delegate); Lena (--role guardian) is Elias's mother."
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
    // The simulators (in `simulated`) stop here, after the service has.
    Ok(())
}

/// The demo's running simulators: kept until the service stops.
#[cfg(feature = "demo")]
struct Simulated {
    sources: overblick::demo::CatalogSimulators,
    index: Option<overblick_simulators::EngagementIndexHandle>,
}

#[cfg(feature = "demo")]
impl Simulated {
    /// Starts the demo's control panel (switching a source's behaviour at runtime) on loopback,
    /// on the port after the service's, or any free one; its address, or `None` when it cannot start
    /// (the demo runs on without it) or there is nothing to control.
    async fn control_panel(&self, service: SocketAddr) -> Option<SocketAddr> {
        if self.sources.is_empty() {
            return None;
        }
        // Loopback only, whatever the service listens on: the panel has no authentication.
        let loopback = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let next = SocketAddr::new(loopback, service.port().checked_add(1)?);
        let sources = self.sources.started.clone();
        let served = match overblick_simulators::control::serve(next, sources.clone()).await {
            Ok(served) => Ok(served),
            Err(_) => {
                overblick_simulators::control::serve(SocketAddr::new(loopback, 0), sources).await
            }
        };
        match served {
            Ok((addr, _task)) => Some(addr),
            Err(error) => {
                tracing::warn!(%error, "the demo control panel did not start");
                None
            }
        }
    }

    /// Points the simulated FHIR sources' change notifications at the service listening on
    /// `service`; with `demo_changes`, [`DEMO_CHANGING_SOURCE`] changes Tolvan's records every
    /// 20 to 40 s (the task runs until the process ends).
    fn notify_service(
        &self,
        settings: &Settings,
        service: SocketAddr,
        demo_changes: bool,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let host = if service.ip().is_unspecified() {
            SocketAddr::new(
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                service.port(),
            )
        } else {
            service
        };
        self.sources.notify_service(
            &settings.catalog,
            settings.platform.notify_secret.as_ref().map(|s| s.expose()),
            &format!("http://{host}"),
        );
        let source = self
            .sources
            .fhir_for(DEMO_CHANGING_SOURCE)
            .filter(|_| demo_changes)?;
        Some(overblick::demo::spawn_demo_changes(
            source,
            demo_person().digits(),
        ))
    }

    fn describe(&self) -> String {
        format!(
            "{} simulated care-provider sources on loopback ({} FHIR, {} RIV-TA{})",
            self.sources.len(),
            self.sources.fhir().len(),
            self.sources.rivta().len(),
            if self.index.is_some() {
                ", guided by an engagement index"
            } else {
                ""
            }
        )
    }
}

/// The demo source that changes Tolvan's records by itself.
#[cfg(feature = "demo")]
const DEMO_CHANGING_SOURCE: &str = "vc-gottsunda";

/// Starts the simulators of the catalog's simulated sources and, in the demo, its engagement
/// index (which guides the calls to its RIV-TA sources).
#[cfg(feature = "demo")]
async fn simulate(
    settings: &mut Settings,
    demo_dir: Option<&Path>,
) -> Result<Simulated, Box<dyn std::error::Error>> {
    use overblick::config::{DEMO_ENGAGEMENT_INDEX_FILE, EngagementIndexSettings};

    if demo_dir.is_some() {
        // The built-in demo's story happens around its own "today"; moved to today, its
        // bookings stay upcoming whatever day the demo runs.
        overblick::demo::move_story_to(&mut settings.catalog, chrono::Utc::now().date_naive());
    }
    overblick::demo::give_notify_secrets(&mut settings.catalog);
    if settings.platform.notify_secret_env.is_none() {
        // The simulated producers tell the service of their changes as the platform would.
        settings
            .platform
            .notify_secret
            .get_or_insert_with(overblick::notify::Secret::generate);
    }
    let sources = overblick::demo::start_simulators(&mut settings.catalog).await?;
    let index = match demo_dir {
        Some(dir) if dir.join(DEMO_ENGAGEMENT_INDEX_FILE).is_file() => {
            let index =
                overblick::demo::start_engagement_index(&dir.join(DEMO_ENGAGEMENT_INDEX_FILE))
                    .await?;
            settings.platform.engagement_index = Some(EngagementIndexSettings::new(
                Some(index.base_url().to_owned()),
                index.logical_address().to_owned(),
            ));
            Some(index)
        }
        _ => None,
    };
    Ok(Simulated { sources, index })
}

/// A build without the demo has no simulators: a catalog entry that asks for one cannot be
/// served.
#[cfg(not(feature = "demo"))]
struct Simulated;

#[cfg(not(feature = "demo"))]
impl Simulated {
    async fn control_panel(&self, _service: SocketAddr) -> Option<SocketAddr> {
        None
    }

    fn notify_service(
        &self,
        _settings: &Settings,
        _service: SocketAddr,
        _demo_changes: bool,
    ) -> Option<tokio::task::JoinHandle<()>> {
        None
    }

    fn describe(&self) -> String {
        "no simulated sources (built without the demo)".into()
    }
}

#[cfg(not(feature = "demo"))]
async fn simulate(
    settings: &mut Settings,
    demo_dir: Option<&Path>,
) -> Result<Simulated, Box<dyn std::error::Error>> {
    if demo_dir.is_some() {
        return Err("this build has no demo (built without the `demo` feature): start it with --config FILE".into());
    }
    if let Some(entry) = settings
        .catalog
        .iter()
        .find(|e| e.simulator.is_some() && e.base_url().is_none())
    {
        return Err(format!(
            "source file {}: field `simulator`: this build has no simulators (built without the `demo` feature)",
            entry.file.display()
        )
        .into());
    }
    Ok(Simulated)
}

/// The application log, on stderr: stdout is the demo's console (its banner names the demo
/// patient), and the log must never carry a personnummer or a name. Text for people, or one
/// JSON object a line for log collectors with `OVERBLICK_LOG_FORMAT=json`; `RUST_LOG` filters
/// (default `info`), except that [`NEVER_LOGGED`] stays off whatever it says. Each line of a
/// request carries its `request_id` (from the request's span).
fn init_logging() -> Result<(), String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = std::env::var("OVERBLICK_LOG_FORMAT").unwrap_or_default();
    match format.as_str() {
        "json" => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .finish()
            .with(never_logged())
            .init(),
        "" | "text" => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            // Colour codes only for a person at a terminal, not in files and log collectors.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(filter)
            .finish()
            .with(never_logged())
            .init(),
        other => {
            return Err(format!(
                "OVERBLICK_LOG_FORMAT is {other:?}: use `json`, or `text` (the default)"
            ));
        }
    }
    Ok(())
}

/// Log targets (and everything under them) that log the data they are handed at debug or
/// trace level, where that data can be a bearer token, a personnummer or a name:
///
/// - `handlebars` (async-graphql's GraphiQL page renders through it) logs every helper's
///   parameters, which were the page's `Authorization: Bearer …` header. Our GraphiQL page no
///   longer uses it; this keeps it so should anything render a template with such data again.
const NEVER_LOGGED: &[&str] = &["handlebars"];

/// A filter in front of `RUST_LOG`'s that turns [`NEVER_LOGGED`] off. It is a filter of its
/// own, not directives added to the `RUST_LOG` filter: there a more specific directive of the
/// user's (`handlebars::render=trace`) would win over ours; here nothing the user writes is
/// consulted, and an event passes only if both filters let it.
fn never_logged() -> Targets {
    NEVER_LOGGED.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |targets, target| targets.with_target(*target, LevelFilter::OFF),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use overblick::auth::{Authenticator, Principal};

    fn request(args: &[&str]) -> TokenRequest {
        let mut argv = vec!["overblick", "token"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Token { who, .. }) => who,
            _ => unreachable!("the token command"),
        }
    }

    async fn signed_in(args: &[&str]) -> Principal {
        let token = demo_token(request(args), Duration::from_secs(60)).unwrap();
        Authenticator::new(Mode::Demo, &[])
            .await
            .unwrap()
            .authenticate(Some(&format!("Bearer {token}")))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn each_role_signs_in_as_its_demo_person_by_default() {
        for (args, person) in [
            (&[][..], demo::DEMO_PATIENT),
            (&["--role", "patient"][..], demo::DEMO_PATIENT),
            (&["--role", "guardian"][..], demo::DEMO_GUARDIAN),
            (&["--role", "delegate"][..], demo::DEMO_DELEGATE),
        ] {
            let p = signed_in(args).await;
            assert_eq!(p.person(), Some(&person.id()), "{args:?}");
            assert_eq!(p.name(), Some(person.name), "{args:?}");
        }
    }

    #[tokio::test]
    async fn person_overrides_the_demo_person_and_carries_no_name_unless_given() {
        let p = signed_in(&["--role", "guardian", "--person", "19121212-1212"]).await;
        assert_eq!(p.person(), Some(&demo::DEMO_PATIENT.id()));
        assert_eq!(p.name(), None);
        let p = signed_in(&["--person", "198804122383", "--name", "Lena"]).await;
        assert_eq!(p.name(), Some("Lena"));
    }

    #[tokio::test]
    async fn staff_with_consent_is_sara_holm_at_hjartkliniken_fyris() {
        let p = signed_in(&["--role", "staff-with-consent"]).await;
        assert_eq!(p.staff(), Some(&demo::DEMO_STAFF_WITH_CONSENT.identity()));
    }

    #[tokio::test]
    async fn a_staff_token_is_karin_at_gottsunda_unless_overridden() {
        let p = signed_in(&["--role", "staff"]).await;
        assert_eq!(p.staff(), Some(&demo::DEMO_STAFF.identity()));
        let p = signed_in(&[
            "--role",
            "staff",
            "--hsa-id",
            "SE2321000024-P9999",
            "--care-unit",
            "SE2321000024-AKS000",
            "--care-unit-name",
            "Akademiska sjukhuset",
            "--care-provider",
            "SE2321000024-0002",
            "--care-provider-name",
            "Annan region",
            "--profession",
            "Sjuksköterska",
            "--name",
            "Sara Berg",
        ])
        .await;
        let staff = p.staff().unwrap();
        assert_eq!(staff.hsa_id.as_str(), "SE2321000024-P9999");
        assert_eq!(staff.care_unit.as_str(), "SE2321000024-AKS000");
        assert_eq!(
            staff.care_unit_name.as_deref(),
            Some("Akademiska sjukhuset")
        );
        assert_eq!(staff.care_provider.as_str(), "SE2321000024-0002");
        assert_eq!(staff.care_provider_name.as_deref(), Some("Annan region"));
        assert_eq!(staff.profession.as_deref(), Some("Sjuksköterska"));
        assert_eq!(staff.name.as_deref(), Some("Sara Berg"));
    }

    #[test]
    fn options_that_do_not_fit_the_role_are_errors_naming_the_option() {
        for (args, option) in [
            (
                &["--role", "staff", "--person", "191212121212"][..],
                "--person",
            ),
            (&["--role", "staff", "--hsa-id", "P1234"][..], "--hsa-id"),
            (
                &["--role", "staff", "--care-unit", "GOT001"][..],
                "--care-unit",
            ),
            (&["--care-unit", "SE2321000024-GOT001"][..], "--care-unit"),
            (
                &["--role", "guardian", "--profession", "Läkare"][..],
                "--profession",
            ),
            (&["--person", "19121212-1213"][..], "--person"),
        ] {
            let err = demo_token(request(args), Duration::from_secs(60)).unwrap_err();
            assert!(err.starts_with(option), "{args:?}: {err}");
        }
        assert!(Cli::try_parse_from(["overblick", "token", "--role", "admin"]).is_err());
    }
}
