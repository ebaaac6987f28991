//! `hookscope keygen dyte`: a key pair for sending Dyte-style signed events.

use std::io::Write;

use anyhow::{Context as _, anyhow, bail};

use crate::cli::KeygenArgs;
use crate::verify;

/// Writes a new RSA key pair and says how to use it.
pub fn run(args: KeygenArgs) -> anyhow::Result<()> {
    if args.provider != "dyte" {
        bail!("only dyte signs with key pairs; other providers use a shared secret (--secret)");
    }
    let (private, public) = verify::generate_key_pair().map_err(|e| anyhow!(e))?;
    let public_path = args.out.with_extension("pub.pem");
    write_new(&args.out, private.as_bytes(), true)?;
    write_new(&public_path, public.as_bytes(), false)?;
    println!("{public}");
    eprintln!(
        "wrote {} (private: sign with `hookscope send dyte EVENT --to URL --key {}`)\n\
         wrote {} (public: verify with `hookscope listen --secret dyte=file:{}`, and in your app)",
        args.out.display(),
        args.out.display(),
        public_path.display(),
        public_path.display(),
    );
    Ok(())
}

/// Creates `path`, refusing to overwrite; a private key is readable by its owner only.
fn write_new(path: &std::path::Path, contents: &[u8], private: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(|err| {
        let why = match err.kind() {
            std::io::ErrorKind::AlreadyExists => {
                "it already exists, and keys are never overwritten".to_owned()
            }
            std::io::ErrorKind::NotFound => match path.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(dir) => format!("the directory {} does not exist", dir.display()),
                None => err.to_string(),
            },
            _ => err.to_string(),
        };
        anyhow!("cannot create {}: {why}", path.display())
    })?;
    file.write_all(contents)
        .with_context(|| format!("cannot write {}", path.display()))
}
