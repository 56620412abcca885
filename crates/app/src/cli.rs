//! The command line.

use clap::{Parser, Subcommand};

/// A production-ready users service.
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
