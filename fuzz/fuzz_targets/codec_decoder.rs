//! Fuzz target: the page codec's decoder on arbitrary input.
//!
//! Byte 0 is the kind tag, byte 1 the page index (into a 4-page image whose
//! pages hold distinct contents), the rest the payload. Any panic is a bug;
//! a rejected input must leave the image unchanged, an accepted one may only
//! change the addressed page.

#![no_main]

use dwcp_codec::{Decoder, EncodingKind, PAGE_SIZE};
use libfuzzer_sys::fuzz_target;

const PAGES: usize = 4;

fuzz_target!(|data: &[u8]| {
    let (Some(&tag), Some(&index)) = (data.first(), data.get(1)) else {
        return;
    };
    let payload = &data[2..];
    let mut memory: Vec<u8> = (0..PAGES * PAGE_SIZE)
        .map(|i| u8::try_from(i / PAGE_SIZE * 37 + i % 7).expect("small"))
        .collect();
    let before = memory.clone();
    let index = u64::from(index % 8);
    let result = EncodingKind::from_u8(tag)
        .and_then(|kind| Decoder::new().decode(index, kind, payload, &mut memory));
    match result {
        Err(_) => assert!(memory == before, "memory changed on error"),
        Ok(()) => {
            let page = usize::try_from(index).expect("small");
            for p in (0..PAGES).filter(|p| *p != page) {
                let r = p * PAGE_SIZE..(p + 1) * PAGE_SIZE;
                assert!(memory[r.clone()] == before[r], "page {p} changed");
            }
        }
    }
});
