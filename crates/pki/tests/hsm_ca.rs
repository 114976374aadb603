//! The CA's key in a real SoftHSM2 token: generated there, never on disk, and what it
//! signs (certificates, the revocation list) checked by OpenSSL, a verifier nobody here
//! wrote. One PKCS#11 module per process: the tests share one token, each with its labels.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use access::Role;
use keystore::testing::SoftHsmToken;
use keystore::{KeyKind, KeyStore, KeyStoreError, Pkcs11Store};
use pki::{Pki, PkiError, Profile};

const NOW: i64 = 1_790_000_000;

fn store() -> Arc<dyn KeyStore> {
    static STORE: OnceLock<(SoftHsmToken, Arc<Pkcs11Store>)> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let token = SoftHsmToken::create("fulgur-pki", "1357-pki").expect("token");
            let store = Arc::new(token.open(2).expect("the token opens"));
            (token, store)
        })
        .1
        .clone()
}

fn client(tenant: &str) -> Profile {
    Profile::Client {
        tenant: Some(tenant.to_string()),
        roles: vec![Role::Integration],
    }
}

/// `openssl verify` of `cert` against the CA at `NOW` (and the CRL, if given): its stdout
/// and stderr, and whether it succeeded.
fn openssl_verify(dir: &Path, cert: &Path, crl: bool) -> (bool, String) {
    let mut command = Command::new("openssl");
    command
        .arg("verify")
        .arg("-attime")
        .arg((NOW + 3_600).to_string())
        .arg("-CAfile")
        .arg(dir.join("ca.crt"));
    if crl {
        command
            .arg("-crl_check")
            .arg("-CRLfile")
            .arg(dir.join("ca.crl"));
    }
    let output = command.arg(cert).output().expect("openssl runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

#[test]
fn a_ca_whose_key_is_in_the_hsm_signs_what_openssl_verifies() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = store();
    let pki = Pki::with_key_store(dir.path(), keys.clone());
    let ca = pki
        .init_in_key_store(NOW, 3650, "ca-main")
        .expect("CA in the token");
    assert!(pki.ca_key_in_key_store());
    assert!(!dir.path().join("ca.key").exists(), "no CA key on disk");
    assert_eq!(
        std::fs::read_to_string(&ca.key_path).expect("reference"),
        "ca-main\n"
    );
    let protection = keys.protection("ca-main").expect("protection");
    assert!(protection.sensitive && !protection.extractable && !protection.value_readable);
    assert!(keys
        .list()
        .expect("list")
        .iter()
        .any(|k| k.label == "ca-main" && k.kind == KeyKind::P256));

    let server = pki
        .issue(
            "api",
            &Profile::Server {
                dns: vec!["fulgur.example.com".into()],
                ips: vec![],
            },
            NOW,
            60,
        )
        .expect("server certificate");
    let erp = pki.issue("erp", &client("acme"), NOW, 60).expect("client");
    for cert in [&ca.cert_path, &server.cert_path, &erp.cert_path] {
        let (ok, said) = openssl_verify(dir.path(), cert, false);
        assert!(ok, "{}: {said}", cert.display());
    }
    // The CRL of `init` is signed by the token too, and is empty.
    let (ok, said) = openssl_verify(dir.path(), &erp.cert_path, true);
    assert!(ok, "{said}");

    pki.revoke("erp", NOW + 60).expect("revoke");
    // The revocation list verifies under the CA's certificate.
    let crl = Command::new("openssl")
        .args(["crl", "-noout", "-CAfile"])
        .arg(dir.path().join("ca.crt"))
        .arg("-in")
        .arg(dir.path().join("ca.crl"))
        .output()
        .expect("openssl crl");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&crl.stdout),
        String::from_utf8_lossy(&crl.stderr)
    );
    assert!(crl.status.success() && said.contains("verify OK"), "{said}");
    let (ok, said) = openssl_verify(dir.path(), &erp.cert_path, true);
    assert!(!ok && said.contains("revoked"), "{said}");
    let (ok, said) = openssl_verify(dir.path(), &server.cert_path, true);
    assert!(ok, "the others stay valid: {said}");

    // A renewal is signed by the token as well.
    let renewed = pki.renew("erp", NOW + 120, 60).expect("renew");
    let (ok, said) = openssl_verify(dir.path(), &renewed.cert_path, true);
    assert!(ok, "a renewal is a new serial: {said}");
}

#[test]
fn the_ca_signs_only_with_its_own_key() {
    let keys = store();
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::with_key_store(dir.path(), keys.clone());
    pki.init_in_key_store(NOW, 3650, "ca-own").expect("CA");
    let reference = dir.path().join("ca.keystore");
    let erp = client("acme");

    // Without the key store, the CA cannot sign, and says where its key is.
    let err = Pki::new(dir.path())
        .issue("erp", &erp, NOW, 60)
        .expect_err("no key store");
    assert!(
        matches!(&err, PkiError::InvalidInput(m) if m.contains("key store") && m.contains("ca-own")),
        "{err}"
    );

    // A label naming another P-256 key: refused before anything is signed.
    keys.generate("ca-impostor", KeyKind::P256)
        .expect("impostor");
    std::fs::write(&reference, "ca-impostor\n").expect("swap");
    let err = pki.issue("erp", &erp, NOW, 60).expect_err("another key");
    assert!(matches!(err, PkiError::BadCertificate { .. }), "{err}");
    // A secp256k1 key, an absent one, a label that is not one.
    keys.generate("ca-k1", KeyKind::Secp256k1).expect("k1");
    for (label, expected) in [
        ("ca-k1", "wrong kind"),
        ("ca-nowhere", "unknown"),
        ("../ca", "invalid label"),
    ] {
        std::fs::write(&reference, format!("{label}\n")).expect("swap");
        let err = pki.issue("erp", &erp, NOW, 60).expect_err(label);
        let fits = matches!(
            (&err, expected),
            (
                PkiError::KeyStore(KeyStoreError::WrongKind { .. }),
                "wrong kind"
            ) | (PkiError::KeyStore(KeyStoreError::UnknownKey(_)), "unknown")
                | (
                    PkiError::KeyStore(KeyStoreError::InvalidLabel(_)),
                    "invalid label"
                )
        );
        assert!(fits, "{label}: {err}");
    }
    assert!(!dir.path().join("erp.crt").exists(), "nothing was issued");

    std::fs::write(&reference, "ca-own\n").expect("restore");
    pki.issue("erp", &erp, NOW, 60).expect("its own key signs");

    // A second CA cannot take a label in use, and leaves nothing behind.
    let other = tempfile::tempdir().expect("dir");
    let err = Pki::with_key_store(other.path(), keys.clone())
        .init_in_key_store(NOW, 3650, "ca-own")
        .expect_err("label taken");
    assert!(
        matches!(err, PkiError::KeyStore(KeyStoreError::LabelTaken(_))),
        "{err}"
    );
    assert!(!other.path().join("ca.crt").exists());
    // Nor can one be made in a key store that is not there.
    let err = Pki::new(other.path())
        .init_in_key_store(NOW, 3650, "ca-other")
        .expect_err("no key store");
    assert!(matches!(err, PkiError::InvalidInput(_)), "{err}");
}
