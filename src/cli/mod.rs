//! Command-line interface: argument parsing, configuration and one function per subcommand.
//!
//! May import: every module of the library; nothing imports it.

mod args;
mod check;
mod commands;
mod config;
mod learn;
mod progress;
mod serve;

use std::process::ExitCode;

use clap::Parser;

/// Sends `tracing` events to stderr as text or JSON lines, filtered by `RUST_LOG` (default
/// `info`); a `RUST_LOG` that does not parse is an error, not ignored.
fn init_logging(format: args::LogFormat) -> anyhow::Result<()> {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env()
        .map_err(|e| anyhow::anyhow!("RUST_LOG does not parse: {e}"))?;
    // Colours only for a person at a terminal, never into a log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let installed = match format {
        args::LogFormat::Text => logs.try_init(),
        args::LogFormat::Json => logs.json().try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

/// Parses arguments, runs the command and turns errors into a message and exit code 1.
pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    if let Err(e) = init_logging(cli.log_format) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
