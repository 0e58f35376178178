//! When the delta cache is committed: at set-up, or slot by slot while
//! encoding. Alone in its test binary (its own process), because it reads
//! the process's resident set, which tests running beside it would move.

use dwcp_codec::{CacheCommit, Encoder, EncoderConfig, ENCODED_BATCH_LEN_MAX, PAGE_SIZE};

/// Pages of the guest and of the delta cache: 64 MiB of cache.
const PAGES: usize = 16 * 1024;
/// Pages encoded by each encoder (64 pages: one batch of payloads).
const PAGES_ENCODED: usize = 64;

/// Resident bytes of this process (`VmRSS` in `/proc/self/status`).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line in kB");
    kib * 1024
}

/// A page no other page equals and zstd can shrink.
fn page(index: usize) -> Vec<u8> {
    let mut bytes = format!("page {index} ").repeat(PAGE_SIZE).into_bytes();
    bytes.truncate(PAGE_SIZE);
    bytes
}

/// Creates an encoder committed as `commit`, returns the growth of the
/// resident set it caused and the batch it writes for the same pages.
fn build_and_encode(commit: CacheCommit) -> (u64, Vec<u8>) {
    let config = EncoderConfig {
        zstd_level: 1,
        delta_cache_pages: PAGES,
        dup_index_entries: PAGES,
    };
    let before = resident_bytes();
    let mut encoder = Encoder::with_cache_commit(config, PAGES as u64, commit).expect("an encoder");
    let grown = resident_bytes().saturating_sub(before);
    for index in 0..PAGES_ENCODED {
        encoder.push(index as u64, &page(index)).expect("push");
    }
    let mut out = vec![0u8; ENCODED_BATCH_LEN_MAX];
    let report = encoder.finish(&mut out).expect("finish");
    out.truncate(report.len);
    (grown, out)
}

#[test]
fn on_first_use_commits_nothing_at_set_up_and_encodes_the_same_bytes() {
    let cache_bytes = (PAGES * PAGE_SIZE) as u64;
    let (lazy_growth, lazy_batch) = build_and_encode(CacheCommit::OnFirstUse);
    let (eager_growth, eager_batch) = build_and_encode(CacheCommit::AtSetUp);
    assert!(
        eager_growth >= cache_bytes * 3 / 4,
        "committing at set-up made {eager_growth} bytes resident, expected most of {cache_bytes}"
    );
    assert!(
        lazy_growth <= cache_bytes / 4,
        "committing on first use made {lazy_growth} bytes resident at set-up (cache {cache_bytes})"
    );
    assert_eq!(
        lazy_batch, eager_batch,
        "the commit changes no encoded byte"
    );
}
