//! The destination decoder: opens frames, writes pages, verifies the image.
//!
//! # Design
//! One pinned thread consumes whole frames from the transport's queue. Each
//! frame is authenticated and decrypted in its pool buffer, its sequence
//! checked against the stream's last, and its page batch validated whole
//! ([`BatchView::parse`]) before any byte reaches guest memory. A page is
//! written only if the batch's round is not older than the round that last
//! wrote it, so a retransmitted or late frame of an earlier round can never
//! overwrite newer content that came on another stream.
//!
//! In `Incremental` verify mode each written page is hashed back from the
//! mapping right after the write; the image digest is then the digest of
//! that table. In `Full` mode the whole image is re-read and hashed after the
//! final round. `Final` names each stream's last seq; the verdict is
//! computed once every stream is written through those seqs, and sent on
//! stream 0. An ok verdict is not the end: the image is the destination's
//! only once the source's `Commit` (naming the same digest) arrives on
//! stream 0, which says the source read the verdict and keeps the guest
//! paused. Any error sends an `Abort` naming the cause and stops.

use crate::config::VerifyMode;
use crate::guest_memory::DestinationMemory;
use crate::progress::{Phase, Progress, COMPUTE_WORKER};
use dwcp_codec::PageContent;
use dwcp_dataplane_core::backoff::IdleBackoff;
use dwcp_dataplane_core::link::{DestinationLink, Outbound, ReceivedFrame};
use dwcp_dataplane_core::scan::{image_digest, page_hash, zero_page_hash, PAGE_LEN};
use dwcp_dataplane_core::seal::FrameOpener;
use dwcp_dataplane_core::worker_meter::IdleClock;
use dwcp_shared::batch::{BatchView, PageEncoding};
use dwcp_shared::control::{Abort, AbortCode, Commit, Final, Goodbye, RoundEnd, VerifyResult};
use dwcp_shared::limits::{stream_global_page, stream_page_count, ENCODED_BATCH_HEADER_LEN};
use dwcp_shared::FrameKind;
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// What the decoder ends with.
#[derive(Debug)]
pub struct DecoderOutcome {
    /// The image (to keep, or discard on failure).
    pub memory: DestinationMemory,
    /// True if the digest matched the source's and the source committed
    /// the hand-over: the guest is the destination's.
    pub verified: bool,
    /// Our digest, once computed.
    pub digest: Option<[u8; 16]>,
    /// Pages written.
    pub pages_written: u64,
    /// Rounds seen, the final one included.
    pub rounds: u32,
    /// What went wrong.
    pub error: Option<String>,
    /// Time spent decoding encoded batches (`None`: none arrived).
    pub decode_time: Option<std::time::Duration>,
}

/// What one pass of [`Decoder::step`] did.
#[derive(Debug)]
pub enum DecoderStep {
    /// The loop is over: a verdict `(ok, digest)`, or the cause of a failure.
    Done(Result<(bool, [u8; 16]), String>),
    /// A frame was handled: pass again at once.
    Worked,
    /// No frame is queued: back off.
    Idle,
}

/// The decoder; [`Decoder::run`] is the thread body.
#[derive(Debug)]
pub struct Decoder<'a> {
    link: &'a DestinationLink,
    memory: DestinationMemory,
    openers: Vec<FrameOpener>,
    last_seq: Vec<u64>,
    page_round: Vec<u32>,
    page_hashes: Vec<u64>,
    /// Per page: it holds zeros (the image started zeroed and the page was
    /// not written since, or its last write was a zero page). A zero page
    /// for such a page is not written: a fresh image's zero pages are never
    /// faulted in, cleared or hashed.
    known_zero: Vec<bool>,
    /// The hash of a zero page (`zero_page_hash`, computed once).
    zero_hash: u64,
    pending_final: Option<Final>,
    /// The digest of an ok verdict sent; `Commit` must name it.
    verified_digest: Option<[u8; 16]>,
    /// The source's `Commit` arrived.
    committed: bool,
    /// The source's `Goodbye` arrived (after `Commit`).
    goodbye: bool,
    verify: VerifyMode,
    progress: &'a Progress,
    pages_written: u64,
    rounds: u32,
    /// Page codec decoders, one per stream, made on the stream's first encoded batch.
    codecs: Vec<Option<dwcp_codec::Decoder>>,
    decode_time: Option<std::time::Duration>,
}

impl<'a> Decoder<'a> {
    /// A decoder writing into `memory`, opening frames with `openers` (one per stream).
    pub fn new(
        link: &'a DestinationLink,
        memory: DestinationMemory,
        openers: Vec<FrameOpener>,
        verify: VerifyMode,
        progress: &'a Progress,
    ) -> Self {
        let pages = memory.page_count();
        Self {
            link,
            last_seq: vec![0; openers.len()],
            openers,
            page_round: vec![0; pages],
            page_hashes: vec![zero_page_hash(); pages],
            known_zero: vec![memory.starts_zeroed(); pages],
            zero_hash: zero_page_hash(),
            memory,
            pending_final: None,
            verified_digest: None,
            committed: false,
            goodbye: false,
            verify,
            progress,
            pages_written: 0,
            rounds: 0,
            codecs: Vec::new(),
            decode_time: None,
        }
    }

    /// Runs until the source said `Goodbye` after its `Commit`, a failed
    /// verdict was sent, or the migration fails. Once `Commit` was taken the
    /// guest is the destination's whatever follows: the transport ending
    /// (its close grace), a fatal error or a bad frame end the loop, or are
    /// ignored, with the image verified.
    pub fn run(mut self) -> DecoderOutcome {
        let mut backoff = IdleBackoff::new();
        let meter = &self.progress.workers[COMPUTE_WORKER];
        let mut clock = IdleClock::start(meter, Instant::now());
        let result = loop {
            let now = Instant::now();
            match self.step() {
                DecoderStep::Done(result) => {
                    // The last pass may have handled a frame (a failed verdict, an abort).
                    clock.busy_from(now);
                    break result;
                }
                DecoderStep::Worked => {
                    backoff.reset();
                    clock.busy_from(now);
                }
                DecoderStep::Idle => {
                    clock.idle_from(now);
                    let link = self.link;
                    backoff.idle_on(&link.decoder_bell, || !link.frames.is_empty());
                }
            }
        };
        clock.stop(Instant::now());
        self.finish(result)
    }

    /// One pass of the loop: handles the next queued frame, ends, or finds
    /// no frame.
    pub fn step(&mut self) -> DecoderStep {
        if let (true, Some(digest)) = (self.committed, self.verified_digest) {
            let ended = self.link.finished.load(Ordering::Acquire) || self.link.fatal.is_raised();
            if self.goodbye || ended {
                return DecoderStep::Done(Ok((true, digest)));
            }
        }
        if self.link.fatal.is_raised() {
            let cause = self
                .link
                .fatal
                .message()
                .unwrap_or_else(|| "transport failed".into());
            return DecoderStep::Done(Err(self.name_the_hand_over(cause)));
        }
        let Some(frame) = self.link.frames.pop() else {
            return DecoderStep::Idle;
        };
        self.progress.workers[COMPUTE_WORKER].count(1, u64::from(frame.len));
        let handled = self.handle_frame(frame);
        self.link.pool.put(frame.buffer);
        // The transport may be waiting for this buffer, a queue slot, or the ack.
        self.link.transport_bell.ring();
        match handled {
            Err((_, reason)) if self.committed => {
                tracing::warn!(reason, "ignoring a bad frame after the source's commit");
            }
            Err((code, reason)) => {
                let _ = self
                    .link
                    .outbound
                    .push(Outbound::Abort(Abort::new(code, &reason)));
                self.link.fatal.raise(reason.clone());
                self.link.transport_bell.ring();
                return DecoderStep::Done(Err(self.name_the_hand_over(reason)));
            }
            Ok(()) if self.committed => {
                // Published once; the transport acks `Commit` and waits for `Goodbye`.
                if !self.link.committed.swap(true, Ordering::AcqRel) {
                    self.link.transport_bell.ring();
                }
                if self.goodbye {
                    self.link.goodbye.store(true, Ordering::Release);
                    self.link.transport_bell.ring();
                }
            }
            Ok(()) => match self.try_verify() {
                // An ok verdict waits for the source's `Commit`.
                Some(Ok((true, digest))) => self.verified_digest = Some(digest),
                Some(verdict) => return DecoderStep::Done(verdict),
                None => {}
            },
        }
        DecoderStep::Worked
    }

    /// What the loop ended with (`Ok((ok, digest))`: a verdict; `Err`: the
    /// cause of a failure), as the decoder's outcome.
    pub fn finish(self, result: Result<(bool, [u8; 16]), String>) -> DecoderOutcome {
        self.progress.set_phase(Phase::Done);
        let (verified, digest, error) = match result {
            Ok((ok, digest)) => (
                ok,
                Some(digest),
                (!ok).then(|| "image digest differs from the source's".to_owned()),
            ),
            // An ok verdict's digest is kept: the image verified, the hand-over did not happen.
            Err(message) => (false, self.verified_digest, Some(message)),
        };
        DecoderOutcome {
            memory: self.memory,
            verified,
            digest,
            pages_written: self.pages_written,
            rounds: self.rounds,
            error,
            decode_time: self.decode_time,
        }
    }

    fn handle_frame(&mut self, frame: ReceivedFrame) -> Result<(), (AbortCode, String)> {
        let stream = usize::from(frame.stream_id);
        // SAFETY: the transport handed this buffer over through the queue and
        // no longer touches it; the decoder returns it to the pool afterwards.
        let bytes = unsafe { self.link.pool.slice_mut(frame.buffer) };
        let opener = self
            .openers
            .get(stream)
            .ok_or((AbortCode::Protocol, format!("no stream {stream}")))?;
        let (header, body) = opener
            .open(&mut bytes[..frame.len as usize])
            .map_err(|e| (AbortCode::Protocol, e.to_string()))?;
        let expected = self.last_seq[stream] + 1;
        if header.seq != expected {
            return Err((
                AbortCode::Protocol,
                format!(
                    "stream {stream}: frame seq {} where {expected} was expected",
                    header.seq
                ),
            ));
        }
        if self.committed && header.kind != FrameKind::Goodbye {
            // The image is verified and handed over: nothing may change it.
            return Err((
                AbortCode::Protocol,
                format!("a {:?} frame after Commit", header.kind),
            ));
        }
        match header.kind {
            FrameKind::PageBatch => self.apply_batch(body)?,
            FrameKind::EncodedBatch => self.apply_encoded(stream, body)?,
            FrameKind::RoundEnd => {
                let end = RoundEnd::decode(body)
                    .map_err(|e| (AbortCode::Protocol, format!("malformed RoundEnd: {e}")))?;
                self.rounds = self.rounds.max(end.round + 1);
                self.progress.round.store(end.round, Ordering::Relaxed);
            }
            FrameKind::Final if stream == 0 => {
                let fin = Final::decode(body)
                    .map_err(|e| (AbortCode::Protocol, format!("malformed Final: {e}")))?;
                if fin.last_seqs.len() != self.last_seq.len()
                    || fin.page_count != self.memory.page_count() as u64
                {
                    return Err((
                        AbortCode::Protocol,
                        format!(
                            "Final names {} streams and {} pages; the session has {} and {}",
                            fin.last_seqs.len(),
                            fin.page_count,
                            self.last_seq.len(),
                            self.memory.page_count()
                        ),
                    ));
                }
                self.rounds = self.rounds.max(fin.round + 1);
                self.progress.set_phase(Phase::Verifying);
                self.pending_final = Some(fin);
            }
            FrameKind::Commit if stream == 0 => {
                let commit = Commit::decode(body)
                    .map_err(|e| (AbortCode::Protocol, format!("malformed Commit: {e}")))?;
                match self.verified_digest {
                    None => {
                        return Err((AbortCode::Protocol, "Commit before an ok verdict".into()))
                    }
                    Some(digest) if digest != commit.digest => {
                        return Err((
                            AbortCode::Protocol,
                            "Commit names another digest than the verdict".into(),
                        ))
                    }
                    Some(_) if self.committed => {
                        return Err((AbortCode::Protocol, "a second Commit".into()))
                    }
                    Some(_) => self.committed = true,
                }
            }
            FrameKind::Goodbye if stream == 0 => {
                Goodbye::decode(body)
                    .map_err(|e| (AbortCode::Protocol, format!("malformed Goodbye: {e}")))?;
                if !self.committed {
                    return Err((AbortCode::Protocol, "Goodbye before Commit".into()));
                }
                self.goodbye = true;
            }
            FrameKind::Abort => {
                let abort = Abort::decode(body)
                    .map_err(|e| (AbortCode::Protocol, format!("malformed Abort: {e}")))?;
                return Err((
                    AbortCode::Shutdown,
                    format!("the source aborted: {}", abort.reason),
                ));
            }
            other => {
                return Err((
                    AbortCode::Protocol,
                    format!("unexpected {other:?} frame on stream {stream}"),
                ))
            }
        }
        self.last_seq[stream] = header.seq;
        // `Goodbye` is not acknowledged: the source is gone once it sent it.
        if header.kind != FrameKind::Goodbye {
            self.link.written_through[stream].store(header.seq, Ordering::Release);
        }
        Ok(())
    }

    fn apply_batch(&mut self, body: &[u8]) -> Result<(), (AbortCode, String)> {
        let pages_total = self.memory.page_count() as u64;
        let batch = BatchView::parse(body, pages_total)
            .map_err(|e| (AbortCode::Protocol, format!("malformed page batch: {e}")))?;
        let round = batch.round();
        let incremental = self.verify == VerifyMode::Incremental;
        for page in batch.pages() {
            let index =
                usize::try_from(page.page_index).expect("parse checked page_index < pages_total");
            if round < self.page_round[index] {
                continue;
            }
            self.page_round[index] = round;
            match page.encoding {
                PageEncoding::Raw => {
                    self.memory.page_mut(index).copy_from_slice(page.payload);
                    self.known_zero[index] = false;
                    if incremental {
                        self.page_hashes[index] = page_hash(self.memory.pages(index, 1));
                    }
                }
                PageEncoding::Zero => {
                    if !self.known_zero[index] {
                        self.memory.page_mut(index).fill(0);
                        self.known_zero[index] = true;
                    }
                    if incremental {
                        self.page_hashes[index] = self.zero_hash;
                    }
                }
                PageEncoding::Invalid => unreachable!("parse rejects Invalid encodings"),
            }
            self.pages_written += 1;
        }
        self.progress
            .pages
            .store(self.pages_written, Ordering::Relaxed);
        Ok(())
    }

    /// Decodes one encoded batch of stream `stream` into that stream's pages
    /// (its stripes, see [`dwcp_shared::limits::stream_of_page`]).
    fn apply_encoded(&mut self, stream: usize, body: &[u8]) -> Result<(), (AbortCode, String)> {
        let started = std::time::Instant::now();
        let (round, batch) = body
            .split_first_chunk::<ENCODED_BATCH_HEADER_LEN>()
            .ok_or((
                AbortCode::Protocol,
                "encoded batch without its round".into(),
            ))?;
        let round = u32::from_le_bytes(*round);
        let streams = u16::try_from(self.last_seq.len()).expect("bounded by STREAMS_MAX");
        let stream_id = u16::try_from(stream).expect("bounded by STREAMS_MAX");
        let page_count = self.memory.page_count();
        let stream_pages = stream_page_count(page_count as u64, streams, stream_id);
        let place = |local: u64| stream_global_page(local, streams, stream_id);
        if self.codecs.len() < self.last_seq.len() {
            self.codecs.resize_with(self.last_seq.len(), || None);
        }
        let decoder = self.codecs[stream].get_or_insert_with(dwcp_codec::Decoder::new);
        let incremental = self.verify == VerifyMode::Incremental;
        let (page_round, page_hashes) = (&mut self.page_round, &mut self.page_hashes);
        // Read by `known_zero` and written by `on_page`, both alive during the call.
        let known_zero = Cell::from_mut(&mut self.known_zero[..]).as_slice_of_cells();
        let image_index = |local: u64| usize::try_from(place(local)).expect("a page of the image");
        let zero_hash = self.zero_hash;
        let mut older = None;
        let mut written = 0u64;
        let decoded = decoder.decode_batch_sparse(
            batch,
            self.memory.range_mut(0..page_count),
            stream_pages,
            place,
            |local| known_zero[image_index(local)].get(),
            |local, content| {
                let index = image_index(local);
                // A stream's frames arrive in order and its pages are its
                // own, so a page can never come back from an older round.
                if round < page_round[index] {
                    older.get_or_insert((index, page_round[index]));
                }
                page_round[index] = round;
                known_zero[index].set(content == PageContent::Zero);
                if incremental {
                    page_hashes[index] = match content {
                        PageContent::Zero => zero_hash,
                        PageContent::Bytes(bytes) => page_hash(bytes),
                    };
                }
                written += 1;
            },
        );
        decoded.map_err(|e| {
            (
                AbortCode::Protocol,
                format!("malformed encoded batch on stream {stream}: {e}"),
            )
        })?;
        if let Some((index, newer)) = older {
            return Err((
                AbortCode::Protocol,
                format!(
                    "stream {stream}: page {index} of round {round} after round {newer} wrote it"
                ),
            ));
        }
        self.pages_written += written;
        self.progress
            .pages
            .store(self.pages_written, Ordering::Relaxed);
        *self.decode_time.get_or_insert_default() += started.elapsed();
        Ok(())
    }

    /// A failure's message, saying so when it came after an ok verdict: the
    /// image verified, and only the missing `Commit` keeps it from the guest.
    fn name_the_hand_over(&self, cause: String) -> String {
        match self.verified_digest {
            Some(_) => {
                format!("the image verified, but the source never committed the hand-over: {cause}")
            }
            None => cause,
        }
    }

    /// Once every stream is written through `Final`'s seqs: digest, compare, send the verdict.
    fn try_verify(&mut self) -> Option<Result<(bool, [u8; 16]), String>> {
        let fin = self.pending_final.as_ref()?;
        if self
            .last_seq
            .iter()
            .zip(&fin.last_seqs)
            .any(|(have, want)| have < want)
        {
            return None;
        }
        let fin = self.pending_final.take().expect("checked above");
        let digest = match self.verify {
            VerifyMode::Incremental => image_digest(&self.page_hashes),
            VerifyMode::Full => {
                let pages = self.memory.page_count();
                let hashes: Vec<u64> = (0..pages)
                    .map(|i| page_hash(self.memory.pages(i, 1)))
                    .collect();
                image_digest(&hashes)
            }
        };
        let ok = digest == fin.digest;
        let result = VerifyResult {
            ok,
            digest,
            pages_written: self.pages_written,
        };
        let queued = self.link.outbound.push(Outbound::Verified(result));
        self.link.transport_bell.ring();
        if queued.is_err() {
            return Some(Err("outbound control queue full".into()));
        }
        if !ok {
            tracing::error!("image digest differs from the source's");
        }
        debug_assert_eq!(PAGE_LEN, 4096);
        Some(Ok((ok, digest)))
    }
}
