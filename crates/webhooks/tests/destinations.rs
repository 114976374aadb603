//! Where the real HTTP transport goes, against real sockets: a name that resolves to
//! loopback and every spelling of a loopback literal are refused without a connection ever
//! reaching the listener behind them (as for a row stored before the creation check, or a
//! name rebound after it); a listed private network is reached, by name and by address;
//! and every failure reads as one fixed phrase, never the HTTP client's own words.

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use webhooks::testing::Receiver;
use webhooks::{HttpTransport, Outgoing, Transport, WebhookConfig};

const REFUSED: &str = "destination refused: not a public address";

fn config(allowed_private_networks: &[&str]) -> WebhookConfig {
    WebhookConfig {
        allowed_private_networks: allowed_private_networks
            .iter()
            .map(|n| n.parse().expect("net"))
            .collect(),
        // Long enough for a connection that should not have been made to show up as one.
        request_timeout_ms: 2_000,
        ..WebhookConfig::default()
    }
}

async fn post(config: &WebhookConfig, url: &str) -> Result<u16, String> {
    let transport = HttpTransport::new(config).expect("transport");
    transport
        .post(Outgoing {
            url: url.to_string(),
            headers: vec![("content-type", "application/json".to_string())],
            body: Bytes::from_static(b"{}"),
        })
        .await
}

async fn loopback_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    (listener, port)
}

/// The kernel completes a connection to a listening socket whether or not it is accepted,
/// so one made at any time before now waits in the backlog: a non-blocking accept finds
/// it. Called after the posts returned, so nothing is in flight.
fn assert_never_connected_to(listener: TcpListener) {
    let listener = listener.into_std().expect("std listener");
    listener.set_nonblocking(true).expect("non-blocking");
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the listener was connected to, from {peer}"),
        Err(e) => panic!("accept: {e}"),
    }
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_and_never_connected_to() {
    let (listener, port) = loopback_listener().await;
    let refused = post(&config(&[]), &format!("https://localhost:{port}/hook")).await;
    assert_eq!(refused, Err(REFUSED.to_string()));
    // Allowed elsewhere is not allowed here.
    let refused = post(
        &config(&["10.0.0.0/8"]),
        &format!("http://localhost:{port}/hook"),
    )
    .await;
    assert_eq!(refused, Err(REFUSED.to_string()));
    assert_never_connected_to(listener);
}

#[tokio::test]
async fn loopback_literals_in_any_spelling_are_refused_and_never_connected_to() {
    let (listener, port) = loopback_listener().await;
    for url in [
        format!("https://127.0.0.1:{port}/hook"),
        format!("http://127.0.0.1:{port}/hook"),
        format!("https://[::ffff:127.0.0.1]:{port}/hook"),
        format!("https://2130706433:{port}/hook"),
        format!("https://0x7f.0.0.1:{port}/hook"),
    ] {
        assert_eq!(
            post(&config(&[]), &url).await,
            Err(REFUSED.to_string()),
            "{url}"
        );
    }
    assert_never_connected_to(listener);
}

#[tokio::test]
async fn a_listed_private_network_is_reached_by_name_and_by_address() {
    let receiver = Receiver::start().await;
    let by_name = receiver.base.replace("127.0.0.1", "localhost") + "/hook";
    let by_address = format!("{}/hook", receiver.base);
    for url in [&by_name, &by_address] {
        assert_eq!(post(&config(&[]), url).await, Err(REFUSED.to_string()));
    }
    assert!(receiver.got("hook").is_empty());
    let loopback = config(&["127.0.0.0/8"]);
    for url in [&by_name, &by_address] {
        assert_eq!(post(&loopback, url).await, Ok(200), "{url}");
    }
    assert_eq!(receiver.got("hook").len(), 2);
}

#[tokio::test]
async fn a_refused_connection_reads_could_not_connect() {
    let (listener, port) = loopback_listener().await;
    drop(listener);
    let result = post(
        &config(&["127.0.0.0/8"]),
        &format!("http://127.0.0.1:{port}/hook"),
    )
    .await;
    assert_eq!(result, Err("could not connect".to_string()));
}

#[tokio::test]
async fn a_failed_handshake_reads_tls_handshake_failed() {
    let (listener, port) = loopback_listener().await;
    // Plain HTTP where TLS is expected: it reads the ClientHello, answers in clear, and
    // waits for the client to hang up.
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 4_096];
        let _ = stream.read(&mut buf).await;
        let _ = stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let result = post(
        &config(&["127.0.0.0/8"]),
        &format!("https://127.0.0.1:{port}/hook"),
    )
    .await;
    assert_eq!(result, Err("TLS handshake failed".to_string()));
}

#[tokio::test]
async fn no_answer_in_time_reads_timed_out() {
    let (listener, port) = loopback_listener().await;
    // Reads the request and never answers.
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 4_096];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let config = WebhookConfig {
        request_timeout_ms: 300,
        ..config(&["127.0.0.0/8"])
    };
    let result = post(&config, &format!("http://127.0.0.1:{port}/hook")).await;
    assert_eq!(result, Err("timed out".to_string()));
}

#[tokio::test]
async fn a_connection_dropped_without_an_answer_reads_request_failed() {
    let (listener, port) = loopback_listener().await;
    // Reads the request, then hangs up without a word.
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 4_096];
        let _ = stream.read(&mut buf).await;
        let _ = stream.shutdown().await;
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let result = post(
        &config(&["127.0.0.0/8"]),
        &format!("http://127.0.0.1:{port}/hook"),
    )
    .await;
    assert_eq!(result, Err("request failed".to_string()));
}
