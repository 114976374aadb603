//! The outside check of a rendering: python's `xmlschema` validates it against
//! [`SCHEMA`]. The tests run it on every rendering; an operator can run the same on an
//! export before filing (python3 with `xmlschema` installed).

use std::io::Write;
use std::process::{Command, Stdio};

/// `schema/goaml-str.xsd`: the part of goAML 5's schema this crate writes.
pub const SCHEMA: &str = include_str!("../schema/goaml-str.xsd");

/// Validates `xml` with python's xmlschema; its error text when invalid or when the
/// validator cannot run.
pub fn validate_with_xmlschema(xml: &str) -> Result<(), String> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.stdin.buffer)",
            SCHEMA,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3 does not run: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("python3 took no input")?;
    stdin
        .write_all(xml.as_bytes())
        .map_err(|e| format!("writing to python3: {e}"))?;
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| format!("python3 did not end: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
