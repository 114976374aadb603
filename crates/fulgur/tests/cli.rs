//! The binary as a user runs it: bad arguments, `fulgur devnet`, and `fulgur demo` coming up,
//! answering, and shutting down cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn fulgur() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fulgur"))
}

/// Starts `fulgur ARGS --data-dir DIR` with stdout captured.
fn spawn_with_data_dir(args: &[&str], dir: &std::path::Path) -> Child {
    fulgur()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts")
}

/// Waits for a stdout line starting with `prefix`; returns it and every line before it.
fn wait_for_line(child: &mut Child, prefix: &str, timeout: Duration) -> (String, Vec<String>) {
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("no {prefix:?} line; saw {seen:#?}"));
        if line.starts_with(prefix) {
            return (line, seen);
        }
        seen.push(line);
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait().expect("exits")
}

/// One JSON-RPC call over a raw HTTP/1.1 request.
fn rpc(addr: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic ZnVsZ3VyOmZ1bGd1cg==\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn bad_arguments_give_one_line_and_exit_2() {
    for args in [
        vec!["bogus"],
        vec!["devnet", "--listen", "not-an-address"],
        vec!["bench", "payments", "--store", "paper"],
    ] {
        let output = fulgur().args(&args).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one line for {args:?}: {stderr}"
        );
    }
}

#[test]
fn devnet_serves_rpc_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_with_data_dir(&["devnet", "--listen", "127.0.0.1:0"], dir.path());
    let (ready, _) = wait_for_line(&mut child, "ready: http://", Duration::from_secs(30));
    let addr = ready.trim_start_matches("ready: http://").to_string();
    let response = rpc(&addr, r#"{"method":"getblockcount","params":[],"id":1}"#);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""result":0"#), "{response}");
    assert!(terminate(&mut child).success(), "clean exit on SIGTERM");
}

#[test]
fn demo_comes_up_with_three_nodes_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_with_data_dir(&["demo", "--devnet-rpc", "127.0.0.1:0"], dir.path());
    let (ready, before) = wait_for_line(&mut child, "ready: http://", Duration::from_secs(120));
    let summary = before.join("\n");
    for node in ["alpha", "beta", "carol"] {
        assert!(
            summary.contains(&format!("  {node} ")),
            "{node} listed:\n{summary}"
        );
    }
    for pair in [
        "alpha -> carol",
        "beta -> carol",
        "alpha -> beta",
        "carol -> alpha",
        "carol -> beta",
        "beta -> alpha",
    ] {
        let line = summary
            .lines()
            .find(|l| l.contains(pair))
            .unwrap_or_else(|| panic!("{pair} missing:\n{summary}"));
        assert!(line.trim_end().ends_with("true"), "{pair} usable: {line}");
    }
    let addr = ready.trim_start_matches("ready: http://").to_string();
    let response = rpc(
        &addr,
        r#"{"method":"getblockchaininfo","params":[],"id":1}"#,
    );
    assert!(response.contains(r#""chain":"regtest""#), "{response}");
    assert!(terminate(&mut child).success(), "clean exit on SIGTERM");
}
