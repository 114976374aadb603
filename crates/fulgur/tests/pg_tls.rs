//! PostgreSQL over TLS (rustls, `sslmode=verify-full`), against the local server given a
//! certificate from `fulgur pki`: the store connects only to a server whose certificate
//! chains to the named CA and names the host it dialled; the connection is encrypted (the
//! server says so in `pg_stat_ssl`); another CA or another name is refused.
//!
//! Needs the local PostgreSQL of `scripts/test` (127.0.0.1:5432, user `postgres`, trust)
//! and root, to hand the server its certificate; the server's previous TLS settings are
//! restored at the end, also on failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fulgur(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fulgur"))
        .args(args)
        .output()
        .expect("fulgur runs")
}

/// `psql` as the local superuser; panics with its error on failure.
fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "-Atc",
            sql,
        ])
        .output()
        .expect("psql runs (the PostgreSQL client, installed with the server)");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Puts the server's TLS settings back as they were, whatever happens to the test.
struct RestoreServerTls {
    database: String,
    files: Vec<PathBuf>,
}

impl Drop for RestoreServerTls {
    fn drop(&mut self) {
        for sql in [
            "ALTER SYSTEM RESET ssl_cert_file",
            "ALTER SYSTEM RESET ssl_key_file",
            "ALTER SYSTEM RESET ssl",
            "SELECT pg_reload_conf()",
        ] {
            let _ = Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-Atc", sql])
                .output();
        }
        let _ = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-Atc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
            ])
            .output();
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
    }
}

fn ca(dir: &Path, server_args: &[&str]) {
    let dir_s = dir.to_str().expect("utf-8");
    let out = fulgur(&["pki", "init", "--dir", dir_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args = vec!["pki", "issue", "--dir", dir_s, "server", "--name", "pg"];
    args.extend_from_slice(server_args);
    let out = fulgur(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copies the server's certificate and key into the data directory, owned by the server's
/// user with the key readable by it alone (PostgreSQL refuses a key others can read).
fn install(from: &Path, data_dir: &Path, tag: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        data_dir.join(format!("fulgur-test-{tag}.crt")),
        data_dir.join(format!("fulgur-test-{tag}.key")),
    );
    std::fs::copy(from.join("pg.crt"), &cert).expect("cert");
    std::fs::copy(from.join("pg.key"), &key).expect("key");
    for file in [&cert, &key] {
        let status = Command::new("chown")
            .args(["postgres:postgres", file.to_str().expect("utf-8")])
            .status()
            .expect("chown");
        assert!(status.success(), "chown {}", file.display());
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("mode");
    (cert, key)
}

fn serve_tls_with(cert: &Path, key: &Path) {
    psql("ALTER SYSTEM SET ssl = on");
    psql(&format!(
        "ALTER SYSTEM SET ssl_cert_file = '{}'",
        cert.display()
    ));
    psql(&format!(
        "ALTER SYSTEM SET ssl_key_file = '{}'",
        key.display()
    ));
    assert_eq!(psql("SELECT pg_reload_conf()"), "t");
}

fn ssl_in_use(url: &str) -> Result<i64, store::StoreError> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = store::Store::open(&store::StoreConfig::new(url)).await?;
        store
            .read(|sql| {
                sql.query_one(
                    "SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl \
                     WHERE pid = pg_backend_pid()",
                    &[],
                )?
                .i64(0)
            })
            .await
    })
}

#[test]
fn the_store_reaches_postgres_over_verified_tls_only() {
    let admin = std::env::var("FULGUR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    assert!(
        admin.contains("@127.0.0.1:5432") || admin.contains("@localhost:5432"),
        "this test configures the local server's TLS; FULGUR_TEST_DATABASE_URL is {admin}"
    );
    let database = format!("fulgur_tls_{}", std::process::id());
    let mut restore = RestoreServerTls {
        database: database.clone(),
        files: Vec::new(),
    };
    psql(&format!("CREATE DATABASE {database}"));
    let data_dir = PathBuf::from(psql("SHOW data_directory"));

    // Our CA; the server's certificate names localhost only.
    let ours = tempfile::tempdir().expect("dir");
    ca(ours.path(), &["--dns", "localhost"]);
    let (cert, key) = install(ours.path(), &data_dir, "tls");
    restore.files = vec![cert.clone(), key.clone()];
    serve_tls_with(&cert, &key);
    let root = ours.path().join("ca.crt");
    let url = |host: &str, root: &Path| {
        format!(
            "postgres://postgres@{host}:5432/{database}?sslmode=verify-full&sslrootcert={}",
            root.display()
        )
    };

    // Migrations over TLS through the CLI, then the server's own word that it is TLS.
    let good = url("localhost", &root);
    let mut migrated = fulgur(&["migrate", "--store-url", &good]);
    // The reload is asynchronous: the first connections may still meet the old certificate.
    for _ in 0..50 {
        if migrated.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        migrated = fulgur(&["migrate", "--store-url", &good]);
    }
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert_eq!(ssl_in_use(&good).expect("reads over TLS"), 1);

    // The same server under a name its certificate does not carry: refused.
    let wrong_name = ssl_in_use(&url("127.0.0.1", &root));
    assert!(
        matches!(wrong_name, Err(store::StoreError::Unavailable(_))),
        "{wrong_name:?}"
    );
    // A CA that did not sign the server's certificate: refused, the CLI says so on one
    // line with exit status 1, and the URL's password never appears.
    let theirs = tempfile::tempdir().expect("dir");
    ca(theirs.path(), &["--dns", "localhost"]);
    let foreign =
        url("localhost", &theirs.path().join("ca.crt")).replace("postgres@", "postgres:hunter2@");
    let refused = fulgur(&["migrate", "--store-url", &foreign]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    // Asking for TLS without saying which CA to trust is a configuration error (exit 2).
    let no_root = format!("postgres://postgres@localhost:5432/{database}?sslmode=require");
    let refused = fulgur(&["migrate", "--store-url", &no_root]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
