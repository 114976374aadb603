//! TLS 1.3 and client certificates over real HTTPS against the real server, with
//! certificates from the internal CA (`pki`): a certificate is a credential with its
//! tenant and roles; a certificate of another CA, an expired one, TLS 1.2 and plain HTTP
//! are refused; renewed certificates and a replaced CA take effect without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use access::Role;
use api::{ClientAuth, TlsConfig};
use pki::{Pki, Profile};
use reqwest::{Certificate, Client, Identity, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use store::testing::TestStore;

mod common;
mod guarded;

store::on_both_stores!(
    client_certificates_are_credentials_and_reload_without_restart,
    required_client_certificates_refuse_connections_without_one,
);

const DAY: i64 = 86_400;

fn now() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(since.as_secs()).expect("secs")
}

struct Cas {
    _dir: tempfile::TempDir,
    ours: Pki,
    theirs: Pki,
    /// The file the server reads its client CA from (a copy the test may replace).
    client_ca: PathBuf,
    /// The file the server reads the CA's revocation list from (a copy, likewise).
    client_crl: PathBuf,
}

fn cas() -> Cas {
    let dir = tempfile::tempdir().expect("dir");
    let ours = Pki::new(dir.path().join("ours"));
    let theirs = Pki::new(dir.path().join("theirs"));
    ours.init(now(), 3650).expect("init ours");
    theirs.init(now(), 3650).expect("init theirs");
    let server = Profile::Server {
        dns: vec!["localhost".into()],
        ips: vec!["127.0.0.1".parse().expect("ip")],
    };
    ours.issue("api", &server, now(), 60).expect("server cert");
    let acme = |role| Profile::Client {
        tenant: Some("acme".into()),
        roles: vec![role],
    };
    ours.issue("erp", &acme(Role::Integration), now(), 60)
        .expect("erp");
    ours.issue("stale", &acme(Role::Integration), now() - 70 * DAY, 60)
        .expect("expired");
    theirs
        .issue("intruder", &acme(Role::Integration), now(), 60)
        .expect("intruder");
    ours.issue("erp2", &acme(Role::Integration), now(), 60)
        .expect("erp2");
    let client_ca = dir.path().join("client-ca.crt");
    std::fs::copy(ours.ca_cert_path(), &client_ca).expect("copy CA");
    let client_crl = dir.path().join("client-ca.crl");
    std::fs::copy(ours.crl_path(), &client_crl).expect("copy CRL");
    Cas {
        _dir: dir,
        ours,
        theirs,
        client_ca,
        client_crl,
    }
}

fn tls_config(cas: &Cas, client_auth: ClientAuth) -> TlsConfig {
    TlsConfig {
        cert_file: cas.ours.cert_path("api"),
        key_file: cas.ours.key_path("api"),
        client_ca_file: Some(cas.client_ca.clone()),
        client_crl_file: Some(cas.client_crl.clone()),
        client_auth,
        reload_interval: Duration::from_millis(100),
    }
}

/// A client trusting our CA, presenting `name`'s certificate from `pki` if given.
fn client(cas: &Cas, identity: Option<(&Pki, &str)>) -> Client {
    let root = std::fs::read(cas.ours.ca_cert_path()).expect("ca");
    let mut builder = Client::builder()
        .use_rustls_tls()
        .add_root_certificate(Certificate::from_pem(&root).expect("root"));
    if let Some((pki, name)) = identity {
        let mut pem = std::fs::read(pki.cert_path(name)).expect("cert");
        pem.extend(std::fs::read(pki.key_path(name)).expect("key"));
        builder = builder.identity(Identity::from_pem(&pem).expect("identity"));
    }
    builder.build().expect("client")
}

async fn call(
    http: &Client,
    url: String,
    bearer: Option<&str>,
    body: Option<Value>,
) -> reqwest::Result<(StatusCode, Value)> {
    let mut request = match &body {
        Some(body) => http.post(url).json(body),
        None => http.get(url),
    };
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await?;
    let status = response.status();
    let value = response.json().await.unwrap_or(Value::Null);
    Ok((status, value))
}

/// The certificate the server presents to a new connection now.
async fn presented(port: u16, ca: &Path) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).expect("ca"))
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake");
    tls.get_ref().1.peer_certificates().expect("certs")[0].to_vec()
}

fn pem_der(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path).expect("pem").to_vec()
}

async fn client_certificates_are_credentials_and_reload_without_restart(t: TestStore) {
    let cas = cas();
    let anonymous = client(&cas, None);
    let s = guarded::tls_server(
        t.store.clone(),
        tls_config(&cas, ClientAuth::Optional),
        anonymous.clone(),
    )
    .await;
    let url = |path: &str| format!("{}{path}", s.base);
    s.tenant("acme").await;
    s.tenant("globex").await;

    // A certificate of our CA is a credential: tenant and role from the certificate.
    let erp = client(&cas, Some((&cas.ours, "erp")));
    let (status, created) = call(
        &erp,
        url("/v1/accounts"),
        None,
        Some(json!({"tenant_id": "acme", "name": "ops"})),
    )
    .await
    .expect("request");
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = call(
        &erp,
        url("/v1/accounts"),
        None,
        Some(json!({"tenant_id": "globex", "name": "theirs"})),
    )
    .await
    .expect("request");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "not its tenant");
    let (status, _) = call(&erp, url("/v1/audit"), None, None)
        .await
        .expect("request");
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "integration may not read the trail"
    );

    // Optional mode: no certificate, then a bearer credential is needed.
    let (status, _) = call(&anonymous, url("/v1/accounts?tenant_id=acme"), None, None)
        .await
        .expect("request");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &anonymous,
        url("/v1/accounts?tenant_id=acme"),
        Some(&s.admin),
        None,
    )
    .await
    .expect("request");
    assert_eq!(status, StatusCode::OK);

    // Refused at the handshake: another CA's certificate, an expired one, TLS 1.2, and
    // plain HTTP on the TLS port.
    let intruder = client(&cas, Some((&cas.theirs, "intruder")));
    let stale = client(&cas, Some((&cas.ours, "stale")));
    for (why, http) in [("another CA", &intruder), ("expired", &stale)] {
        let result = call(http, url("/v1/accounts?tenant_id=acme"), None, None).await;
        assert!(result.is_err(), "{why}: {result:?}");
    }
    let tls12 = Client::builder()
        .use_rustls_tls()
        .add_root_certificate(
            Certificate::from_pem(&std::fs::read(cas.ours.ca_cert_path()).expect("ca"))
                .expect("root"),
        )
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .expect("client");
    assert!(call(&tls12, url("/v1/accounts"), Some(&s.admin), None)
        .await
        .is_err());
    let plain = s.base.replace("https://", "http://");
    assert!(call(
        &anonymous,
        format!("{plain}/v1/accounts"),
        Some(&s.admin),
        None
    )
    .await
    .is_err());

    // The audit trail names the certificate.
    let (_, page) = call(&anonymous, url("/v1/audit?limit=500"), Some(&s.admin), None)
        .await
        .expect("request");
    let created = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|r| r["action"] == "account.create" && r["outcome"] == "success")
        .unwrap_or_else(|| panic!("no account.create in {page}"))
        .clone();
    assert_eq!(created["subject"], "erp");
    assert!(created["actor_id"]
        .as_str()
        .is_some_and(|a| a.starts_with("cert:")));

    // Renewal: the new server certificate is presented without a restart.
    let port: u16 = s
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let before = presented(port, &cas.ours.ca_cert_path()).await;
    assert_eq!(before, pem_der(&cas.ours.cert_path("api")));
    cas.ours.renew("api", now(), 60).expect("renew");
    let renewed = pem_der(&cas.ours.cert_path("api"));
    assert_ne!(renewed, before);
    let mut waited = 0;
    while presented(port, &cas.ours.ca_cert_path()).await != renewed {
        waited += 1;
        assert!(waited < 100, "renewed certificate not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Revocation: once the CA's list names erp's certificate, it is refused at the next
    // handshake, without a restart, and on a connection opened before (its next request);
    // another certificate of the CA still passes.
    let kept = client(&cas, Some((&cas.ours, "erp")));
    let (status, _) = call(&kept, url("/v1/accounts?tenant_id=acme"), None, None)
        .await
        .expect("request");
    assert_eq!(status, StatusCode::OK, "erp's connection is open");
    let revoked = cas.ours.revoke("erp", now()).expect("revoke");
    assert_eq!(cas.ours.revocations().expect("list"), vec![revoked]);
    std::fs::copy(cas.ours.crl_path(), &cas.client_crl).expect("publish CRL");
    let mut waited = 0;
    loop {
        let fresh = client(&cas, Some((&cas.ours, "erp")));
        let answer = call(&fresh, url("/v1/accounts?tenant_id=acme"), None, None).await;
        if answer.is_err() {
            break;
        }
        waited += 1;
        assert!(waited < 100, "revocation not picked up: {answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let on_open_connection = call(&kept, url("/v1/accounts?tenant_id=acme"), None, None).await;
    // The pooled connection is reused: the guard, not the handshake, refuses it.
    assert!(
        matches!(on_open_connection, Ok((StatusCode::UNAUTHORIZED, _))),
        "{on_open_connection:?}"
    );
    let other = call(
        &client(&cas, Some((&cas.ours, "erp2"))),
        url("/v1/accounts?tenant_id=acme"),
        None,
        None,
    )
    .await;
    assert!(matches!(other, Ok((StatusCode::OK, _))), "{other:?}");

    // A replaced client CA (with its own revocation list): the other CA's certificates now
    // pass and ours no longer do.
    std::fs::copy(cas.theirs.crl_path(), &cas.client_crl).expect("replace CRL");
    std::fs::copy(cas.theirs.ca_cert_path(), &cas.client_ca).expect("replace CA");
    let mut waited = 0;
    loop {
        let theirs = call(&intruder, url("/v1/accounts?tenant_id=acme"), None, None).await;
        if matches!(theirs, Ok((StatusCode::OK, _))) {
            break;
        }
        waited += 1;
        assert!(waited < 100, "replaced CA not picked up: {theirs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ours = call(
        &client(&cas, Some((&cas.ours, "erp2"))),
        url("/v1/accounts?tenant_id=acme"),
        None,
        None,
    )
    .await;
    assert!(ours.is_err(), "{ours:?}");
    s.shut_down().await;
}

async fn required_client_certificates_refuse_connections_without_one(t: TestStore) {
    let cas = cas();
    let erp = client(&cas, Some((&cas.ours, "erp")));
    let s = guarded::tls_server(
        t.store.clone(),
        tls_config(&cas, ClientAuth::Required),
        erp.clone(),
    )
    .await;
    let url = format!("{}/v1/accounts?tenant_id=acme", s.base);
    s.tenant("acme").await;
    let (status, _) = call(&erp, url.clone(), None, None).await.expect("request");
    assert_eq!(status, StatusCode::OK);
    // Even the administrator's key does not get in without a certificate.
    let anonymous = client(&cas, None);
    let refused = call(&anonymous, url, Some(&s.admin), None).await;
    assert!(refused.is_err(), "{refused:?}");
    s.shut_down().await;
}
