//! `hookscope send`: realistic, correctly signed sample events, as the sender would send them.

use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::Uri;

use crate::capture::Header;
use crate::cli::SendArgs;
use crate::config;
use crate::http_client::{self, HttpClient};
use crate::provider::{Catalog, Profile, Sample, user_dir};
use crate::sample;
use crate::sanitize;
use crate::verify::{self, Key, Scheme, Secret, SigningKey};

/// The environment variable holding Dyte's private signing key for `send --all`.
pub const DYTE_PRIVATE_KEY_ENV: &str = "HOOKSCOPE_DYTE_PRIVATE_KEY";

/// Sends the chosen samples and prints one line per request; fails if any was not a 2xx.
pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    let catalog = Catalog::load(user_dir().as_deref()).map_err(|e| anyhow!(e))?;
    let target: Uri = args
        .to
        .parse()
        .with_context(|| format!("--to {:?} is not a URL", args.to))?;
    match target.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            bail!("--to: {other}:// is not supported; send over http:// or https://")
        }
        None => bail!(
            "--to {:?} needs a scheme and host, e.g. http://127.0.0.1:8080/hooks",
            args.to
        ),
    }
    let plan = plan(&catalog, &args)?;
    // A --set that fits no sample is an error before anything is sent, not a failed request.
    if !args.set.is_empty() {
        for (profile, samples) in &plan {
            for sample in samples {
                sample::render(sample, Utc::now(), &args.set)
                    .map_err(|e| anyhow!("{} {}: {e}; nothing was sent", profile.name, sample.event_type))?;
            }
        }
    }
    // Resolve every key before sending anything, so a missing one fails fast.
    let keys = SendKeys::load(&catalog, &args)?;
    let mut keyed = Vec::with_capacity(plan.len());
    for (profile, samples) in plan {
        match keys.signing_key(profile)? {
            Signing::Key(key) => keyed.push((profile, Some(key), samples)),
            Signing::Test(key, secret) => {
                eprintln!(
                    "{}: no secret configured; signing with its test secret {secret} (give your receiver \
                     the same: --secret {}={secret}), or pass --secret",
                    profile.name, profile.name
                );
                keyed.push((profile, Some(key), samples));
            }
            Signing::Unsigned => keyed.push((profile, None, samples)),
            Signing::Missing(why) if args.all => eprintln!("{}: skipped: {why}", profile.name),
            Signing::Missing(why) => bail!("{why}"),
        }
    }

    let client = http_client::client(&args.tls)?;
    if args.tls.insecure {
        eprintln!(
            "INSECURE: --insecure: {}'s certificate is not verified",
            sanitize::line(&args.to)
        );
    }
    let (mut sent, mut failed) = (0u32, 0u32);
    for (profile, key, samples) in keyed {
        for sample in samples {
            for _ in 0..args.count {
                let outcome = send_one(&client, &target, profile, sample, key.as_ref(), &args).await;
                sent += 1;
                let line = match outcome {
                    Ok((status, elapsed)) => {
                        if !status.is_success() {
                            failed += 1;
                        }
                        format!("{status} in {elapsed:.1?}")
                    }
                    Err(err) => {
                        failed += 1;
                        format!("failed: {err:#}")
                    }
                };
                println!("{} {} -> {line}", profile.name, sample.event_type);
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => bail!("{n} of {sent} requests were not answered with a 2xx status"),
    }
}

type Plan<'a> = Vec<(&'a Profile, Vec<&'a Sample>)>;

fn plan<'a>(catalog: &'a Catalog, args: &SendArgs) -> anyhow::Result<Plan<'a>> {
    if args.all {
        // Every event of every sender, but the handshakes: `listen` answers those itself (Zoom's
        // only with its secret), so they check the listener, not the app; each is sent alone.
        let mut handshakes = Vec::new();
        let plan = catalog
            .profiles()
            .iter()
            .map(|p| {
                let (asked, events): (Vec<&Sample>, Vec<&Sample>) = p
                    .samples
                    .iter()
                    .partition(|s| crate::handshake::is_handshake(&p.name, &s.event_type));
                handshakes.extend(
                    asked
                        .iter()
                        .map(|s| format!("hookscope send {} {}", p.name, s.event_type)),
                );
                (p, events)
            })
            .collect();
        if !handshakes.is_empty() {
            eprintln!(
                "handshakes left out: listen answers them itself (Zoom's only with --secret zoom=…); \
                 to check that, send one alone: {}",
                handshakes.join(", ")
            );
        }
        return Ok(plan);
    }
    let name = args.provider.as_deref().unwrap_or_default();
    let profile = catalog.get(name).ok_or_else(|| {
        let names: Vec<&str> = catalog.profiles().iter().map(|p| p.name.as_str()).collect();
        anyhow!("unknown provider {name:?}; known: {}", names.join(", "))
    })?;
    let samples: Vec<&Sample> = match &args.event {
        None => profile.samples.iter().collect(),
        Some(event) => match profile.samples.iter().find(|s| &s.event_type == event) {
            Some(sample) => vec![sample],
            None => {
                let types: Vec<&str> = profile.samples.iter().map(|s| s.event_type.as_str()).collect();
                bail!(
                    "{} has no sample event {event:?}; it has: {}",
                    profile.name,
                    types.join(", ")
                )
            }
        },
    };
    Ok(vec![(profile, samples)])
}

/// What `profile`'s events are signed with.
enum Signing {
    /// A configured secret or key.
    Key(SigningKey),
    /// The provider's test secret (shown to the user).
    Test(SigningKey, &'static str),
    /// The provider signs nothing.
    Unsigned,
    /// No key, and no test key can stand in (a private key is needed): why, and what to do.
    Missing(String),
}

/// The secrets and keys `send` signs with, layered as `listen` reads them: flags, then the
/// environment, then `hookscope.toml`.
struct SendKeys {
    keys: config::Keys,
}

impl SendKeys {
    fn load(catalog: &Catalog, args: &SendArgs) -> anyhow::Result<Self> {
        let mut flags = Vec::new();
        for value in &args.secrets {
            if value.trim().is_empty() {
                bail!("--secret is empty (an unset variable?): give the secret, env:NAME or file:PATH");
            }
            // `optiview=dolby_sec_…` names its provider; anything else is the named provider's.
            let (provider, secret) = match value.split_once('=') {
                Some((name, secret)) if catalog.get(name).is_some() => (name.to_owned(), secret.to_owned()),
                _ => match (&args.provider, args.all) {
                    (Some(provider), false) => (provider.clone(), value.clone()),
                    _ => {
                        bail!("a --secret without a provider: with --all, name it: --secret PROVIDER=SECRET")
                    }
                },
            };
            // Dyte verifies with a public key; its signing key is --key.
            if catalog.get(&provider).is_some_and(|p| p.scheme == Scheme::Dyte) {
                bail!("dyte signs with a private key: pass --key dyte-private.pem, not --secret");
            }
            flags.push((provider, secret));
        }
        let mut keys = config::Keys::load(catalog, &flags, args.config.as_deref()).map_err(|e| anyhow!(e))?;
        let mut key_flags = Vec::new();
        if let Some(path) = &args.key {
            key_flags.push(path.display().to_string());
        } else if let Ok(value) = std::env::var(DYTE_PRIVATE_KEY_ENV) {
            key_flags.push(format!("dyte={value}"));
        }
        keys.add_signing_flags(catalog, &key_flags)
            .map_err(|e| anyhow!(e))?;
        Ok(Self { keys })
    }

    fn signing_key(&self, profile: &Profile) -> anyhow::Result<Signing> {
        if profile.scheme == Scheme::None {
            return Ok(Signing::Unsigned);
        }
        if let Some(key) = self.keys.signing_key(&profile.name) {
            return Ok(Signing::Key(key.clone()));
        }
        if profile.scheme == Scheme::Dyte {
            return Ok(Signing::Missing(format!(
                "no key to sign dyte events with: pass --key dyte-private.pem, set {DYTE_PRIVATE_KEY_ENV} or \
                 [keys] dyte in hookscope.toml (`hookscope keygen dyte` makes a pair; give your receiver \
                 the public half)"
            )));
        }
        match self.keys.for_provider(&profile.name).first() {
            Some(Key::Secret(secret)) => Ok(Signing::Key(SigningKey::Secret(secret.clone()))),
            _ => {
                let secret = test_secret(&profile.scheme);
                Ok(Signing::Test(SigningKey::Secret(Secret::new(secret)), secret))
            }
        }
    }
}

/// A provider's test secret, in the form its scheme expects: what `send` signs with when no
/// secret is configured, and what `listen --secret PROVIDER=…` is then given.
pub fn test_secret(scheme: &Scheme) -> &'static str {
    match scheme {
        Scheme::Optiview => "dolby_sec_hookscope_test",
        // base64 of `hookscope-test-secret`, decoded as the scheme does.
        Scheme::Millicast => "aG9va3Njb3BlLXRlc3Qtc2VjcmV0",
        Scheme::StandardWebhooks => "whsec_aG9va3Njb3BlLXRlc3Qtc2VjcmV0",
        Scheme::Stripe => "whsec_hookscope_test",
        Scheme::Hmac(params) if params.key == verify::KeyDecoding::Base64 => "aG9va3Njb3BlLXRlc3Qtc2VjcmV0",
        _ => "hookscope-test-secret",
    }
}

async fn send_one(
    client: &HttpClient,
    target: &Uri,
    profile: &Profile,
    sample: &Sample,
    key: Option<&SigningKey>,
    args: &SendArgs,
) -> anyhow::Result<(hyper::StatusCode, std::time::Duration)> {
    let now = Utc::now();
    let rendered =
        sample::render(sample, now, &args.set).map_err(|e| anyhow!("{}: {e}", sample.event_type))?;
    let mut headers = rendered.headers;
    if let Some(key) = key {
        verify::sign_headers(
            &profile.scheme,
            "POST",
            target.path(),
            &mut headers,
            &rendered.body,
            key,
            now.timestamp(),
        )
        .map_err(|e| anyhow!(e))?;
    }
    if !headers.iter().any(|h| h.name.eq_ignore_ascii_case("user-agent")) {
        headers.push(Header::new(
            "User-Agent",
            format!("hookscope-send/{}", env!("CARGO_PKG_VERSION")),
        ));
    }
    if args.verbose {
        print_request(target, &headers, &rendered.body);
    }
    let mut builder = hyper::Request::post(target.clone());
    for header in &headers {
        builder = builder.header(header.name.as_str(), header.value.as_ref());
    }
    let request = builder
        .body(Full::new(rendered.body))
        .context("cannot build the request")?;
    let started = Instant::now();
    let response = client.request(request).await.map_err(|err| {
        let why = http_client::describe(&err, target.host().unwrap_or_default(), &args.tls);
        anyhow!("cannot reach {target}: {why}")
    })?;
    let status = response.status();
    // Read the answer so the connection can be reused.
    let _ = response.into_body().collect().await;
    Ok((status, started.elapsed()))
}

fn print_request(target: &Uri, headers: &[Header], body: &[u8]) {
    println!("POST {target}");
    for header in headers {
        println!("{}: {}", header.name, sanitize::bytes_line(&header.value));
    }
    match std::str::from_utf8(body) {
        Ok(text) => println!("\n{}\n", sanitize::block(text)),
        Err(_) => println!("\n<{} bytes of binary body>\n", body.len()),
    }
}
