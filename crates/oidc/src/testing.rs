//! A real OIDC provider process for tests: `provider/provider.js` (oauth2-mock-server)
//! on an ephemeral port. Its `node_modules` come from `npm ci` in `provider/` (CI does it).

use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PROVIDER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/provider");

/// The provider; stopped when dropped.
pub struct Provider {
    /// The `iss` of its tokens (also the discovery base).
    pub issuer: String,
    control: String,
    client: reqwest::Client,
    _child: Child,
}

impl Provider {
    /// Starts the provider and waits until it listens. Panics, saying what to run, when
    /// its dependencies are not installed: a test never skips silently.
    pub async fn start() -> Self {
        assert!(
            std::path::Path::new(PROVIDER_DIR)
                .join("node_modules")
                .exists(),
            "the OIDC test provider is not installed: run `npm ci --prefix {PROVIDER_DIR}`"
        );
        let mut child = Command::new("node")
            .arg("provider.js")
            .current_dir(PROVIDER_DIR)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("provider prints its address");
        let ready: Value = serde_json::from_str(&line).expect("provider's ready line is JSON");
        let field = |name: &str| ready[name].as_str().expect("ready line field").to_string();
        Self {
            issuer: field("issuer"),
            control: field("control"),
            client: reqwest::Client::new(),
            _child: child,
        }
    }

    /// A token from the provider's own token endpoint (client credentials) for
    /// `audience`, with `claims` merged into its payload (they may override any claim).
    pub async fn token(&self, audience: &str, claims: Value) -> String {
        let response: Value = self
            .client
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "client_credentials"),
                ("aud", audience),
                ("claims", &claims.to_string()),
            ])
            .send()
            .await
            .expect("token request")
            .error_for_status()
            .expect("token issued")
            .json()
            .await
            .expect("token response");
        response["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Adds a signing key (`RS256`, `ES256`, ...) to the provider's JWKS; returns its kid.
    pub async fn rotate(&self, alg: &str) -> String {
        let out = self.control("rotate", json!({ "alg": alg })).await;
        out["kid"].as_str().expect("kid").to_string()
    }

    /// A token signed by the key `kid`, with `claims` merged into the payload.
    pub async fn mint(&self, kid: &str, claims: Value) -> String {
        let out = self
            .control("mint", json!({ "kid": kid, "claims": claims }))
            .await;
        out["token"].as_str().expect("token").to_string()
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        self.client
            .post(format!("{}/{path}", self.control))
            .json(&body)
            .send()
            .await
            .expect("control request")
            .error_for_status()
            .expect("control ok")
            .json()
            .await
            .expect("control response")
    }
}
