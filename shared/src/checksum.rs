//! Plaintext-mode frame tag: xxh3-128 over `header ‖ plaintext body`.
//!
//! With `FRAME_FLAG_PLAINTEXT` the 16-byte tag slot holds
//! `xxh3_128(header (24 bytes) ‖ body without tag).to_le_bytes()`. It
//! detects corruption and misrouting (stream id and seq are in the header),
//! not tampering: plaintext mode has no authentication.

use xxhash_rust::xxh3::Xxh3;

use crate::limits::{FRAME_HEADER_LEN, FRAME_TAG_LEN};

/// Computes the plaintext-mode tag for an encoded header and its plaintext body.
pub fn plaintext_tag(header: &[u8; FRAME_HEADER_LEN], payload: &[u8]) -> [u8; FRAME_TAG_LEN] {
    let mut h = Xxh3::new();
    h.update(header);
    h.update(payload);
    h.digest128().to_le_bytes()
}

/// True when `tag` is the plaintext-mode tag of `header ‖ payload`.
pub fn verify_plaintext_tag(header: &[u8; FRAME_HEADER_LEN], payload: &[u8], tag: &[u8]) -> bool {
    plaintext_tag(header, payload).as_slice() == tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_is_xxh3_128_of_concatenation() {
        let header = [7u8; FRAME_HEADER_LEN];
        let payload = b"hello pages";
        let mut joined = header.to_vec();
        joined.extend_from_slice(payload);
        let expected = xxhash_rust::xxh3::xxh3_128(&joined).to_le_bytes();
        assert_eq!(plaintext_tag(&header, payload), expected);
        assert!(verify_plaintext_tag(&header, payload, &expected));
    }

    #[test]
    fn tag_covers_header() {
        let mut header = [0u8; FRAME_HEADER_LEN];
        let tag = plaintext_tag(&header, b"x");
        header[6] = 1;
        assert!(!verify_plaintext_tag(&header, b"x", &tag));
    }
}
