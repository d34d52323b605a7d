//! Command-line interface: argument parsing, configuration and one function per subcommand.

mod args;
mod commands;
mod config;
mod learn;
mod progress;
mod serve;

use std::process::ExitCode;

use clap::Parser;

/// Parses arguments, runs the command and turns errors into a message and exit code 1.
pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
