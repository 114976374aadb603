//! The API's listeners: plain TCP, or TLS 1.3 (rustls) with optional or required client
//! certificates from the internal CA. Certificates, key and CA are reread when their
//! files change, without a restart: new connections get the new ones, open connections
//! keep theirs. Handshakes run in their own tasks, bounded in number and time, so a slow
//! or hostile client cannot stall the accept loop.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use pki::ClientIdentity;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Handshakes in progress at once; more connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 1024;
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A certificate with less left than this is logged as a warning on every (re)load.
const EXPIRY_WARNING_SECS: i64 = pki::EXPIRY_WARNING_DAYS * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificates asked for.
    #[default]
    Off,
    /// A client may present one (then it must chain to the CA); a bearer credential
    /// serves otherwise.
    Optional,
    /// Every connection must present a certificate that chains to the CA.
    Required,
}

/// Where the listener's certificate, key and client CA are, and how often to look at them.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Required unless `client_auth` is `Off`.
    pub client_ca_file: Option<PathBuf>,
    /// The CA's revocation list (`fulgur pki revoke` writes `ca.crl`): a client
    /// certificate it lists is refused at the handshake. Reread when it changes.
    pub client_crl_file: Option<PathBuf>,
    pub client_auth: ClientAuth,
    pub reload_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(String);

/// What a connection's client presented.
#[derive(Debug, Clone)]
pub enum PeerCert {
    None,
    /// A certificate the CA signed, naming a caller.
    Identity(Arc<ClientIdentity>),
    /// A certificate the CA signed that names no caller (a server certificate, say).
    Unusable,
    /// A certificate the CA revoked after this connection's handshake.
    Revoked,
}

/// Serials (hex) the CA's revocation list names, as last loaded: shared by every
/// connection, so a certificate revoked while its connection is open is refused on the
/// connection's next request, not only at the next handshake.
pub type RevokedSerials = Arc<RwLock<Arc<HashSet<String>>>>;

/// The other end of a connection, for every request on it.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub cert: PeerCert,
    /// The listener's current revocation list (none on a plain listener).
    pub revoked: Option<RevokedSerials>,
}

impl Peer {
    /// Whether the connection's client certificate is revoked now.
    pub fn cert_revoked(&self) -> bool {
        match (&self.cert, &self.revoked) {
            (PeerCert::Identity(id), Some(revoked)) => revoked
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&id.serial),
            _ => false,
        }
    }
}

impl Connected<IncomingStream<'_, PlainListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, PlainListener>) -> Self {
        stream.remote_addr().clone()
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Plain TCP (behind a TLS-terminating proxy, or the devnet demo).
pub struct PlainListener(pub TcpListener);

impl Listener for PlainListener {
    type Io = TcpStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (TcpStream, Peer) {
        let (tcp, addr) = Listener::accept(&mut self.0).await;
        let _ = tcp.set_nodelay(true);
        (
            tcp,
            Peer {
                addr,
                cert: PeerCert::None,
                revoked: None,
            },
        )
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        Ok(Peer {
            addr: self.0.local_addr()?,
            cert: PeerCert::None,
            revoked: None,
        })
    }
}

/// Connections whose TLS handshake has completed.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
    local: SocketAddr,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Peer) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        Ok(Peer {
            addr: self.local,
            cert: PeerCert::None,
            revoked: None,
        })
    }
}

type Current = Arc<RwLock<Arc<ServerConfig>>>;

/// The serials the configured revocation list names (none configured: none).
fn revoked_serials(config: &TlsConfig) -> Result<HashSet<String>, String> {
    let Some(path) = &config.client_crl_file else {
        return Ok(HashSet::new());
    };
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    pki::crl_serials(&pem).map_err(|e| format!("{}: {e}", path.display()))
}

impl TlsListener {
    /// Loads the files (failing if they are unusable) and starts accepting on `tcp`.
    pub fn start(tcp: TcpListener, config: TlsConfig) -> Result<Self, TlsError> {
        let local = tcp.local_addr().map_err(|e| TlsError(e.to_string()))?;
        let loaded = load(&config).map_err(TlsError)?;
        let current: Current = Arc::new(RwLock::new(loaded));
        let revoked: RevokedSerials = Arc::new(RwLock::new(Arc::new(
            revoked_serials(&config).map_err(TlsError)?,
        )));
        let (tx, ready) = mpsc::channel(MAX_HANDSHAKES);
        let accepting = tokio::spawn(accept_loop(
            tcp,
            Arc::clone(&current),
            Arc::clone(&revoked),
            tx,
        ));
        let reloading = tokio::spawn(reload_loop(config, current, revoked));
        Ok(Self {
            ready,
            local,
            tasks: [accepting, reloading],
        })
    }
}

async fn accept_loop(
    mut tcp: TcpListener,
    current: Current,
    revoked: RevokedSerials,
    ready: mpsc::Sender<(TlsStream<TcpStream>, Peer)>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else {
            return;
        };
        let (stream, addr) = Listener::accept(&mut tcp).await;
        let _ = stream.set_nodelay(true);
        let config = Arc::clone(&current.read().unwrap_or_else(|e| e.into_inner()));
        let (ready, revoked) = (ready.clone(), Arc::clone(&revoked));
        tokio::spawn(async move {
            let _permit = permit;
            let handshake = TlsAcceptor::from(config).accept(stream);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(tls)) => {
                    let cert = peer_cert(&tls);
                    let peer = Peer {
                        addr,
                        cert,
                        revoked: Some(revoked),
                    };
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%addr, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        });
    }
}

fn peer_cert(tls: &TlsStream<TcpStream>) -> PeerCert {
    let Some(der) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) else {
        return PeerCert::None;
    };
    match ClientIdentity::from_der(der) {
        Ok(identity) => PeerCert::Identity(Arc::new(identity)),
        Err(reason) => {
            tracing::debug!(reason, "client certificate names no caller");
            PeerCert::Unusable
        }
    }
}

/// The files' modification times and sizes: a change in any means "reload".
fn fingerprint(config: &TlsConfig) -> Vec<Option<(SystemTime, u64)>> {
    [
        Some(&config.cert_file),
        Some(&config.key_file),
        config.client_ca_file.as_ref(),
        config.client_crl_file.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
    .collect()
}

async fn reload_loop(config: TlsConfig, current: Current, revoked: RevokedSerials) {
    let mut seen = fingerprint(&config);
    loop {
        tokio::time::sleep(config.reload_interval).await;
        let now = fingerprint(&config);
        if now == seen {
            continue;
        }
        match load(&config).and_then(|loaded| Ok((loaded, revoked_serials(&config)?))) {
            Ok((loaded, serials)) => {
                *current.write().unwrap_or_else(|e| e.into_inner()) = loaded;
                *revoked.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(serials);
                seen = now;
                tracing::info!(cert = %config.cert_file.display(), "TLS certificates reloaded");
            }
            // Half-replaced files (a key without its certificate yet): keep what works and
            // look again next time.
            Err(error) => {
                tracing::warn!(error, "TLS reload refused; keeping the loaded certificates")
            }
        }
    }
}

fn pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(certs)
}

/// Reports when a certificate expires: a gauge, and a warning within 30 days.
fn note_expiry(which: &'static str, path: &Path, der: &CertificateDer<'_>) {
    let Ok(not_after) = pki::not_after_unix(der) else {
        return;
    };
    metrics::gauge!("fulgur_tls_certificate_expiry_timestamp_seconds", "certificate" => which)
        .set(not_after as f64);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if not_after - now < EXPIRY_WARNING_SECS {
        tracing::warn!(
            certificate = which,
            file = %path.display(),
            days_left = (not_after - now).div_euclid(86_400),
            "TLS certificate expires soon; run `fulgur pki renew`"
        );
    }
}

/// TLS 1.3 only, ring, HTTP/1.1; client certificates per `client_auth`.
fn load(config: &TlsConfig) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = pem_certs(&config.cert_file)?;
    note_expiry("server", &config.cert_file, &chain[0]);
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .map_err(|e| format!("{}: {e}", config.key_file.display()))?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?;
    let builder = match (config.client_auth, &config.client_ca_file) {
        (ClientAuth::Off, _) => builder.with_no_client_auth(),
        (_, None) => return Err("client_auth needs client_ca_file".to_string()),
        (mode, Some(ca_file)) => {
            let mut roots = RootCertStore::empty();
            let cas = pem_certs(ca_file)?;
            note_expiry("client_ca", ca_file, &cas[0]);
            for ca in cas {
                roots
                    .add(ca)
                    .map_err(|e| format!("{}: {e}", ca_file.display()))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            if let Some(crl_file) = &config.client_crl_file {
                let crls = CertificateRevocationListDer::pem_file_iter(crl_file)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| format!("{}: {e}", crl_file.display()))?;
                if crls.is_empty() {
                    return Err(format!("{}: no revocation list", crl_file.display()));
                }
                verifier = verifier.with_crls(crls);
            }
            let verifier = match mode {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        }
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", config.cert_file.display()))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn loading_records_when_the_certificates_expire() {
        let dir = tempfile::tempdir().expect("dir");
        let pki = pki::Pki::new(dir.path());
        let now = 1_790_000_000;
        pki.init(now, 3650).expect("CA");
        let server = pki::Profile::Server {
            dns: vec!["localhost".into()],
            ips: vec![],
        };
        let issued = pki.issue("api", &server, now, 20).expect("certificate");
        let config = TlsConfig {
            cert_file: issued.cert_path,
            key_file: issued.key_path,
            client_ca_file: Some(pki.ca_cert_path()),
            client_crl_file: None,
            client_auth: ClientAuth::Optional,
            reload_interval: Duration::from_secs(1),
        };
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || load(&config)).expect("loads");
        let gauges: Vec<(String, f64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| {
                key.key().name() == "fulgur_tls_certificate_expiry_timestamp_seconds"
            })
            .filter_map(|(key, _, _, value)| {
                let label = key.key().labels().next()?.value().to_string();
                match value {
                    DebugValue::Gauge(v) => Some((label, v.into_inner())),
                    _ => None,
                }
            })
            .collect();
        let at = |which: &str| {
            gauges
                .iter()
                .find(|(label, _)| label == which)
                .map(|(_, v)| *v)
        };
        assert_eq!(at("server"), Some((now + 20 * 86_400) as f64));
        assert_eq!(at("client_ca"), Some((now + 3650 * 86_400) as f64));
    }
}
