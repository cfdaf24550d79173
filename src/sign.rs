//! Keys and signatures: ed25519 key pairs, the DSSE v1 pre-authentication encoding (PAE) and
//! DSSE envelopes around in-toto statements.
//!
//! Key files (see `docs/provenance.md`):
//! - secret: PKCS#8 v1 PEM (`-----BEGIN PRIVATE KEY-----`), the DER being the fixed RFC 8410
//!   prefix followed by the 32-byte seed; created with mode 0600;
//! - public: SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), RFC 8410 as well.
//!
//! Both are what OpenSSL and Python's `cryptography` read and write for ed25519; the DER and
//! PEM are ed25519-dalek's `pkcs8`/`pem` encodings. The key id in an envelope is the
//! lower-case hex SHA-256 of the raw 32-byte public key.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::checksum;

/// The payload type of an in-toto statement inside a DSSE envelope.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// DSSE v1 pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal bytes.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// A DSSE envelope (JSON form).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Envelope {
    /// Base64 (standard, padded) of the payload.
    pub payload: String,
    /// The payload's media type.
    pub payload_type: String,
    /// Signatures over the PAE.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature in an [`Envelope`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// Hex SHA-256 of the raw public key.
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the 64-byte ed25519 signature.
    pub sig: String,
}

/// The key id kiln uses: hex SHA-256 of the raw 32-byte public key.
pub fn key_id(key: &VerifyingKey) -> String {
    checksum::sha256_bytes(key.as_bytes())
}

/// PKCS#8 v1 PEM of a secret key: the seed alone. ed25519-dalek's own `SigningKey` encoding
/// is v2 (it adds the public key); kiln's key files have always been v1, so they stay so.
pub fn secret_pem(key: &SigningKey) -> String {
    let pair = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    pair.to_pkcs8_pem(LineEnding::LF)
        .expect("an ed25519 PKCS#8 document always encodes")
        .to_string()
}

/// SubjectPublicKeyInfo PEM of a public key.
pub fn public_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("an ed25519 SubjectPublicKeyInfo always encodes")
}

/// Parses a PKCS#8 PEM ed25519 secret key (v1, or v2 whose public key matches).
pub fn parse_secret(text: &str) -> Result<SigningKey> {
    SigningKey::from_pkcs8_pem(text).map_err(|e| anyhow!("not an ed25519 PKCS#8 private key: {e}"))
}

/// Parses a SubjectPublicKeyInfo PEM ed25519 public key.
pub fn parse_public(text: &str) -> Result<VerifyingKey> {
    let key = VerifyingKey::from_public_key_pem(text)
        .map_err(|e| anyhow!("not an ed25519 SubjectPublicKeyInfo public key: {e}"))?;
    // A small-order point (the identity among them) lets a forged signature verify for any
    // message; no key pair made by a real key generator has one.
    if key.is_weak() {
        bail!("a weak (small-order) ed25519 public key, refused: any signature would verify with it");
    }
    Ok(key)
}

/// Reads a secret key file.
pub fn load_secret(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    parse_secret(&text).with_context(|| format!("{}", path.display()))
}

/// Reads a public key file.
pub fn load_public(path: &Path) -> Result<VerifyingKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    parse_public(&text).with_context(|| format!("{}", path.display()))
}

/// A new key from 32 bytes of `/dev/urandom`.
pub fn generate() -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("reading /dev/urandom")?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `<prefix>.key` (0600 from creation, never replaced) and `<prefix>.pub`; returns both
/// paths.
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PathBuf)> {
    let key = generate()?;
    // The prefix is bytes: append the suffixes to the OsStr, never to a lossy copy of it.
    let with = |suffix: &str| {
        let mut name = prefix.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    let (secret, public) = (with(".key"), with(".pub"));
    for p in [&secret, &public] {
        if std::fs::symlink_metadata(p).is_ok() {
            bail!("{} exists; not overwriting a key", p.display());
        }
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret)
        .with_context(|| format!("{}", secret.display()))?;
    f.write_all(secret_pem(&key).as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("{}", secret.display()))?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&public)
        .with_context(|| format!("{}", public.display()))?;
    f.write_all(public_pem(&key.verifying_key()).as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("{}", public.display()))?;
    Ok((secret, public))
}

/// Signs `payload` as one DSSE envelope with one signature.
pub fn sign_envelope(key: &SigningKey, payload_type: &str, payload: &[u8]) -> Envelope {
    let sig: Signature = key.sign(&pae(payload_type, payload));
    Envelope {
        payload: B64.encode(payload),
        payload_type: payload_type.to_owned(),
        signatures: vec![EnvelopeSignature {
            keyid: key_id(&key.verifying_key()),
            sig: B64.encode(sig.to_bytes()),
        }],
    }
}

/// Why an envelope does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The payload is not base64.
    #[error("the envelope's payload is not valid base64")]
    Payload,
    /// The payload type is not in-toto's.
    #[error("the envelope's payloadType is `{0}`, not `{PAYLOAD_TYPE}`")]
    PayloadType(String),
    /// No signature at all.
    #[error("the envelope has no signatures")]
    Unsigned,
    /// No signature verifies with the key.
    #[error("no signature in the envelope verifies with key {0}")]
    BadSignature(String),
}

/// Verifies `env` with `key`: some signature must verify over the PAE of the decoded payload,
/// by ed25519-dalek's strict verification (weak keys, and signatures with a small-order `R`
/// or a non-canonical encoding, are refused). Returns the payload.
pub fn verify_envelope(env: &Envelope, key: &VerifyingKey) -> Result<Vec<u8>, EnvelopeError> {
    let payload = B64.decode(&env.payload).map_err(|_| EnvelopeError::Payload)?;
    if env.payload_type != PAYLOAD_TYPE {
        return Err(EnvelopeError::PayloadType(env.payload_type.clone()));
    }
    if env.signatures.is_empty() {
        return Err(EnvelopeError::Unsigned);
    }
    let message = pae(&env.payload_type, &payload);
    let ok = env.signatures.iter().any(|s| {
        B64.decode(&s.sig)
            .ok()
            .and_then(|b| Signature::from_slice(&b).ok())
            .is_some_and(|sig| key.verify_strict(&message, &sig).is_ok())
    });
    if ok {
        Ok(payload)
    } else {
        Err(EnvelopeError::BadSignature(key_id(key)))
    }
}

/// Decodes the payload without checking signatures.
pub fn payload(env: &Envelope) -> Result<Vec<u8>, EnvelopeError> {
    B64.decode(&env.payload).map_err(|_| EnvelopeError::Payload)
}

/// A loaded secret key. Its `Debug` shows the key id only, never the secret.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// Reads a PKCS#8 PEM secret key file.
    pub fn load(path: &Path) -> Result<SecretKey> {
        load_secret(path).map(SecretKey)
    }

    /// Wraps a signing key.
    pub fn new(key: SigningKey) -> SecretKey {
        SecretKey(key)
    }

    /// Its public half.
    pub fn public(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// The key id of its public half.
    pub fn id(&self) -> String {
        key_id(&self.0.verifying_key())
    }

    /// Signs an in-toto statement; returns the envelope as one JSON line (with `\n`).
    pub fn envelope_line(&self, statement: &[u8]) -> Vec<u8> {
        let env = sign_envelope(&self.0, PAYLOAD_TYPE, statement);
        let mut line = serde_json::to_vec(&env).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(keyid {})", self.id())
    }
}

/// `kiln sign`: signs `DIR/provenance.intoto.json` into `DIR/provenance.intoto.jsonl`
/// (written beside it and renamed into place). Returns the envelope's path.
pub fn sign_release(dir: &Path, key: &SecretKey) -> Result<PathBuf> {
    use crate::provenance::{ENVELOPE_FILE, STATEMENT_FILE, subjects_of};
    let path = dir.join(STATEMENT_FILE);
    let meta = std::fs::symlink_metadata(&path).with_context(|| format!("{}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let statement = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&statement).with_context(|| format!("{} is not JSON", path.display()))?;
    subjects_of(&value).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let out = dir.join(ENVELOPE_FILE);
    let tmp = dir.join(format!(".{ENVELOPE_FILE}.tmp-{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .with_context(|| format!("{}", tmp.display()))?;
    let written = f
        .write_all(&key.envelope_line(&statement))
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &out));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow!("{}: {e}", out.display()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // The worked example of the DSSE v1 protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 §7.1 TEST 1: empty message.
        let seed: [u8; 32] =
            hex::FromHex::from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap();
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(key.sign(b"").to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    /// The files of the key with seed `[7; 32]` as kiln wrote them with its own DER prefixes
    /// (RFC 8410) before it used the pkcs8 crate: key files stay byte-identical.
    const SECRET_7: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH
-----END PRIVATE KEY-----
";
    const PUBLIC_7: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=
-----END PUBLIC KEY-----
";

    #[test]
    fn key_files_are_what_kiln_always_wrote() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        assert_eq!(secret_pem(&key), SECRET_7);
        assert_eq!(public_pem(&key.verifying_key()), PUBLIC_7);
        assert_eq!(parse_secret(SECRET_7).unwrap().to_bytes(), [7u8; 32]);
        assert_eq!(parse_public(PUBLIC_7).unwrap(), key.verifying_key());
        // A v2 document (with the public key, as ed25519-dalek writes it) reads too.
        let v2 = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_ne!(v2.as_str(), SECRET_7);
        assert_eq!(parse_secret(&v2).unwrap().to_bytes(), [7u8; 32]);
    }

    #[test]
    fn pem_round_trips() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let sk = parse_secret(&secret_pem(&key)).unwrap();
        assert_eq!(sk.to_bytes(), key.to_bytes());
        let pk = parse_public(&public_pem(&key.verifying_key())).unwrap();
        assert_eq!(pk, key.verifying_key());
        assert!(parse_public(&secret_pem(&key)).is_err());
        assert!(parse_secret("garbage").is_err());
    }

    #[test]
    fn envelopes_verify_and_tampering_is_caught() {
        let key = SigningKey::from_bytes(&[1u8; 32]);
        let env = sign_envelope(&key, PAYLOAD_TYPE, b"{\"a\":1}");
        assert_eq!(verify_envelope(&env, &key.verifying_key()).unwrap(), b"{\"a\":1}");
        let other = SigningKey::from_bytes(&[2u8; 32]).verifying_key();
        assert!(matches!(
            verify_envelope(&env, &other),
            Err(EnvelopeError::BadSignature(_))
        ));
        let mut edited = env.clone();
        edited.payload = B64.encode(b"{\"a\":2}");
        assert!(matches!(
            verify_envelope(&edited, &key.verifying_key()),
            Err(EnvelopeError::BadSignature(_))
        ));
        let mut typed = env.clone();
        typed.payload_type = "text/plain".into();
        assert!(matches!(
            verify_envelope(&typed, &key.verifying_key()),
            Err(EnvelopeError::PayloadType(_))
        ));
        let mut unsigned = env;
        unsigned.signatures.clear();
        assert_eq!(
            verify_envelope(&unsigned, &key.verifying_key()),
            Err(EnvelopeError::Unsigned)
        );
    }

    #[test]
    fn issue13_weak_keys_are_refused_and_signatures_verify_strictly() {
        // The identity point: with (R = identity, s = 0) the lax equation holds for any message.
        let mut point = [0u8; 32];
        point[0] = 1;
        let spki = ed25519_dalek::pkcs8::PublicKeyBytes(point)
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let err = parse_public(&spki).unwrap_err().to_string();
        assert!(err.contains("weak (small-order)"), "{err}");
        let weak = VerifyingKey::from_bytes(&point).unwrap();
        let mut sig = [0u8; 64];
        sig[0] = 1;
        let env = Envelope {
            payload_type: PAYLOAD_TYPE.into(),
            payload: B64.encode(b"{\"any\":1}"),
            signatures: vec![EnvelopeSignature {
                keyid: String::new(),
                sig: B64.encode(sig),
            }],
        };
        assert!(matches!(
            verify_envelope(&env, &weak),
            Err(EnvelopeError::BadSignature(_))
        ));
    }
}
