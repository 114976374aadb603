//! Writing PEM files: private keys mode 0600, every file replaced atomically.

use std::fs;
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
    let mode = if private { 0o600 } else { 0o644 };
    secret_file::replace(path, contents.as_bytes(), mode).map_err(io(path))
}

pub(crate) fn read(path: &Path) -> Result<String, PkiError> {
    if !path.exists() {
        return Err(PkiError::Missing(path.display().to_string()));
    }
    fs::read_to_string(path).map_err(io(path))
}
