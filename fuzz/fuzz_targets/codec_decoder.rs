//! Fuzz target: the page codec's batch decoder on arbitrary input.
//!
//! The input is one encoded batch, decoded into a 4-page image whose pages
//! hold distinct contents. Any panic is a bug. Pages never reported through
//! `on_page` must be unchanged and reported ones must hold their last
//! reported content, whatever the result; an accepted batch reports each of
//! its pages; a structural rejection (found before any page is written)
//! leaves the image unchanged and reports nothing. Only a bad token stream
//! or prefix frame, found while applying, may leave earlier pages written.

#![no_main]

use dwcp_codec::{CodecError, Decoder, BATCH_PAGES_MAX, PAGE_SIZE};
use libfuzzer_sys::fuzz_target;

const PAGES: usize = 4;

fuzz_target!(|data: &[u8]| {
    let before: Vec<u8> = (0..PAGES * PAGE_SIZE)
        .map(|i| u8::try_from((i / PAGE_SIZE * 37 + i % 7) % 256).expect("< 256"))
        .collect();
    let mut memory = before.clone();
    let mut reported: Vec<(u64, Vec<u8>)> = Vec::new();
    let result = Decoder::new().decode_batch(data, &mut memory, |index, content| {
        assert!(
            index < PAGES as u64,
            "page {index} reported beyond the image"
        );
        assert_eq!(content.len(), PAGE_SIZE);
        reported.push((index, content.to_vec()));
    });
    for p in 0..PAGES {
        let now = &memory[p * PAGE_SIZE..(p + 1) * PAGE_SIZE];
        match reported.iter().rev().find(|(i, _)| *i == p as u64) {
            Some((_, content)) => assert!(now == &content[..], "page {p} differs from its report"),
            None => assert!(
                now == &before[p * PAGE_SIZE..(p + 1) * PAGE_SIZE],
                "page {p} changed without a report ({result:?})"
            ),
        }
    }
    match result {
        Ok(n) => {
            assert_eq!(n, reported.len(), "pages reported");
            assert!((1..=BATCH_PAGES_MAX).contains(&n));
        }
        Err(
            CodecError::DeltaTokens { .. }
            | CodecError::Zstd { .. }
            | CodecError::ZstdOutputLength { .. },
        ) => {}
        Err(e) => {
            assert!(reported.is_empty(), "pages reported before {e:?}");
            assert!(memory == before, "memory changed on {e:?}");
        }
    }
});
