//! `hookscope providers [NAME]`: what each sender sends and how it signs.

use std::fmt::Write as _;

use anyhow::anyhow;

use crate::cli::ProvidersArgs;
use crate::provider::{Catalog, Field, Profile};
use crate::verify::Scheme;

/// Prints the table of providers, or one provider in full.
pub fn run(args: ProvidersArgs) -> anyhow::Result<()> {
    let catalog = Catalog::load(crate::provider::user_dir().as_deref()).map_err(|e| anyhow!(e))?;
    match args.name {
        None => print!("{}", table(&catalog)),
        Some(name) => {
            let profile = catalog.get(&name).ok_or_else(|| {
                let names: Vec<&str> = catalog.profiles().iter().map(|p| p.name.as_str()).collect();
                anyhow!("unknown provider {name:?}; known: {}", names.join(", "))
            })?;
            print!("{}", details(profile));
        }
    }
    Ok(())
}

/// One line per provider, each column as wide as its widest cell (a user's profile may have
/// any name; a sender's display name may be long).
pub fn table(catalog: &Catalog) -> String {
    let header = [
        "NAME",
        "SENDER",
        "SCHEME",
        "SIGNATURE HEADER",
        "EVENTS",
        "RETRIES",
    ]
    .map(String::from);
    let mut rows = vec![header];
    for p in catalog.profiles() {
        let on = if p.retry_non_2xx { ", on any non-2xx" } else { "" };
        rows.push([
            crate::sanitize::line(&p.name).into_owned(),
            crate::sanitize::line(&p.display).into_owned(),
            p.scheme.name().to_owned(),
            crate::sanitize::line(p.scheme.signature_header().unwrap_or("-")).into_owned(),
            p.samples.len().to_string(),
            format!("{}{on}", crate::sanitize::line(&p.retry)),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        for (column, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[column] - cell.chars().count());
            match column {
                4 => out.push_str(&format!("{pad}{cell}  ")), // counts align right
                5 => out.push_str(cell),                      // the last column is not padded
                _ => out.push_str(&format!("{cell}{pad}  ")),
            }
        }
        out.push('\n');
    }
    out.push_str("\n`hookscope providers NAME` shows one in full.\n");
    out
}

fn field(field: &Option<Field>) -> String {
    match field {
        Some(Field::Pointer(p)) => format!("body {p}"),
        Some(Field::Header(h)) => format!("header {h}"),
        None => "-".into(),
    }
}

/// Everything about one provider.
pub fn details(p: &Profile) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", p.display, p.name);
    if let Some(docs) = &p.docs {
        let _ = writeln!(out, "  docs:        {docs}");
    }
    let detect = match p.detect_headers.is_empty() {
        true => "no identifying header: route it by path in hookscope.toml".to_owned(),
        false => format!("any of {}", p.detect_headers.join(", ")),
    };
    let _ = writeln!(out, "  detected by: {detect}");
    let signature = match &p.scheme {
        Scheme::None => "none documented: nothing can be verified".to_owned(),
        Scheme::Hmac(params) => format!(
            "hmac: {} = {}<{} HMAC-{}> over {:?}{}",
            params.header,
            params.prefix,
            format!("{:?}", params.encoding).to_lowercase(),
            format!("{:?}", params.algorithm).to_uppercase(),
            params.template,
            match &params.timestamp_header {
                Some(name) => format!(", {{timestamp}} from {name}"),
                None => String::new(),
            }
        ),
        scheme => format!("{} ({})", scheme.name(), scheme.signature_header().unwrap_or("-")),
    };
    let _ = writeln!(out, "  signature:   {signature}");
    if p.scheme != Scheme::None {
        let form = p.scheme.documented_form();
        let source = match &p.signed_form_source {
            Some(source) => format!("; per {source}"),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  signs:       {} ({}), as the receiver in its docs computes it{source}",
            form.label(),
            form.describe()
        );
    }
    let timestamped = match &p.scheme {
        Scheme::Optiview | Scheme::Stripe | Scheme::StandardWebhooks | Scheme::Slack => true,
        Scheme::Hmac(params) => params.timestamp_header.is_some(),
        _ => false,
    };
    if timestamped {
        let _ = writeln!(out, "  tolerance:   {} s", p.tolerance.as_secs());
    }
    let _ = writeln!(
        out,
        "  secret:      --secret {}=… or {}",
        p.name,
        crate::config::env_name(&p.name)
    );
    if let Some(handshake) = crate::handshake::described(&p.name) {
        let _ = writeln!(out, "  handshake:   {handshake}");
    }
    let _ = writeln!(out, "  event type:  {}", p.event().type_templates.join("  or  "));
    let unit = if p.event().timestamp_in_ms {
        " (ms)"
    } else {
        " (s)"
    };
    let timestamp = field(&p.event().timestamp);
    let _ = writeln!(
        out,
        "  timestamp:   {timestamp}{}",
        if timestamp == "-" { "" } else { unit }
    );
    let _ = writeln!(out, "  event id:    {}", field(&p.event().id));
    let on = if p.retry_non_2xx { ", on any non-2xx" } else { "" };
    let _ = writeln!(out, "  retries:     {}{on}", p.retry);
    let _ = writeln!(out, "  events ({}):", p.samples.len());
    for sample in &p.samples {
        let _ = writeln!(out, "    {:<36} {}", sample.event_type, sample.description);
    }
    out
}
