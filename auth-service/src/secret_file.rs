//! Secret files of the data folder (the signing key, the encryption key): made once,
//! readable by the owner only, and never left half written.

use std::{io::Write, path::Path};

/// Writes a new secret file at `path` whole or not at all: into a temporary file of mode
/// 0600 beside it, synced, then linked into place without replacing a file another
/// process may have put there meanwhile (that is `AlreadyExists`). A crash at any
/// point leaves either no key file or a complete one, never a torn key that would
/// stop the service from starting.
fn write_new_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    bookshelf_runtime::files::private_dir(folder)?;
    // `tempfile` creates its files with mode 0600.
    let mut file = tempfile::NamedTempFile::new_in(folder)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist_noclobber(path).map_err(|error| error.error)?;
    // The new name is durable only once the folder itself is synced.
    std::fs::File::open(folder)?.sync_all()?;
    Ok(())
}

/// The text of the secret file at `path`, or, when there is none, `make`'s, written
/// there first (mode 0600). Should another process sharing the folder write one at
/// the same moment, the file that won is read and used.
pub(crate) fn load_or_create<E: From<std::io::Error>>(
    path: &Path,
    make: impl FnOnce() -> Result<String, E>,
) -> Result<String, E> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text),
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error.into()),
        Err(_) => {}
    }
    let text = make()?;
    match write_new_secret_file(path, text.as_bytes()) {
        Ok(()) => Ok(text),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)?)
        }
        Err(error) => Err(error.into()),
    }
}
