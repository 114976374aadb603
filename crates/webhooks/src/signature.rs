//! Webhook signatures: `Fulgur-Signature: t=<unix seconds>,v1=<hex>` where the hex is
//! HMAC-SHA256 under the subscription's secret of `<t>.<raw body>`. Binding the timestamp
//! lets a receiver refuse replays older than its tolerance; several `v1=` values appear
//! while a rotated-out secret is still valid (one per secret), and any one matching is
//! enough.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "Fulgur-Signature";

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &str, timestamp_secs: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp_secs`, with one tag per secret.
pub fn sign(secrets: &[&str], timestamp_secs: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp_secs}");
    for secret in secrets {
        let tag = mac(secret, timestamp_secs, body).finalize().into_bytes();
        header.push_str(",v1=");
        header.extend(tag.iter().map(|b| format!("{b:02x}")));
    }
    header
}

/// What a receiver does: checks the timestamp is within `tolerance_secs` of `now_secs` and
/// that a `v1` tag matches, comparing in constant time.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", hex)) => tags.push(decode_hex(hex).ok_or(SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_secs - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    if tags
        .iter()
        .any(|tag| expected.clone().verify_slice(tag).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(&[SECRET], 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(verify(SECRET, &header, body, 1_700_000_100, 300), Ok(()));
        assert_eq!(
            verify(SECRET, &header, br#"{"id":"evt_2"}"#, 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_other", &header, body, 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, &header, body, 1_700_000_301, 300),
            Err(SignatureError::Stale)
        );
        // The timestamp is signed: moving it breaks the tag.
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(
            verify(SECRET, &moved, body, 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn one_matching_tag_among_several_is_enough_and_garbage_is_malformed() {
        let body = b"{}";
        let both = sign(&["whsec_new", SECRET], 10, body);
        assert_eq!(both.matches("v1=").count(), 2);
        assert_eq!(verify(SECRET, &both, body, 10, 5), Ok(()));
        assert_eq!(verify("whsec_new", &both, body, 10, 5), Ok(()));
        assert_eq!(
            verify("whsec_other", &both, body, 10, 5),
            Err(SignatureError::Mismatch)
        );
        for bad in ["", "t=10", "v1=00", "t=x,v1=00", "t=10,v1=zz", "t=10,v1=0"] {
            assert_eq!(
                verify(SECRET, bad, body, 10, 5),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
