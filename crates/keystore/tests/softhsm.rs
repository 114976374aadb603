//! The PKCS#11 backend against a real SoftHSM2 token (Debian `softhsm2`, which `.ci/run`
//! installs; without it these tests fail rather than skip). The token lives in a
//! directory this test creates, named by `SOFTHSM2_CONF`. One module per process: every
//! test shares one store and uses its own labels. The tests are the conformance suite.

use std::sync::OnceLock;

use keystore::testing::SoftHsmToken;
use keystore::Pkcs11Store;

mod conformance;

fn store() -> &'static Pkcs11Store {
    static STORE: OnceLock<(SoftHsmToken, Pkcs11Store)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let token = SoftHsmToken::create("fulgur-test", "4711-test").expect("token");
            let store = token.open(2).expect("the token opens");
            (token, store)
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

#[test]
fn p256_signatures_verify_and_curves_stay_apart() {
    conformance::p256_signatures_verify_and_curves_stay_apart(store(), "hsm-");
}
