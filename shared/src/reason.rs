//! Length-prefixed UTF-8 reason strings shared by `Abort` and `Reject`.
//!
//! Layout: `[u16 LE reason_len][reason_len bytes of UTF-8]`, with
//! `reason_len <= ABORT_REASON_LEN_MAX`. The length is checked before the
//! bytes are read, so a hostile length never drives an allocation.

use crate::error::WireError;
use crate::limits::ABORT_REASON_LEN_MAX;
use crate::wire_reader::Reader;
use crate::wire_writer::Writer;

/// Checks `reason` fits and returns its length as the wire u16.
pub(crate) fn check_len(reason: &str, what: &'static str) -> Result<u16, WireError> {
    let len = reason.len();
    if len > ABORT_REASON_LEN_MAX {
        return Err(WireError::ReasonTooLong {
            what,
            len,
            max: ABORT_REASON_LEN_MAX,
        });
    }
    u16::try_from(len).map_err(|_| WireError::ReasonTooLong {
        what,
        len,
        max: ABORT_REASON_LEN_MAX,
    })
}

/// Writes `[u16 len][bytes]`.
pub(crate) fn write(w: &mut Writer<'_>, reason: &str, what: &'static str) -> Result<(), WireError> {
    w.u16(check_len(reason, what)?)?;
    w.put(reason.as_bytes())
}

/// Reads `[u16 len][bytes]`, checking the bound and UTF-8.
pub(crate) fn read(r: &mut Reader<'_>, what: &'static str) -> Result<String, WireError> {
    let len = usize::from(r.u16()?);
    if len > ABORT_REASON_LEN_MAX {
        return Err(WireError::ReasonTooLong {
            what,
            len,
            max: ABORT_REASON_LEN_MAX,
        });
    }
    let bytes = r.take(len)?;
    let text = core::str::from_utf8(bytes).map_err(|e| WireError::ReasonNotUtf8 {
        what,
        valid_up_to: e.valid_up_to(),
    })?;
    Ok(text.to_owned())
}

/// Cuts `reason` to at most `ABORT_REASON_LEN_MAX` bytes on a char boundary.
pub(crate) fn truncated(reason: &str) -> &str {
    if reason.len() <= ABORT_REASON_LEN_MAX {
        return reason;
    }
    let mut end = ABORT_REASON_LEN_MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.get(..end).unwrap_or("")
}
