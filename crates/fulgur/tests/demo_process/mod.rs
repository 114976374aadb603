//! Running the `fulgur` binary as a user does, for the binary's test crates: start it with
//! a data directory, wait for the line it prints when ready, stop it with SIGTERM.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn fulgur() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fulgur"))
}

/// Starts `fulgur ARGS --data-dir DIR` with stdout captured.
pub fn spawn_with_data_dir(args: &[&str], dir: &std::path::Path) -> Child {
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
pub fn wait_for_line(child: &mut Child, prefix: &str, timeout: Duration) -> (String, Vec<String>) {
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

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait().expect("exits")
}
