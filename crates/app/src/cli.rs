//! The command line: its arguments, and [`run`], the whole program behind
//! `main`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use repository::database;

use crate::startup::Application;
use crate::startup::signals::shutdown_signal;
use crate::telemetry::Telemetry;

/// How long the span exporter gets to flush at exit.
const TELEMETRY_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// A production-ready HTTP service.
#[derive(Debug, Parser)]
#[command(version = crate::telemetry::VERSION, long_version = concat!(env!("APP_VERSION"), " (", env!("GIT_SHA"), ")"), about, after_long_help = config::help_text(), after_help = "Run with --help to list the environment variables.")]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Create the database if it is missing, apply pending migrations, exit.
    Migrate,
}

impl Cli {
    /// The subcommand to run.
    pub fn subcommand(&self) -> Command {
        self.command.unwrap_or(Command::Serve)
    }
}

/// Runs the command line: the whole program behind `main`.
///
/// # Errors
/// Bad settings, a failed migration, or a fatal serving error.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = crate::env::load()?;
    let telemetry = Telemetry::init(&settings)?;
    let code = match cli.subcommand() {
        Command::Migrate => {
            database::migrate(&settings.database).await?;
            ExitCode::SUCCESS
        }
        Command::Serve => {
            let app = Application::build(settings, &telemetry).await?;
            let stopped = app.run_until_stopped(shutdown_signal()).await?;
            if stopped.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    };
    if telemetry.flush(TELEMETRY_FLUSH_TIMEOUT) {
        tracing::info!("telemetry flushed; exiting");
    } else {
        tracing::warn!(timeout = ?TELEMETRY_FLUSH_TIMEOUT, "spans were left unexported at exit");
    }
    Ok(code)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn serve_is_the_default() {
        assert_eq!(Cli::parse_from(["bulkhead"]).subcommand(), Command::Serve);
        assert_eq!(
            Cli::parse_from(["bulkhead", "migrate"]).subcommand(),
            Command::Migrate
        );
    }

    #[test]
    fn long_help_lists_the_variables() {
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(help.contains("DATABASE_URL"), "{help}");
        assert!(help.contains("migrate"), "{help}");
    }
}
