//! Files only the service's own user may read: the data folder (0700), the SQLite
//! files and the signing key (0600). Modes are set when a file is made, never after,
//! so no other user ever has a window in which to open it.

use std::{
    fs::{DirBuilder, OpenOptions},
    io,
    path::Path,
};

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Creates `path` (and missing parents) readable by the owner only. A folder that
/// already exists is left as the operator made it, with a warning when others may
/// enter it: it may be shared on purpose, and its files are 0600 anyway.
pub fn private_dir(path: &Path) -> io::Result<()> {
    if path.as_os_str().is_empty() {
        return Ok(());
    }
    if path.is_dir() {
        #[cfg(unix)]
        if std::fs::metadata(path)?.permissions().mode() & 0o077 != 0 {
            tracing::warn!(folder = %path.display(), "the data folder is open to other users; 0700 is advised");
        }
        return Ok(());
    }
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(path)
}

/// Makes sure the file at `path` exists and is readable by the owner only: created
/// with mode 0600 when missing, narrowed to 0600 when it exists.
pub fn private_file(path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    options.mode(0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}
