//! Packing of io_uring `user_data`: which connection and operation a
//! completion belongs to.
//!
//! Bit layout (u64): `[63..32] connection generation | [31..16] stream id | [15..0] operation`.
//! A generation is unique per attached connection, so completions of a
//! replaced connection are recognised and never mistaken for the new one's.

/// The operation a completion finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Op {
    /// A frame write (WRITE_FIXED) or a small control send.
    Write = 1,
    /// A read (RECV or READ_FIXED).
    Read = 2,
    /// The read of the transport's doorbell eventfd.
    Bell = 3,
}

/// Encodes a completion tag.
pub fn pack(generation: u32, stream_id: u16, op: Op) -> u64 {
    (u64::from(generation) << 32) | (u64::from(stream_id) << 16) | op as u64
}

/// Decodes a completion tag; `None` for an operation code we never issue.
pub fn unpack(user_data: u64) -> Option<(u32, u16, Op)> {
    let generation = u32::try_from(user_data >> 32).expect("shifted right by 32");
    let stream_id = u16::try_from((user_data >> 16) & 0xFFFF).expect("masked to 16 bits");
    let op = match user_data & 0xFFFF {
        1 => Op::Write,
        2 => Op::Read,
        3 => Op::Bell,
        _ => return None,
    };
    Some((generation, stream_id, op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (g, s, op) in [
            (0, 0, Op::Write),
            (u32::MAX, 63, Op::Read),
            (7, 65535, Op::Write),
        ] {
            assert_eq!(unpack(pack(g, s, op)), Some((g, s, op)));
        }
        assert_eq!(unpack(0), None);
    }
}
