//! A real SoftHSM2 token for tests (Debian `softhsm2`, which `.ci/run` installs; without
//! it the tests fail rather than skip): a token directory and `softhsm2.conf` in a
//! temporary directory, the token initialised with `softhsm2-util`.

use std::path::{Path, PathBuf};
use std::process::Command;

use zeroize::Zeroizing;

use crate::{KeyStoreError, Pkcs11Config, Pkcs11Store};

/// Where Debian installs the module.
pub const SOFTHSM2_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A freshly initialised token; the directory goes when this is dropped.
pub struct SoftHsmToken {
    pub dir: tempfile::TempDir,
    /// The `SOFTHSM2_CONF` file naming the token directory.
    pub conf: PathBuf,
    pub label: String,
    pub pin: String,
}

impl SoftHsmToken {
    /// Creates and initialises a token labelled `label` with user PIN `pin`.
    pub fn create(label: &str, pin: &str) -> Result<Self, KeyStoreError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            KeyStoreError::Backend(format!("test token: {what}: {e}"))
        };
        if !Path::new(SOFTHSM2_MODULE).exists() {
            return Err(KeyStoreError::Backend(format!(
                "SoftHSM2 is not installed ({SOFTHSM2_MODULE}): apt-get install softhsm2"
            )));
        }
        let dir = tempfile::tempdir().map_err(|e| fail("directory", &e))?;
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).map_err(|e| fail("token directory", &e))?;
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .map_err(|e| fail("softhsm2.conf", &e))?;
        let init = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", pin, "--so-pin", "so-4711"])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .map_err(|e| fail("softhsm2-util", &e))?;
        if !init.status.success() {
            return Err(fail(
                "softhsm2-util",
                &String::from_utf8_lossy(&init.stderr),
            ));
        }
        Ok(Self {
            dir,
            conf,
            label: label.to_string(),
            pin: pin.to_string(),
        })
    }

    /// Opens the token in this process. The module reads `SOFTHSM2_CONF` once, when it
    /// loads: this sets it, so one token per test process.
    pub fn open(&self, sessions: usize) -> Result<Pkcs11Store, KeyStoreError> {
        std::env::set_var("SOFTHSM2_CONF", &self.conf);
        Pkcs11Store::open(&Pkcs11Config {
            module: SOFTHSM2_MODULE.into(),
            token_label: self.label.clone(),
            pin: Zeroizing::new(self.pin.clone()),
            sessions,
        })
    }
}
