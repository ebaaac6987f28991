//! Channel tokens: random bearer secrets of which the relay keeps only a SHA-256 hash.
//!
//! The token file has one line per token, `CHANNEL SHA256HEX`; `#` starts a comment. A token
//! grants exactly one channel. A leaked token file gives away no token, and checking a token
//! compares hashes in constant time, so timing says nothing about how close a guess was.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A bearer token; its `Debug` never shows it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token given on the command line or in the environment.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// A new random token: 32 bytes from the OS generator, as hex.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("hst_{}", hex::encode(bytes)))
    }

    /// The secret itself, for the one place that must send or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(MASKED)")
    }
}

impl std::str::FromStr for Token {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

/// Why a token file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("cannot read the token file: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not `CHANNEL SHA256HEX`.
    #[error("token file line {line}: expected `CHANNEL SHA256HEX`")]
    Malformed {
        /// The 1-based line number.
        line: usize,
    },
}

/// The hashes of every channel's tokens.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    entries: Vec<(String, [u8; 32])>,
}

impl Tokens {
    /// Reads a token file; a missing file is an empty set (every client is refused).
    pub fn load(path: &Path) -> Result<Self, TokenFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(err) => return Err(err.into()),
        };
        Self::parse(&text)
    }

    /// Parses the token file's text.
    pub fn parse(text: &str) -> Result<Self, TokenFileError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let malformed = || TokenFileError::Malformed { line: index + 1 };
            let (channel, hash) = line.split_once(char::is_whitespace).ok_or_else(malformed)?;
            let hash: [u8; 32] = hex::decode(hash.trim())
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(malformed)?;
            entries.push((channel.to_owned(), hash));
        }
        Ok(Self { entries })
    }

    /// Whether some token grants `channel`.
    pub fn has_channel(&self, channel: &str) -> bool {
        self.entries.iter().any(|(name, _)| name == channel)
    }

    /// Whether `token` grants `channel`. Every stored hash of the channel is compared in full.
    pub fn grants(&self, channel: &str, token: &Token) -> bool {
        let presented = token.hash();
        let mut granted = subtle::Choice::from(0);
        for (name, hash) in &self.entries {
            if name == channel {
                granted |= hash.ct_eq(&presented);
            }
        }
        granted.into()
    }
}

/// Creates a token for `channel`, appends its hash to the token file and returns the token.
pub fn create(path: &Path, channel: &str) -> anyhow::Result<Token> {
    anyhow::ensure!(
        valid_channel(channel),
        "invalid channel name {channel:?} (use a-z, 0-9, - and _)"
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let token = Token::generate();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the token file {}", path.display()))?;
    writeln!(file, "{channel} {}", hex::encode(token.hash()))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write the token file {}", path.display()))?;
    Ok(token)
}

/// Whether `name` is a usable channel name: it appears in URLs and file names.
pub fn valid_channel(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_token_grants_its_channel_only() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tokens");
        let alpha = create(&path, "alpha").expect("create");
        let beta = create(&path, "beta").expect("create");
        let tokens = Tokens::load(&path).expect("load");
        assert!(tokens.grants("alpha", &alpha));
        assert!(tokens.grants("beta", &beta));
        assert!(!tokens.grants("beta", &alpha));
        assert!(!tokens.grants("alpha", &Token::new("guess")));
        assert!(!tokens.grants("gamma", &alpha));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(alpha.expose()), "only the hash is stored");
    }

    #[test]
    fn tokens_never_show_in_debug() {
        let token = Token::generate();
        assert_eq!(format!("{token:?}"), "Token(MASKED)");
    }

    #[test]
    fn malformed_lines_are_reported() {
        assert!(matches!(
            Tokens::parse("alpha nothex"),
            Err(TokenFileError::Malformed { line: 1 })
        ));
        assert!(Tokens::parse("# comment\n\n").expect("empty").entries.is_empty());
        assert!(!valid_channel("../etc") && valid_channel("my-app_2"));
    }
}
