//! `dwcp-bench`: component benchmarks whose command line and JSON output
//! other tools rely on.
//!
//! `dwcp-bench codec --new NEW [--base BASE] [--threads N] [--level L]`
//! encodes NEW as one migration round would, decodes it into a destination
//! image, checks the result equals NEW byte for byte and prints one JSON
//! line last on stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use dwcp_codec::{
    BatchReport, Decoder, Encoder, EncoderConfig, EncodingKind, ENCODED_BATCH_LEN_MAX, PAGE_SIZE,
};

#[derive(Parser, Debug)]
#[command(name = "dwcp-bench", version, about = "DWCP component benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Encode image NEW as one migration round, decode it, verify, print JSON.
    ///
    /// Every page of NEW is sent once. With BASE, the destination starts
    /// holding BASE (indexed by the encoder as its baseline: duplicate targets
    /// and delta references); without it the destination starts all-zero.
    /// Pages go in encoded batches of up to 64 consecutive pages, as the data
    /// plane sends them; output_bytes counts every batch plus a u32 LE length
    /// per batch (framing_bytes), and equals the sum of bytes_by_kind,
    /// control_bytes and framing_bytes.
    /// Speeds are MB/s of input (10^6 bytes per second), single pass, the
    /// encoder's set-up (Encoder::new, which pre-faults the delta cache) and
    /// the baseline indexing excluded from encode time (reported apart as
    /// setup_s and baseline_index_s).
    Codec {
        /// Raw image to send (size a multiple of 4096).
        #[arg(long)]
        new: PathBuf,
        /// Raw image the destination already holds (same size as NEW).
        #[arg(long)]
        base: Option<PathBuf>,
        /// Split the pages into N contiguous ranges with one encoder and one
        /// decoder each, as the data plane's workers do; duplicates and
        /// deltas then only refer to pages within the same range.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// zstd level for pages and delta tokens (0 = zstd off).
        #[arg(long, default_value_t = EncoderConfig::DEFAULTS.zstd_level, allow_negative_numbers = true)]
        level: i32,
        /// Delta cache pages per encoder (default: every page of its range).
        #[arg(long)]
        delta_cache_pages: Option<usize>,
        /// Duplicate index entries per encoder (default: every page of its range).
        #[arg(long)]
        dup_index_entries: Option<usize>,
    },
}

/// What one range's encoder produced.
struct Encoded {
    stream: Vec<u8>,
    report: BatchReport,
    batches: u64,
    encode_s: f64,
    baseline_s: f64,
    setup_s: f64,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dwcp-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Codec {
            new,
            base,
            threads,
            level,
            delta_cache_pages,
            dup_index_entries,
        } => codec(
            &new,
            base.as_deref(),
            threads,
            level,
            delta_cache_pages,
            dup_index_entries,
        ),
    }
}

fn codec(
    new_path: &std::path::Path,
    base_path: Option<&std::path::Path>,
    threads: usize,
    level: i32,
    delta_cache_pages: Option<usize>,
    dup_index_entries: Option<usize>,
) -> Result<()> {
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let new = std::fs::read(new_path).with_context(|| format!("reading {}", new_path.display()))?;
    if !new.len().is_multiple_of(PAGE_SIZE) || new.is_empty() {
        bail!(
            "{} is {} bytes, not a non-zero multiple of {PAGE_SIZE}",
            new_path.display(),
            new.len()
        );
    }
    let base = match base_path {
        Some(p) => {
            let b = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            if b.len() != new.len() {
                bail!(
                    "--base {} is {} bytes but --new is {} bytes; they must be the same size",
                    p.display(),
                    b.len(),
                    new.len()
                );
            }
            Some(b)
        }
        None => None,
    };
    let pages = new.len() / PAGE_SIZE;
    let per_range = pages.div_ceil(threads);
    let range_bytes = per_range * PAGE_SIZE;
    let config_for = |range_pages: usize| EncoderConfig {
        zstd_level: level,
        delta_cache_pages: delta_cache_pages.unwrap_or(range_pages),
        dup_index_entries: dup_index_entries.unwrap_or(range_pages),
    };
    EncoderConfig {
        zstd_level: level,
        ..EncoderConfig::DEFAULTS
    }
    .validate()?;

    // Encode: one encoder per contiguous range, in parallel.
    let wall = Instant::now();
    let encoded: Vec<Encoded> = std::thread::scope(|s| {
        let handles: Vec<_> = new
            .chunks(range_bytes)
            .enumerate()
            .map(|(r, chunk)| {
                let base = base
                    .as_ref()
                    .map(|b| &b[r * range_bytes..r * range_bytes + chunk.len()]);
                let cfg = config_for(chunk.len() / PAGE_SIZE);
                s.spawn(move || encode_range(cfg, chunk, base))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("encoder thread panicked"))
            .collect::<Vec<Result<Encoded>>>()
    })
    .into_iter()
    .collect::<Result<_>>()?;
    let encode_wall_s = wall.elapsed().as_secs_f64();
    let baseline_wall_s = encoded.iter().map(|e| e.baseline_s).fold(0.0, f64::max);
    let setup_wall_s = encoded.iter().map(|e| e.setup_s).fold(0.0, f64::max);
    let encode_s = encoded.iter().map(|e| e.encode_s).fold(0.0, f64::max);

    // Decode into the destination image, one decoder per range, in parallel.
    // The destination image, committed before decoding starts: a copy of
    // BASE is written anyway; an all-zero one is fresh memory that the OS
    // would otherwise fault in page by page inside the decode timing.
    let wall = Instant::now();
    let mut dst = base.clone().unwrap_or_else(|| {
        let mut d = vec![0u8; new.len()];
        for byte in d.iter_mut().step_by(PAGE_SIZE) {
            *byte = std::hint::black_box(0);
        }
        d
    });
    let dest_setup_s = wall.elapsed().as_secs_f64();
    let wall = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = dst
            .chunks_mut(range_bytes)
            .zip(&encoded)
            .map(|(mem, e)| s.spawn(move || decode_range(&e.stream, mem)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("decoder thread panicked"))
            .collect::<Result<Vec<()>>>()
    })?;
    let decode_s = wall.elapsed().as_secs_f64();
    let verified = dst == new;

    let mut total = BatchReport::default();
    for e in &encoded {
        total.add(&e.report);
    }
    let batches: u64 = encoded.iter().map(|e| e.batches).sum();
    let output_bytes: u64 = encoded.iter().map(|e| e.stream.len() as u64).sum();
    let input_bytes = new.len() as u64;
    let per_kind = |v: &[u64; 5]| {
        let mut m = serde_json::Map::new();
        for (k, n) in EncodingKind::ALL.iter().zip(v) {
            m.insert(k.name().to_owned(), (*n).into());
        }
        serde_json::Value::Object(m)
    };
    let mbps = |s: f64| {
        if s > 0.0 {
            input_bytes as f64 / s / 1e6
        } else {
            0.0
        }
    };
    let cfg = config_for(per_range);
    let line = serde_json::json!({
        "bench": "codec",
        "new": new_path.display().to_string(),
        "base": base_path.map(|p| p.display().to_string()),
        "threads": threads,
        "level": level,
        "delta_cache_pages": cfg.delta_cache_pages,
        "dup_index_entries": cfg.dup_index_entries,
        "input_bytes": input_bytes,
        "output_bytes": output_bytes,
        "ratio": input_bytes as f64 / output_bytes.max(1) as f64,
        "encode_mbps": mbps(encode_wall_s - setup_wall_s - baseline_wall_s),
        "decode_mbps": mbps(decode_s),
        "encode_s": encode_s,
        "decode_s": decode_s,
        "baseline_index_s": baseline_wall_s,
        "setup_s": setup_wall_s,
        "dest_setup_s": dest_setup_s,
        "encoder_memory_bytes_max": threads * Encoder::memory_bytes_max(cfg, per_range),
        "verified": verified,
        "bytes_by_kind": per_kind(&total.bytes_by_kind),
        "pages_by_kind": per_kind(&total.pages_by_kind),
        "control_bytes": total.control_bytes,
        "framing_bytes": batches * 4,
        "batches": batches,
    });
    println!("{line}");
    if !verified {
        bail!("decoded image differs from {}", new_path.display());
    }
    Ok(())
}

/// Encodes one range as length-prefixed batches of consecutive pages.
fn encode_range(cfg: EncoderConfig, image: &[u8], base: Option<&[u8]>) -> Result<Encoded> {
    let pages = image.len() / PAGE_SIZE;
    let t = Instant::now();
    let mut enc = Encoder::new(cfg, pages as u64)?;
    let setup_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    if let Some(b) = base {
        enc.index_baseline(b)?;
    }
    let baseline_s = t.elapsed().as_secs_f64();
    let mut stream = vec![0u8; image.len() / 4 + ENCODED_BATCH_LEN_MAX + 4];
    let mut at = 0;
    let mut report = BatchReport::default();
    let mut batches = 0u64;
    let t = Instant::now();
    let mut finish = |enc: &mut Encoder, stream: &mut Vec<u8>| -> Result<()> {
        if stream.len() < at + 4 + ENCODED_BATCH_LEN_MAX {
            stream.resize(stream.len() * 2 + ENCODED_BATCH_LEN_MAX, 0);
        }
        let batch = enc.finish(&mut stream[at + 4..])?;
        let len = u32::try_from(batch.len).context("batch over 4 GiB")?;
        stream[at..at + 4].copy_from_slice(&len.to_le_bytes());
        at += 4 + batch.len;
        report.add(&batch);
        batches += 1;
        Ok(())
    };
    for (i, page) in image.chunks_exact(PAGE_SIZE).enumerate() {
        if !enc.has_room() {
            finish(&mut enc, &mut stream)?;
        }
        enc.push(i as u64, page)?;
    }
    if enc.batch_pages() > 0 {
        finish(&mut enc, &mut stream)?;
    }
    let encode_s = t.elapsed().as_secs_f64() + baseline_s;
    stream.truncate(at);
    Ok(Encoded {
        stream,
        report,
        batches,
        encode_s,
        baseline_s,
        setup_s,
    })
}

fn decode_range(stream: &[u8], memory: &mut [u8]) -> Result<()> {
    let mut dec = Decoder::new();
    let mut at = 0;
    while at < stream.len() {
        let len = stream.get(at..at + 4).context("truncated batch length")?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        at += 4;
        let batch = stream.get(at..at + len).context("truncated batch")?;
        at += len;
        dec.decode_batch(batch, memory, |_, _| {})?;
    }
    Ok(())
}
