//! `hookscope send`: realistic, correctly signed sample events, as the sender would send them.

use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::capture::Header;
use crate::cli::SendArgs;
use crate::config;
use crate::provider::{Catalog, Profile, Sample, user_dir};
use crate::sample;
use crate::sanitize;
use crate::verify::{self, Scheme, SigningKey};

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
        Some("http") => {}
        Some(other) => {
            bail!("--to: {other}:// is not supported yet; send to the local listener over http://")
        }
        None => bail!(
            "--to {:?} needs a scheme and host, e.g. http://127.0.0.1:8080/hooks",
            args.to
        ),
    }
    let plan = plan(&catalog, &args)?;
    // Resolve every key before sending anything, so a missing one fails fast.
    let keyed = plan
        .into_iter()
        .map(|(profile, samples)| Ok((profile, signing_key(profile, &args)?, samples)))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let client = Client::builder(TokioExecutor::new())
        .http1_title_case_headers(true)
        .build_http::<Full<Bytes>>();
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
        return Ok(catalog
            .profiles()
            .iter()
            .map(|p| (p, p.samples.iter().collect()))
            .collect());
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

/// The key to sign `profile`'s events with: `--key`, `--secret`, then the environment.
fn signing_key(profile: &Profile, args: &SendArgs) -> anyhow::Result<Option<SigningKey>> {
    if profile.scheme == Scheme::None {
        return Ok(None);
    }
    let value = match (&args.key, &args.secret) {
        (Some(path), _) => format!("file:{}", path.display()),
        (None, Some(secret)) => secret.clone(),
        (None, None) => {
            let var = match profile.scheme {
                Scheme::Dyte => DYTE_PRIVATE_KEY_ENV.to_owned(),
                _ => config::env_name(&profile.name),
            };
            match std::env::var(&var) {
                Ok(value) => value,
                Err(_) if profile.scheme == Scheme::Dyte => bail!(
                    "no key to sign dyte events with: pass --key FILE.pem (make one with `hookscope keygen dyte`) \
                     or set {var}"
                ),
                Err(_) => bail!(
                    "no secret to sign {} events with: pass --secret or set {var}",
                    profile.name
                ),
            }
        }
    };
    config::signing_key(profile, &value)
        .map(Some)
        .map_err(|e| anyhow!("{} signing key: {e}", profile.name))
}

async fn send_one(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
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
    let response = client
        .request(request)
        .await
        .with_context(|| format!("cannot reach {target}"))?;
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
