//! The `hookscope` binary: parses the command line and runs the chosen command.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use hookscope::cli::{Cli, Command};
use hookscope::commands;
use tracing_subscriber::EnvFilter;

// Captures are made on the server's worker threads and often freed on others (the printer, the
// inspector); glibc's arenas contend on that, and the allocator was ~20% of listen's CPU in the
// ingest profile (BENCHMARKS.md). mimalloc's thread-local free lists do not contend.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let tui = match &cli.command {
        Command::Listen(args) => args.interactive(),
        Command::Open(_) => true,
        _ => false,
    };
    // The inspector owns the screen: its logs go to a file, never over it.
    match tui.then(hookscope::tui::log_file).flatten() {
        Some(file) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .init(),
        None if tui => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::sink)
            .init(),
        // Colour only on a terminal, and not under NO_COLOR: a redirected log stays plain text.
        None => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            )
            .with_writer(std::io::stderr)
            .init(),
    }
    let result = match cli.command {
        Command::Listen(args) => runtime().and_then(|rt| rt.block_on(commands::listen::run(args))),
        Command::Send(args) => runtime().and_then(|rt| rt.block_on(commands::send::run(args))),
        Command::Log(args) => commands::log::run(args),
        Command::Open(args) => runtime().and_then(|rt| rt.block_on(commands::open::run(args))),
        Command::Verify(args) => commands::verify::run(args),
        Command::Providers(args) => commands::providers::run(args),
        Command::Keygen(args) => commands::keygen::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Replay(args) => runtime().and_then(|rt| rt.block_on(commands::replay::run(args))),
        Command::Relay(args) => commands::relay::run(args),
        Command::Completions(args) => commands::docs::completions(args),
        Command::Man => commands::docs::man(),
        Command::Registrations(args) => {
            runtime().and_then(|rt| rt.block_on(commands::registrations::run(args)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hookscope: {err:#}");
            ExitCode::FAILURE
        }
    }
}
