//! What a certificate is for, as written into it and read back out of it.

use std::net::IpAddr;

use access::Role;
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyUsagePurpose, SanType};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::PkiError;

pub(crate) const TENANT_URI: &str = "urn:fulgur:tenant:";
pub(crate) const PLATFORM_URI: &str = "urn:fulgur:platform";
pub(crate) const ROLE_URI: &str = "urn:fulgur:role:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// A TLS server: the names and addresses clients reach it by.
    Server { dns: Vec<String>, ips: Vec<IpAddr> },
    /// A caller: its tenant (`None`: the platform) and roles.
    Client {
        tenant: Option<String>,
        roles: Vec<Role>,
    },
}

fn ia5(value: &str) -> Result<rcgen::string::Ia5String, PkiError> {
    value
        .try_into()
        .map_err(|_| PkiError::InvalidInput(format!("{value:?} is not ASCII")))
}

impl Profile {
    pub(crate) fn validate(&self) -> Result<(), PkiError> {
        match self {
            Profile::Server { dns, ips } if dns.is_empty() && ips.is_empty() => {
                Err(PkiError::InvalidInput(
                    "a server certificate needs a DNS name or an address".into(),
                ))
            }
            Profile::Client { roles, .. } if roles.is_empty() => Err(PkiError::InvalidInput(
                "a client certificate needs at least one role".into(),
            )),
            Profile::Client {
                tenant: Some(tenant),
                ..
            } if tenant.is_empty()
                || access::is_reserved_tenant_id(tenant)
                || tenant.len() > 64
                || !tenant
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Err(PkiError::InvalidInput(format!(
                    "tenant {tenant:?}: 1-64 letters, digits, '-' or '_', not platform or system"
                )))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn apply(&self, params: &mut CertificateParams) -> Result<(), PkiError> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        match self {
            Profile::Server { dns, ips } => {
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                for name in dns {
                    params.subject_alt_names.push(SanType::DnsName(ia5(name)?));
                }
                for ip in ips {
                    params.subject_alt_names.push(SanType::IpAddress(*ip));
                }
            }
            Profile::Client { tenant, roles } => {
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                let owner = match tenant {
                    Some(tenant) => format!("{TENANT_URI}{tenant}"),
                    None => PLATFORM_URI.to_string(),
                };
                params.subject_alt_names.push(SanType::URI(ia5(&owner)?));
                for role in roles {
                    let uri = format!("{ROLE_URI}{}", role.as_str());
                    params.subject_alt_names.push(SanType::URI(ia5(&uri)?));
                }
            }
        }
        Ok(())
    }

    /// The profile a certificate was issued with (for renewal).
    pub(crate) fn read(cert: &X509Certificate<'_>) -> Result<Self, String> {
        let eku = cert
            .extended_key_usage()
            .map_err(|e| e.to_string())?
            .ok_or("no extended key usage")?;
        if eku.value.server_auth {
            let mut dns = Vec::new();
            let mut ips = Vec::new();
            for name in alt_names(cert)? {
                match name {
                    GeneralName::DNSName(d) => dns.push((*d).to_string()),
                    GeneralName::IPAddress(bytes) => ips.push(ip_from(bytes)?),
                    _ => {}
                }
            }
            return Ok(Profile::Server { dns, ips });
        }
        if !eku.value.client_auth {
            return Err("neither a server nor a client certificate".into());
        }
        client_identity_of(cert).map(|(tenant, roles)| Profile::Client { tenant, roles })
    }
}

fn alt_names<'a>(cert: &'a X509Certificate<'_>) -> Result<Vec<&'a GeneralName<'a>>, String> {
    Ok(cert
        .subject_alternative_name()
        .map_err(|e| e.to_string())?
        .map(|san| san.value.general_names.iter().collect())
        .unwrap_or_default())
}

fn ip_from(bytes: &[u8]) -> Result<IpAddr, String> {
    match bytes.len() {
        4 => Ok(IpAddr::from(
            <[u8; 4]>::try_from(bytes).map_err(|e| e.to_string())?,
        )),
        16 => Ok(IpAddr::from(
            <[u8; 16]>::try_from(bytes).map_err(|e| e.to_string())?,
        )),
        n => Err(format!("an IP address of {n} bytes")),
    }
}

/// Tenant (or platform) and roles from a client certificate's URIs. Exactly one owner
/// URI; an unknown role is an error, not something to skip.
pub(crate) fn client_identity_of(
    cert: &X509Certificate<'_>,
) -> Result<(Option<String>, Vec<Role>), String> {
    let mut owners = Vec::new();
    let mut roles = Vec::new();
    let uris = alt_names(cert)?.into_iter().filter_map(|n| match n {
        GeneralName::URI(u) => Some(*u),
        _ => None,
    });
    for uri in uris {
        if let Some(tenant) = uri.strip_prefix(TENANT_URI) {
            owners.push(Some(tenant.to_string()));
        } else if uri == PLATFORM_URI {
            owners.push(None);
        } else if let Some(role) = uri.strip_prefix(ROLE_URI) {
            roles.push(role.parse::<Role>().map_err(|e| e.to_string())?);
        }
    }
    match owners.as_slice() {
        [owner] if !roles.is_empty() => Ok((owner.clone(), roles)),
        [_] => Err("no role".into()),
        _ => Err("not exactly one tenant or platform URI".into()),
    }
}
