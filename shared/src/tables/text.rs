//! Bounded text fields: `{ len: u16 LE, bytes: [u8; N] }`.
//!
//! A text is valid UTF-8 of at most `N` bytes with no NUL; `len` counts the
//! bytes in use and the bytes after them are ignored (a writer that shortens
//! a text does not have to clear them). `len == 0` is the empty text, which
//! is what a zeroed field reads as.

use std::net::Ipv6Addr;

use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Longest node id (also a peer id) in bytes.
pub const NODE_ID_LEN_MAX: usize = 64;
/// Longest VM id in bytes.
pub const VM_ID_LEN_MAX: usize = 64;
/// Longest network address in bytes: `host:port` or `[v6]:port`.
pub const ADDRESS_LEN_MAX: usize = 128;
/// Longest file path in bytes.
pub const PATH_LEN_MAX: usize = 256;
/// Longest job error message in bytes.
pub const ERROR_LEN_MAX: usize = 512;
/// Longest job summary (a JSON document) in bytes.
pub const SUMMARY_LEN_MAX: usize = 16384;

const _: () = assert!(NODE_ID_LEN_MAX <= u16::MAX as usize);
const _: () = assert!(VM_ID_LEN_MAX <= u16::MAX as usize);
const _: () = assert!(ADDRESS_LEN_MAX <= u16::MAX as usize);
const _: () = assert!(PATH_LEN_MAX <= u16::MAX as usize);
const _: () = assert!(ERROR_LEN_MAX <= u16::MAX as usize);
const _: () = assert!(SUMMARY_LEN_MAX <= u16::MAX as usize);

/// Byte length of the `len` prefix of a text field.
pub(crate) const TEXT_LEN_PREFIX: usize = 2;

/// A text field of capacity `N` bytes as stored in the file.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub(crate) struct RawText<const N: usize> {
    /// Bytes in use, `0..=N`.
    len: U16,
    /// UTF-8 bytes; only `bytes[..len]` are meaningful.
    bytes: [u8; N],
}

/// Why a text value cannot be stored or was not valid in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextFault {
    /// Longer than the field.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The field's capacity.
        max: usize,
    },
    /// Contains a NUL byte at this index.
    Nul(usize),
    /// Not UTF-8 (only possible in the file).
    Utf8(std::str::Utf8Error),
}

impl std::fmt::Display for TextFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLong { len, max } => write!(f, "length {len} exceeds {max}"),
            Self::Nul(at) => write!(f, "NUL byte at {at}"),
            Self::Utf8(e) => write!(f, "invalid UTF-8: {e}"),
        }
    }
}

impl<const N: usize> RawText<N> {
    /// Encodes `text`; `TooLong` or `Nul` if it does not fit the field.
    pub(crate) fn encode(text: &str) -> Result<Self, TextFault> {
        let len = text.len();
        if len > N {
            return Err(TextFault::TooLong { len, max: N });
        }
        if let Some(at) = text.bytes().position(|b| b == 0) {
            return Err(TextFault::Nul(at));
        }
        let mut raw = Self::new_zeroed();
        raw.bytes[..len].copy_from_slice(text.as_bytes());
        raw.len = U16::new(u16::try_from(len).expect("N <= u16::MAX (asserted for every bound)"));
        Ok(raw)
    }

    /// The declared length, unchecked.
    pub(crate) fn declared_len(&self) -> usize {
        usize::from(self.len.get())
    }

    /// Decodes the text, checking the length, UTF-8 and the absence of NUL.
    pub(crate) fn decode(&self) -> Result<String, TextFault> {
        let len = self.declared_len();
        let bytes = self
            .bytes
            .get(..len)
            .ok_or(TextFault::TooLong { len, max: N })?;
        let text = std::str::from_utf8(bytes).map_err(TextFault::Utf8)?;
        if let Some(at) = bytes.iter().position(|&b| b == 0) {
            return Err(TextFault::Nul(at));
        }
        Ok(text.to_owned())
    }
}

/// Checks the syntax of a network address: `host:port` with a host name or
/// IPv4 address without `:`, or `[v6]:port` with a valid IPv6 address; the
/// port is 1 to 5 decimal digits that fit in a u16. No name resolution.
pub(crate) fn check_address(address: &str) -> Result<(), &'static str> {
    let (host, port) = address.rsplit_once(':').ok_or("missing :port")?;
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("port is not a decimal number");
    }
    port.parse::<u16>().map_err(|_| "port exceeds 65535")?;
    if let Some(inner) = host.strip_prefix('[') {
        let v6 = inner.strip_suffix(']').ok_or("unclosed [ in IPv6 host")?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| "invalid IPv6 address in [ ]")?;
        return Ok(());
    }
    if host.is_empty() {
        return Err("empty host");
    }
    let host_char_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if !host.chars().all(host_char_ok) {
        return Err(
            "host has characters other than letters, digits, '.', '-', '_' (IPv6 needs [ ])",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_bounds() {
        let t = RawText::<8>::encode("héllo").expect("fits");
        assert_eq!(t.declared_len(), 6);
        assert_eq!(t.decode().expect("valid"), "héllo");
        assert_eq!(
            RawText::<8>::encode("")
                .expect("fits")
                .decode()
                .expect("valid"),
            ""
        );
        assert_eq!(
            RawText::<8>::encode("12345678")
                .expect("fits exactly")
                .declared_len(),
            8
        );
        assert_eq!(
            RawText::<8>::encode("123456789").err(),
            Some(TextFault::TooLong { len: 9, max: 8 })
        );
        assert_eq!(RawText::<8>::encode("a\0b").err(), Some(TextFault::Nul(1)));
    }

    #[test]
    fn decode_rejects_bad_len_utf8_and_nul() {
        let mut t = RawText::<4>::new_zeroed();
        t.len = U16::new(5);
        assert_eq!(t.decode(), Err(TextFault::TooLong { len: 5, max: 4 }));
        t.len = U16::new(2);
        t.bytes = [0xC3, 0x28, 0, 0];
        assert!(matches!(t.decode(), Err(TextFault::Utf8(_))));
        t.bytes = [b'a', 0, 0, 0];
        assert_eq!(t.decode(), Err(TextFault::Nul(1)));
        // Bytes past len are ignored, whatever they hold.
        t.len = U16::new(1);
        t.bytes = [b'a', 0xFF, 0, 0xFF];
        assert_eq!(t.decode().expect("valid prefix"), "a");
    }

    #[test]
    fn address_syntax() {
        for ok in [
            "h:1",
            "10.0.0.1:7000",
            "node-a.example_1:65535",
            "[::1]:0",
            "[fe80::1]:443",
        ] {
            assert_eq!(check_address(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "host",
            ":80",
            "host:",
            "host:65536",
            "host:+80",
            "host:123456",
            "::1:80",
            "[::1:80",
            "[zz]:80",
            "a b:80",
            "host:8x",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }
}
