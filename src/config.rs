//! Secrets and routes: where keys come from and which provider a path belongs to.
//!
//! Layered, first wins: `--secret PROVIDER=VALUE` flags (repeatable; several for one provider
//! are rotated secrets, all accepted), then `HOOKSCOPE_SECRET_<PROVIDER>` environment variables,
//! then `hookscope.toml`. A value is the secret itself, `env:NAME` or `file:PATH`; for Dyte it
//! is the sender's public key PEM (or a file holding it). Secrets are resolved once, at start,
//! and never printed: errors name the provider and the source, not the value.
//!
//! ```toml
//! # hookscope.toml
//! [secrets]
//! optiview = "env:OPTIVIEW_SECRET"
//! millicast = ["old-secret-base64", "new-secret-base64"]   # rotation: both accepted
//! dyte = "file:dyte-public.pem"
//!
//! [[routes]]
//! path = "/hooks/aioz/*"       # glob on the request path (or `match = "path:/hooks/aioz/*"`)
//! provider = "aioz"
//! ```
//!
//! Routes do more (forward targets, what the sender hears): see [`crate::routes`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::provider::{Catalog, OneOrMany, Profile};
use crate::verify::{self, Key, Scheme, Secret, SigningKey};

/// The configuration file looked for in the working directory.
pub const CONFIG_FILE: &str = "hookscope.toml";

pub use crate::routes::Route;

/// Every configured key, by provider, and the routes.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    by_provider: HashMap<String, Vec<Key>>,
    /// Keys to sign with when re-signing, for senders that sign with a private key (Dyte):
    /// `--key`, then `[keys]` in `hookscope.toml`.
    signing: HashMap<String, SigningKey>,
    /// Verify tokens by provider, for the handshakes that echo a challenge only to the right
    /// one (Meta's `hub.verify_token`): `--verify-token`, then `[verify_tokens]`.
    verify_tokens: HashMap<String, Vec<Secret>>,
    /// The file's routes, in order.
    pub routes: Vec<Route>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    secrets: HashMap<String, OneOrMany>,
    /// Checked one by one, so an error names the route ([`Route::from_toml`]).
    #[serde(default)]
    routes: Vec<toml::Value>,
    /// Signing keys by provider: `dyte = "file:dyte-private.pem"`.
    #[serde(default)]
    keys: HashMap<String, String>,
    /// Verify tokens by provider: `meta = "env:META_VERIFY_TOKEN"`.
    #[serde(default)]
    verify_tokens: HashMap<String, OneOrMany>,
    /// Platform API credentials for `listen --register` (#18), by provider; read by
    /// [`api_values`] only when a registration needs them.
    #[serde(default)]
    api: HashMap<String, ApiValues>,
}

/// `[api.PROVIDER]` of `hookscope.toml`: the platform API's credentials for `listen --register`,
/// each a value as for secrets (itself, `env:NAME` or `file:PATH`), not yet expanded.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct ApiValues {
    /// The API token's key (OptiView).
    pub key: Option<String>,
    /// The API token's secret (OptiView), or the API secret (Millicast).
    pub secret: Option<String>,
}

/// The `[api.*]` tables of the configuration file (`path`, or `hookscope.toml` in the working
/// directory when it exists), by provider.
pub fn api_values(path: Option<&Path>) -> Result<HashMap<String, ApiValues>, String> {
    let file = match path {
        Some(path) => read_file(path)?,
        None if Path::new(CONFIG_FILE).exists() => read_file(Path::new(CONFIG_FILE))?,
        None => File::default(),
    };
    Ok(file.api)
}

/// Splits a `--secret PROVIDER=VALUE` flag.
pub fn parse_secret_flag(text: &str) -> Result<(String, String), String> {
    let (provider, value) = text
        .split_once('=')
        .ok_or_else(|| "expected PROVIDER=SECRET (e.g. optiview=env:OPTIVIEW_SECRET)".to_owned())?;
    if provider.is_empty() || value.is_empty() {
        return Err("expected PROVIDER=SECRET with both parts".into());
    }
    Ok((provider.to_owned(), value.to_owned()))
}

impl Keys {
    /// Resolves keys from flags (`(provider, value)` pairs), the environment and the config
    /// file (`path`, or `hookscope.toml` in the working directory when it exists).
    pub fn load(catalog: &Catalog, flags: &[(String, String)], path: Option<&Path>) -> Result<Self, String> {
        let file = match path {
            Some(path) => read_file(path)?,
            None if Path::new(CONFIG_FILE).exists() => read_file(Path::new(CONFIG_FILE))?,
            None => File::default(),
        };
        let mut sources: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (provider, value) in flags {
            sources
                .entry(provider.clone())
                .or_default()
                .push(("--secret".into(), value.clone()));
        }
        for profile in catalog.profiles() {
            if sources.contains_key(&profile.name) {
                continue;
            }
            let var = env_name(&profile.name);
            if let Ok(value) = std::env::var(&var) {
                sources.insert(profile.name.clone(), vec![(var, value)]);
            }
        }
        for (provider, values) in file.secrets {
            let values = values.into_vec();
            sources
                .entry(provider)
                .or_insert_with(|| values.into_iter().map(|v| (CONFIG_FILE.to_owned(), v)).collect());
        }
        let mut keys = Keys::default();
        for (provider, values) in sources {
            let profile = catalog.get(&provider).ok_or_else(|| {
                format!(
                    "a secret is configured for unknown provider {provider:?} (see `hookscope providers`)"
                )
            })?;
            for (source, value) in values {
                let key =
                    resolve(profile, &value).map_err(|e| format!("{provider} secret from {source}: {e}"))?;
                keys.by_provider.entry(provider.clone()).or_default().push(key);
            }
        }
        for (provider, value) in file.keys {
            let profile = catalog.get(&provider).ok_or_else(|| {
                format!("[keys] names unknown provider {provider:?} (see `hookscope providers`)")
            })?;
            let key = signing_key(profile, &value)
                .map_err(|e| format!("{provider} signing key from {CONFIG_FILE} [keys]: {e}"))?;
            keys.signing.insert(provider, key);
        }
        for (provider, values) in file.verify_tokens {
            let tokens = verify_tokens(&provider, values.into_vec(), CONFIG_FILE)?;
            keys.verify_tokens.insert(provider, tokens);
        }
        for (index, route) in file.routes.into_iter().enumerate() {
            let source = path.unwrap_or(Path::new(CONFIG_FILE));
            let route = Route::from_toml(index + 1, route, catalog)
                .map_err(|e| format!("{}: {e}", source.display()))?;
            keys.routes.push(route);
        }
        Ok(keys)
    }

    /// Adds signing keys from `--key` flags: `PROVIDER=PEM`, or a bare `PEM` for every
    /// provider that signs with a private key (Dyte). A flag wins over `[keys]`.
    pub fn add_signing_flags(&mut self, catalog: &Catalog, flags: &[String]) -> Result<(), String> {
        for flag in flags {
            let (providers, value): (Vec<&Profile>, &str) = match flag.split_once('=') {
                Some((name, value)) if catalog.get(name).is_some() => {
                    (catalog.get(name).into_iter().collect(), value)
                }
                _ => (
                    catalog
                        .profiles()
                        .iter()
                        .filter(|p| p.scheme == Scheme::Dyte)
                        .collect(),
                    flag.as_str(),
                ),
            };
            if value.trim().is_empty() {
                return Err(format!("--key {flag:?}: no key file given"));
            }
            let value = match value.starts_with("env:") || value.starts_with("file:") {
                true => value.to_owned(),
                false => format!("file:{value}"),
            };
            for profile in providers {
                let key = signing_key(profile, &value)
                    .map_err(|e| format!("{} key from --key: {e}", profile.name))?;
                self.signing.insert(profile.name.clone(), key);
            }
        }
        Ok(())
    }

    /// Adds verify tokens from `--verify-token PROVIDER=TOKEN` flags; the flags given for a
    /// provider replace the file's.
    pub fn add_verify_token_flags(&mut self, flags: &[(String, String)]) -> Result<(), String> {
        let mut given: HashMap<&str, Vec<String>> = HashMap::new();
        for (provider, value) in flags {
            given.entry(provider).or_default().push(value.clone());
        }
        for (provider, values) in given {
            let tokens = verify_tokens(provider, values, "--verify-token")?;
            self.verify_tokens.insert(provider.to_owned(), tokens);
        }
        Ok(())
    }

    /// The verify tokens configured for `provider`'s handshake.
    pub fn verify_tokens(&self, provider: &str) -> &[Secret] {
        self.verify_tokens.get(provider).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The key configured to sign `provider`'s requests with, when one is (`--key`, `[keys]`).
    pub fn signing_key(&self, provider: &str) -> Option<&SigningKey> {
        self.signing.get(provider)
    }

    /// Adds `secret` for `provider` beside those configured: the signing secret of a webhook
    /// registered for the session (`listen --register`, #18).
    pub fn add_secret(&mut self, provider: &str, secret: Secret) {
        self.by_provider
            .entry(provider.to_owned())
            .or_default()
            .push(Key::Secret(secret));
    }

    /// The keys configured for `provider`.
    pub fn for_provider(&self, provider: &str) -> &[Key] {
        self.by_provider.get(provider).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A summary of what is configured, names and counts only (never a secret):
    /// `millicast (2 keys), optiview; 1 route`.
    pub fn summary(&self) -> String {
        let mut providers: Vec<String> = self
            .by_provider
            .iter()
            .map(|(name, keys)| match keys.len() {
                1 => name.clone(),
                n => format!("{name} ({n} keys)"),
            })
            .collect();
        providers.sort();
        let mut text = match providers.is_empty() {
            true => "no secrets (signed requests show as no-secret; see --secret)".to_owned(),
            false => format!("secrets for {}", providers.join(", ")),
        };
        let mut tokens: Vec<&str> = self.verify_tokens.keys().map(String::as_str).collect();
        if !tokens.is_empty() {
            tokens.sort_unstable();
            text.push_str(&format!("; verify token for {}", tokens.join(", ")));
        }
        match self.routes.len() {
            0 => {}
            1 => text.push_str("; 1 route"),
            n => text.push_str(&format!("; {n} routes")),
        }
        text
    }

    /// The provider the first route naming one that matches `capture` (as it arrived, before
    /// analysis) assigns to it.
    pub fn route(&self, capture: &crate::capture::Capture) -> Option<&str> {
        self.routes
            .iter()
            .filter_map(|r| Some((r, r.provider.as_deref()?)))
            .find(|(r, _)| r.matcher.holds(capture))
            .map(|(_, provider)| provider)
    }
}

/// The providers whose handshake checks a verify token (Meta's `hub.verify_token`).
pub const VERIFY_TOKEN_PROVIDERS: &[&str] = &["meta"];

/// `provider`'s verify tokens from `values` (each the token, `env:NAME` or `file:PATH`), given
/// by `source`; errors name both, never a token.
fn verify_tokens(provider: &str, values: Vec<String>, source: &str) -> Result<Vec<Secret>, String> {
    if !VERIFY_TOKEN_PROVIDERS.contains(&provider) {
        return Err(format!(
            "{source}: a verify token for {provider:?}, but only the handshake of {} uses one \
             (Meta's hub.verify_token)",
            VERIFY_TOKEN_PROVIDERS.join(", ")
        ));
    }
    values
        .into_iter()
        .map(|value| {
            let text = expand(&value).map_err(|e| format!("{provider} verify token from {source}: {e}"))?;
            match text.trim().is_empty() {
                true => Err(format!(
                    "{provider} verify token from {source} is empty (an unset variable, an empty file?)"
                )),
                false => Ok(Secret::new(text)),
            }
        })
        .collect()
}

/// `HOOKSCOPE_SECRET_STANDARD_WEBHOOKS` for `standard-webhooks`.
pub fn env_name(provider: &str) -> String {
    format!(
        "HOOKSCOPE_SECRET_{}",
        provider.to_ascii_uppercase().replace('-', "_")
    )
}

fn read_file(path: &Path) -> Result<File, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut file: File = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    // A relative `file:` path in the file is the file's neighbour, wherever hookscope runs
    // from (as `--config ../shared/hookscope.toml` with `dyte = "file:dyte.pem"` means).
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        let anchor = |value: &mut String| *value = anchored(value, dir);
        for values in file.secrets.values_mut().chain(file.verify_tokens.values_mut()) {
            match values {
                OneOrMany::One(one) => anchor(one),
                OneOrMany::Many(many) => many.iter_mut().for_each(anchor),
            }
        }
        file.keys.values_mut().for_each(anchor);
        for api in file.api.values_mut() {
            api.key.iter_mut().chain(api.secret.iter_mut()).for_each(anchor);
        }
    }
    Ok(file)
}

/// `value` with a relative `file:PATH` made relative to `dir` instead of the working directory.
fn anchored(value: &str, dir: &Path) -> String {
    match value.strip_prefix("file:") {
        Some(path) if Path::new(path).is_relative() => match dir.join(path).to_str() {
            Some(joined) => format!("file:{joined}"),
            // Not UTF-8 (the directory's name): left as written rather than changed lossily.
            None => value.to_owned(),
        },
        _ => value.to_owned(),
    }
}

/// The text behind a value: itself, `env:NAME` or `file:PATH`.
pub fn expand(value: &str) -> Result<String, String> {
    if let Some(name) = value.strip_prefix("env:") {
        return std::env::var(name).map_err(|_| format!("environment variable {name} is not set"));
    }
    if let Some(path) = value.strip_prefix("file:") {
        return std::fs::read_to_string(PathBuf::from(path))
            .map(|text| text.trim().to_owned())
            .map_err(|e| format!("cannot read {path}: {e}"));
    }
    Ok(value.to_owned())
}

/// A verification key for `profile` from a configured value.
fn resolve(profile: &Profile, value: &str) -> Result<Key, String> {
    let text = expand(value)?;
    if text.trim().is_empty() {
        return Err("the secret is empty (an unset variable, an empty file?)".into());
    }
    match profile.scheme {
        Scheme::Dyte => verify::parse_public_key(&text).map(|k| Key::RsaPublic(Box::new(k))),
        _ => Ok(Key::Secret(Secret::new(text))),
    }
}

/// A signing key for `profile` from a `--secret`/`--key` value (for `send` and re-signing).
pub fn signing_key(profile: &Profile, value: &str) -> Result<SigningKey, String> {
    let text = expand(value)?;
    match profile.scheme {
        Scheme::Dyte => verify::parse_private_key(&text).map(|k| SigningKey::RsaPrivate(Box::new(k))),
        _ => Ok(SigningKey::Secret(Secret::new(text))),
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
///
/// ```
/// assert!(hookscope::config::glob_match("/hooks/*", "/hooks/aioz/1"));
/// assert!(hookscope::config::glob_match("engine.*.error", "engine.log.error"));
/// assert!(!hookscope::config::glob_match("/hooks/*", "/other"));
/// ```
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("*", "/anything", true),
            ("/a", "/a", true),
            ("/a", "/ab", false),
            ("/a/*", "/a/", true),
            ("/a/*/c", "/a/b/c", true),
            ("/a/*/c", "/a/b/d", false),
            ("*.stopped", "channel.stopped", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("**", "x", true),
        ] {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn secret_flags() {
        assert_eq!(
            parse_secret_flag("optiview=dolby_sec_a=b"),
            Ok(("optiview".into(), "dolby_sec_a=b".into()))
        );
        assert!(parse_secret_flag("nope").is_err());
        assert!(parse_secret_flag("=x").is_err());
    }

    #[test]
    fn env_names() {
        assert_eq!(
            env_name("standard-webhooks"),
            "HOOKSCOPE_SECRET_STANDARD_WEBHOOKS"
        );
    }

    /// Caught: `file:` paths in `--config elsewhere/hookscope.toml` read from the working
    /// directory, so a config beside its secrets worked only when run from its own directory.
    #[test]
    fn file_paths_in_a_config_file_are_its_neighbours_wherever_hookscope_runs() {
        let catalog = Catalog::builtin();
        let dir = tempfile::tempdir().expect("temp dir");
        let nested = dir.path().join("project").join("config");
        std::fs::create_dir_all(&nested).expect("dirs");
        std::fs::write(nested.join("optiview.secret"), "beside-the-config\n").expect("secret");
        std::fs::write(nested.join("old.secret"), "rotated-out").expect("secret");
        std::fs::write(nested.join("meta.token"), "token-beside").expect("token");
        let absolute = dir.path().join("absolute.secret");
        std::fs::write(&absolute, "from-an-absolute-path").expect("secret");
        let config = nested.join("hookscope.toml");
        std::fs::write(
            &config,
            format!(
                "[secrets]\noptiview = \"file:optiview.secret\"\nmillicast = [\"file:old.secret\", \"file:{}\"]\n\
                 zoom = \"filet-mignon\"\n[verify_tokens]\nmeta = \"file:meta.token\"\n\
                 [api.optiview]\nkey = \"file:optiview.secret\"\nsecret = \"env:HOOKSCOPE_TEST_SURELY_UNSET\"\n",
                absolute.display()
            ),
        )
        .expect("config");
        // The working directory is the test's, not the config's: nothing there is named so.
        assert!(!Path::new("optiview.secret").exists());
        let keys = Keys::load(&catalog, &[], Some(&config)).expect("every file found beside the config");
        let secrets = |provider: &str| -> Vec<String> {
            keys.for_provider(provider)
                .iter()
                .filter_map(|key| match key {
                    Key::Secret(secret) => Some(secret.expose().to_owned()),
                    Key::RsaPublic(_) => None,
                })
                .collect()
        };
        assert_eq!(secrets("optiview"), ["beside-the-config"]);
        assert_eq!(secrets("millicast"), ["rotated-out", "from-an-absolute-path"]);
        assert_eq!(
            secrets("zoom"),
            ["filet-mignon"],
            "not a file: value, kept as written"
        );
        let tokens: Vec<&str> = keys.verify_tokens("meta").iter().map(|t| t.expose()).collect();
        assert_eq!(tokens, ["token-beside"]);
        let api = api_values(Some(&config)).expect("api values");
        let optiview = api.get("optiview").expect("[api.optiview]");
        let key = optiview.key.as_deref().expect("a key");
        assert_eq!(expand(key).as_deref(), Ok("beside-the-config"));
        assert_eq!(
            optiview.secret.as_deref(),
            Some("env:HOOKSCOPE_TEST_SURELY_UNSET")
        );
        // A missing neighbour is named by where it was looked for.
        std::fs::remove_file(nested.join("optiview.secret")).expect("remove");
        let err = Keys::load(&catalog, &[], Some(&config)).expect_err("missing");
        assert!(
            err.contains(&nested.join("optiview.secret").display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn verify_tokens_come_from_the_file_then_flags_and_only_for_meta() {
        let catalog = Catalog::builtin();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("hookscope.toml");
        std::fs::write(&config, "[verify_tokens]\nmeta = [\"from-file\", \"rotated\"]\n").expect("config");
        let mut keys = Keys::load(&catalog, &[], Some(&config)).expect("valid");
        let tokens = |keys: &Keys| -> Vec<String> {
            keys.verify_tokens("meta")
                .iter()
                .map(|t| t.expose().to_owned())
                .collect()
        };
        assert_eq!(tokens(&keys), ["from-file", "rotated"]);
        assert!(
            keys.summary().ends_with("; verify token for meta"),
            "{}",
            keys.summary()
        );
        assert!(!keys.summary().contains("from-file"));
        keys.add_verify_token_flags(&[("meta".into(), "from-flag".into())])
            .expect("a flag");
        assert_eq!(tokens(&keys), ["from-flag"], "flags replace the file's");
        let err = keys
            .add_verify_token_flags(&[("slack".into(), "SECRETVALUE".into())])
            .expect_err("slack has no verify token");
        assert!(
            err.starts_with(
                "--verify-token: a verify token for \"slack\", but only the handshake of meta uses one"
            ),
            "{err}"
        );
        assert!(!err.contains("SECRETVALUE"), "{err}");
        let err = keys
            .add_verify_token_flags(&[("meta".into(), "env:HOOKSCOPE_TEST_UNSET_TOKEN".into())])
            .expect_err("unset");
        assert!(err.contains("HOOKSCOPE_TEST_UNSET_TOKEN is not set"), "{err}");
        std::fs::write(&config, "[verify_tokens]\nzoom = \"x\"\n").expect("config");
        let err = Keys::load(&catalog, &[], Some(&config)).expect_err("zoom has none");
        assert!(
            err.starts_with("hookscope.toml: a verify token for \"zoom\""),
            "{err}"
        );
    }

    #[test]
    fn layered_sources_and_errors_never_show_the_secret() {
        let catalog = Catalog::builtin();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("hookscope.toml");
        std::fs::write(
            &config,
            "[secrets]\noptiview = \"from-file\"\nmillicast = [\"b2xk\", \"bmV3\"]\n\n[[routes]]\npath = \"/aioz/*\"\nprovider = \"aioz\"\n",
        )
        .expect("write config");
        let flags = vec![("optiview".to_owned(), "from-flag".to_owned())];
        let keys = Keys::load(&catalog, &flags, Some(&config)).expect("valid");
        let secret = |k: &Key| match k {
            Key::Secret(s) => s.expose().to_owned(),
            Key::RsaPublic(_) => "rsa".into(),
        };
        let optiview: Vec<String> = keys.for_provider("optiview").iter().map(secret).collect();
        assert_eq!(optiview, ["from-flag"], "flags win over the file");
        assert_eq!(keys.for_provider("millicast").len(), 2, "rotated secrets");
        let at = |path: &str| crate::capture::Capture {
            path: path.into(),
            ..crate::codec::tests::sample_capture()
        };
        assert_eq!(keys.route(&at("/aioz/encoding")), Some("aioz"));
        assert_eq!(
            keys.summary(),
            "secrets for millicast (2 keys), optiview; 1 route"
        );
        assert!(!keys.summary().contains("from-flag"));
        assert_eq!(keys.route(&at("/other")), None);

        let flags = vec![("dyte".to_owned(), "not-a-pem-SECRETVALUE".to_owned())];
        let err = Keys::load(&catalog, &flags, Some(&config)).expect_err("not a key");
        assert!(
            err.starts_with("dyte secret from --secret: expected an RSA public key in PEM form"),
            "{err}"
        );
        assert!(!err.contains("SECRETVALUE"), "{err}");
        let flags = vec![("nosuch".to_owned(), "x".to_owned())];
        assert!(Keys::load(&catalog, &flags, Some(&config)).is_err());
        let flags = vec![(
            "github".to_owned(),
            "env:HOOKSCOPE_TEST_UNSET_VARIABLE".to_owned(),
        )];
        let err = Keys::load(&catalog, &flags, Some(&config)).expect_err("unset");
        assert!(err.contains("HOOKSCOPE_TEST_UNSET_VARIABLE is not set"), "{err}");
    }
}
