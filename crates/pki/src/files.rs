//! Writing PEM files: private keys mode 0600, every file replaced atomically.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::PkiError;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `contents` to `path` through a temporary file in the same directory and a
/// rename, so a reader sees the old file or the new one, never a mix.
pub(crate) fn replace(path: &Path, contents: &str, private: bool) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    let mode = if private { 0o600 } else { 0o644 };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    file.write_all(contents.as_bytes()).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

pub(crate) fn read(path: &Path) -> Result<String, PkiError> {
    if !path.exists() {
        return Err(PkiError::Missing(path.display().to_string()));
    }
    fs::read_to_string(path).map_err(io(path))
}
