//! `hookscope verify FILE`: re-verify a saved journal offline.

use anyhow::{Context as _, anyhow, bail};

use crate::analysis::Analyzer;
use crate::cli::VerifyArgs;
use crate::codec::Record;
use crate::config::{Keys, Route};
use crate::headless::verdict_symbol;
use crate::journal::JournalReader;
use crate::provider::{Catalog, user_dir};
use crate::sanitize;
use crate::verify::Verdict;

/// Verifies every capture as of when it arrived; fails unless all are valid.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let catalog = Catalog::load(user_dir().as_deref()).map_err(|e| anyhow!(e))?;
    let mut keys =
        Keys::load(&catalog, &args.keys.secrets, args.keys.config.as_deref()).map_err(|e| anyhow!(e))?;
    if let Some(provider) = &args.provider {
        if catalog.get(provider).is_none() {
            bail!("unknown provider {provider:?} (see `hookscope providers`)");
        }
        keys.routes.insert(0, Route::by_path("*", provider));
    }
    let analyzer = Analyzer::new(catalog, keys);
    let path = &args.file;
    let mut reader = JournalReader::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (mut total, mut valid, mut skipped) = (0u64, 0u64, 0u64);
    while let Some(next) = reader
        .next_entry()
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        let capture = match next {
            Ok(entry) => match entry.record {
                Record::Capture(capture) => capture,
                // Deliveries to the local app have no signature of their own to check.
                Record::Attempt(_) => continue,
            },
            Err(problem) => {
                skipped += 1;
                eprintln!("warning: {}: {problem}", path.display());
                continue;
            }
        };
        total += 1;
        let (derived, verification) = analyzer.analyze(&capture);
        let what = match (&derived.provider, &derived.event_type) {
            (Some(p), Some(t)) => format!("{p} {}", sanitize::line(t)),
            (Some(p), None) => p.clone(),
            (None, _) => "unknown sender".into(),
        };
        let head = format!(
            "{}  {} {}  {what}",
            capture.id,
            sanitize::line(&capture.method),
            sanitize::line(&capture.target())
        );
        let Some(verification) = verification else {
            println!("{head}  · no provider recognised (use --provider or a route in hookscope.toml)");
            continue;
        };
        let label = verification.verdict.label();
        let form = match verification.explanation.signed_form {
            Some(form) => format!(" ({})", form.label()),
            None => String::new(),
        };
        println!("{head}  {} {label}{form}", verdict_symbol(label));
        if let Some(caveat) = &verification.explanation.caveat {
            println!("    ⚠ {}", sanitize::line(caveat));
        }
        if verification.verdict == Verdict::Valid {
            valid += 1;
            if !args.verbose {
                continue;
            }
        }
        for (name, value) in verification.explanation.lines() {
            println!("    {name:<10} {}", sanitize::line(&value));
        }
    }
    let skipped = match skipped {
        0 => String::new(),
        n => format!(", {n} lines skipped"),
    };
    eprintln!("{valid} of {total} captures valid{skipped} (judged as of when each arrived)");
    match valid == total && total > 0 {
        true => Ok(()),
        false if total == 0 => bail!("no captures to verify in {}", path.display()),
        false => bail!("{} of {total} captures are not valid", total - valid),
    }
}
