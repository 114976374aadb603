//! The PKCS#11 backend against a real SoftHSM2 token (Debian `softhsm2`, which `.ci/run`
//! installs; without it these tests fail rather than skip). The token lives in a
//! directory this test creates, named by `SOFTHSM2_CONF`. One module per process: every
//! test shares one store and uses its own labels. The tests are the conformance suite.

use std::process::Command;
use std::sync::OnceLock;

use keystore::{Pkcs11Config, Pkcs11Store};
use zeroize::Zeroizing;

mod conformance;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4711-test";

fn store() -> &'static Pkcs11Store {
    static STORE: OnceLock<(tempfile::TempDir, Pkcs11Store)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            assert!(
                std::path::Path::new(MODULE).exists(),
                "SoftHSM2 is not installed: apt-get install softhsm2 (.ci/run does)"
            );
            let dir = tempfile::tempdir().expect("dir");
            let tokens = dir.path().join("tokens");
            std::fs::create_dir(&tokens).expect("token dir");
            let conf = dir.path().join("softhsm2.conf");
            std::fs::write(
                &conf,
                format!(
                    "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                    tokens.display()
                ),
            )
            .expect("conf");
            // Before the module loads, which reads it once.
            std::env::set_var("SOFTHSM2_CONF", &conf);
            let init = Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", "fulgur-test"])
                .args(["--pin", PIN, "--so-pin", "so-4711"])
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .expect("softhsm2-util runs");
            assert!(
                init.status.success(),
                "{}",
                String::from_utf8_lossy(&init.stderr)
            );
            let store = Pkcs11Store::open(&Pkcs11Config {
                module: MODULE.into(),
                token_label: "fulgur-test".into(),
                pin: Zeroizing::new(PIN.into()),
                sessions: 2,
            })
            .expect("the token opens");
            (dir, store)
        })
        .1
}

#[test]
fn keys_are_generated_inside_sensitive_and_never_leave() {
    conformance::keys_are_generated_inside_sensitive_and_never_leave(store(), "hsm-");
}

#[test]
fn signatures_verify_with_libsecp256k1_and_are_low_s() {
    conformance::signatures_verify_with_libsecp256k1_and_are_low_s(store(), "hsm-");
}

#[test]
fn sessions_sign_in_parallel() {
    conformance::sessions_sign_in_parallel(store(), "hsm-");
}

#[test]
fn data_keys_round_trip_and_any_tampering_is_refused() {
    conformance::data_keys_round_trip_and_any_tampering_is_refused(store(), "hsm-");
}

#[test]
fn hmac_is_keyed_and_deterministic() {
    conformance::hmac_is_keyed_and_deterministic(store(), "hsm-");
}

#[test]
fn bad_requests_are_named() {
    conformance::bad_requests_are_named(store(), "hsm-");
}

#[test]
fn envelopes_survive_kek_rotation_and_die_with_their_kek() {
    conformance::envelopes_survive_kek_rotation_and_die_with_their_kek(store(), "hsm-");
}
