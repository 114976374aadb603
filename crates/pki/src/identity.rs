//! A verified client certificate as a caller.

use access::{Principal, Role, ScopeSet};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::profile::client_identity_of;

/// Who a client certificate names. Built only from a chain the TLS layer has verified
/// against the CA: the certificate's content is then the CA's word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject's common name.
    pub name: String,
    /// Hex of the serial number: names the certificate in the audit trail.
    pub serial: String,
    /// `None`: a platform credential.
    pub tenant: Option<String>,
    pub roles: Vec<Role>,
    pub not_after_unix: i64,
}

impl ClientIdentity {
    /// Reads a certificate's DER; `Err` says why it names no Fulgur caller.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        let name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .ok_or("no common name")?
            .to_string();
        let (tenant, roles) = client_identity_of(&cert)?;
        Ok(Self {
            name,
            serial: hex::encode(cert.raw_serial()),
            tenant,
            roles,
            not_after_unix: cert.validity().not_after.timestamp(),
        })
    }

    pub fn principal(&self) -> Principal {
        Principal {
            credential_id: format!("cert:{}", self.serial),
            // The subject, not the serial: a renewal is the same person.
            identity: format!("cert:{}", self.name),
            subject: self.name.clone(),
            tenant_id: self.tenant.clone(),
            scopes: ScopeSet::of(&self.roles, &[]),
            rate_tier: "standard".to_string(),
        }
    }
}

/// When a certificate (DER) stops being valid, for expiry warnings and metrics.
pub fn not_after_unix(der: &[u8]) -> Result<i64, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    Ok(cert.validity().not_after.timestamp())
}
