//! API fuzzing: schemathesis, a property-based OpenAPI fuzzer, against `fulgur demo` with
//! its admin key. Every operation of `/v1/openapi.json` is called with generated valid and
//! invalid input (examples, coverage, fuzzing and stateful phases); the run fails on any
//! 5xx, on a status the document does not list for the operation, on a content type it does
//! not list, and on a body that does not match the documented schema.
//!
//! schemathesis is pinned: this test speaks the CLI of exactly [`SCHEMATHESIS_VERSION`]
//! (flags changed between 3.x and 4.x) and fails, not skips, when that version is absent.
//! The run is bounded: [`MAX_EXAMPLES`] per operation and phase, and [`WALL_CLOCK`] for
//! the whole run, after which it is killed and the test fails.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod demo_process;

use demo_process::{fulgur, terminate, wait_for_line};

/// The schemathesis release whose CLI this test uses (`pip install schemathesis==4.32.5`).
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Test cases per operation and phase.
const MAX_EXAMPLES: u32 = 50;
/// The whole run, demo start excluded; the fuzzer is killed past it.
const WALL_CLOCK: Duration = Duration::from_secs(360);
/// The default seed: a failure in CI replays the same cases (`FULGUR_FUZZ_SEED` overrides).
const DEFAULT_SEED: &str = "22";
/// What the run checks: no server error, and responses as documented.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";
/// Operations left out, and why:
/// - rotating or revoking an API key: the fuzzer learns key ids from responses and would
///   rotate or revoke the very key it runs with, leaving every later case a 401 (both are
///   covered by the access tests);
/// - the devnet control routes, should the document ever list them: they drive the chain.
const EXCLUDED_PATHS: &str = r"^(/v1/apikeys/\{id\}/(rotate|revoke)|/devnet/.*)$";

/// The fuzzer's command, checked to be the pinned version.
fn schemathesis() -> Command {
    let install = format!("pip install schemathesis=={SCHEMATHESIS_VERSION}");
    for name in ["st", "schemathesis"] {
        let Ok(output) = Command::new(name).arg("--version").output() else {
            continue;
        };
        let printed = String::from_utf8_lossy(&output.stdout);
        let version = printed.trim().rsplit(' ').next().unwrap_or("");
        assert_eq!(
            version, SCHEMATHESIS_VERSION,
            "`{name} --version` printed {printed:?}; this test speaks the CLI of \
             schemathesis {SCHEMATHESIS_VERSION}: {install}"
        );
        return Command::new(name);
    }
    panic!("schemathesis is not installed (neither `st` nor `schemathesis` runs): {install}");
}

/// Kills what it holds when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts the demo on free ports with its log in `dir/demo.log`; returns it and its API URL.
fn start_demo(dir: &Path) -> (Running, String) {
    let log = std::fs::File::create(dir.join("demo.log")).expect("log file");
    let mut demo = fulgur()
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--devnet-rpc",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("demo starts");
    let (ready, _) = wait_for_line(&mut demo, "ready: http://", Duration::from_secs(180));
    let api = ready.trim_start_matches("ready: ").to_string();
    (Running(demo), api)
}

/// Runs the fuzzer to its end or the wall clock; returns its exit code (None: killed) and
/// everything it printed.
fn fuzz(dir: &Path, api: &str, key: &str) -> (Option<i32>, String, Duration) {
    let seed = std::env::var("FULGUR_FUZZ_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_string());
    let out_path = dir.join("schemathesis.log");
    let out = std::fs::File::create(&out_path).expect("output file");
    let mut command = schemathesis();
    command
        .arg("run")
        .arg(format!("{api}/v1/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", &MAX_EXAMPLES.to_string()])
        .args(["--seed", &seed])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(["--exclude-path-regex", EXCLUDED_PATHS])
        .args(["--request-timeout", "10"])
        .args(["--generation-database", "none"])
        .arg("--no-color")
        // Nothing written beside the test (reports, the example database).
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("output file"))
        .stderr(out);
    let started = Instant::now();
    let mut child = Running(command.spawn().expect("schemathesis starts"));
    let code = loop {
        if let Some(status) = child.0.try_wait().expect("schemathesis runs") {
            break status.code();
        }
        if started.elapsed() > WALL_CLOCK {
            let _ = child.0.kill();
            let _ = child.0.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let printed = std::fs::read_to_string(&out_path).unwrap_or_default();
    (code, printed, started.elapsed())
}

#[test]
fn schemathesis_finds_no_server_error_and_no_response_the_document_does_not_describe() {
    // Checked first: a machine without the pinned fuzzer fails at once, not after the demo.
    drop(schemathesis());
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, api) = start_demo(dir.path());
    let key = std::fs::read_to_string(dir.path().join("data/admin.key")).expect("admin key");
    let (code, printed, took) = fuzz(dir.path(), &api, key.trim());
    let demo_log = std::fs::read_to_string(dir.path().join("demo.log")).unwrap_or_default();
    assert!(
        terminate(&mut demo.0).success(),
        "the demo shuts down cleanly"
    );
    let server_errors: Vec<&str> = demo_log
        .lines()
        .filter(|l| l.contains(r#""level":"ERROR""#))
        .collect();
    match code {
        Some(0) => {
            let summary: Vec<&str> = printed.lines().rev().take(20).collect();
            let summary: Vec<&str> = summary.into_iter().rev().collect();
            println!("schemathesis passed in {took:?}:\n{}", summary.join("\n"));
        }
        None => panic!(
            "schemathesis did not finish within {WALL_CLOCK:?}; killed. Its output:\n{printed}"
        ),
        Some(code) => panic!(
            "schemathesis found failures (exit {code}) in {took:?}:\n{printed}\n\
             server errors logged:\n{}",
            server_errors.join("\n")
        ),
    }
}
