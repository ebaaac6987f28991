//! The command line: every subcommand and flag, parsed by clap.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hyper::header::{HeaderName, HeaderValue};

use crate::filter::Filter;
use crate::forward::RetryPolicy;
use crate::{config, units};

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
#[allow(clippy::large_enum_variant)] // parsed once at start; boxing buys nothing
pub enum Command {
    /// Capture every incoming webhook, journal it and show it as it arrives.
    #[command(after_help = LISTEN_EXAMPLES)]
    Listen(ListenArgs),
    /// Print the captures of a saved journal.
    Log(LogArgs),
    /// Browse a saved journal in the interactive inspector.
    Open(OpenArgs),
    /// Send a realistic, correctly signed sample event from the provider catalog.
    #[command(after_help = SEND_EXAMPLES)]
    Send(SendArgs),
    /// Re-verify the signatures of a saved journal; exit status 0 only if all are valid.
    Verify(VerifyArgs),
    /// List providers, their signature schemes, headers and event types.
    Providers(ProvidersArgs),
    /// Make a key pair for a provider that signs with public keys (dyte).
    Keygen(KeygenArgs),
    /// Export captures as HAR 1.2, a curl script that replays them byte for byte, or .http requests.
    Export(ExportArgs),
    /// Deliver saved captures to the local app again, as captured or re-signed.
    #[command(after_help = REPLAY_EXAMPLES)]
    Replay(ReplayArgs),
    /// Run the public relay server of the tunnel, or manage its channel tokens.
    #[command(after_help = RELAY_EXAMPLES, args_conflicts_with_subcommands = true)]
    Relay(RelayArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout: `hookscope man > hookscope.1`.
    Man,
    /// List the webhooks `listen --register` sessions registered; --cleanup removes what
    /// sessions that ended without removing theirs left.
    Registrations(crate::register::RegistrationsArgs),
}

const COMPLETIONS_EXAMPLES: &str = "\
Install:
  bash:  hookscope completions bash > ~/.local/share/bash-completion/completions/hookscope
  zsh:   hookscope completions zsh > \"${fpath[1]}/_hookscope\"
  fish:  hookscope completions fish > ~/.config/fish/completions/hookscope.fish
  pwsh:  hookscope completions powershell >> $PROFILE";

/// Options of `hookscope completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const RELAY_EXAMPLES: &str = "\
Examples:
  hookscope relay token create --channel myapp --data-dir /var/lib/hookscope-relay
  hookscope relay --addr 0.0.0.0:8080 --data-dir /var/lib/hookscope-relay
  hookscope relay status --data-dir /var/lib/hookscope-relay
  hookscope listen --relay https://relay.example.com --channel myapp --token hst_... --client-name ana";

/// Options of `hookscope relay`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Token management instead of serving.
    #[command(subcommand)]
    pub command: Option<RelayCommand>,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7000", value_name = "IP:PORT")]
    pub addr: SocketAddr,

    #[command(flatten)]
    pub store: RelayStore,

    /// The most undelivered requests one channel keeps; past it senders get 503 + Retry-After.
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = positive_count)]
    pub queue_limit: usize,

    /// The most body bytes one channel keeps undelivered (held in memory as well as on disk);
    /// past it senders get 503 + Retry-After.
    #[arg(long, default_value = "256MiB", value_name = "SIZE", value_parser = units::parse_limit)]
    pub queue_bytes: u64,

    /// Largest body accepted; larger ones are answered 413.
    #[arg(long, default_value = "10MiB", value_name = "SIZE", value_parser = units::parse_limit)]
    pub max_body: u64,

    /// How long a request's head and body may take to arrive, in all, from its first byte; past
    /// it the sender is answered 408 and the connection closed.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = units::parse_timeout)]
    pub read_timeout: Duration,

    /// How long a connection may stay open with no request on its way; then it is closed
    /// (websocket tunnels have their own heartbeat).
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = units::parse_timeout)]
    pub idle_timeout: Duration,

    /// The most connections open at once, tunnels included (default: from the open-files limit,
    /// keeping a quarter of it, at most 256, for the rest); when full, the longest idle
    /// connection is closed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// async: answer 202 once queued on disk; sync: answer with the local app's response.
    #[arg(long, value_enum, default_value = "async")]
    pub respond: crate::relay::server::Respond,

    /// In sync mode, how long a sender waits for the local app before a 504.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = units::parse_timeout)]
    pub sync_timeout: Duration,

    /// Requests per second one channel accepts (bursts up to as many); past it 429 +
    /// Retry-After. 0: no limit.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub rate_limit: u32,

    /// Behind a reverse proxy: take the sender's address from the last X-Forwarded-For hop
    /// (the one the proxy added).
    #[arg(long)]
    pub trust_proxy: bool,

    /// Forget a channel's client (laptop) not seen for this long: it no longer holds the queue
    /// for the others (`relay status` shows it as forgotten).
    #[arg(long, default_value = "7d", value_name = "DURATION", value_parser = units::parse_timeout)]
    pub client_ttl: Duration,

    /// Serve HTTPS (and wss://) with this certificate chain (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Where the relay keeps its state (shared by serving and token management).
#[derive(Debug, Args)]
pub struct RelayStore {
    /// Directory of the channel queues (and, by default, the token file).
    #[arg(long, default_value = "relay-data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// The token file (default: DIR/tokens); it holds only hashes. A relay given one refuses to
    /// start if it does not exist.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
}

impl RelayStore {
    /// The token file in use.
    pub fn token_file(&self) -> PathBuf {
        self.tokens
            .clone()
            .unwrap_or_else(|| self.data_dir.join("tokens"))
    }
}

/// `hookscope relay` subcommands.
#[derive(Debug, Subcommand)]
pub enum RelayCommand {
    /// Channel tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// List the channels in a data directory, their clients, positions and backlog (reads the
    /// files: the relay may be running or not).
    Status {
        /// The relay's data directory.
        #[arg(long, default_value = "relay-data", value_name = "DIR")]
        data_dir: PathBuf,
    },
}

/// `hookscope relay token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a new token for a channel: printed once, only its hash is stored.
    Create {
        /// The channel the token grants.
        #[arg(long, value_name = "NAME")]
        channel: String,

        #[command(flatten)]
        store: RelayStore,
    },
}

const REPLAY_EXAMPLES: &str = "\
Examples:
  hookscope replay captures.jsonl --to http://127.0.0.1:3000
  hookscope replay captures.jsonl --to http://127.0.0.1:3000/api --filter 'type:engine.* !status:2xx'
  hookscope replay captures.jsonl --to http://127.0.0.1:3000 --resign --secret optiview=env:OPTIVIEW_SECRET
  hookscope replay captures.jsonl --to http://127.0.0.1:3000 --in-order --rate 5";

/// Options of `hookscope replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The journal to replay; each attempt is appended to it.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The local app: each capture's path and query are appended to this URL's path.
    #[arg(long, value_name = "URL")]
    pub to: String,

    /// Send to --to exactly as given, without appending the captured path and query.
    #[arg(long)]
    pub exact: bool,

    /// Pass on the captured Host header instead of the target's.
    #[arg(long)]
    pub preserve_host: bool,

    /// Replay only the captures that match: `provider:stripe`, `!status:2xx` (last delivery).
    #[arg(long, value_name = "EXPR", value_parser = parse_filter, default_value = "")]
    pub filter: Filter,

    /// Sign each capture again with a fresh timestamp and id, with the configured secret, so
    /// schemes with replay protection accept it.
    #[arg(long)]
    pub resign: bool,

    /// At most N requests per second (default: as fast as the app answers).
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,

    /// How many deliveries run at once.
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,

    /// One delivery at a time, in journal order (same as --concurrency 1).
    #[arg(long)]
    pub in_order: bool,

    /// How long one attempt may take.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = units::parse_timeout)]
    pub timeout: Duration,

    /// How failed deliveries are retried: none, fixed:3x3s, exp:5, provider (the sender's own).
    #[arg(long, default_value = "none", value_name = "POLICY")]
    pub retry: RetryPolicy,

    /// Exit with status 0 even when some deliveries failed.
    #[arg(long)]
    pub allow_failures: bool,

    #[command(flatten)]
    pub tls: crate::http_client::TlsOptions,

    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Options of `hookscope export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The journal to export.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Har)]
    pub format: ExportFormat,

    /// Export only the captures that match.
    #[arg(long, value_name = "EXPR", value_parser = parse_filter, default_value = "")]
    pub filter: Filter,

    /// Where to write it (default: stdout).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// HAR 1.2, for browsers' devtools, Charles, Insomnia.
    Har,
    /// A bash script of curl commands: `bash script.sh http://127.0.0.1:3000`.
    Curl,
    /// A .http file for REST clients.
    Http,
}

const SEND_EXAMPLES: &str = "\
Examples:
  hookscope send optiview channel.stopped --to http://127.0.0.1:8080/hooks --secret dolby_sec_test
  hookscope send millicast feeds.started --to http://127.0.0.1:8080/ --secret c2VjcmV0 --count 5
  hookscope send dyte meeting.started --to http://127.0.0.1:8080/ --key dyte-private.pem
  hookscope send optiview engine.error --to http://127.0.0.1:8080/ --set /data/status=OFFLINE
  hookscope send --all --to http://127.0.0.1:8080/        every event of every provider";

/// Where verification keys come from (shared by `listen` and `verify`).
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// A provider's secret, PROVIDER=VALUE; VALUE is the secret, env:NAME or file:PATH (a PEM
    /// public key for dyte). Repeat for several providers, or for rotated secrets of one.
    #[arg(long = "secret", value_name = "PROVIDER=SECRET", value_parser = config::parse_secret_flag)]
    pub secrets: Vec<(String, String)>,

    /// Configuration file with secrets and path routes (default: ./hookscope.toml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A private key to re-sign with, for senders that sign with one (dyte): a PEM file, or
    /// PROVIDER=FILE. `hookscope keygen dyte` makes a pair; your app gets the public half.
    #[arg(long = "key", value_name = "[PROVIDER=]PEM")]
    pub signing_keys: Vec<String>,
}

impl KeyArgs {
    /// The analyzer these keys configure (with the built-in and user profiles), and the
    /// one-line summary of which providers have keys (names and counts, never values).
    pub fn analyzer(&self) -> anyhow::Result<(crate::analysis::Analyzer, String)> {
        self.analyzer_with(&[])
    }

    /// Like [`KeyArgs::analyzer`], with `listen`'s `--verify-token` flags.
    pub fn analyzer_with(
        &self,
        verify_tokens: &[(String, String)],
    ) -> anyhow::Result<(crate::analysis::Analyzer, String)> {
        use crate::provider::{Catalog, user_dir};
        let catalog = Catalog::load(user_dir().as_deref()).map_err(|e| anyhow::anyhow!(e))?;
        let mut keys = config::Keys::load(&catalog, &self.secrets, self.config.as_deref())
            .map_err(|e| anyhow::anyhow!(e))?;
        keys.add_signing_flags(&catalog, &self.signing_keys)
            .map_err(|e| anyhow::anyhow!(e))?;
        keys.add_verify_token_flags(verify_tokens)
            .map_err(|e| anyhow::anyhow!(e))?;
        let summary = keys.summary();
        Ok((crate::analysis::Analyzer::new(catalog, keys), summary))
    }
}

/// Options of `hookscope send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The provider (see `hookscope providers`).
    #[arg(value_name = "PROVIDER", required_unless_present = "all")]
    pub provider: Option<String>,

    /// The event type (see `hookscope providers PROVIDER`); all of the provider's when omitted.
    #[arg(value_name = "EVENT")]
    pub event: Option<String>,

    /// Send every event of every provider.
    #[arg(long, conflicts_with_all = ["provider", "event"])]
    pub all: bool,

    /// Where to send it.
    #[arg(long, value_name = "URL")]
    pub to: String,

    /// The secret to sign with, as for `listen`: SECRET for the provider named, or
    /// PROVIDER=SECRET (repeatable, e.g. with --all); a value is the secret, env:NAME or
    /// file:PATH. Else HOOKSCOPE_SECRET_<PROVIDER>, else hookscope.toml's [secrets], else the
    /// provider's test secret, which is printed so your receiver can be given the same.
    #[arg(long = "secret", value_name = "[PROVIDER=]SECRET")]
    pub secrets: Vec<String>,

    /// The RSA private key to sign with, for senders that sign with one (dyte): a PEM file.
    /// Else HOOKSCOPE_DYTE_PRIVATE_KEY, else hookscope.toml's [keys]; without one, Dyte events
    /// are refused (with --all, skipped) and `hookscope keygen dyte` is suggested.
    #[arg(long, value_name = "PEM")]
    pub key: Option<PathBuf>,

    /// Configuration file with secrets and keys (default: ./hookscope.toml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Set a field of the JSON payload: /json/pointer=value (repeatable).
    #[arg(long = "set", value_name = "POINTER=VALUE", value_parser = parse_set)]
    pub set: Vec<(String, String)>,

    /// How many times to send it (each with fresh ids and timestamps).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub count: u32,

    /// Print each request (headers and body) as it is sent.
    #[arg(long, short)]
    pub verbose: bool,

    #[command(flatten)]
    pub tls: crate::http_client::TlsOptions,
}

/// Options of `hookscope verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The journal to verify.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Verify every capture as this provider instead of detecting it.
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,

    /// Print the full explanation of every verdict, not only of failures.
    #[arg(long, short)]
    pub verbose: bool,

    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Options of `hookscope providers`.
#[derive(Debug, Args)]
pub struct ProvidersArgs {
    /// Show one provider in full.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

/// Options of `hookscope keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The provider to make keys for (dyte).
    #[arg(value_name = "PROVIDER")]
    pub provider: String,

    /// Where to write the private key (the public key goes beside it, `.pub.pem`).
    #[arg(long, default_value = "dyte-private.pem", value_name = "FILE")]
    pub out: PathBuf,
}

const LISTEN_EXAMPLES: &str = "\
Examples:
  hookscope listen                          capture on 127.0.0.1:8080 into captures.jsonl
  hookscope listen --addr 0.0.0.0:9000 --out today.jsonl
  hookscope listen --json | jq .path        one JSON record per capture on stdout
  hookscope listen --respond-status 202 --respond-body '' --respond-header 'X-Env: dev'
  hookscope listen --forward http://127.0.0.1:3000/api   deliver each capture to the local app
  hookscope listen --forward http://127.0.0.1:3000 --retry fixed:3x3s --forward-timeout 5s
  hookscope listen --route 'provider:dyte => http://127.0.0.1:5000' --forward http://127.0.0.1:3000";

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
    #[arg(long, default_value = "10MiB", value_name = "SIZE", value_parser = units::parse_limit)]
    pub max_body: u64,

    /// How long a request's head and body may take to arrive, in all, from its first byte;
    /// past it the sender is answered 408 and what arrived is journaled.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = units::parse_timeout)]
    pub read_timeout: Duration,

    /// How long a connection may stay open with no request on its way; then it is closed.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = units::parse_timeout)]
    pub idle_timeout: Duration,

    /// The most connections open at once (default: from the open-files limit, keeping a quarter
    /// of it, at most 256, for the rest); when full, the longest idle connection is closed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// Sync the journal to disk before answering, so captures survive a power loss (slower).
    #[arg(long)]
    pub fsync: bool,

    /// Show only the captures that match (the journal keeps all): `type:engine.* sig:invalid`.
    #[arg(long, value_name = "EXPR", value_parser = parse_filter, default_value = "")]
    pub filter: Filter,

    /// Deliver every capture to the local app at this URL (its path is prefixed to the captured
    /// path); each attempt is journaled.
    #[arg(long, value_name = "URL")]
    pub forward: Option<String>,

    /// Deliver to --forward exactly as given, without appending the captured path and query.
    #[arg(long, requires = "forward")]
    pub forward_exact: bool,

    /// Pass on the captured Host header instead of the local app's.
    #[arg(long, requires = "forward")]
    pub preserve_host: bool,

    /// How long one delivery attempt may take.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = units::parse_timeout)]
    pub forward_timeout: Duration,

    /// How failed deliveries are retried: none, fixed:3x3s, exp:5, provider (the sender's own).
    #[arg(long, default_value = "none", value_name = "POLICY")]
    pub retry: RetryPolicy,

    /// How many delivery attempts may be in flight at once.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_in_flight: u32,

    /// How much of each response body is journaled.
    #[arg(long, default_value = "64KiB", value_name = "SIZE", value_parser = units::parse_size)]
    pub forward_body_limit: u64,

    #[command(flatten)]
    pub tls: crate::http_client::TlsOptions,

    /// Serve HTTPS (HTTP/1.1 and h2) with this certificate chain (PEM), for senders that refuse
    /// http:// (mkcert makes one: mkcert -cert-file cert.pem -key-file key.pem localhost).
    #[arg(long, value_name = "PEM", requires = "tls_key", conflicts_with = "public")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Deliver the captures that match to these local apps instead of --forward:
    /// 'MATCH => URL[, URL...]' (repeatable; tried in order, before hookscope.toml's routes).
    #[arg(long = "route", value_name = "'MATCH => URL'", value_parser = crate::routes::parse_cli_route)]
    pub routes: Vec<crate::routes::Route>,

    /// The verify token a handshake is answered to, PROVIDER=TOKEN: meta (the Verify Token typed
    /// in the app's Webhooks settings); TOKEN is the token, env:NAME or file:PATH. Repeatable.
    #[arg(long = "verify-token", value_name = "PROVIDER=TOKEN", value_parser = config::parse_secret_flag)]
    pub verify_tokens: Vec<(String, String)>,

    /// Do not answer handshakes (Slack url_verification, Zoom endpoint.url_validation, Meta's
    /// hub.challenge): they are routed and forwarded like any request, for an app that answers
    /// them itself.
    #[arg(long)]
    pub no_handshakes: bool,

    /// Also receive through this relay (`https://relay.example.com`), on --channel.
    #[arg(long, value_name = "URL", requires_all = ["channel", "token"])]
    pub relay: Option<String>,

    /// The relay channel to receive.
    #[arg(long, value_name = "NAME", requires = "relay")]
    pub channel: Option<String>,

    /// This laptop's name on the channel (default: the host name): each name receives every
    /// request once, from its own position; a second session of the same name takes over.
    #[arg(long, value_name = "NAME", requires = "relay")]
    pub client_name: Option<String>,

    /// Trust this CA certificate (PEM) for an https:// relay, besides the usual public roots.
    #[arg(long, value_name = "PEM", requires = "relay")]
    pub relay_ca: Option<PathBuf>,

    /// Also make the listener public through a quick tunnel: cloudflared (no account) or ngrok.
    /// hookscope runs the tool, shows its URL and stops it on exit; for development only (the
    /// URL changes each start; nothing is queued while hookscope is not running).
    #[arg(long, value_enum, value_name = "TOOL")]
    pub public: Option<crate::public::Tool>,

    /// Also receive a smee.io channel (`https://smee.io/CHANNEL`); `new` creates one and prints
    /// it. smee re-serializes JSON bodies: raw-bytes signatures may not match.
    #[arg(long, value_name = "URL|new")]
    pub smee: Option<String>,

    /// The channel's token (`hookscope relay token create`).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "HOOKSCOPE_RELAY_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<crate::relay::token::Token>,

    #[command(flatten)]
    pub register: crate::register::RegisterArgs,

    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Options of `hookscope open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The journal to open.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Show only the captures that match (editable with `/`).
    #[arg(long, value_name = "EXPR", value_parser = parse_filter, default_value = "")]
    pub filter: Filter,

    #[command(flatten)]
    pub tls: crate::http_client::TlsOptions,

    #[command(flatten)]
    pub keys: KeyArgs,
}

impl ListenArgs {
    /// Whether `listen` runs the interactive inspector: stdout is a terminal and neither
    /// `--headless` nor `--json` was asked for.
    pub fn interactive(&self) -> bool {
        use std::io::IsTerminal;
        std::io::stdout().is_terminal() && !self.headless && !self.json
    }
}

/// Options of `hookscope log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The journal to read.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Print each capture as its JSON record instead of a line of text (captures only).
    #[arg(long)]
    pub json: bool,

    /// With --json, also print each capture's delivery attempt records, right after it.
    #[arg(long, requires = "json")]
    pub attempts: bool,

    /// Print only the captures that match: `type:engine.* sig:valid`, `!dup`, `json:/data/status=OFFLINE`.
    #[arg(long, value_name = "EXPR", value_parser = parse_filter, default_value = "")]
    pub filter: Filter,
}

/// Parses a filter; an error points at the column under the expression.
fn parse_filter(text: &str) -> Result<Filter, String> {
    Filter::parse(text).map_err(|err| {
        let column = text[..err.position.min(text.len())].chars().count();
        format!("{}\n    {text}\n    {}^", err, " ".repeat(column))
    })
}

/// A count of at least one (`--queue-limit 0` would refuse every request).
fn positive_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("0 would refuse everything; give at least 1".into()),
        Ok(n) => Ok(n),
        Err(err) => Err(format!("{text:?} is not a count: {err}")),
    }
}

fn parse_set(text: &str) -> Result<(String, String), String> {
    let (pointer, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not /json/pointer=value"))?;
    if !pointer.starts_with('/') {
        return Err(format!(
            "{pointer:?} is not a JSON pointer (it starts with /, like /data/status)"
        ));
    }
    Ok((pointer.to_owned(), value.to_owned()))
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
    fn filter_errors_point_at_the_column() {
        let err = parse_filter("type:engine.* sig:bogus").expect_err("bad verdict");
        let lines: Vec<&str> = err.lines().collect();
        assert!(
            lines[0].starts_with("at column 19: no verdict is `bogus`"),
            "{err}"
        );
        assert_eq!(lines[1], "    type:engine.* sig:bogus");
        assert_eq!(lines[2], "                      ^");
    }

    #[test]
    fn response_headers_parse() {
        let (name, value) = parse_header("X-Env: dev box").expect("valid");
        assert_eq!((name.as_str(), value.to_str().ok()), ("x-env", Some("dev box")));
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: v").is_err());
    }
}
