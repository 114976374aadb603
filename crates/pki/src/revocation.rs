//! Revoking certificates: `revoked.list` records each revoked serial (with when and which
//! name), and `ca.crl` is that list as an X.509 CRL signed by the CA, rewritten at every
//! revocation. The API's TLS listener loads the CRL with the CA and rereads both when
//! they change, so a revoked client certificate is refused at the next handshake.

use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, RevocationReason, RevokedCertParams,
    SerialNumber,
};
use time::Duration;

use crate::authority::{time_of, with_cert, CA_NAME};
use crate::{files, Pki, PkiError};

/// A CRL says when the next is due; Fulgur rewrites it at each revocation and the listener
/// does not refuse a stale one, so this only informs other readers.
const CRL_VALIDITY_DAYS: i64 = 30;

/// The serials (hex) a PEM revocation list names: what a server checks each request's
/// client certificate against, so a revoked certificate's open connections stop too.
pub fn crl_serials(pem: &[u8]) -> Result<std::collections::HashSet<String>, String> {
    use x509_parser::prelude::FromDer;
    let mut serials = std::collections::HashSet::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| e.to_string())?;
        if block.label != "X509 CRL" {
            continue;
        }
        let (_, crl) =
            x509_parser::revocation_list::CertificateRevocationList::from_der(&block.contents)
                .map_err(|e| e.to_string())?;
        serials.extend(
            crl.iter_revoked_certificates()
                .map(|r| hex::encode(r.raw_serial())),
        );
    }
    Ok(serials)
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Hex serial number.
    pub serial: String,
    pub name: String,
    pub revoked_at_unix: i64,
}

impl Pki {
    /// Where the CA's revocation list is (`ca.crl`, PEM).
    pub fn crl_path(&self) -> std::path::PathBuf {
        self.dir().join("ca.crl")
    }

    fn list_path(&self) -> std::path::PathBuf {
        self.dir().join("revoked.list")
    }

    /// Every revocation so far, oldest first.
    pub fn revocations(&self) -> Result<Vec<Revocation>, PkiError> {
        let path = self.list_path();
        if !path.exists() {
            return Ok(Vec::new());
        }
        files::read(&path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let mut fields = line.split_whitespace();
                let parsed = (|| {
                    let serial = fields.next()?.to_string();
                    let revoked_at_unix = fields.next()?.parse().ok()?;
                    let name = fields.next()?.to_string();
                    hex::decode(&serial).ok()?;
                    Some(Revocation {
                        serial,
                        name,
                        revoked_at_unix,
                    })
                })();
                parsed.ok_or_else(|| PkiError::BadCertificate {
                    path: path.display().to_string(),
                    reason: format!("unreadable line {line:?}"),
                })
            })
            .collect()
    }

    /// Revokes the certificate now in `NAME.crt` and rewrites `ca.crl`. Revoking it twice
    /// changes nothing; its renewal (a new serial) is a new certificate.
    pub fn revoke(&self, name: &str, now_unix: i64) -> Result<Revocation, PkiError> {
        if name == CA_NAME {
            return Err(PkiError::InvalidInput(
                "the CA is not revoked; replace it".into(),
            ));
        }
        let serial = with_cert(&self.cert_path(name), |cert| {
            Ok(hex::encode(cert.raw_serial()))
        })?;
        let mut all = self.revocations()?;
        let revocation = match all.iter().find(|r| r.serial == serial) {
            Some(existing) => existing.clone(),
            None => {
                let new = Revocation {
                    serial,
                    name: name.to_string(),
                    revoked_at_unix: now_unix,
                };
                all.push(new.clone());
                new
            }
        };
        // The CRL first: a listener that rereads between the two writes sees the new CRL.
        self.write_crl(&all, now_unix)?;
        let list: String = all
            .iter()
            .map(|r| format!("{} {} {}\n", r.serial, r.revoked_at_unix, r.name))
            .collect();
        files::replace(&self.list_path(), &list, false)?;
        Ok(revocation)
    }

    /// Writes `ca.crl` for `revoked` (also empty: a listener may load it from the start).
    pub fn write_crl(&self, revoked: &[Revocation], now_unix: i64) -> Result<(), PkiError> {
        let ca_pem = files::read(&self.ca_cert_path())?;
        let ca_key = self.ca_signer()?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key)?;
        let now = time_of(now_unix)?;
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(
                        &hex::decode(&r.serial)
                            .map_err(|e| PkiError::InvalidInput(e.to_string()))?,
                    ),
                    revocation_time: time_of(r.revoked_at_unix)?,
                    reason_code: Some(RevocationReason::Unspecified),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + Duration::days(CRL_VALIDITY_DAYS),
            crl_number: SerialNumber::from(u64::try_from(now_unix).unwrap_or(0)),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&issuer).map_err(|e| ca_key.explain(e))?;
        files::replace(&self.crl_path(), &crl.pem()?, false)
    }
}
