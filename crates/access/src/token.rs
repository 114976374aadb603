//! The API key a caller presents: `fgk_<key id>_<64 hex characters of secret>`. The
//! prefix makes leaked keys easy to recognise (secret scanners); the id finds the key's
//! row; only the secret's keyed hash is stored.

use zeroize::Zeroizing;

/// Every API key starts with this, so a bearer token is told from a JWT at a glance.
pub const API_KEY_PREFIX: &str = "fgk_";
const ID_PREFIX: &str = "key_";

/// A key's full text, as shown once to its owner. Redacted in `Debug`, not `Display`,
/// zeroized when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(Zeroizing<String>);

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeySecret(redacted)")
    }
}

impl ApiKeySecret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The part after the id: what the stored hash covers.
    pub(crate) fn secret_part(&self) -> &str {
        self.0.rsplit_once('_').map_or("", |(_, secret)| secret)
    }

    /// A fresh secret for the key `id` (`key_...`).
    pub(crate) fn generate(id: &str) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut_slice()).expect("the OS provides randomness");
        let suffix = id.strip_prefix(ID_PREFIX).unwrap_or(id);
        Self(Zeroizing::new(format!(
            "{API_KEY_PREFIX}{suffix}_{}",
            hex::encode(secret.as_slice())
        )))
    }
}

/// The key id a presented token names (`key_...`), if it has the shape of a key: what
/// failures are counted by, never the secret.
pub fn presented_key_id(token: &str) -> Option<String> {
    split(token).map(|(id, _)| id)
}

/// The key id and secret in a presented token, if it has the shape of one.
pub(crate) fn split(token: &str) -> Option<(String, &str)> {
    let rest = token.strip_prefix(API_KEY_PREFIX)?;
    let (id, secret) = rest.rsplit_once('_')?;
    let well_formed = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && secret.len() == 64
        && secret.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| (format!("{ID_PREFIX}{id}"), secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_splits_back_into_its_id() {
        let key = ApiKeySecret::generate("key_01jabc");
        let (id, secret) = split(key.expose()).expect("well formed");
        assert_eq!(id, "key_01jabc");
        assert_eq!(secret.len(), 64);
        assert_eq!(key.secret_part(), secret);
        assert_eq!(format!("{key:?}"), "ApiKeySecret(redacted)");
    }

    #[test]
    fn malformed_tokens_do_not_split() {
        for token in [
            "",
            "fgk_",
            "fgk_abc",
            "fgk_abc_1234",
            "xyz_abc_0000000000000000000000000000000000000000000000000000000000000000",
            "fgk__0000000000000000000000000000000000000000000000000000000000000000",
            "fgk_a-b_0000000000000000000000000000000000000000000000000000000000000000",
            "fgk_ab_000000000000000000000000000000000000000000000000000000000000000g",
        ] {
            assert!(split(token).is_none(), "{token:?}");
        }
    }
}
