//! `secret-file`: a 256-bit secret kept in a file of its own (hex, mode 0600), created on
//! first use and zeroized in memory; and files replaced atomically ([`replace`]). Used for the API-key pepper and the audit signing
//! seed until the HSM issue moves them under envelope encryption.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
#[error("secret file {path}: {detail}")]
pub struct SecretFileError {
    pub path: String,
    pub detail: String,
}

/// The 32 bytes in `path`, or fresh random ones written there (never overwriting) if the
/// file does not exist.
pub fn load_or_create(path: &Path) -> Result<Zeroizing<[u8; 32]>, SecretFileError> {
    let error = |detail: String| SecretFileError {
        path: path.display().to_string(),
        detail,
    };
    let mut bytes = Zeroizing::new([0u8; 32]);
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            hex::decode_to_slice(text.trim(), bytes.as_mut_slice())
                .map_err(|_| error("not 64 hex characters".into()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            getrandom::fill(bytes.as_mut_slice()).map_err(|e| error(e.to_string()))?;
            let text = Zeroizing::new(hex::encode(bytes.as_slice()));
            write_new(path, text.as_bytes()).map_err(|e| error(e.to_string()))?;
        }
        Err(e) => return Err(error(e.to_string())),
    }
    Ok(bytes)
}

/// Writes `contents` to `path` through a temporary file beside it (created with `mode`,
/// fsynced) and a rename, so a reader sees the old file or the new one, never a mix.
pub fn replace(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn write_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_once_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pepper");
        let first = load_or_create(&path).expect("create");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(*load_or_create(&path).expect("read"), *first);
        assert_ne!(*first, [0u8; 32]);
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pepper");
        std::fs::write(&path, "abc\n").expect("write");
        let error = load_or_create(&path).expect_err("short");
        assert!(error.to_string().contains("not 64 hex"), "{error}");
    }
}
