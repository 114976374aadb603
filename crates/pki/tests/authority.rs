//! The CA directory on disk: init, issue, renew and status, and the identity a client
//! certificate carries read back from its DER.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;

use access::{ApiScope, Role};
use pki::{ClientIdentity, Pki, PkiError, Profile};
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;

const DAY: i64 = 86_400;
const NOW: i64 = 1_790_000_000;

fn der(path: &std::path::Path) -> Vec<u8> {
    let text = std::fs::read(path).expect("read cert");
    parse_x509_pem(&text).expect("pem").1.contents
}

fn client(tenant: Option<&str>, roles: &[Role]) -> Profile {
    Profile::Client {
        tenant: tenant.map(str::to_string),
        roles: roles.to_vec(),
    }
}

#[test]
fn a_client_certificate_carries_its_tenant_and_roles() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new(dir.path());
    pki.init(NOW, 3650).expect("init");
    let issued = pki
        .issue(
            "erp",
            &client(Some("acme"), &[Role::Integration, Role::Auditor]),
            NOW,
            60,
        )
        .expect("issue");
    assert_eq!(issued.not_after_unix, NOW + 60 * DAY);
    let mode = std::fs::metadata(&issued.key_path)
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "private key readable by its owner only"
    );

    let identity = ClientIdentity::from_der(&der(&issued.cert_path)).expect("identity");
    assert_eq!(identity.name, "erp");
    assert_eq!(identity.tenant.as_deref(), Some("acme"));
    assert_eq!(identity.roles, vec![Role::Integration, Role::Auditor]);
    let principal = identity.principal();
    assert_eq!(principal.credential_id, format!("cert:{}", identity.serial));
    assert!(principal.allows(ApiScope::PaymentsWrite) && principal.allows(ApiScope::AuditRead));
    assert!(!principal.allows(ApiScope::Admin));

    let platform = pki
        .issue("ops", &client(None, &[Role::Operator]), NOW, 60)
        .expect("issue");
    let identity = ClientIdentity::from_der(&der(&platform.cert_path)).expect("identity");
    assert_eq!(identity.tenant, None);

    // A server certificate names no caller.
    let server = pki
        .issue(
            "api",
            &Profile::Server {
                dns: vec!["localhost".into()],
                ips: vec!["127.0.0.1".parse::<IpAddr>().expect("ip")],
            },
            NOW,
            60,
        )
        .expect("server");
    assert!(ClientIdentity::from_der(&der(&server.cert_path)).is_err());
}

#[test]
fn renewal_keeps_the_identity_with_a_new_key_and_status_warns_30_days_ahead() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new(dir.path());
    pki.init(NOW, 3650).expect("init");
    let profile = Profile::Server {
        dns: vec!["fulgur.internal".into(), "localhost".into()],
        ips: vec!["127.0.0.1".parse().expect("ip"), "::1".parse().expect("ip")],
    };
    let first = pki.issue("api", &profile, NOW, 40).expect("issue");
    let key_before = std::fs::read(&first.key_path).expect("key");
    pki.issue(
        "erp",
        &client(Some("acme"), &[Role::Integration]),
        NOW - 70 * DAY,
        60,
    )
    .expect("already expired");

    let status = pki.status(NOW + 15 * DAY).expect("status");
    let find = |name: &str| status.iter().find(|s| s.name == name).expect(name).clone();
    assert!(find("api").expiring && find("api").days_left == 25);
    assert!(find("erp").expiring && find("erp").days_left < 0);
    assert!(!find("ca").expiring);
    assert_eq!(status[0].name, "erp", "soonest first");

    let renewed = pki.renew("api", NOW + 15 * DAY, 60).expect("renew");
    assert_eq!(renewed.not_after_unix, NOW + 75 * DAY);
    assert_ne!(std::fs::read(&renewed.key_path).expect("key"), key_before);
    assert!(!pki
        .status(NOW + 15 * DAY)
        .expect("status")
        .iter()
        .any(|s| s.name == "api" && s.expiring));
    let renewed_client = pki.renew("erp", NOW, 60).expect("renew client");
    let identity = ClientIdentity::from_der(&der(&renewed_client.cert_path)).expect("identity");
    assert_eq!(identity.tenant.as_deref(), Some("acme"));
    assert_eq!(identity.roles, vec![Role::Integration]);
}

#[test]
fn bad_requests_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new(dir.path());
    let operator = client(None, &[Role::Operator]);
    assert!(matches!(
        pki.issue("x", &operator, NOW, 60),
        Err(PkiError::Missing(_))
    ));
    pki.init(NOW, 3650).expect("init");
    assert!(matches!(pki.init(NOW, 3650), Err(PkiError::Exists(_))));
    let cases = [
        ("Bad Name", operator.clone(), 60),
        ("ca", operator.clone(), 60),
        ("x", operator.clone(), 0),
        ("x", operator.clone(), 100_000),
        // SPEC §5.3: 60 days at most for servers and clients.
        ("x", operator.clone(), 61),
        ("x", client(Some("acme"), &[]), 60),
        ("x", client(Some("no spaces"), &[Role::Admin]), 60),
        (
            "x",
            Profile::Server {
                dns: vec![],
                ips: vec![],
            },
            60,
        ),
    ];
    for (name, profile, days) in cases {
        let refused = pki.issue(name, &profile, NOW, days);
        assert!(
            matches!(refused, Err(PkiError::InvalidInput(_))),
            "{name} {profile:?} {days}"
        );
    }
    pki.issue("x", &operator, NOW, 60).expect("issue");
    assert!(matches!(
        pki.issue("x", &operator, NOW, 60),
        Err(PkiError::Exists(_))
    ));
    assert!(matches!(
        pki.renew("nobody", NOW, 60),
        Err(PkiError::Missing(_))
    ));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["ca.crl", "ca.crt", "ca.key", "x.crt", "x.key"]);
}

#[test]
fn revoked_certificates_are_listed_in_a_crl_signed_by_the_ca() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new(dir.path());
    pki.init(NOW, 3650).expect("init");
    let operator = client(None, &[Role::Operator]);
    pki.issue("ops", &operator, NOW, 60).expect("issue");
    pki.issue("erp", &client(Some("acme"), &[Role::Integration]), NOW, 60)
        .expect("issue");
    assert!(pki.revocations().expect("none yet").is_empty());
    let first = pki.revoke("ops", NOW + 10).expect("revoke");
    assert_eq!(first.name, "ops");
    assert_eq!(
        pki.revoke("ops", NOW + 20).expect("again"),
        first,
        "idempotent"
    );
    pki.revoke("erp", NOW + 30).expect("revoke");
    assert!(matches!(
        pki.revoke("ca", NOW),
        Err(PkiError::InvalidInput(_))
    ));
    assert!(matches!(
        pki.revoke("nobody", NOW),
        Err(PkiError::Missing(_))
    ));
    // The CRL parses, is signed by the CA, and lists exactly the two serials.
    let pem = std::fs::read_to_string(pki.crl_path()).expect("crl");
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("pem");
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&pem.contents)
        .expect("der");
    let listed: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|r| hex::encode(r.raw_serial()))
        .collect();
    let expected: Vec<String> = pki
        .revocations()
        .expect("list")
        .into_iter()
        .map(|r| r.serial)
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(listed.len(), 2);
    let ca_pem = std::fs::read_to_string(pki.ca_cert_path()).expect("ca");
    let (_, ca_pem) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).expect("pem");
    let (_, ca) =
        x509_parser::certificate::X509Certificate::from_der(&ca_pem.contents).expect("ca der");
    // Issued by the CA (the listener's handshake test proves rustls accepts its signature).
    assert_eq!(crl.issuer(), ca.subject());
}
