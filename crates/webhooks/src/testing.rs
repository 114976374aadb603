//! A real HTTP receiver for tests: records every request it gets and answers, per path,
//! the statuses it was scripted with (the last one repeating; 200 by default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    /// A header's value, or "" when absent.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT`; subscribe `{base}/{path}` with `allow_http` and
    /// `127.0.0.0/8` in `allowed_private_networks`.
    pub base: String,
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<HashMap<String, Vec<u16>>>>,
}

impl Receiver {
    /// Listens on a free localhost port until the runtime ends.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a localhost port");
        let receiver = Self {
            base: format!("http://{}", listener.local_addr().expect("bound address")),
            got: Arc::default(),
            script: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/{path}", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    /// Answer requests to `path` with these statuses in turn, the last one repeating.
    pub fn answer(&self, path: &str, statuses: &[u16]) {
        assert!(!statuses.is_empty(), "script at least one status");
        self.script
            .lock()
            .expect("lock")
            .insert(path.to_string(), statuses.to_vec());
    }

    /// The requests `path` got, in arrival order.
    pub fn got(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = {
        let mut script = receiver.script.lock().expect("lock");
        let statuses = script.entry(path.clone()).or_insert_with(|| vec![200]);
        if statuses.len() > 1 {
            statuses.remove(0)
        } else {
            statuses[0]
        }
    };
    receiver.got.lock().expect("lock").push(Received {
        path,
        headers,
        body,
    });
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
