//! The relay's files are private: its data directory is `0700`, the token file and the queues
//! `0600`.
//!
//! Queues hold whole bodies and signature headers, so nobody else on the machine may read them.
//! Modes are set when a file is created, not after (no moment when it is readable), and a
//! directory or file found looser (made by an older version, or by hand) is tightened, with a
//! warning so the operator knows it was.

use std::fs::{self, OpenOptions};
use std::path::Path;

/// The data directory's mode.
pub const DIR_MODE: u32 = 0o700;
/// Every file's mode.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` and any missing parents as `0700`. An existing directory is left as it is
/// (it may be `/etc`, above a `--tokens` file): [`tighten`] the data directory itself.
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(path)
}

/// Open options that create a file as `0600` (an existing file keeps its mode: [`tighten`] it).
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// Takes every permission of group and others away from `path`, warning when there were any.
/// A missing file is left alone; a failure (a file of another owner) is a warning, not an error:
/// the relay still works, and the operator is told.
pub fn tighten(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let Ok(mode) = fs::metadata(path).map(|m| m.permissions().mode() & 0o7777) else {
            return;
        };
        if mode & 0o077 == 0 {
            return;
        }
        let tight = mode & !0o077;
        let path_text = path.display().to_string();
        match fs::set_permissions(path, fs::Permissions::from_mode(tight)) {
            Ok(()) => tracing::warn!(
                path = %path_text,
                from = %format!("{mode:04o}"),
                to = %format!("{tight:04o}"),
                "others could read this relay file; permissions tightened"
            ),
            Err(err) => tracing::warn!(
                path = %path_text,
                mode = %format!("{mode:04o}"),
                %err,
                "others can read this relay file and its permissions cannot be tightened"
            ),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Replaces `path` by a new `0600` file holding `bytes`: written beside it (`path` with `.new`
/// appended) and renamed over it, so a crash leaves the old contents or the new ones, never a
/// file cut short. `durable` syncs the file, then the directory's rename.
pub fn replace(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    let fresh = beside(path);
    let mut file = options().write(true).create(true).truncate(true).open(&fresh)?;
    file.write_all(bytes)?;
    if durable {
        file.sync_all()?;
    }
    fs::rename(&fresh, path)?;
    if durable && let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Removes what a crash in [`replace`] may have left beside `path`: never renamed, so it was not
/// the last word; removed so the next replacement is a new `0600` file, whatever mode this one had.
pub fn remove_leftover(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(beside(path)) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// The file [`replace`] writes before renaming it over `path`.
fn beside(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    name.into()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn new_files_and_directories_are_private_and_loose_ones_are_tightened() {
        let dir = tempfile::tempdir().expect("dir");
        let data = dir.path().join("a/b");
        create_dir(&data).expect("create");
        assert_eq!(mode(&data), 0o700);
        let file = data.join("f");
        options().create(true).append(true).open(&file).expect("open");
        assert_eq!(mode(&file), 0o600);
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("loosen");
        fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).expect("loosen");
        tighten(&file);
        create_dir(&data).expect("again");
        assert_eq!(
            mode(&data),
            0o755,
            "an existing directory is not changed by creating it"
        );
        tighten(&data);
        assert_eq!((mode(&data), mode(&file)), (0o700, 0o600));
    }
}
