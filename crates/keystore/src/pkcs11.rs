//! The PKCS#11 backend. One module context per store, logged in once as the user; a
//! bounded pool of sessions (a session serves one call at a time, and a token signs in
//! parallel across sessions). Keys are token objects found by label and kind:
//! secp256k1 and P-256 pairs (`CKM_EC_KEY_PAIR_GEN`, raw `CKM_ECDSA` over the caller's
//! digest; told apart by `CKA_EC_PARAMS`),
//! AES-256 (`CKM_AES_GCM` with a 12-byte nonce from the token's generator, 128-bit tag)
//! and generic secrets (`CKM_SHA256_HMAC`). Every private and secret key is generated
//! with `CKA_SENSITIVE` and without `CKA_EXTRACTABLE`.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, RwLock};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::{
    check_label, ec, KeyInfo, KeyKind, KeyStore, KeyStoreError, Protection, NONCE_BYTES, TAG_BYTES,
};

const TAG_BITS: u64 = (TAG_BYTES * 8) as u64;

/// Which module, token and PIN. The PIN comes from the caller (an environment variable or
/// a file, never the configuration itself).
pub struct Pkcs11Config {
    /// The module's shared library, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    pub pin: Zeroizing<String>,
    /// Sessions kept open (default 2: the token signs in parallel across sessions).
    pub sessions: usize,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"<redacted>")
            .field("sessions", &self.sessions)
            .finish()
    }
}

pub struct Pkcs11Store {
    // Sessions borrow nothing from the context but must close before it finalizes:
    // field order drops the pool first.
    pool: Mutex<Vec<Session>>,
    returned: Condvar,
    /// Creating and destroying token objects excludes every other call: SoftHSM2's file
    /// store fails a creation that races another session's use of the token with a
    /// general error. Key management is rare; signing and wrapping share the lock.
    managing: RwLock<()>,
    _context: Pkcs11,
}

fn backend(e: CkError) -> KeyStoreError {
    match e {
        CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _) => {
            KeyStoreError::BadPin
        }
        other => KeyStoreError::Backend(other.to_string()),
    }
}

fn find_slot(context: &Pkcs11, token_label: &str) -> Result<Slot, KeyStoreError> {
    for slot in context
        .get_slots_with_initialized_token()
        .map_err(backend)?
    {
        let info = context.get_token_info(slot).map_err(backend)?;
        if info.label().trim_end() == token_label {
            return Ok(slot);
        }
    }
    Err(KeyStoreError::NoToken(token_label.to_string()))
}

impl Pkcs11Store {
    /// Loads the module, finds the token by label, logs in and opens the sessions.
    ///
    /// One store per module per process: a PKCS#11 module's login is per process, and
    /// dropping a store finalizes the module for every user of it.
    pub fn open(config: &Pkcs11Config) -> Result<Self, KeyStoreError> {
        let context = Pkcs11::new(&config.module).map_err(|e| {
            KeyStoreError::Backend(format!("loading {}: {e}", config.module.display()))
        })?;
        context
            .initialize(CInitializeArgs::OsThreads)
            .map_err(backend)?;
        let slot = find_slot(&context, &config.token_label)?;
        let mut sessions = Vec::new();
        for _ in 0..config.sessions.clamp(1, 64) {
            sessions.push(context.open_rw_session(slot).map_err(backend)?);
        }
        let pin = AuthPin::new(config.pin.as_str().into());
        match sessions[0].login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(backend(e)),
        }
        drop(pin);
        Ok(Self {
            pool: Mutex::new(sessions),
            returned: Condvar::new(),
            managing: RwLock::new(()),
            _context: context,
        })
    }

    /// Runs `f` on a free session, alongside other uses of the keys.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, KeyStoreError>,
    ) -> Result<T, KeyStoreError> {
        let _shared = self.managing.read().unwrap_or_else(|p| p.into_inner());
        self.on_session(f)
    }

    /// Runs `f` on a free session, waiting for one.
    fn on_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, KeyStoreError>,
    ) -> Result<T, KeyStoreError> {
        let session = {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(session) = pool.pop() {
                    break session;
                }
                pool = self.returned.wait(pool).unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = f(&session);
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(session);
        self.returned.notify_one();
        result
    }
}

/// The object of `class` labelled `label`, if any.
fn find(
    session: &Session,
    label: &str,
    class: ObjectClass,
) -> Result<Option<ObjectHandle>, KeyStoreError> {
    let found = session
        .find_objects(&[
            Attribute::Token(true),
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(backend)?;
    Ok(found.into_iter().next())
}

fn kind_of(session: &Session, key: ObjectHandle) -> Result<KeyKind, KeyStoreError> {
    let attributes = session
        .get_attributes(key, &[AttributeType::KeyType])
        .map_err(backend)?;
    match attributes.first() {
        Some(Attribute::KeyType(t)) if *t == KeyType::EC => curve_of(session, key),
        Some(Attribute::KeyType(t)) if *t == KeyType::AES => Ok(KeyKind::Aes256),
        Some(Attribute::KeyType(t)) if *t == KeyType::GENERIC_SECRET => Ok(KeyKind::HmacSha256),
        _ => Err(KeyStoreError::Backend("a key of an unknown type".into())),
    }
}

/// Which curve an EC key is on.
fn curve_of(session: &Session, key: ObjectHandle) -> Result<KeyKind, KeyStoreError> {
    let attributes = session
        .get_attributes(key, &[AttributeType::EcParams])
        .map_err(backend)?;
    match attributes.first() {
        Some(Attribute::EcParams(params)) if params[..] == ec::SECP256K1_PARAMS => {
            Ok(KeyKind::Secp256k1)
        }
        Some(Attribute::EcParams(params)) if params[..] == ec::P256_PARAMS => Ok(KeyKind::P256),
        _ => Err(KeyStoreError::Backend(
            "an EC key on an unknown curve".into(),
        )),
    }
}

/// The key labelled `label`, which must be of `kind` (`class`: private or secret).
fn key(session: &Session, label: &str, kind: KeyKind) -> Result<ObjectHandle, KeyStoreError> {
    check_label(label)?;
    let (class, other_class) = match kind {
        KeyKind::Secp256k1 | KeyKind::P256 => (ObjectClass::PRIVATE_KEY, ObjectClass::SECRET_KEY),
        KeyKind::Aes256 | KeyKind::HmacSha256 => {
            (ObjectClass::SECRET_KEY, ObjectClass::PRIVATE_KEY)
        }
    };
    // A secret key asked for as a signing key, or the reverse: say which it is.
    let found = match find(session, label, class)? {
        Some(handle) => Some(handle),
        None => find(session, label, other_class)?,
    };
    let Some(handle) = found else {
        return Err(KeyStoreError::UnknownKey(label.to_string()));
    };
    let actual = kind_of(session, handle)?;
    if actual != kind {
        return Err(KeyStoreError::WrongKind {
            label: label.to_string(),
            actual: actual.as_str(),
            wanted: kind.as_str(),
        });
    }
    Ok(handle)
}

/// `CKA_EC_POINT` of the public half of the EC key `label`, which must be of `kind`.
fn ec_point(session: &Session, label: &str, kind: KeyKind) -> Result<Vec<u8>, KeyStoreError> {
    key(session, label, kind)?;
    let public = find(session, label, ObjectClass::PUBLIC_KEY)?
        .ok_or_else(|| KeyStoreError::UnknownKey(label.to_string()))?;
    session
        .get_attributes(public, &[AttributeType::EcPoint])
        .map_err(backend)?
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(point) => Some(point),
            _ => None,
        })
        .ok_or_else(|| KeyStoreError::Backend("no EC point on the public key".into()))
}

/// Raw `r ‖ s` of `CKM_ECDSA` over `digest` with the EC key `label` of `kind`.
fn sign_ecdsa(
    session: &Session,
    label: &str,
    kind: KeyKind,
    digest: &[u8; 32],
) -> Result<Vec<u8>, KeyStoreError> {
    let private = key(session, label, kind)?;
    session
        .sign(&Mechanism::Ecdsa, private, digest)
        .map_err(backend)
}

fn private_attributes(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

impl KeyStore for Pkcs11Store {
    fn generate(&self, label: &str, kind: KeyKind) -> Result<(), KeyStoreError> {
        check_label(label)?;
        let _alone = self.managing.write().unwrap_or_else(|p| p.into_inner());
        self.on_session(|session| {
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::SECRET_KEY] {
                if find(session, label, class)?.is_some() {
                    return Err(KeyStoreError::LabelTaken(label.to_string()));
                }
            }
            let mut private = private_attributes(label);
            match kind {
                KeyKind::Secp256k1 | KeyKind::P256 => {
                    private.push(Attribute::Sign(true));
                    let curve = match kind {
                        KeyKind::P256 => ec::P256_PARAMS.to_vec(),
                        _ => ec::SECP256K1_PARAMS.to_vec(),
                    };
                    let public = [
                        Attribute::Token(true),
                        Attribute::Private(false),
                        Attribute::Verify(true),
                        Attribute::EcParams(curve),
                        Attribute::Label(label.as_bytes().to_vec()),
                    ];
                    session
                        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
                        .map_err(backend)?;
                }
                KeyKind::Aes256 => {
                    private.extend([
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(32.into()),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                    ]);
                    session
                        .generate_key(&Mechanism::AesKeyGen, &private)
                        .map_err(backend)?;
                }
                KeyKind::HmacSha256 => {
                    private.extend([
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::GENERIC_SECRET),
                        Attribute::ValueLen(32.into()),
                        Attribute::Sign(true),
                        Attribute::Verify(true),
                    ]);
                    session
                        .generate_key(&Mechanism::GenericSecretKeyGen, &private)
                        .map_err(backend)?;
                }
            }
            Ok(())
        })
    }

    fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
        self.with_session(|session| {
            let mut keys = Vec::new();
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::SECRET_KEY] {
                let handles = session
                    .find_objects(&[Attribute::Token(true), Attribute::Class(class)])
                    .map_err(backend)?;
                for handle in handles {
                    let label = session
                        .get_attributes(handle, &[AttributeType::Label])
                        .map_err(backend)?
                        .into_iter()
                        .find_map(|a| match a {
                            Attribute::Label(bytes) => String::from_utf8(bytes).ok(),
                            _ => None,
                        })
                        .unwrap_or_default();
                    keys.push(KeyInfo {
                        label,
                        kind: kind_of(session, handle)?,
                    });
                }
            }
            keys.sort_by(|a, b| a.label.cmp(&b.label));
            Ok(keys)
        })
    }

    fn public_key(&self, label: &str) -> Result<secp256k1::PublicKey, KeyStoreError> {
        self.with_session(|session| ec::public_key(&ec_point(session, label, KeyKind::Secp256k1)?))
    }

    fn sign_digest(
        &self,
        label: &str,
        digest: &[u8; 32],
    ) -> Result<secp256k1::ecdsa::Signature, KeyStoreError> {
        self.with_session(|session| {
            ec::signature(&sign_ecdsa(session, label, KeyKind::Secp256k1, digest)?)
        })
    }

    fn p256_public_key(&self, label: &str) -> Result<p256::ecdsa::VerifyingKey, KeyStoreError> {
        self.with_session(|session| ec::p256_public_key(&ec_point(session, label, KeyKind::P256)?))
    }

    fn p256_sign_digest(
        &self,
        label: &str,
        digest: &[u8; 32],
    ) -> Result<p256::ecdsa::Signature, KeyStoreError> {
        self.with_session(|session| {
            ec::p256_signature(&sign_ecdsa(session, label, KeyKind::P256, digest)?)
        })
    }

    fn wrap(&self, kek: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        crate::check_wrap_input(plaintext)?;
        self.with_session(|session| {
            let key = key(session, kek, KeyKind::Aes256)?;
            let mut nonce = [0u8; NONCE_BYTES];
            session.generate_random_slice(&mut nonce).map_err(backend)?;
            let mut iv = nonce;
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(backend)?;
            let sealed = session
                .encrypt(&Mechanism::AesGcm(params), key, plaintext)
                .map_err(backend)?;
            let mut out = nonce.to_vec();
            out.extend_from_slice(&sealed);
            Ok(out)
        })
    }

    fn unwrap(
        &self,
        kek: &str,
        wrapped: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        crate::check_wrapped(wrapped)?;
        self.with_session(|session| {
            let key = key(session, kek, KeyKind::Aes256)?;
            let (nonce, sealed) = wrapped.split_at(NONCE_BYTES);
            let mut iv = [0u8; NONCE_BYTES];
            iv.copy_from_slice(nonce);
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(backend)?;
            // Tokens report a failed tag check variously (SoftHSM2: a general error):
            // any failure to decrypt is a failure to authenticate.
            session
                .decrypt(&Mechanism::AesGcm(params), key, sealed)
                .map(Zeroizing::new)
                .map_err(|_| KeyStoreError::Unauthentic)
        })
    }

    fn hmac(&self, label: &str, data: &[u8]) -> Result<[u8; 32], KeyStoreError> {
        self.with_session(|session| {
            let key = key(session, label, KeyKind::HmacSha256)?;
            let mac = session
                .sign(&Mechanism::Sha256Hmac, key, data)
                .map_err(backend)?;
            mac.try_into()
                .map_err(|_| KeyStoreError::Backend("an HMAC-SHA256 of the wrong length".into()))
        })
    }

    fn protection(&self, label: &str) -> Result<Protection, KeyStoreError> {
        check_label(label)?;
        self.with_session(|session| {
            let handle = match find(session, label, ObjectClass::PRIVATE_KEY)? {
                Some(handle) => handle,
                None => find(session, label, ObjectClass::SECRET_KEY)?
                    .ok_or_else(|| KeyStoreError::UnknownKey(label.to_string()))?,
            };
            let flags = session
                .get_attributes(
                    handle,
                    &[
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::NeverExtractable,
                    ],
                )
                .map_err(backend)?;
            let flag = |wanted: AttributeType| {
                flags.iter().any(|a| {
                    a.attribute_type() == wanted
                        && matches!(
                            a,
                            Attribute::Sensitive(true)
                                | Attribute::Extractable(true)
                                | Attribute::NeverExtractable(true)
                        )
                })
            };
            // A sensitive key's value is unavailable: the module leaves it out.
            let value_readable = session
                .get_attributes(handle, &[AttributeType::Value])
                .map(|values| !values.is_empty())
                .unwrap_or(false);
            Ok(Protection {
                sensitive: flag(AttributeType::Sensitive),
                extractable: flag(AttributeType::Extractable),
                never_extractable: flag(AttributeType::NeverExtractable),
                value_readable,
            })
        })
    }

    fn destroy(&self, label: &str) -> Result<(), KeyStoreError> {
        check_label(label)?;
        let _alone = self.managing.write().unwrap_or_else(|p| p.into_inner());
        self.on_session(|session| {
            let mut destroyed = false;
            for class in [
                ObjectClass::PRIVATE_KEY,
                ObjectClass::PUBLIC_KEY,
                ObjectClass::SECRET_KEY,
            ] {
                if let Some(handle) = find(session, label, class)? {
                    session.destroy_object(handle).map_err(backend)?;
                    destroyed = true;
                }
            }
            if destroyed {
                Ok(())
            } else {
                Err(KeyStoreError::UnknownKey(label.to_string()))
            }
        })
    }
}
