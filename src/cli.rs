//! The command line: every subcommand and flag, parsed by clap.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hyper::header::{HeaderName, HeaderValue};

use crate::units;

/// Catch, verify, inspect and replay webhooks on your laptop.
#[derive(Debug, Parser)]
#[command(name = "hookscope", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Capture every incoming webhook, journal it and show it as it arrives.
    #[command(after_help = LISTEN_EXAMPLES)]
    Listen(ListenArgs),
    /// Print the captures of a saved journal.
    Log(LogArgs),
}

const LISTEN_EXAMPLES: &str = "\
Examples:
  hookscope listen                          capture on 127.0.0.1:8080 into captures.jsonl
  hookscope listen --addr 0.0.0.0:9000 --out today.jsonl
  hookscope listen --json | jq .path        one JSON record per capture on stdout
  hookscope listen --respond-status 202 --respond-body '' --respond-header 'X-Env: dev'";

/// Options of `hookscope listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    pub addr: SocketAddr,

    /// Journal file captures are appended to (JSON Lines).
    #[arg(long, default_value = "captures.jsonl", value_name = "FILE")]
    pub out: PathBuf,

    /// Print one line per capture instead of the interactive view (automatic when stdout is
    /// not a terminal).
    #[arg(long)]
    pub headless: bool,

    /// Print each capture as its JSON journal record (implies --headless).
    #[arg(long)]
    pub json: bool,

    /// Status code answered to every sender.
    #[arg(long, default_value_t = 200, value_name = "CODE", value_parser = clap::value_parser!(u16).range(200..=599))]
    pub respond_status: u16,

    /// Body answered to every sender.
    #[arg(long, default_value = r#"{"ok":true}"#, value_name = "TEXT")]
    pub respond_body: String,

    /// Extra header on the answer, `Name: value` (repeatable).
    #[arg(long, value_name = "NAME:VALUE", value_parser = parse_header)]
    pub respond_header: Vec<(HeaderName, HeaderValue)>,

    /// Largest body accepted; larger ones are answered 413 (e.g. 10MiB, 512KB).
    #[arg(long, default_value = "10MiB", value_name = "SIZE", value_parser = units::parse_size)]
    pub max_body: u64,

    /// How long a client may stall while sending a request before it is cut off.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = units::parse_duration)]
    pub read_timeout: Duration,

    /// Sync the journal to disk before answering, so captures survive a power loss (slower).
    #[arg(long)]
    pub fsync: bool,
}

/// Options of `hookscope log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The journal to read.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Print each capture as its JSON record instead of a line of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not `Name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a valid header name", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("{:?} is not a valid header value", value.trim()))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn response_headers_parse() {
        let (name, value) = parse_header("X-Env: dev box").expect("valid");
        assert_eq!((name.as_str(), value.to_str().ok()), ("x-env", Some("dev box")));
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: v").is_err());
    }
}
