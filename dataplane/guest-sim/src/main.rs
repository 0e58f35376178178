//! dwcp-guest-sim: a guest stand-in for tests and the demo. It maps a memory
//! file (like QEMU's memory-backend-file share=on), fills it with realistic
//! content and keeps dirtying it at a set rate and pattern until stopped.
//! See docs/guest-sim.md.

mod dirtier;
mod fill;
mod replay;
mod signals;
mod units;

use std::ffi::CString;
use std::fmt;
use std::fs::OpenOptions;
use std::io::{ErrorKind, IsTerminal};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use memmap2::MmapMut;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use dirtier::{Dirtier, PagePicker, Pattern, RunConfig, TokenBucket, Workload};
use fill::{FileWalker, FillMode, PAGE};
use units::format_bytes;

/// A guest stand-in: maps a memory file, fills it with realistic content and
/// dirties it at a set rate. SIGUSR1 pauses, SIGUSR2 resumes, SIGTERM/SIGINT
/// exit 0 (SIGSTOP/SIGCONT work too).
#[derive(Debug, Parser)]
#[command(name = "dwcp-guest-sim", version)]
struct Cli {
    /// Guest RAM file (created if missing), e.g. /dev/shm/guest.ram.
    #[arg(long, value_name = "FILE")]
    memory: PathBuf,

    /// Memory size: 256M, 1G, 1GiB, 32MiB or bytes; a multiple of 4096
    /// (of the huge page size on hugetlbfs).
    #[arg(long, value_name = "SIZE", value_parser = units::size_arg)]
    size: u64,

    /// Initial content; keep leaves an existing file's content alone.
    #[arg(long, value_enum, default_value_t = FillMode::Realistic)]
    fill: FillMode,

    /// Seed for the content, the hot set and the dirtying.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,

    /// Bytes per second to dirty (whole pages): 32M, 32MiB/s; 0 = none.
    #[arg(long, value_name = "RATE", value_parser = units::rate_arg, default_value = "0")]
    dirty_rate: u64,

    /// Which pages get dirtied.
    #[arg(long, value_enum, default_value_t = Pattern::Uniform)]
    pattern: Pattern,

    /// Share of the pages in the hot set (--pattern hotset), in (0, 1].
    #[arg(long, value_name = "F", value_parser = units::fraction_arg, default_value = "0.1")]
    hotset_fraction: f64,

    /// Exit (as on SIGTERM) after this many seconds of dirtying.
    #[arg(long, value_name = "SECS", value_parser = units::secs_arg)]
    duration: Option<Duration>,

    /// Written ("ready\n") once the fill is done and dirtying has started.
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,

    /// Holds "running\n" or "paused\n" (pause by SIGUSR1, resume by SIGUSR2).
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,

    /// JSON statistics written on exit.
    #[arg(long, value_name = "PATH")]
    stats_file: Option<PathBuf>,

    /// Raw RAM image to start from (replaces --fill and --dirty-rate).
    #[arg(
        long,
        value_name = "IMAGE",
        requires_all = ["replay_to", "replay_secs"],
        conflicts_with_all = ["fill", "dirty_rate"]
    )]
    replay_from: Option<PathBuf>,

    /// Raw RAM image to end at: its differing pages are copied in.
    #[arg(long, value_name = "IMAGE", requires_all = ["replay_from", "replay_secs"])]
    replay_to: Option<PathBuf>,

    /// Seconds over which the differing pages are copied in.
    #[arg(long, value_name = "SECS", value_parser = units::secs_arg, requires_all = ["replay_from", "replay_to"])]
    replay_secs: Option<Duration>,
}

/// An invalid flag value found after parsing: exit code 2, like clap's.
#[derive(Debug)]
struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: String) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg))
}

const HUGETLBFS_MAGIC: i128 = 0x9584_58f6;

/// The filesystem holding `path` (or, if it does not exist yet, its
/// directory): Some(huge page size) when it is hugetlbfs.
fn hugetlbfs_page_size(path: &Path) -> Result<Option<u64>> {
    let probe = if path.exists() {
        path.to_path_buf()
    } else {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    let c = CString::new(probe.as_os_str().as_bytes())
        .with_context(|| format!("--memory {}: path contains a NUL byte", path.display()))?;
    // SAFETY: an all-zero `statfs` is a valid value of this plain C struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` is valid writable memory
    // of the right type; both outlive the call.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("--memory {}: statfs {}", path.display(), probe.display()));
    }
    #[allow(clippy::useless_conversion)] // f_type's width differs by target
    let f_type = i128::from(st.f_type);
    if f_type == HUGETLBFS_MAGIC {
        #[allow(clippy::useless_conversion)]
        let bsize = u64::try_from(i128::from(st.f_bsize)).unwrap_or(2 << 20);
        Ok(Some(bsize.max(2 << 20)))
    } else {
        Ok(None)
    }
}

/// Opens (creating or resizing as the flags say) the memory file.
fn open_memory(cli: &Cli, replay: bool) -> Result<std::fs::File> {
    let path = &cli.memory;
    let existing = match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {
            return Err(usage(format!(
                "invalid value '{}' for '--memory': not a regular file",
                path.display()
            )))
        }
        Ok(m) => Some(m.len()),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("--memory {}: stat", path.display())),
    };
    let keep = cli.fill == FillMode::Keep && !replay;
    if let Some(len) = existing {
        if keep && len != 0 && len != cli.size {
            return Err(usage(format!(
                "--memory {} exists with {len} bytes but --size is {} bytes; \
                 give the same size, or a --fill other than keep to recreate it",
                path.display(),
                cli.size
            )));
        }
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("--memory {}: open", path.display()))?;
    let resize = |f: &std::fs::File| -> Result<()> {
        f.set_len(cli.size)
            .with_context(|| format!("--memory {}: resize to {} bytes", path.display(), cli.size))
    };
    match existing {
        Some(len) if keep && len == cli.size => {}
        Some(len) if !keep && len != 0 => {
            // A clean, sparse start: the fills rely on zeroed memory.
            file.set_len(0)
                .with_context(|| format!("--memory {}: truncate", path.display()))?;
            resize(&file)?;
        }
        _ => resize(&file)?,
    }
    Ok(file)
}

fn run(cli: &Cli) -> Result<()> {
    if cli.size == 0 || !cli.size.is_multiple_of(PAGE as u64) {
        return Err(usage(format!(
            "invalid value '{}' for '--size': must be a non-zero multiple of {PAGE} bytes (the page size)",
            cli.size
        )));
    }
    if let Some(huge) = hugetlbfs_page_size(&cli.memory)? {
        if !cli.size.is_multiple_of(huge) {
            return Err(usage(format!(
                "invalid value '{}' for '--size': {} is on hugetlbfs, so the size must be a multiple of {} ({huge} bytes)",
                cli.size,
                cli.memory.display(),
                format_bytes(huge)
            )));
        }
    }
    let len = usize::try_from(cli.size).map_err(|_| {
        usage(format!(
            "invalid value '{}' for '--size': too large",
            cli.size
        ))
    })?;
    let replay = match (&cli.replay_from, &cli.replay_to, cli.replay_secs) {
        (Some(f), Some(t), Some(s)) => Some((f.clone(), t.clone(), s)),
        _ => None,
    };

    tracing::info!(
        memory = %cli.memory.display(),
        size = %format_bytes(cli.size),
        fill = %if replay.is_some() { "replay".to_string() } else { format!("{:?}", cli.fill).to_lowercase() },
        dirty_rate = %format!("{}/s", format_bytes(cli.dirty_rate)),
        pattern = %format!("{:?}", cli.pattern).to_lowercase(),
        hotset_fraction = cli.hotset_fraction,
        seed = cli.seed,
        replay = replay.is_some(),
        pid = std::process::id(),
        "dwcp-guest-sim starting"
    );

    let file = open_memory(cli, replay.is_some())?;
    // SAFETY: a shared mapping of the guest RAM file, which this process
    // owns as the guest: the migration source maps it too, but only reads
    // it (and only writes while we are paused or gone, as with a real
    // guest). The file was just sized to `len`, so the map covers it.
    let mut map = unsafe { MmapMut::map_mut(&file) }
        .with_context(|| format!("--memory {}: mmap", cli.memory.display()))?;
    let mem: &mut [u8] = &mut map[..len];

    // Independent streams of one seed for the fill, the hot set and the
    // dirtying, so changing one does not shift the others.
    let mut fill_rng = ChaCha8Rng::seed_from_u64(cli.seed);
    let mut picker_rng = ChaCha8Rng::seed_from_u64(cli.seed);
    picker_rng.set_stream(1);
    let mut dirty_rng = ChaCha8Rng::seed_from_u64(cli.seed);
    dirty_rng.set_stream(2);

    let t0 = Instant::now();
    let workload = if let Some((from, to, secs)) = &replay {
        let plan = replay::ReplayPlan::load(from, to, *secs, mem, &mut fill_rng)?;
        tracing::info!(
            differing_pages = plan.total(),
            over_secs = secs.as_secs_f64(),
            load_ms = t0.elapsed().as_millis(),
            "replay loaded"
        );
        Workload::Replay(plan)
    } else {
        match cli.fill {
            FillMode::Realistic => {
                let roots: Vec<&Path> = fill::DEFAULT_FILE_ROOTS.iter().map(Path::new).collect();
                let mut files = FileWalker::new(&roots, fill::file_bytes_needed(len));
                fill::fill_realistic(mem, &mut fill_rng, &mut files);
            }
            FillMode::Random => fill::fill_random(mem, &mut fill_rng),
            FillMode::Zero | FillMode::Keep => {}
        }
        tracing::info!(fill_ms = t0.elapsed().as_millis(), "fill done");
        if cli.dirty_rate == 0 {
            Workload::Idle
        } else {
            Workload::Rate {
                bucket: TokenBucket::new(
                    cli.dirty_rate,
                    TokenBucket::default_burst(cli.dirty_rate),
                    Instant::now(),
                ),
                picker: PagePicker::new(
                    cli.pattern,
                    len / PAGE,
                    cli.hotset_fraction,
                    &mut picker_rng,
                ),
            }
        }
    };

    let cfg = RunConfig {
        duration: cli.duration,
        ready_file: cli.ready_file.clone(),
        state_file: cli.state_file.clone(),
    };
    let stats = Dirtier::new(mem, workload, dirty_rng).run(&signals::SignalControl, &cfg)?;
    tracing::info!(
        pages_dirtied = stats.pages_dirtied,
        elapsed_ms = stats.elapsed.as_millis(),
        "exiting"
    );
    if let Some(p) = &cli.stats_file {
        dirtier::write_atomic(p, &stats.to_json())?;
    }
    Ok(())
}

fn main() -> ExitCode {
    if let Err(e) = signals::install() {
        eprintln!("dwcp-guest-sim: error: installing signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dwcp-guest-sim: error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
