//! Sealing and opening frames.
//!
//! # Design
//! A frame in a buffer is `header (24) ‖ body plaintext ‖ tag (16)`. Sealing
//! writes the header, encrypts the body in place with AES-256-GCM using the
//! header as associated data, and appends the tag. The 96-bit nonce is
//! `stream_id (u16 LE) ‖ 0u16 ‖ seq (u64 LE)`: each stream and direction has
//! its own key and `seq` strictly increases, so no nonce repeats under a key.
//! A retransmission resends the sealed bytes unchanged.
//!
//! In explicit plaintext mode (`--insecure-plaintext` on both sides) the body
//! stays clear, the header carries [`FRAME_FLAG_PLAINTEXT`], and the tag slot
//! holds xxh3-128 of `header ‖ body`: it catches corruption, not attackers.
//! An opener rejects frames of the other mode, so a plaintext frame can never
//! be slipped into an encrypted session.

use dwcp_shared::frame::FRAME_FLAG_PLAINTEXT;
use dwcp_shared::limits::{FRAME_HEADER_LEN, FRAME_TAG_LEN};
use dwcp_shared::{FrameHeader, FrameKind, WireError};
use ring::aead;
use thiserror::Error;

/// Why a frame could not be opened.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The header is malformed.
    #[error("malformed frame header on stream {stream_id}")]
    Header {
        /// The stream it arrived on.
        stream_id: u16,
        /// What was wrong.
        #[source]
        cause: WireError,
    },
    /// The frame names another stream than the one it arrived on.
    #[error("frame for stream {claimed} arrived on stream {stream_id}")]
    WrongStream {
        /// The stream it arrived on.
        stream_id: u16,
        /// The stream its header names.
        claimed: u16,
    },
    /// The buffer length does not match the header's body length.
    #[error("frame on stream {stream_id} is {len} bytes but its header says {expected}")]
    LengthMismatch {
        /// The stream it arrived on.
        stream_id: u16,
        /// Bytes given.
        len: usize,
        /// Bytes the header implies.
        expected: usize,
    },
    /// Plaintext frame in an encrypted session, or the reverse.
    #[error("frame seq {seq} on stream {stream_id} is {found} but the session is {expected}")]
    ModeMismatch {
        /// The stream it arrived on.
        stream_id: u16,
        /// Its sequence number.
        seq: u64,
        /// The frame's mode.
        found: &'static str,
        /// The session's mode.
        expected: &'static str,
    },
    /// The tag did not verify: the frame was altered or sealed with another key.
    #[error("frame seq {seq} on stream {stream_id} failed authentication: it was modified in transit, replayed from another stream, or sealed with another key")]
    Authentication {
        /// The stream it arrived on.
        stream_id: u16,
        /// Its sequence number.
        seq: u64,
    },
}

/// Why a frame could not be sealed (always a caller bug: buffer too small).
#[derive(Debug, Error)]
#[error("frame buffer of {buffer_len} bytes cannot hold a {plaintext_len}-byte body")]
pub struct SealError {
    /// The buffer's length.
    pub buffer_len: usize,
    /// The body length asked for.
    pub plaintext_len: usize,
}

// One value per stream, built once: the size difference is irrelevant and
// boxing would add an indirection to every seal.
#[allow(clippy::large_enum_variant)]
enum Protection {
    Aead(aead::LessSafeKey),
    Checksum,
}

impl Protection {
    fn name(&self) -> &'static str {
        match self {
            Protection::Aead(_) => "encrypted",
            Protection::Checksum => "plaintext",
        }
    }
}

fn nonce(stream_id: u16, seq: u64) -> aead::Nonce {
    aead::Nonce::assume_unique_for_key(dwcp_shared::keys::aead_nonce(stream_id, seq))
}

fn checksum(header: &[u8], body: &[u8]) -> [u8; FRAME_TAG_LEN] {
    let header: &[u8; FRAME_HEADER_LEN] =
        header.try_into().expect("callers pass the 24-byte header");
    dwcp_shared::checksum::plaintext_tag(header, body)
}

/// Seals frames of one stream in one direction.
pub struct FrameSealer {
    stream_id: u16,
    protection: Protection,
}

impl std::fmt::Debug for FrameSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSealer")
            .field("stream_id", &self.stream_id)
            .field("mode", &self.protection.name())
            .finish()
    }
}

impl FrameSealer {
    /// A sealer that encrypts with `key`.
    pub fn encrypted(stream_id: u16, key: aead::LessSafeKey) -> Self {
        Self {
            stream_id,
            protection: Protection::Aead(key),
        }
    }

    /// A sealer for explicit plaintext mode.
    pub fn plaintext(stream_id: u16) -> Self {
        Self {
            stream_id,
            protection: Protection::Checksum,
        }
    }

    /// The stream this sealer serves.
    pub fn stream_id(&self) -> u16 {
        self.stream_id
    }

    /// Seals `frame[FRAME_HEADER_LEN..][..plaintext_len]` in place and returns
    /// the frame's total length (header, body and tag).
    pub fn seal(
        &self,
        kind: FrameKind,
        seq: u64,
        frame: &mut [u8],
        plaintext_len: usize,
    ) -> Result<usize, SealError> {
        let total = FRAME_HEADER_LEN + plaintext_len + FRAME_TAG_LEN;
        let body_len = u32::try_from(plaintext_len + FRAME_TAG_LEN).map_err(|_| SealError {
            buffer_len: frame.len(),
            plaintext_len,
        })?;
        if frame.len() < total {
            return Err(SealError {
                buffer_len: frame.len(),
                plaintext_len,
            });
        }
        let flags = match self.protection {
            Protection::Aead(_) => 0,
            Protection::Checksum => FRAME_FLAG_PLAINTEXT,
        };
        let header = FrameHeader {
            kind,
            flags,
            stream_id: self.stream_id,
            seq,
            body_len,
        };
        let (head, rest) = frame.split_at_mut(FRAME_HEADER_LEN);
        head.copy_from_slice(&header.encode());
        let (body, tail) = rest.split_at_mut(plaintext_len);
        let tag_slot = &mut tail[..FRAME_TAG_LEN];
        match &self.protection {
            Protection::Aead(key) => {
                let tag = key
                    .seal_in_place_separate_tag(nonce(self.stream_id, seq), aead::Aad::from(&*head), body)
                    .expect("AES-GCM seals any body below 64 GiB; frames are bounded by FRAME_BODY_LEN_MAX");
                tag_slot.copy_from_slice(tag.as_ref());
            }
            Protection::Checksum => tag_slot.copy_from_slice(&checksum(head, body)),
        }
        Ok(total)
    }
}

/// Opens frames of one stream in one direction.
pub struct FrameOpener {
    stream_id: u16,
    protection: Protection,
}

impl std::fmt::Debug for FrameOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameOpener")
            .field("stream_id", &self.stream_id)
            .field("mode", &self.protection.name())
            .finish()
    }
}

impl FrameOpener {
    /// An opener that decrypts with `key`.
    pub fn encrypted(stream_id: u16, key: aead::LessSafeKey) -> Self {
        Self {
            stream_id,
            protection: Protection::Aead(key),
        }
    }

    /// An opener for explicit plaintext mode.
    pub fn plaintext(stream_id: u16) -> Self {
        Self {
            stream_id,
            protection: Protection::Checksum,
        }
    }

    /// Checks and decrypts a whole frame in place; returns its header and body plaintext.
    pub fn open<'a>(&self, frame: &'a mut [u8]) -> Result<(FrameHeader, &'a [u8]), OpenError> {
        let stream_id = self.stream_id;
        let header =
            FrameHeader::decode(frame).map_err(|cause| OpenError::Header { stream_id, cause })?;
        if header.stream_id != stream_id {
            return Err(OpenError::WrongStream {
                stream_id,
                claimed: header.stream_id,
            });
        }
        let expected = FRAME_HEADER_LEN + header.body_len as usize;
        if frame.len() != expected {
            return Err(OpenError::LengthMismatch {
                stream_id,
                len: frame.len(),
                expected,
            });
        }
        let is_plain = header.flags & FRAME_FLAG_PLAINTEXT != 0;
        let session_plain = matches!(self.protection, Protection::Checksum);
        if is_plain != session_plain {
            let found = if is_plain { "plaintext" } else { "encrypted" };
            return Err(OpenError::ModeMismatch {
                stream_id,
                seq: header.seq,
                found,
                expected: self.protection.name(),
            });
        }
        let (head, body_and_tag) = frame.split_at_mut(FRAME_HEADER_LEN);
        let plaintext_len = body_and_tag.len() - FRAME_TAG_LEN;
        match &self.protection {
            Protection::Aead(key) => {
                let plain = key
                    .open_in_place(
                        nonce(stream_id, header.seq),
                        aead::Aad::from(&*head),
                        body_and_tag,
                    )
                    .map_err(|_| OpenError::Authentication {
                        stream_id,
                        seq: header.seq,
                    })?;
                Ok((header, &*plain))
            }
            Protection::Checksum => {
                let (body, tag) = body_and_tag.split_at(plaintext_len);
                if checksum(head, body) != tag {
                    return Err(OpenError::Authentication {
                        stream_id,
                        seq: header.seq,
                    });
                }
                Ok((header, body))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Direction, PreSharedKey};

    fn pair(stream_id: u16) -> (FrameSealer, FrameOpener) {
        let psk = PreSharedKey::from_file_bytes(&[9u8; 32]).expect("valid key");
        let secret = psk.session_secret(&[1; 32], &[2; 32]);
        let dir = Direction::ClientToServer;
        (
            FrameSealer::encrypted(stream_id, secret.frame_key(stream_id, dir)),
            FrameOpener::encrypted(stream_id, secret.frame_key(stream_id, dir)),
        )
    }

    fn sealed(sealer: &FrameSealer, seq: u64, body: &[u8]) -> Vec<u8> {
        let mut frame = vec![0u8; FRAME_HEADER_LEN + body.len() + FRAME_TAG_LEN];
        frame[FRAME_HEADER_LEN..][..body.len()].copy_from_slice(body);
        let len = sealer
            .seal(FrameKind::Ack, seq, &mut frame, body.len())
            .expect("buffer fits");
        assert_eq!(len, frame.len());
        frame
    }

    #[test]
    fn round_trip_and_ciphertext_hides_the_body() {
        let (sealer, opener) = pair(3);
        let mut frame = sealed(&sealer, 7, &[0xAB; 8]);
        assert_ne!(&frame[FRAME_HEADER_LEN..][..8], &[0xAB; 8]);
        let (header, body) = opener.open(&mut frame).expect("opens");
        assert_eq!((header.seq, header.stream_id, body), (7, 3, &[0xAB; 8][..]));
    }

    #[test]
    fn any_flipped_bit_fails() {
        let (sealer, opener) = pair(1);
        let original = sealed(&sealer, 1, &[5u8; 8]);
        for byte in 0..original.len() {
            let mut frame = original.clone();
            frame[byte] ^= 0x10;
            assert!(
                opener.open(&mut frame).is_err(),
                "flip at byte {byte} was accepted"
            );
        }
    }

    #[test]
    fn a_frame_moved_to_another_stream_is_rejected() {
        let (sealer0, _) = pair(0);
        let (_, opener1) = pair(1);
        let mut frame = sealed(&sealer0, 1, &[1u8; 8]);
        assert!(matches!(
            opener1.open(&mut frame),
            Err(OpenError::WrongStream {
                stream_id: 1,
                claimed: 0
            })
        ));
        // Rewriting the header's stream id does not help: the header is authenticated.
        frame[6..8].copy_from_slice(&1u16.to_le_bytes());
        assert!(matches!(
            opener1.open(&mut frame),
            Err(OpenError::Authentication { .. })
        ));
    }

    #[test]
    fn plaintext_mode_checks_and_modes_do_not_mix() {
        let plain_sealer = FrameSealer::plaintext(2);
        let plain_opener = FrameOpener::plaintext(2);
        let mut frame = sealed(&plain_sealer, 4, b"visible!");
        assert_eq!(&frame[FRAME_HEADER_LEN..][..8], b"visible!");
        assert!(plain_opener.open(&mut frame.clone()).is_ok());
        let (_, aead_opener) = pair(2);
        assert!(matches!(
            aead_opener.open(&mut frame),
            Err(OpenError::ModeMismatch { .. })
        ));
        frame[FRAME_HEADER_LEN] ^= 1;
        assert!(matches!(
            plain_opener.open(&mut frame),
            Err(OpenError::Authentication { .. })
        ));
    }

    #[test]
    fn wrong_key_fails_authentication() {
        let (sealer, _) = pair(0);
        let other = PreSharedKey::from_file_bytes(&[8u8; 32])
            .expect("valid key")
            .session_secret(&[1; 32], &[2; 32]);
        let opener = FrameOpener::encrypted(0, other.frame_key(0, Direction::ClientToServer));
        let mut frame = sealed(&sealer, 1, &[0u8; 8]);
        assert!(matches!(
            opener.open(&mut frame),
            Err(OpenError::Authentication {
                stream_id: 0,
                seq: 1
            })
        ));
    }
}
