use std::collections::HashSet;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use super::*;
use crate::test_support::{hugepage_state_lock, HugepageReservation};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const GIB: usize = 1024 * MIB;

fn small_pool(count: u32) -> BufferPool {
    BufferPool::new(4 * KIB, count, HugepagePolicy::Never).expect("small pool maps")
}

#[test]
fn get_until_exhausted_then_reuse() {
    let pool = small_pool(8);
    assert_eq!(pool.available(), 8);
    let mut held: Vec<BufferId> = std::iter::from_fn(|| pool.get()).collect();
    assert_eq!(held.len(), 8);
    assert_eq!(
        held.iter().collect::<HashSet<_>>().len(),
        8,
        "all ids distinct"
    );
    assert!(held.iter().all(|id| id.0 < 8));
    assert_eq!(pool.available(), 0);
    assert_eq!(pool.get(), None, "exhausted pool is backpressure");

    let returned = held.pop().expect("held 8");
    pool.put(returned);
    assert_eq!(pool.available(), 1);
    assert_eq!(pool.get(), Some(returned), "the only free buffer is reused");
    held.push(returned);
    for id in held {
        pool.put(id);
    }
    assert_eq!(pool.available(), 8);
}

#[test]
fn buffers_are_disjoint_aligned_and_writable() {
    let pool = small_pool(4);
    let ids: Vec<BufferId> = std::iter::from_fn(|| pool.get()).collect();
    for (tag, &id) in (1u8..).zip(&ids) {
        assert_eq!(pool.buffer_ptr(id) as usize % BUFFER_ALIGN, 0);
        assert_eq!(
            pool.buffer_ptr(id) as usize - pool.buffer_ptr(BufferId(0)) as usize,
            id.0 as usize * 4 * KIB
        );
        // SAFETY: we hold `id` and no other reference to its buffer exists.
        unsafe { pool.slice_mut(id) }.fill(tag);
    }
    for (tag, &id) in (1u8..).zip(&ids) {
        // SAFETY: we hold `id`; the `&mut` above is gone.
        let bytes = unsafe { pool.slice(id) };
        assert_eq!(bytes.len(), pool.buffer_len());
        assert!(bytes.iter().all(|&b| b == tag), "buffer {id:?} overwritten");
    }
}

#[test]
#[should_panic(expected = "returned twice")]
fn double_put_panics() {
    let pool = small_pool(2);
    let id = pool.get().expect("fresh pool has buffers");
    pool.put(id);
    pool.put(id);
}

#[test]
#[should_panic(expected = "never handed out")]
fn put_of_never_taken_buffer_panics() {
    let pool = small_pool(2);
    pool.put(BufferId(1));
}

#[test]
#[should_panic(expected = "out of range")]
fn out_of_range_id_panics() {
    let pool = small_pool(2);
    let _ = pool.buffer_ptr(BufferId(2));
}

#[test]
fn concurrent_get_put_never_hands_out_a_buffer_twice() {
    const THREADS: u8 = 2;
    const ROUNDS: u32 = 20_000;
    const COUNT: u32 = 6;
    let pool = Arc::new(BufferPool::new(8 * KIB, COUNT, HugepagePolicy::Never).expect("pool"));
    // holder[i] = tag of the thread holding buffer i, 0 when free.
    let holder: Arc<Vec<AtomicU32>> = Arc::new((0..COUNT).map(|_| AtomicU32::new(0)).collect());

    let threads: Vec<_> = (1..=THREADS)
        .map(|tag| {
            let pool = Arc::clone(&pool);
            let holder = Arc::clone(&holder);
            std::thread::spawn(move || {
                let mut held = Vec::with_capacity(COUNT as usize);
                for round in 0..ROUNDS {
                    // Take 1..=4 buffers (more than half the pool, so threads collide and see None).
                    let want = 1 + (round % 4) as usize;
                    while held.len() < want {
                        match pool.get() {
                            Some(id) => {
                                let previous =
                                    holder[id.0 as usize].swap(u32::from(tag), Ordering::SeqCst);
                                assert_eq!(
                                    previous, 0,
                                    "{id:?} handed to thread {tag} while thread {previous} held it"
                                );
                                // SAFETY: we just got `id`; no other reference to it exists.
                                unsafe { pool.slice_mut(id) }.fill(tag);
                                held.push(id);
                            }
                            None if !held.is_empty() => break,
                            None => std::hint::spin_loop(),
                        }
                    }
                    if round % 64 == 0 {
                        std::thread::yield_now();
                    }
                    for id in held.drain(..) {
                        // SAFETY: we still own `id`; no `&mut` to it is alive.
                        let bytes = unsafe { pool.slice(id) };
                        assert!(
                            bytes.iter().all(|&b| b == tag),
                            "{id:?} written by another thread while thread {tag} held it"
                        );
                        assert_eq!(
                            holder[id.0 as usize].swap(0, Ordering::SeqCst),
                            u32::from(tag)
                        );
                        pool.put(id);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("worker thread did not panic");
    }
    assert_eq!(pool.available(), COUNT as usize);
}

#[test]
fn bounds_are_typed_errors() {
    let never = HugepagePolicy::Never;
    for len in [0, 1, 4095, 4097, BUFFER_LEN_MAX + BUFFER_ALIGN] {
        assert!(
            matches!(BufferPool::new(len, 1, never), Err(HugepageError::InvalidBufferLen { len: l }) if l == len),
            "len {len}"
        );
    }
    for count in [0, BUFFER_COUNT_MAX + 1] {
        assert!(matches!(
            BufferPool::new(4096, count, never),
            Err(HugepageError::InvalidBufferCount { count: c, max: BUFFER_COUNT_MAX }) if c == count
        ));
    }
    assert!(matches!(
        BufferPool::new(GIB, 9, never),
        Err(HugepageError::PoolTooLarge { bytes, max: POOL_BYTES_MAX }) if bytes == 9 * GIB
    ));
    assert!(matches!(
        BufferPool::new(256 * KIB, BUFFER_COUNT_MAX, never),
        Err(HugepageError::PoolTooLarge { .. })
    ));
}

#[test]
fn error_messages_name_the_cause() {
    let err = BufferPool::new(100, 1, HugepagePolicy::Never).expect_err("bad len");
    assert_eq!(
        err.to_string(),
        "invalid buffer length 100: must be a non-zero multiple of 4096 bytes and at most 1073741824 bytes"
    );
    let err = BufferPool::new(4096, 0, HugepagePolicy::Never).expect_err("bad count");
    assert_eq!(
        err.to_string(),
        "invalid buffer count 0: must be in 1..=65536"
    );
}

/// Checks the layout's iovecs: each <= 1 GiB, whole buffers, contiguous, covering all.
fn check_layout(buffer_len: usize, buffer_count: u32) {
    let layout = Layout::new(buffer_len, buffer_count);
    let mut next = 0u32;
    for (index, (first, count)) in layout.iovec_ranges().enumerate() {
        assert_eq!(first, next, "iovecs are contiguous");
        assert!(count > 0);
        assert!(count as usize * buffer_len <= REGISTERED_BUFFER_BYTES_MAX);
        for id in [first, first + count - 1] {
            assert_eq!(
                layout.registered_index(BufferId(id)) as usize,
                index,
                "buffer {id}"
            );
        }
        next = first + count;
    }
    assert_eq!(next, buffer_count, "every buffer is in an iovec");
    assert!(layout.iovec_count() <= 17);
}

#[test]
fn iovec_layout_never_straddles() {
    for (len, count) in [
        (4 * KIB, 1),
        (4 * KIB, BUFFER_COUNT_MAX),
        (64 * KIB, BUFFER_COUNT_MAX),  // 4 GiB: 4 iovecs of 1 GiB
        (128 * KIB, BUFFER_COUNT_MAX), // 8 GiB: 8 iovecs
        (3 * MIB, 2730),               // 1 GiB is not a multiple of 3 MiB
        (GIB, 8),                      // one buffer per iovec
        (GIB / 2 + 4 * KIB, 15),       // worst case: ~512 MiB per iovec
        (768 * MIB, 10),
    ] {
        check_layout(len, count);
    }
}

#[test]
fn registration_iovecs_cover_all_buffers() {
    let pool = small_pool(33);
    let iovecs = pool.registration_iovecs();
    assert_eq!(iovecs.len(), 1, "a small pool is one registered buffer");
    assert_eq!(
        iovecs[0].iov_base.cast::<u8>(),
        pool.buffer_ptr(BufferId(0))
    );
    assert_eq!(iovecs[0].iov_len, 33 * pool.buffer_len());
    for id in (0..33).map(BufferId) {
        let iov = &iovecs[pool.registered_index(id) as usize];
        let start = iov.iov_base as usize;
        let buf = pool.buffer_ptr(id) as usize;
        assert!(buf >= start && buf + pool.buffer_len() <= start + iov.iov_len);
    }
}

#[test]
fn pool_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<BufferPool>();
}

#[test]
fn prefer_pool_works_whatever_the_host() {
    let _lock = hugepage_state_lock();
    let free_before = crate::info::free_2m_hugepages();
    let pool = BufferPool::new(64 * KIB, 16, HugepagePolicy::Prefer).expect("Prefer falls back");
    if free_before == Some(0) {
        assert_eq!(pool.backing(), PageBacking::Normal);
    }
    let id = pool.get().expect("fresh pool");
    // SAFETY: we own `id`.
    unsafe { pool.slice_mut(id) }.fill(1);
    pool.put(id);
}

/// Opt-in (root and `DWCP_TEST_HUGEPAGES=1`): a Require pool on real hugepages.
#[test]
fn require_pool_on_reserved_hugepages() {
    let _lock = hugepage_state_lock();
    let Some(_reservation) = HugepageReservation::opt_in(1) else {
        return;
    };
    let pool = BufferPool::new(64 * KIB, 32, HugepagePolicy::Require).expect("one page reserved");
    assert_eq!(pool.backing(), PageBacking::Hugetlb2M);
    let ids: Vec<BufferId> = std::iter::from_fn(|| pool.get()).collect();
    assert_eq!(ids.len(), 32);
    for &id in &ids {
        // SAFETY: we own every `id`, one slice at a time.
        unsafe { pool.slice_mut(id) }.fill(id.0.to_le_bytes()[0]);
    }
    for id in ids {
        pool.put(id);
    }
}
