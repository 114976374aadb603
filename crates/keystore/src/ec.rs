//! Elliptic-curve details the token does not handle: the curves' DER OIDs for key
//! generation (and telling a token's EC keys apart), the public point from
//! `CKA_EC_POINT` (DER OCTET STRING around the SEC1 point), and raw `r ‖ s` signatures
//! (secp256k1's normalised to low S).

use crate::KeyStoreError;

/// DER of OID 1.3.132.0.10 (secp256k1), the `CKA_EC_PARAMS` to generate with.
pub const SECP256K1_PARAMS: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
/// DER of OID 1.2.840.10045.3.1.7 (P-256, prime256v1).
pub const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The SEC1 point inside `CKA_EC_POINT`, which tokens return DER-wrapped (04 len point)
/// or, some of them, bare. A bare uncompressed point of 64 coordinate bytes also starts
/// with 04 and a byte, hence the length check.
fn sec1_point(ec_point: &[u8]) -> &[u8] {
    match ec_point {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && rest.len() != 64 => rest,
        bare => bare,
    }
}

/// The secp256k1 public key in `CKA_EC_POINT`.
pub fn public_key(ec_point: &[u8]) -> Result<secp256k1::PublicKey, KeyStoreError> {
    secp256k1::PublicKey::from_slice(sec1_point(ec_point))
        .map_err(|e| KeyStoreError::Backend(format!("the token's EC point is not secp256k1: {e}")))
}

/// The P-256 public key in `CKA_EC_POINT`.
pub fn p256_public_key(ec_point: &[u8]) -> Result<p256::ecdsa::VerifyingKey, KeyStoreError> {
    p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1_point(ec_point))
        .map_err(|e| KeyStoreError::Backend(format!("the token's EC point is not P-256: {e}")))
}

/// `r ‖ s` as the token returns it, as a P-256 signature.
pub fn p256_signature(raw: &[u8]) -> Result<p256::ecdsa::Signature, KeyStoreError> {
    p256::ecdsa::Signature::from_slice(raw)
        .map_err(|e| KeyStoreError::Backend(format!("the token's P-256 signature: {e}")))
}

/// `r ‖ s` as the token returns it, as a low-S signature.
pub fn signature(raw: &[u8]) -> Result<secp256k1::ecdsa::Signature, KeyStoreError> {
    let mut signature = secp256k1::ecdsa::Signature::from_compact(raw)
        .map_err(|e| KeyStoreError::Backend(format!("the token's signature: {e}")))?;
    signature.normalize_s();
    Ok(signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_point_is_found_wrapped_or_bare() {
        let secp = secp256k1::Secp256k1::new();
        let key = secp256k1::SecretKey::from_slice(&[7u8; 32]).expect("key");
        let point = secp256k1::PublicKey::from_secret_key(&secp, &key);
        let bare = point.serialize_uncompressed();
        let mut wrapped = vec![0x04, 65];
        wrapped.extend_from_slice(&bare);
        assert_eq!(public_key(&wrapped).expect("wrapped"), point);
        assert_eq!(public_key(&bare).expect("bare"), point);
        assert!(public_key(&[0x04, 2, 1, 2]).is_err());
    }

    #[test]
    fn high_s_is_normalised() {
        let secp = secp256k1::Secp256k1::new();
        let key = secp256k1::SecretKey::from_slice(&[9u8; 32]).expect("key");
        let digest = secp256k1::Message::from_digest([3u8; 32]);
        let low = secp.sign_ecdsa(&digest, &key);
        let mut compact = low.serialize_compact();
        // s' = n - s: the same signature with high S.
        let n: [u8; 32] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c,
            0xd0, 0x36, 0x41, 0x41,
        ];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(n[i]) - i16::from(compact[32 + i]) - borrow;
            borrow = i16::from(d < 0);
            compact[32 + i] = d.rem_euclid(256) as u8;
        }
        let high = secp256k1::ecdsa::Signature::from_compact(&compact).expect("high");
        assert!(secp
            .verify_ecdsa(
                &digest,
                &high,
                &secp256k1::PublicKey::from_secret_key(&secp, &key)
            )
            .is_err());
        let normalised = signature(&compact).expect("parses");
        assert_eq!(normalised, low);
    }
}
