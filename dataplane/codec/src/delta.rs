//! XOR delta token streams (XBZRLE-like).
//!
//! # Layout
//!
//! The XOR of the new page against the old one is a sequence of tokens, each
//! `zero_run` then `literal_len` (both LEB128, at most two bytes, values at most
//! 4096) then `literal_len` bytes of XOR values. The tokens cover exactly
//! 4096 bytes; a token with both lengths zero is rejected so every token makes
//! progress, and nothing may follow the last one.

use crate::{CodecError, PAGE_SIZE};

/// Zero runs shorter than this stay inside a literal: a separate token costs
/// two length bytes, so splitting a literal at fewer zero bytes never saves.
const ZERO_RUN_MIN: usize = 3;

fn push_len(out: &mut Vec<u8>, value: usize) {
    debug_assert!(value <= PAGE_SIZE);
    let low = u8::try_from(value & 0x7f).expect("masked to 7 bits");
    if value < 0x80 {
        out.push(low);
    } else {
        out.push(low | 0x80);
        out.push(u8::try_from(value >> 7).expect("value <= 4096 so value >> 7 <= 32"));
    }
}

/// Appends the token stream of `xor` to `out`. Returns false (and leaves
/// `out` truncated to its old length) when the stream would reach `limit`
/// bytes, i.e. the delta is not worth sending.
pub(crate) fn encode_tokens(xor: &[u8; PAGE_SIZE], out: &mut Vec<u8>, limit: usize) -> bool {
    let start = out.len();
    let mut pos = 0;
    while pos < PAGE_SIZE {
        let zero_start = pos;
        while pos < PAGE_SIZE && xor[pos] == 0 {
            pos += 1;
        }
        let zero_run = pos - zero_start;
        let lit_start = pos;
        // Extend the literal until a zero run of ZERO_RUN_MIN bytes or the end.
        while pos < PAGE_SIZE {
            if xor[pos] != 0 {
                pos += 1;
                continue;
            }
            let mut end = pos;
            while end < PAGE_SIZE && end - pos < ZERO_RUN_MIN && xor[end] == 0 {
                end += 1;
            }
            if end - pos >= ZERO_RUN_MIN || end == PAGE_SIZE {
                break;
            }
            pos = end;
        }
        let lit_len = pos - lit_start;
        if zero_run == 0 && lit_len == 0 {
            break;
        }
        push_len(out, zero_run);
        push_len(out, lit_len);
        out.extend_from_slice(&xor[lit_start..pos]);
        if out.len() - start >= limit {
            out.truncate(start);
            return false;
        }
    }
    true
}

fn read_len(tokens: &[u8], at: &mut usize) -> Result<usize, CodecError> {
    let err = CodecError::DeltaTokens { offset: *at };
    let first = *tokens.get(*at).ok_or(err.clone())?;
    *at += 1;
    if first & 0x80 == 0 {
        return Ok(usize::from(first));
    }
    let second = *tokens.get(*at).ok_or(err.clone())?;
    *at += 1;
    if second & 0x80 != 0 {
        return Err(err);
    }
    Ok(usize::from(first & 0x7f) | (usize::from(second) << 7))
}

/// Decodes `tokens` into `xor`, writing every one of its 4096 bytes.
pub(crate) fn decode_tokens(tokens: &[u8], xor: &mut [u8; PAGE_SIZE]) -> Result<(), CodecError> {
    let mut at = 0;
    let mut pos = 0;
    while pos < PAGE_SIZE {
        let token_at = at;
        let zero_run = read_len(tokens, &mut at)?;
        let lit_len = read_len(tokens, &mut at)?;
        let bad = CodecError::DeltaTokens { offset: token_at };
        if zero_run == 0 && lit_len == 0 {
            return Err(bad);
        }
        let zero_end = pos
            .checked_add(zero_run)
            .filter(|e| *e <= PAGE_SIZE)
            .ok_or(bad.clone())?;
        let lit_end = zero_end
            .checked_add(lit_len)
            .filter(|e| *e <= PAGE_SIZE)
            .ok_or(bad.clone())?;
        let lits = tokens.get(at..at + lit_len).ok_or(bad)?;
        xor[pos..zero_end].fill(0);
        xor[zero_end..lit_end].copy_from_slice(lits);
        at += lit_len;
        pos = lit_end;
    }
    if at != tokens.len() {
        return Err(CodecError::DeltaTokens { offset: at });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(xor: &[u8; PAGE_SIZE]) -> usize {
        let mut out = Vec::new();
        assert!(encode_tokens(xor, &mut out, usize::MAX));
        let mut back = [0xAAu8; PAGE_SIZE];
        decode_tokens(&out, &mut back).expect("own tokens decode");
        assert_eq!(&back[..], &xor[..]);
        out.len()
    }

    #[test]
    fn sparse_edits_are_small() {
        let mut xor = [0u8; PAGE_SIZE];
        xor[0] = 1;
        xor[100] = 2;
        xor[101] = 0;
        xor[102] = 3;
        xor[4095] = 4;
        assert!(round_trip(&xor) < 20);
    }

    #[test]
    fn dense_and_edge_patterns() {
        let mut xor = [0u8; PAGE_SIZE];
        round_trip(&xor);
        xor.fill(0xff);
        round_trip(&xor);
        for (i, b) in xor.iter_mut().enumerate() {
            *b = u8::from(i % 5 == 0);
        }
        round_trip(&xor);
    }

    #[test]
    fn limit_truncates() {
        let xor = [0x11u8; PAGE_SIZE];
        let mut out = vec![9];
        assert!(!encode_tokens(&xor, &mut out, 100));
        assert_eq!(out, vec![9]);
    }

    #[test]
    fn rejects_malformed() {
        let mut x = [0u8; PAGE_SIZE];
        // Empty, short, (0,0) token, overrun, trailing bytes, 3-byte length.
        assert!(decode_tokens(&[], &mut x).is_err());
        assert!(decode_tokens(&[0x80, 0x10], &mut x).is_err());
        assert!(decode_tokens(&[0, 0], &mut x).is_err());
        assert!(decode_tokens(&[0x81, 0x20, 0], &mut x).is_err());
        assert!(decode_tokens(&[0x80, 0x20, 0, 7], &mut x).is_err());
        assert!(decode_tokens(&[0x80, 0x80, 0x01, 0], &mut x).is_err());
        assert!(decode_tokens(&[0x80, 0x20, 0], &mut x).is_ok());
    }
}
