//! The `hookscope` binary: parses the command line and runs the chosen command.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use hookscope::cli::{Cli, Command};
use hookscope::commands;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Listen(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(commands::listen::run(args))),
        Command::Log(args) => commands::log::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hookscope: {err:#}");
            ExitCode::FAILURE
        }
    }
}
