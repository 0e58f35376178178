//! Finisher threads: they compress encoded batches while the engine goes
//! on packing pages of other streams.
//!
//! # Design
//!
//! [`Encoder::finish`] (zstd over the batch's sections) is most of the
//! codec's time above the bottom rung: at the internet tier's levels it
//! runs at 100–500 MB/s of guest memory, while the engine's own work per
//! page (copy, zero check, keyed hash, index lookup) runs at several GB/s.
//! Each stream has its own encoder and its frames go in order on that
//! stream only, so stream A's batch can be finished while the engine packs
//! pages of stream B. The engine hands the whole encoder (it owns the zstd
//! streams the batch continues) and the pool buffer the frame goes in to a
//! finisher, and takes both back when it is done; until then it does not
//! touch that stream. A stream therefore has at most one batch in flight,
//! so the job and done queues never hold more than one entry per stream
//! and a send never waits.
//!
//! The threads sleep on their queue when there is nothing to finish (no
//! polling), and the pool joins them when dropped. The engine thread's
//! lifetime bounds the pool's, and the engine lives shorter than the frame
//! buffer pool the output slices point into.

use dwcp_codec::{BatchReport, CodecError, Encoder};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most finisher threads a source runs (one per stream at most).
pub const FINISHER_THREADS_MAX: usize = 64;

/// Where a finisher writes a batch: the body of a frame buffer the engine
/// took from the pool.
struct OutSlice {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the slice points into the frame buffer pool's mapping, which
// outlives the pool of finishers (see the module docs); the engine hands
// the buffer to exactly one finisher and does not touch it until the
// finisher gives it back, so only one thread accesses it at a time.
unsafe impl Send for OutSlice {}

/// A batch to finish.
struct FinishJob {
    stream: usize,
    encoder: Encoder,
    out: OutSlice,
}

/// A finished batch: the encoder back, and what `finish` said.
#[derive(Debug)]
pub struct FinishedBatch {
    /// The stream whose batch this is.
    pub stream: usize,
    /// The stream's encoder, ready for its next batch.
    pub encoder: Encoder,
    /// The batch's report, or why it could not be written.
    pub result: Result<BatchReport, CodecError>,
    /// Time `finish` took on the finisher thread.
    pub spent: Duration,
}

/// The finisher threads and their queues.
pub struct BatchFinishers {
    jobs: Option<crossbeam::channel::Sender<FinishJob>>,
    done: crossbeam::channel::Receiver<FinishedBatch>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for BatchFinishers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchFinishers")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl BatchFinishers {
    /// Starts `threads` finishers for up to `streams` batches in flight.
    pub fn start(threads: usize, streams: usize) -> std::io::Result<Self> {
        assert!(
            (1..=FINISHER_THREADS_MAX).contains(&threads),
            "1..={FINISHER_THREADS_MAX} finisher threads"
        );
        assert!(streams >= 1, "at least one stream");
        // One entry per stream is the most either queue ever holds.
        let (jobs, job_queue) = crossbeam::channel::bounded::<FinishJob>(streams);
        let (done_tx, done) = crossbeam::channel::bounded::<FinishedBatch>(streams);
        let mut handles = Vec::with_capacity(threads);
        for n in 0..threads {
            let job_queue = job_queue.clone();
            let done_tx = done_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("dwcp-finish-{n}"))
                .spawn(move || finisher_loop(&job_queue, &done_tx))?;
            handles.push(handle);
        }
        Ok(Self {
            jobs: Some(jobs),
            done,
            threads: handles,
        })
    }

    /// How many finisher threads run.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Hands stream `stream`'s `encoder` to a finisher, to write its open
    /// batch into `out`.
    ///
    /// # Safety
    /// `out` must stay valid, and untouched by the caller, until the
    /// [`FinishedBatch`] for `stream` comes back from [`Self::try_done`] or
    /// [`Self::wait_done`].
    pub unsafe fn submit(&self, stream: usize, encoder: Encoder, out: &mut [u8]) {
        let job = FinishJob {
            stream,
            encoder,
            out: OutSlice {
                ptr: out.as_mut_ptr(),
                len: out.len(),
            },
        };
        let jobs = self.jobs.as_ref().expect("open until dropped");
        // Never full (one job per stream at most) and never disconnected
        // (the finishers exit only after `jobs` is dropped).
        jobs.try_send(job)
            .expect("a finish queue holds one job per stream");
    }

    /// A finished batch, if one is ready.
    pub fn try_done(&self) -> Option<FinishedBatch> {
        self.done.try_recv().ok()
    }

    /// Waits up to `timeout` for a finished batch.
    pub fn wait_done(&self, timeout: Duration) -> Option<FinishedBatch> {
        self.done.recv_timeout(timeout).ok()
    }
}

impl Drop for BatchFinishers {
    fn drop(&mut self) {
        // Closing the job queue ends every finisher's loop.
        self.jobs = None;
        for handle in self.threads.drain(..) {
            if handle.join().is_err() {
                tracing::error!("a batch finisher thread panicked");
            }
        }
    }
}

fn finisher_loop(
    jobs: &crossbeam::channel::Receiver<FinishJob>,
    done: &crossbeam::channel::Sender<FinishedBatch>,
) {
    while let Ok(job) = jobs.recv() {
        let FinishJob {
            stream,
            mut encoder,
            out,
        } = job;
        // SAFETY: see `OutSlice` and `submit`: the engine gave this buffer
        // to this job alone and keeps away from it until the job returns.
        let out = unsafe { std::slice::from_raw_parts_mut(out.ptr, out.len) };
        let started = Instant::now();
        let result = encoder.finish(out);
        let finished = FinishedBatch {
            stream,
            encoder,
            result,
            spent: started.elapsed(),
        };
        if done.send(finished).is_err() {
            // The engine is gone (it dropped the pool mid-migration).
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dwcp_codec::{Decoder, EncoderConfig, PAGE_SIZE};

    fn encoder(level: i32) -> Encoder {
        let config = EncoderConfig {
            zstd_level: level,
            delta_cache_pages: 64,
            dup_index_entries: 256,
        };
        Encoder::new(config, 256).expect("valid encoder")
    }

    /// A compressible page that differs with `seed`.
    fn page(seed: u64) -> Vec<u8> {
        (0..PAGE_SIZE as u64)
            .map(|i| (i.wrapping_mul(seed) ^ (i / 64)).to_le_bytes()[0])
            .collect()
    }

    #[test]
    fn a_batch_finished_on_a_finisher_decodes_like_one_finished_inline() {
        let finishers = BatchFinishers::start(2, 2).expect("threads start");
        let mut inline = encoder(3);
        let mut away = encoder(3);
        for n in 0..8u64 {
            let content = page(n + 1);
            inline.push(n, &content).expect("push");
            away.push(n, &content).expect("push");
        }
        let mut want = vec![0u8; dwcp_codec::ENCODED_BATCH_LEN_MAX];
        let want_len = inline.finish(&mut want).expect("finish").len;
        let mut got = vec![0u8; dwcp_codec::ENCODED_BATCH_LEN_MAX];
        // SAFETY: `got` outlives the job and is untouched until it returns.
        unsafe { finishers.submit(1, away, &mut got) };
        let done = finishers
            .wait_done(Duration::from_secs(30))
            .expect("a finisher answers");
        assert_eq!(done.stream, 1);
        let report = done.result.expect("finished");
        assert_eq!(&got[..report.len], &want[..want_len]);
        assert_eq!(done.encoder.batch_pages(), 0, "the batch was closed");

        let mut decoder = Decoder::new();
        let mut image = vec![0u8; 256 * PAGE_SIZE];
        decoder
            .decode_batch(&got[..report.len], &mut image, |_, _| {})
            .expect("decodes");
        for n in 0..8usize {
            assert_eq!(
                &image[n * PAGE_SIZE..(n + 1) * PAGE_SIZE],
                page(n as u64 + 1)
            );
        }
    }

    #[test]
    fn a_finish_error_comes_back_with_the_encoder() {
        let finishers = BatchFinishers::start(1, 1).expect("threads start");
        let away = encoder(1);
        let mut out = vec![0u8; 64];
        // SAFETY: `out` outlives the job and is untouched until it returns.
        unsafe { finishers.submit(0, away, &mut out) };
        let done = finishers
            .wait_done(Duration::from_secs(30))
            .expect("a finisher answers");
        assert!(
            matches!(done.result, Err(CodecError::BatchState { state: "empty" })),
            "{:?}",
            done.result
        );
        assert!(finishers.try_done().is_none());
    }
}
