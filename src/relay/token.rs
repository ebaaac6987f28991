//! Channel tokens: random bearer secrets of which the relay keeps only a SHA-256 hash.
//!
//! The token file has one line per token, `CHANNEL SHA256HEX`; `#` starts a comment. A token
//! grants exactly one channel. A leaked token file gives away no token, and checking a token
//! compares hashes in constant time, so timing says nothing about how close a guess was.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::Context as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::relay::private;

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

/// The hashes of every channel's tokens, as read from the token file.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    entries: Vec<(String, [u8; 32])>,
    /// The 1-based numbers of the lines that are not `CHANNEL SHA256HEX`; they grant nothing.
    malformed: Vec<usize>,
}

impl Tokens {
    /// Reads a token file; a missing file is an empty set (every client is refused).
    pub fn load(path: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(err) => Err(err),
        }
    }

    /// Parses the token file's text. A line that is not `CHANNEL SHA256HEX` is skipped and its
    /// number kept ([`Tokens::malformed`]): one bad line must not take every other token down.
    pub fn parse(text: &str) -> Self {
        let mut tokens = Self::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let entry = line.split_once(char::is_whitespace).and_then(|(channel, hash)| {
                let hash: [u8; 32] = hex::decode(hash.trim()).ok()?.try_into().ok()?;
                valid_channel(channel).then(|| (channel.to_owned(), hash))
            });
            match entry {
                Some(entry) => tokens.entries.push(entry),
                None => tokens.malformed.push(index + 1),
            }
        }
        tokens
    }

    /// The numbers (1-based) of the lines that were skipped as malformed.
    pub fn malformed(&self) -> &[usize] {
        &self.malformed
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

    /// Whether every grant of `self` is also in `other` (`other` revokes nothing).
    pub fn within(&self, other: &Tokens) -> bool {
        let theirs: std::collections::HashSet<_> = other.entries.iter().collect();
        self.entries.iter().all(|entry| theirs.contains(entry))
    }

    /// Every grant of either set.
    pub fn union(&self, other: &Tokens) -> Tokens {
        let mut entries = self.entries.clone();
        entries.extend(
            other
                .entries
                .iter()
                .filter(|e| !self.entries.contains(e))
                .cloned(),
        );
        Tokens {
            entries,
            malformed: other.malformed.clone(),
        }
    }
}

/// Creates a token for `channel`, appends its hash to the token file and returns the token.
///
/// A new file is created `0600` (and missing directories `0700`); a file with a malformed line is
/// refused untouched, since the new line would otherwise be buried behind a line the relay skips.
pub fn create(path: &Path, channel: &str) -> anyhow::Result<Token> {
    anyhow::ensure!(
        valid_channel(channel),
        "invalid channel name {channel:?} (use a-z, 0-9, - and _)"
    );
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        private::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let existed = path.exists();
    let mut file = private::options()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the token file {}", path.display()))?;
    private::tighten(path);
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    if let Some(line) = Tokens::parse(&text).malformed().first() {
        anyhow::bail!(
            "the token file {} is malformed at line {line} (expected `CHANNEL SHA256HEX`); \
             fix or remove that line, then create the token again (nothing was written)",
            path.display()
        );
    }
    let token = Token::generate();
    // A last line without its newline would otherwise run into the new one.
    let separator = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    writeln!(file, "{separator}{channel} {}", hex::encode(token.hash()))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write the token file {}", path.display()))?;
    if !existed {
        adopt_owner(path, dir.unwrap_or(Path::new(".")));
    }
    Ok(token)
}

/// Gives a new token file its directory's owner. Tokens are usually created by root in a
/// service's directory (the systemd unit in the README): without this the service could not read
/// a `0600` file. Only root may change an owner, so anyone else's attempt fails, harmlessly.
fn adopt_owner(path: &Path, dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let (Ok(file), Ok(dir)) = (std::fs::metadata(path), std::fs::metadata(dir)) else {
            return;
        };
        if (file.uid(), file.gid()) != (dir.uid(), dir.gid())
            && let Err(err) = std::os::unix::fs::chown(path, Some(dir.uid()), Some(dir.gid()))
        {
            tracing::debug!(%err, "the token file keeps its creator as owner");
        }
    }
    #[cfg(not(unix))]
    let _ = (path, dir);
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
    fn malformed_lines_are_skipped_and_reported_by_number() {
        let good = format!("beta {}", "ab".repeat(32));
        let tokens = Tokens::parse(&format!(
            "# comment\nalpha nothex\n\n{good}\n../etc {}\n",
            "ab".repeat(32)
        ));
        assert_eq!(tokens.malformed(), [2, 5]);
        assert!(tokens.has_channel("beta") && !tokens.has_channel("alpha"));
        assert!(Tokens::parse("# comment\n\n").entries.is_empty());
        assert!(!valid_channel("../etc") && valid_channel("my-app_2"));
    }

    #[test]
    fn create_refuses_a_malformed_file_and_mends_a_missing_newline() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tokens");
        std::fs::write(&path, "alpha nothex\n").expect("write");
        let err = create(&path, "beta").expect_err("refused");
        assert!(format!("{err:#}").contains("line 1"), "{err:#}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "alpha nothex\n");
        let first = create(&dir.path().join("other"), "alpha").expect("create");
        let text = std::fs::read_to_string(dir.path().join("other")).expect("read");
        std::fs::write(&path, text.trim_end()).expect("no final newline");
        let second = create(&path, "beta").expect("create");
        let tokens = Tokens::load(&path).expect("load");
        assert!(tokens.grants("alpha", &first) && tokens.grants("beta", &second));
        assert!(tokens.malformed().is_empty());
    }

    #[test]
    fn a_token_exposes_its_secret_and_a_generated_one_is_hst_and_64_hex() {
        assert_eq!(Token::new("s3cret").expose(), "s3cret");
        let token = Token::generate();
        let hex = token.expose().strip_prefix("hst_").expect("hst_ prefix");
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{hex}"
        );
        assert_ne!(Token::generate(), token);
    }

    #[test]
    fn a_missing_token_file_grants_nothing_and_an_unreadable_one_is_an_error() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = Tokens::load(&dir.path().join("missing")).expect("missing is empty");
        assert!(missing.entries.is_empty() && missing.malformed().is_empty());
        // A directory where the file should be cannot be read: an error, not an empty set that
        // would refuse every client (or, on a reload, revoke every token) without a word.
        assert!(Tokens::load(dir.path()).is_err());
    }

    #[test]
    fn within_says_whether_a_reload_revokes_and_union_keeps_both_sides_grants() {
        let (alpha, beta) = (Token::new("a"), Token::new("b"));
        let line = |channel: &str, token: &Token| format!("{channel} {}\n", hex::encode(token.hash()));
        let old = Tokens::parse(&line("alpha", &alpha));
        let both = Tokens::parse(&(line("alpha", &alpha) + &line("beta", &beta)));
        let other = Tokens::parse(&line("beta", &beta));
        assert!(old.within(&both) && old.within(&old) && Tokens::default().within(&old));
        assert!(!old.within(&other) && !both.within(&old));
        let union = old.union(&other);
        assert!(union.grants("alpha", &alpha) && union.grants("beta", &beta));
        assert_eq!(union.entries.len(), 2);
        assert_eq!(old.union(&both).entries, both.entries, "no grant twice");
    }

    #[test]
    fn create_makes_missing_directories_and_writes_one_line_per_token() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("etc/hookscope/tokens");
        let alpha = create(&path, "alpha").expect("create in missing directories");
        let beta = create(&path, "beta").expect("create");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines,
            [
                format!("alpha {}", hex::encode(alpha.hash())),
                format!("beta {}", hex::encode(beta.hash()))
            ],
            "{text:?}"
        );
        assert!(text.ends_with('\n'));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.path().join("etc/hookscope")), 0o700);
        }
    }

    /// Only root can give a file away, so only as root (as CI and the mutation runs are) can this
    /// see a new file take its directory's owner; as anyone else it checks nothing and says so.
    #[cfg(unix)]
    #[test]
    fn a_new_token_file_takes_its_directorys_owner_and_an_existing_one_keeps_its_own() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().expect("dir");
        let owner = |p: &Path| {
            let meta = std::fs::metadata(p).expect("meta");
            (meta.uid(), meta.gid())
        };
        if owner(dir.path()).0 != 0 {
            eprintln!("not root: cannot give a file away, ownership not checked");
            return;
        }
        let service = dir.path().join("service");
        private::create_dir(&service).expect("dir");
        std::os::unix::fs::chown(&service, Some(4242), Some(4343)).expect("chown");
        let path = service.join("tokens");
        create(&path, "alpha").expect("create");
        assert_eq!(owner(&path), (4242, 4343), "a new file is the directory owner's");
        std::os::unix::fs::chown(&path, Some(0), Some(0)).expect("chown");
        create(&path, "beta").expect("create");
        assert_eq!(owner(&path), (0, 0), "an existing file keeps its owner");
    }
}
