//! Inputs to the frame cryptography that both ends must build identically.
//!
//! No cryptography happens here (it lives in the data plane); this module
//! only fixes the byte strings fed to it:
//!
//! ```text
//! AEAD nonce (12 bytes):  [stream_id u16 LE][0u8; 2][seq u64 LE]
//! HKDF-Expand info:       "dwcp v1 c2s" or "dwcp v1 s2c" ‖ stream_id u16 LE   (13 bytes)
//! proof labels:           "dwcp v1 server proof", "dwcp v1 client proof"
//! ```
//!
//! The client is the side that connects (the migration source); c2s keys
//! seal source → destination frames, s2c keys destination → source frames.

/// AES-256-GCM nonce length.
pub const AEAD_NONCE_LEN: usize = 12;
/// HKDF-Expand info prefix for client → server (source → destination) frame keys.
pub const KDF_LABEL_C2S: &[u8; 11] = b"dwcp v1 c2s";
/// HKDF-Expand info prefix for server → client (destination → source) frame keys.
pub const KDF_LABEL_S2C: &[u8; 11] = b"dwcp v1 s2c";
/// Length of the HKDF-Expand info: label plus stream id.
pub const KDF_INFO_LEN: usize = 13;
/// Length of a frame key (AES-256).
pub const FRAME_KEY_LEN: usize = 32;
/// Label prefixed to the transcript for `ServerHello::server_proof`.
pub const PROOF_LABEL_SERVER: &[u8; 20] = b"dwcp v1 server proof";
/// Label prefixed to the transcript for `ClientProof::client_proof`.
pub const PROOF_LABEL_CLIENT: &[u8; 20] = b"dwcp v1 client proof";

const _: () = assert!(KDF_INFO_LEN == KDF_LABEL_C2S.len() + 2);
const _: () = assert!(KDF_LABEL_C2S.len() == KDF_LABEL_S2C.len());
const _: () = assert!(AEAD_NONCE_LEN == 2 + 2 + 8);

/// Which way a frame travels on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client (source) → server (destination): page batches, RoundEnd, Final.
    ClientToServer,
    /// Server (destination) → client (source): Ack, VerifyResult.
    ServerToClient,
}

/// The AEAD nonce of frame `seq` on `stream_id`. Unique per key because seq
/// strictly increases per stream and each stream/direction has its own key.
pub fn aead_nonce(stream_id: u16, seq: u64) -> [u8; AEAD_NONCE_LEN] {
    let mut nonce = [0u8; AEAD_NONCE_LEN];
    let (sid, rest) = nonce.split_at_mut(2);
    sid.copy_from_slice(&stream_id.to_le_bytes());
    let (_, seq_bytes) = rest.split_at_mut(2);
    seq_bytes.copy_from_slice(&seq.to_le_bytes());
    nonce
}

/// The HKDF-Expand info for the frame key of `stream_id` in `direction`.
pub fn frame_key_info(direction: Direction, stream_id: u16) -> [u8; KDF_INFO_LEN] {
    let label = match direction {
        Direction::ClientToServer => KDF_LABEL_C2S,
        Direction::ServerToClient => KDF_LABEL_S2C,
    };
    let mut info = [0u8; KDF_INFO_LEN];
    let (head, tail) = info.split_at_mut(label.len());
    head.copy_from_slice(label);
    tail.copy_from_slice(&stream_id.to_le_bytes());
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_layout() {
        let n = aead_nonce(0x0102, 0x1122_3344_5566_7788);
        assert_eq!(
            n,
            [0x02, 0x01, 0, 0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
        );
    }

    #[test]
    fn nonce_differs_per_stream_and_seq() {
        assert_ne!(aead_nonce(0, 1), aead_nonce(1, 1));
        assert_ne!(aead_nonce(0, 1), aead_nonce(0, 2));
    }

    #[test]
    fn info_layout() {
        assert_eq!(
            &frame_key_info(Direction::ClientToServer, 3),
            b"dwcp v1 c2s\x03\x00"
        );
        assert_eq!(
            &frame_key_info(Direction::ServerToClient, 0x0100),
            b"dwcp v1 s2c\x00\x01"
        );
    }
}
