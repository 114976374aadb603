//! PostgreSQL over TLS. The URL's `sslmode` and `sslrootcert` parameters (libpq's names)
//! choose it; rust-postgres does not read `verify-full` or `sslrootcert`, so they are taken
//! out of the URL here and the connection is made with rustls.
//!
//! Fulgur never connects to a database it cannot authenticate: `require`, `verify-ca` and
//! `verify-full` all verify the server's certificate against `sslrootcert` **and** its
//! name against the URL's host (libpq's `require` would not verify at all, `verify-ca` not
//! the name; both are stricter here, and a URL asking for TLS without `sslrootcert` is
//! refused). `disable`, `allow`, `prefer` and no `sslmode` connect in plain text, as
//! before (a database on the same host or a private network).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::StoreError;

/// How to reach the server.
#[derive(Clone)]
pub(crate) enum PgTls {
    Plain,
    Verified(Arc<rustls::ClientConfig>),
}

/// Takes `sslmode` and `sslrootcert` out of `url`: the URL rust-postgres parses, and the
/// TLS to use.
pub(crate) fn split_tls(url: &str) -> Result<(String, PgTls), StoreError> {
    let invalid = |why: &str| StoreError::InvalidUrl(format!("{}: {why}", redact(url)));
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), PgTls::Plain));
    };
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => mode = Some(value.to_string()),
            Some(("sslrootcert", value)) => root = Some(PathBuf::from(value)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let tls = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => PgTls::Plain,
        Some("require" | "verify-ca" | "verify-full") => {
            let root = root.ok_or_else(|| {
                invalid("sslmode asks for TLS: give sslrootcert=PATH (the CA that signed the server's certificate)")
            })?;
            PgTls::Verified(Arc::new(client_config(&root)?))
        }
        Some(_) => {
            return Err(invalid(
                "sslmode must be disable, allow, prefer, require, verify-ca or verify-full",
            ))
        }
    };
    Ok((rest, tls))
}

/// TLS 1.2+ (rustls' safe defaults, ring), trusting exactly the CAs in `root` (PEM).
fn client_config(root: &std::path::Path) -> Result<rustls::ClientConfig, StoreError> {
    let unreadable =
        |why: String| StoreError::InvalidUrl(format!("sslrootcert {}: {why}", root.display()));
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(root)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    if certificates.is_empty() {
        return Err(unreadable("no certificate in the file".into()));
    }
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|e| unreadable(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unreadable(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The URL without its password, for error messages.
pub(crate) fn redact(url: &str) -> String {
    // The credentials end at the last `@` before the path (a password may hold `@`).
    let authority_end = url
        .find("://")
        .and_then(|scheme| url[scheme + 3..].find('/').map(|p| scheme + 3 + p))
        .unwrap_or(url.len());
    match (url.find("://"), url[..authority_end].rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_and_others_kept() {
        let (url, tls) =
            split_tls("postgres://u@h/db?application_name=x&sslmode=disable").expect("ok");
        assert_eq!(url, "postgres://u@h/db?application_name=x");
        assert!(matches!(tls, PgTls::Plain));
        let (url, tls) = split_tls("postgres://u@h/db").expect("ok");
        assert_eq!(url, "postgres://u@h/db");
        assert!(matches!(tls, PgTls::Plain));
    }

    #[test]
    fn asking_for_tls_without_a_root_or_with_a_bad_mode_is_refused_without_the_password() {
        for url in [
            "postgres://u:secret@h/db?sslmode=verify-full",
            "postgres://u:secret@h/db?sslmode=require",
            "postgres://u:secret@h/db?sslmode=bogus",
            "postgres://u:secret@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt",
            "postgres://u:se@cret@h/db?sslmode=require",
        ] {
            match split_tls(url) {
                Err(StoreError::InvalidUrl(why)) => {
                    assert!(!why.contains("secret") && !why.contains("cret@"), "{why}");
                    assert!(why.contains("ssl"), "{why}");
                }
                Err(other) => panic!("{url}: {other:?}"),
                Ok(_) => panic!("{url}: accepted"),
            }
        }
    }
}
