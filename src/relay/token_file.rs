//! The token file as a running relay sees it: read again whenever it changes, so a token created
//! works at once and a removed line stops working within about a second, without a restart.
//!
//! A lookup that misses (an unknown channel, a wrong token) looks at the file at once; the relay
//! also calls [`TokenFile::refresh`] every [`TICK`], which is what revokes a token that is still
//! being used. Looking costs a `stat`; the file is read only when its size, modification time or
//! inode changed.
//!
//! New grants apply at once, removals once the file has stayed the same for [`SETTLE`]. An editor
//! that truncates the file and writes it again (or a `mv` away and back) shows an empty or half
//! file for a moment; acting on that would close every tunnel. Until a change settles the relay
//! grants what either version grants.
//!
//! Whoever holds a session subscribes ([`TokenFile::subscribe`]) and hears of every change of the
//! tokens in force, to end the session when its own token is gone.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::relay::token::{Token, Tokens};

/// How often the relay looks at the token file.
pub const TICK: Duration = Duration::from_millis(500);
/// How long a change that removes grants must stay unchanged before it applies.
pub const SETTLE: Duration = Duration::from_millis(400);

/// What a `stat` says about the file; a different one means it must be read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// No file: nothing is granted.
    Missing,
    /// The file, as of this size, modification time and inode.
    Present {
        len: u64,
        modified: Option<SystemTime>,
        inode: u64,
    },
    /// Before the first look.
    Unknown,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Self> {
        match std::fs::metadata(path) {
            Ok(meta) => {
                #[cfg(unix)]
                let inode = std::os::unix::fs::MetadataExt::ino(&meta);
                #[cfg(not(unix))]
                let inode = 0;
                Ok(Stamp::Present {
                    len: meta.len(),
                    modified: meta.modified().ok(),
                    inode,
                })
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Stamp::Missing),
            Err(err) => Err(err),
        }
    }
}

struct State {
    /// The version of the file `settled` was read from.
    applied: Stamp,
    /// The tokens of that version.
    settled: Arc<Tokens>,
    /// A version that revokes something, not yet settled: its stamp, when it was first seen
    /// and its tokens.
    changing: Option<(Stamp, Instant, Tokens)>,
}

/// The live token file.
pub struct TokenFile {
    path: PathBuf,
    state: Mutex<State>,
    /// The tokens in force.
    current: watch::Sender<Arc<Tokens>>,
}

impl TokenFile {
    /// Reads the token file (a missing one grants nothing); a malformed line is skipped with a
    /// warning, an unreadable file is an error.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let stamp = Stamp::of(path)?;
        let tokens = Arc::new(Tokens::load(path)?);
        warn_malformed(path, &tokens);
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new(State {
                applied: stamp,
                settled: tokens.clone(),
                changing: None,
            }),
            current: watch::Sender::new(tokens),
        })
    }

    /// Whether `token` grants `channel`; a miss looks at the file first.
    pub fn grants(&self, channel: &str, token: &Token) -> bool {
        if self.current.borrow().grants(channel, token) {
            return true;
        }
        self.refresh();
        self.current.borrow().grants(channel, token)
    }

    /// Whether any token grants `channel`; a miss looks at the file first.
    pub fn knows(&self, channel: &str) -> bool {
        if self.current.borrow().has_channel(channel) {
            return true;
        }
        self.refresh();
        self.current.borrow().has_channel(channel)
    }

    /// The tokens in force, updated on every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Tokens>> {
        self.current.subscribe()
    }

    /// Looks at the file and applies what changed (see the module's notes).
    pub fn refresh(&self) {
        self.refresh_at(Instant::now());
    }

    fn refresh_at(&self, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = match Stamp::of(&self.path) {
            Ok(stamp) => stamp,
            Err(err) => {
                // Warned about once, when it starts: the file is looked at twice a second.
                if state.applied != Stamp::Unknown {
                    tracing::warn!(%err, path = %self.path.display(), "cannot look at the token file; tokens kept");
                    state.applied = Stamp::Unknown;
                }
                return;
            }
        };
        if stamp == state.applied {
            if state.changing.take().is_some() {
                // Changed and changed back before it settled.
                self.current.send_replace(state.settled.clone());
            }
            return;
        }
        if let Some((seen, since, tokens)) = &state.changing
            && *seen == stamp
        {
            if now.saturating_duration_since(*since) >= SETTLE {
                let tokens = Arc::new(tokens.clone());
                tracing::info!(path = %self.path.display(), "token file changed; removed tokens revoked");
                *state = State {
                    applied: stamp,
                    settled: tokens.clone(),
                    changing: None,
                };
                self.current.send_replace(tokens);
            }
            return;
        }
        let fresh = match Tokens::load(&self.path) {
            Ok(fresh) => fresh,
            Err(err) => {
                tracing::warn!(%err, path = %self.path.display(), "cannot read the token file; tokens kept");
                state.applied = stamp;
                return;
            }
        };
        warn_malformed(&self.path, &fresh);
        if state.settled.within(&fresh) {
            let fresh = Arc::new(fresh);
            *state = State {
                applied: stamp,
                settled: fresh.clone(),
                changing: None,
            };
            self.current.send_replace(fresh);
        } else {
            self.current.send_replace(Arc::new(state.settled.union(&fresh)));
            state.changing = Some((stamp, now, fresh));
        }
    }
}

fn warn_malformed(path: &Path, tokens: &Tokens) {
    for line in tokens.malformed() {
        tracing::warn!(
            path = %path.display(),
            line,
            "token file line {line} is not `CHANNEL SHA256HEX`; skipped"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::token;

    /// Rewrites the file so its stamp surely changes (size, or inode through a rename).
    fn rewrite(path: &Path, text: &str) {
        let fresh = path.with_extension("new");
        std::fs::write(&fresh, text).expect("write");
        std::fs::rename(&fresh, path).expect("rename");
    }

    #[test]
    fn new_tokens_apply_at_once_and_removals_once_settled() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tokens");
        let alpha = token::create(&path, "alpha").expect("create");
        let file = TokenFile::open(&path).expect("open");
        let mut sessions = file.subscribe();
        let beta = token::create(&path, "beta").expect("create");
        assert!(file.grants("beta", &beta), "a miss reads the file");
        let with_both = std::fs::read_to_string(&path).expect("read");
        let beta_only: String = with_both.lines().filter(|l| l.starts_with("beta")).collect();
        let t0 = Instant::now();
        rewrite(&path, "");
        file.refresh_at(t0);
        assert!(
            file.grants("alpha", &alpha),
            "a half-written file revokes nothing yet"
        );
        rewrite(&path, &beta_only);
        file.refresh_at(t0 + SETTLE);
        assert!(
            file.grants("alpha", &alpha),
            "the newer version has not settled yet"
        );
        sessions.mark_unchanged();
        file.refresh_at(t0 + SETTLE * 2);
        assert!(sessions.has_changed().expect("open"), "sessions are told");
        assert!(!sessions.borrow_and_update().grants("alpha", &alpha));
        assert!(!file.grants("alpha", &alpha) && file.grants("beta", &beta));
        assert!(!file.knows("alpha"));
    }

    #[test]
    fn a_removed_file_revokes_everything_once_settled() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tokens");
        let alpha = token::create(&path, "alpha").expect("create");
        let file = TokenFile::open(&path).expect("open");
        std::fs::remove_file(&path).expect("remove");
        let t0 = Instant::now();
        file.refresh_at(t0);
        assert!(file.current.borrow().grants("alpha", &alpha));
        file.refresh_at(t0 + SETTLE);
        assert!(!file.current.borrow().grants("alpha", &alpha));
    }
}
