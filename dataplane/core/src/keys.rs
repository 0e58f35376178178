//! Pre-shared key, key proofs, session secret and per-stream frame keys.
//!
//! # Design
//! Both hosts hold the same pre-shared key (PSK), a file of at least
//! [`PSK_LEN_MIN`] random bytes (raw, or hex text). Nobody sends the PSK:
//! each side proves it holds it with an HMAC-SHA256 over the handshake
//! transcript, which contains fresh nonces from both sides, so a recorded
//! proof is useless on another connection.
//!
//! Stream 0's handshake creates the session. Its two nonces salt an
//! HKDF-SHA256 extract of the PSK into the session secret; every frame key
//! is an HKDF expand of that secret for one stream and one direction
//! (`"dwcp v1 c2s"` or `"dwcp v1 s2c"` followed by the stream id). The keys
//! are AES-256-GCM keys. Streams that join later (or rejoin after a break)
//! prove the PSK on their own connection but keep the stream's keys, so a
//! retransmitted frame is byte-identical to the first copy and a nonce is
//! never used for two different plaintexts.

use ring::{aead, hkdf, hmac};
use thiserror::Error;

/// Shortest accepted pre-shared key, in bytes.
pub const PSK_LEN_MIN: usize = 32;
/// Longest accepted key file, in bytes (a key is small; anything bigger is the wrong file).
pub const PSK_FILE_LEN_MAX: usize = 4096;
/// Length of a key proof (HMAC-SHA256).
pub const PROOF_LEN: usize = 32;

/// Errors while loading a pre-shared key.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key file {path}")]
    Read {
        /// The path given.
        path: String,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// The key file is larger than any key.
    #[error("key file {path} is {len} bytes, more than {max}: is it the right file?")]
    TooLarge {
        /// The path given.
        path: String,
        /// Its length.
        len: usize,
        /// The largest accepted.
        max: usize,
    },
    /// The key is too short to be safe.
    #[error("key in {path} is {len} bytes, fewer than the {min} required (generate one with `dwcp-dataplane keygen`)")]
    TooShort {
        /// The path given.
        path: String,
        /// The key length after decoding.
        len: usize,
        /// The shortest accepted.
        min: usize,
    },
}

pub use dwcp_shared::keys::Direction;

/// The pre-shared key, as loaded from a key file.
pub struct PreSharedKey {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for PreSharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreSharedKey")
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl PreSharedKey {
    /// Reads a key file: 64+ hex digits (whitespace ignored) or raw bytes.
    pub fn load(path: &std::path::Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let raw = std::fs::read(path).map_err(|cause| KeyError::Read {
            path: shown.clone(),
            cause,
        })?;
        if raw.len() > PSK_FILE_LEN_MAX {
            return Err(KeyError::TooLarge {
                path: shown,
                len: raw.len(),
                max: PSK_FILE_LEN_MAX,
            });
        }
        Self::from_file_bytes(&raw).map_err(|len| KeyError::TooShort {
            path: shown,
            len,
            min: PSK_LEN_MIN,
        })
    }

    /// Decodes key-file contents; on a too-short key returns its length.
    pub fn from_file_bytes(raw: &[u8]) -> Result<Self, usize> {
        let bytes = decode_hex(raw).unwrap_or_else(|| raw.to_vec());
        if bytes.len() < PSK_LEN_MIN {
            return Err(bytes.len());
        }
        Ok(Self { bytes })
    }

    /// HMAC-SHA256 of `transcript` under the PSK, with a role label.
    pub fn proof(&self, role: ProofRole, transcript: &[&[u8]]) -> [u8; PROOF_LEN] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.bytes);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(role.label());
        for part in transcript {
            ctx.update(part);
        }
        let tag = ctx.sign();
        let mut out = [0u8; PROOF_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Checks a proof in constant time.
    pub fn verify_proof(
        &self,
        role: ProofRole,
        transcript: &[&[u8]],
        proof: &[u8; PROOF_LEN],
    ) -> bool {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.bytes);
        let mut message = Vec::with_capacity(256);
        message.extend_from_slice(role.label());
        for part in transcript {
            message.extend_from_slice(part);
        }
        hmac::verify(&key, &message, proof).is_ok()
    }

    /// Derives the session secret from stream 0's handshake nonces.
    pub fn session_secret(
        &self,
        client_nonce: &[u8; 32],
        server_nonce: &[u8; 32],
    ) -> SessionSecret {
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(client_nonce);
        salt[32..].copy_from_slice(server_nonce);
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(&self.bytes);
        SessionSecret { prk }
    }
}

/// Who signs a proof; the label keeps a server proof from passing as a client proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofRole {
    /// The destination proves first.
    Server,
    /// The source proves second.
    Client,
}

impl ProofRole {
    fn label(self) -> &'static [u8] {
        match self {
            ProofRole::Server => dwcp_shared::keys::PROOF_LABEL_SERVER,
            ProofRole::Client => dwcp_shared::keys::PROOF_LABEL_CLIENT,
        }
    }
}

/// The session secret (an HKDF pseudo-random key) from which frame keys derive.
pub struct SessionSecret {
    prk: hkdf::Prk,
}

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(..)")
    }
}

impl SessionSecret {
    /// The AES-256-GCM key of one stream in one direction.
    pub fn frame_key(&self, stream_id: u16, direction: Direction) -> aead::LessSafeKey {
        let info = dwcp_shared::keys::frame_key_info(direction, stream_id);
        let info: [&[u8]; 1] = [&info];
        let okm = self
            .prk
            .expand(&info, &aead::AES_256_GCM)
            .expect("HKDF-SHA256 can expand 32 bytes, far below its 255*32 limit");
        aead::LessSafeKey::new(aead::UnboundKey::from(okm))
    }
}

fn decode_hex(raw: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    let value =
        |d: u8| -> Option<u8> { (d as char).to_digit(16).and_then(|v| u8::try_from(v).ok()) };
    digits
        .chunks_exact(2)
        .map(|pair| Some(value(pair[0])? << 4 | value(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PreSharedKey {
        PreSharedKey::from_file_bytes(&[byte; 32]).expect("32 bytes is long enough")
    }

    #[test]
    fn hex_and_raw_key_files_are_accepted() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
        let psk = PreSharedKey::from_file_bytes(hex.as_bytes()).expect("64 hex digits");
        assert_eq!(psk.bytes.len(), 32);
        assert_eq!(psk.bytes[1], 0x11);
        assert!(PreSharedKey::from_file_bytes(&[7u8; 40]).is_ok());
    }

    #[test]
    fn short_keys_are_rejected_with_their_length() {
        assert_eq!(PreSharedKey::from_file_bytes(b"abcd").err(), Some(2));
        assert_eq!(PreSharedKey::from_file_bytes(&[1u8; 31]).err(), Some(31));
    }

    #[test]
    fn proofs_verify_only_with_the_same_key_role_and_transcript() {
        let a = key(1);
        let b = key(2);
        let proof = a.proof(ProofRole::Server, &[b"hello", b"world"]);
        assert!(a.verify_proof(ProofRole::Server, &[b"hello", b"world"], &proof));
        assert!(a.verify_proof(ProofRole::Server, &[b"helloworld"], &proof));
        assert!(!b.verify_proof(ProofRole::Server, &[b"hello", b"world"], &proof));
        assert!(!a.verify_proof(ProofRole::Client, &[b"hello", b"world"], &proof));
        assert!(!a.verify_proof(ProofRole::Server, &[b"hello", b"worle"], &proof));
    }

    #[test]
    fn frame_keys_differ_by_stream_and_direction() {
        let secret = key(3).session_secret(&[1; 32], &[2; 32]);
        let nonce = || aead::Nonce::assume_unique_for_key([0; 12]);
        let seal = |k: &aead::LessSafeKey| {
            let mut data = b"same plaintext".to_vec();
            k.seal_in_place_append_tag(nonce(), aead::Aad::empty(), &mut data)
                .expect("seal");
            data
        };
        let a = seal(&secret.frame_key(0, Direction::ClientToServer));
        let b = seal(&secret.frame_key(1, Direction::ClientToServer));
        let c = seal(&secret.frame_key(0, Direction::ServerToClient));
        let a2 = seal(
            &key(3)
                .session_secret(&[1; 32], &[2; 32])
                .frame_key(0, Direction::ClientToServer),
        );
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, a2, "both sides derive the same key from the same inputs");
    }
}
