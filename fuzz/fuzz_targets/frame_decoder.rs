//! Fuzz target: every wire v1 decoder on the same input.
//!
//! Any panic is a bug (decoders must reject, never panic). Anything a
//! decoder accepts must re-encode to the same bytes (encodings are
//! canonical). The first 8 bytes also choose `pages_total` for
//! `BatchView::parse`, so both the in-range and out-of-range paths run.

#![no_main]

use dwcp_shared::control::{Abort, Ack, Commit, Final, Goodbye, RoundEnd, VerifyResult};
use dwcp_shared::{BatchView, FrameHeader, HandshakeMessage, FRAME_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = FrameHeader::decode(data) {
        assert_eq!(&h.encode()[..], &data[..FRAME_HEADER_LEN]);
    }

    let pages_total = data
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    for total in [pages_total, u64::MAX] {
        if let Ok(view) = BatchView::parse(data, total) {
            assert_eq!(view.pages().count(), usize::from(view.page_count()));
            assert!(view.pages().all(|p| p.page_index < total));
        }
    }

    let mut out = [0u8; 1024];
    macro_rules! canonical {
        ($ty:ty) => {
            if let Ok(m) = <$ty>::decode(data) {
                let n = m.encode(&mut out).expect("a decoded body re-encodes");
                assert_eq!(&out[..n], data);
            }
        };
    }
    canonical!(Ack);
    canonical!(RoundEnd);
    canonical!(Final);
    canonical!(VerifyResult);
    canonical!(Commit);
    canonical!(Goodbye);
    canonical!(Abort);

    if let Ok(m) = HandshakeMessage::decode(data) {
        assert_eq!(m.encode(), data);
    }
    let mut reader = data;
    let _ = HandshakeMessage::read_from(&mut reader);
});
