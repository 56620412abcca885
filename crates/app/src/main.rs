//! Entry point: parse the command line, run, turn the outcome into an exit
//! code. Everything else lives in the library (`app`).

use std::process::ExitCode;

use clap::Parser as _;

/// jemalloc rather than the system allocator: a request allocates dozens
/// of small, short-lived buffers (headers, log fields, JSON), and glibc's
/// malloc spent about a third of a request's instructions on them.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
