//! Entry point: parse the command line, run, turn the outcome into an exit
//! code. Everything else lives in the library (`app`).

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = app::cli::Cli::parse();
    match app::cli::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            // Logging may not be set up yet (bad settings are found before
            // the subscriber exists), so the error goes to stderr directly.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {err:#}");
            }
            ExitCode::FAILURE
        }
    }
}
