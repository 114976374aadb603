//! The CA directory: `ca.crt`/`ca.key`, and `NAME.crt`/`NAME.key` for each certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keystore::KeyStore;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;

use crate::ca_key::{CaSigner, StoreKey};
use crate::{
    files, PkiError, Profile, EXPIRY_WARNING_DAYS, MAX_CA_VALIDITY_DAYS, MAX_VALIDITY_DAYS,
};

pub(crate) const CA_NAME: &str = "ca";
/// Certificates start a little in the past, for peers whose clocks run behind.
const BACKDATE_SECS: i64 = 300;

/// A certificate just written.
#[derive(Debug, Clone)]
pub struct Issued {
    pub name: String,
    pub cert_path: PathBuf,
    /// The private key's file; for a CA whose key is in the key store, the file that
    /// names the key's label (`ca.keystore`).
    pub key_path: PathBuf,
    pub not_after_unix: i64,
}

/// How long a certificate in the directory has left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertStatus {
    pub name: String,
    /// `ca`, `server` or `client`.
    pub kind: &'static str,
    pub not_after_unix: i64,
    /// Negative once expired.
    pub days_left: i64,
    /// Fewer than [`EXPIRY_WARNING_DAYS`] left (or expired).
    pub expiring: bool,
}

/// The CA's directory, and the key store if the CA's key is (or is to be) kept there.
pub struct Pki {
    dir: PathBuf,
    keys: Option<Arc<dyn KeyStore>>,
}

pub(crate) fn time_of(unix: i64) -> Result<OffsetDateTime, PkiError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| PkiError::InvalidInput(format!("time {unix}: {e}")))
}

fn check_days(days: u32, max: u32) -> Result<(), PkiError> {
    if days == 0 || days > max {
        return Err(PkiError::InvalidInput(format!(
            "validity {days} days: 1 to {max}"
        )));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), PkiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != CA_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidInput(format!(
            "name {name:?}: 1-64 of a-z, 0-9 and '-', not \"ca\""
        )))
    }
}

/// The first certificate of a PEM file, parsed.
pub(crate) fn with_cert<T>(
    path: &Path,
    read: impl FnOnce(&X509Certificate<'_>) -> Result<T, String>,
) -> Result<T, PkiError> {
    let bad = |reason: String| PkiError::BadCertificate {
        path: path.display().to_string(),
        reason,
    };
    let pem_text = files::read(path)?;
    let (_, pem) = parse_x509_pem(pem_text.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let (_, cert) = X509Certificate::from_der(&pem.contents).map_err(|e| bad(e.to_string()))?;
    read(&cert).map_err(bad)
}

impl Pki {
    /// A CA directory whose key is the file `ca.key`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            keys: None,
        }
    }

    /// A CA directory with the key store its key is in (or is to be made in, by
    /// [`Pki::init_in_key_store`]). A directory whose key is `ca.key` still uses the file.
    pub fn with_key_store(dir: impl Into<PathBuf>, keys: Arc<dyn KeyStore>) -> Self {
        Self {
            dir: dir.into(),
            keys: Some(keys),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn key_store(&self) -> Option<&Arc<dyn KeyStore>> {
        self.keys.as_ref()
    }

    pub fn ca_cert_path(&self) -> PathBuf {
        self.cert_path(CA_NAME)
    }

    pub fn cert_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.crt"))
    }

    pub fn key_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    /// Creates the CA with its key in `ca.key`. Refuses if one exists: replacing it would
    /// orphan every certificate.
    pub fn init(&self, now_unix: i64, days: u32) -> Result<Issued, PkiError> {
        self.check_new_ca(days)?;
        self.create_ca(now_unix, days, CaSigner::File(KeyPair::generate()?))
    }

    /// Creates the CA with its key generated in the key store as the P-256 key `label`
    /// (never on disk; `ca.keystore` names the label). Refuses if a CA exists here or the
    /// label is taken in the store.
    pub fn init_in_key_store(
        &self,
        now_unix: i64,
        days: u32,
        label: &str,
    ) -> Result<Issued, PkiError> {
        self.check_new_ca(days)?;
        let keys = self
            .keys
            .clone()
            .ok_or_else(|| PkiError::InvalidInput("no key store to make the CA's key in".into()))?;
        let signer = CaSigner::KeyStore(StoreKey::generate(keys.clone(), label)?);
        self.create_ca(now_unix, days, signer).inspect_err(|_| {
            // No CA came of it: leave no orphan key behind to block the label (best
            // effort; a failure here leaves a key that `fulgur keys destroy` removes).
            let _ = keys.destroy(label);
        })
    }

    fn check_new_ca(&self, days: u32) -> Result<(), PkiError> {
        check_days(days, MAX_CA_VALIDITY_DAYS)?;
        let cert_path = self.ca_cert_path();
        if cert_path.exists() {
            return Err(PkiError::Exists(cert_path.display().to_string()));
        }
        Ok(())
    }

    fn create_ca(&self, now_unix: i64, days: u32, key: CaSigner) -> Result<Issued, PkiError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| PkiError::Io {
            path: self.dir.display().to_string(),
            source,
        })?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "Fulgur internal CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Fulgur");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let not_after_unix = self.validity(&mut params, now_unix, days)?;
        let cert = params.self_signed(&key).map_err(|e| key.explain(e))?;
        let issued = self.record_ca_key(&key, not_after_unix, &cert.pem())?;
        // An empty revocation list from the start, so a listener can be configured with it.
        self.write_crl(&[], now_unix)?;
        Ok(issued)
    }

    /// Issues a new certificate `name`; refuses to overwrite one (use [`Pki::renew`]).
    pub fn issue(
        &self,
        name: &str,
        profile: &Profile,
        now_unix: i64,
        days: u32,
    ) -> Result<Issued, PkiError> {
        check_name(name)?;
        let path = self.cert_path(name);
        if path.exists() {
            return Err(PkiError::Exists(path.display().to_string()));
        }
        self.sign(name, profile, now_unix, days)
    }

    /// Reissues `name` with a fresh key and the identity it had.
    pub fn renew(&self, name: &str, now_unix: i64, days: u32) -> Result<Issued, PkiError> {
        check_name(name)?;
        let profile = with_cert(&self.cert_path(name), Profile::read)?;
        self.sign(name, &profile, now_unix, days)
    }

    /// Every certificate in the directory with the days it has left, soonest first.
    pub fn status(&self, now_unix: i64) -> Result<Vec<CertStatus>, PkiError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| PkiError::Io {
            path: self.dir.display().to_string(),
            source,
        })?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".crt"))
            else {
                continue;
            };
            let (kind, not_after_unix) = with_cert(&path, |cert| {
                let kind = if name == CA_NAME {
                    "ca"
                } else {
                    match Profile::read(cert)? {
                        Profile::Server { .. } => "server",
                        Profile::Client { .. } => "client",
                    }
                };
                Ok((kind, cert.validity().not_after.timestamp()))
            })?;
            let days_left = (not_after_unix - now_unix).div_euclid(86_400);
            out.push(CertStatus {
                name: name.to_string(),
                kind,
                not_after_unix,
                days_left,
                expiring: days_left < EXPIRY_WARNING_DAYS,
            });
        }
        out.sort_by_key(|s| (s.not_after_unix, s.name.clone()));
        Ok(out)
    }

    fn sign(
        &self,
        name: &str,
        profile: &Profile,
        now_unix: i64,
        days: u32,
    ) -> Result<Issued, PkiError> {
        // Servers and clients live 60 days at most (SPEC §5.3): renew, never extend.
        check_days(days, MAX_VALIDITY_DAYS)?;
        profile.validate()?;
        let ca_pem = files::read(&self.ca_cert_path())?;
        let ca_key = self.ca_signer()?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Fulgur");
        profile.apply(&mut params)?;
        let not_after_unix = self.validity(&mut params, now_unix, days)?;
        let key = KeyPair::generate()?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| ca_key.explain(e))?;
        self.write(name, &cert.pem(), &key, not_after_unix)
    }

    /// Sets the validity window; answers its end.
    fn validity(
        &self,
        params: &mut CertificateParams,
        now_unix: i64,
        days: u32,
    ) -> Result<i64, PkiError> {
        let now = time_of(now_unix)?;
        params.not_before = now - Duration::seconds(BACKDATE_SECS);
        params.not_after = now + Duration::days(i64::from(days));
        Ok(params.not_after.unix_timestamp())
    }

    /// The key first: a server reloading between the two renames sees a key that does not
    /// match its certificate, refuses the pair and keeps what it had until the next look.
    pub(crate) fn write(
        &self,
        name: &str,
        cert_pem: &str,
        key: &KeyPair,
        not_after_unix: i64,
    ) -> Result<Issued, PkiError> {
        let (cert_path, key_path) = (self.cert_path(name), self.key_path(name));
        files::replace(&key_path, &key.serialize_pem(), true)?;
        files::replace(&cert_path, cert_pem, false)?;
        Ok(Issued {
            name: name.to_string(),
            cert_path,
            key_path,
            not_after_unix,
        })
    }
}
