//! Configuration of both roles, with validation.
//!
//! One config type per role, one `DEFAULTS` constant each, and a consuming
//! `validate` that returns the config only if every value is in range;
//! errors name the flag, the value and the bound.

use dwcp_dataplane_core::keys::PreSharedKey;
use dwcp_hugepages::HugepagePolicy;
use dwcp_shared::limits::STREAMS_MAX;
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;

/// Frames in flight per stream: the upper bound.
pub const INFLIGHT_FRAMES_MAX: usize = 1024;
/// Largest downtime budget accepted, in milliseconds.
pub const DOWNTIME_MS_MAX: u64 = 60_000;
/// Most frame-buffer memory a source may ask for (streams × in-flight frames × frame size).
pub const WINDOW_BYTES_MAX: u64 = 4 << 30;
/// Most streams the bandwidth-delay product derivation picks.
pub const STREAMS_DERIVED_MAX: u64 = 16;
/// Highest pacing rate accepted, in Mbit/s (400 Gbit/s).
pub const RATE_LIMIT_MBPS_MAX: u64 = 400_000;
/// Longest timeout accepted, in milliseconds.
pub const TIMEOUT_MS_MAX: u64 = 3_600_000;

/// An out-of-range or inconsistent configuration value.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `--compression-level` outside zstd's range.
    #[error("--compression-level {value} is out of range {min}..={max}")]
    CompressionLevel {
        /// Given.
        value: i32,
        /// Lowest allowed.
        min: i32,
        /// Highest allowed.
        max: i32,
    },
    /// `--delta-cache-mib` out of range.
    #[error("--delta-cache-mib {value} is out of range 0..={max}")]
    DeltaCache {
        /// Given.
        value: u64,
        /// Largest allowed.
        max: u64,
    },
    /// `--finisher-threads` out of range.
    #[error("--finisher-threads {value} is out of range 0..={max}")]
    FinisherThreads {
        /// Given.
        value: usize,
        /// Largest allowed.
        max: usize,
    },
    /// `--streams` out of range.
    #[error("--streams {value} is out of range 1..={max}")]
    Streams {
        /// Given.
        value: u16,
        /// Largest allowed.
        max: u16,
    },
    /// `--inflight-frames` out of range.
    #[error("--inflight-frames {value} is out of range 1..={max}")]
    InflightFrames {
        /// Given.
        value: usize,
        /// Largest allowed.
        max: usize,
    },
    /// `--rate-limit-mbps` out of range.
    #[error("--rate-limit-mbps {value} is out of range 1..={max}")]
    RateLimit {
        /// Given.
        value: u64,
        /// Largest allowed.
        max: u64,
    },
    /// `--downtime-ms` out of range.
    #[error("--downtime-ms {value} is out of range 1..={max}")]
    Downtime {
        /// Given.
        value: u64,
        /// Largest allowed.
        max: u64,
    },
    /// `--max-rounds` out of range.
    #[error("--max-rounds {value} is out of range 1..={max}")]
    Rounds {
        /// Given.
        value: u32,
        /// Largest allowed.
        max: u32,
    },
    /// `--stall-rounds` out of range.
    #[error("--stall-rounds {value} is out of range 1..={max}")]
    StallRounds {
        /// Given.
        value: u32,
        /// Largest allowed.
        max: u32,
    },
    /// `--frame-pages-min` not a power of two in range.
    #[error("--frame-pages-min {value} must be a power of two from {min} to {max}")]
    FramePagesMin {
        /// Given.
        value: usize,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// `--link-mbps` out of range.
    #[error("--link-mbps {value} is out of range 1..={max}")]
    LinkMbps {
        /// Given.
        value: u64,
        /// Largest allowed.
        max: u64,
    },
    /// The in-flight window needs more frame buffers than allowed.
    #[error("{streams} streams x --inflight-frames {inflight_frames} need {bytes} bytes of frame buffers, more than {max}")]
    Window {
        /// Streams (configured, or the most the derivation picks).
        streams: u64,
        /// Frames per stream.
        inflight_frames: usize,
        /// Bytes needed.
        bytes: u64,
        /// The most allowed.
        max: u64,
    },
    /// `--accept-timeout-ms` out of range.
    #[error("--accept-timeout-ms {value} is out of range 0..={max} (0 waits forever)")]
    AcceptTimeout {
        /// Given.
        value: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A timeout out of range.
    #[error("{flag} {value} is out of range 1..={max}")]
    Timeout {
        /// Which flag.
        flag: &'static str,
        /// Given.
        value: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A core that this machine does not have.
    #[error("{flag} {core} is not a core this process may run on (allowed: {available})")]
    Core {
        /// Which flag.
        flag: &'static str,
        /// Given.
        core: usize,
        /// The allowed core ids.
        available: String,
    },
    /// Neither a key nor explicit plaintext.
    #[error("--key-file is required (or --insecure-plaintext on both sides, for benchmarks only)")]
    KeyRequired,
    /// Both a key and plaintext.
    #[error("--key-file and --insecure-plaintext exclude each other")]
    KeyAndPlaintext,
    /// An address that does not parse.
    #[error("{flag} {value:?} is not HOST:PORT")]
    Address {
        /// Which flag.
        flag: &'static str,
        /// Given.
        value: String,
    },
    /// A fault hook naming a stream that does not exist.
    #[error("--fault-cut-stream {stream} but the migration has {streams} streams")]
    FaultStream {
        /// Given.
        stream: u16,
        /// Streams.
        streams: u16,
    },
}

/// How the guest is paused for the final round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseConfig {
    /// No pause: only for memory nothing writes (a warning is logged).
    None,
    /// SIGSTOP/SIGCONT to this process (all its threads must stop).
    Signal(i32),
    /// Run these shell commands; each must exit 0.
    Command {
        /// Pauses the guest.
        pause: String,
        /// Resumes it.
        resume: String,
    },
}

/// Test hooks of the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceFaultConfig {
    /// Shut stream N down after it wrote B bytes.
    pub cut_stream_after: Option<(u16, u64)>,
    /// Flip one bit in the body of the Nth sealed frame (1-based).
    pub tamper_frame: Option<u64>,
    /// Stop after an ok verdict without sending `Commit` (the guest is resumed).
    pub skip_commit: bool,
}

/// How the destination checks the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMode {
    /// Hash each page from the mapping right after writing it; digest the table.
    Incremental,
    /// Re-read and hash the whole image after the final round.
    Full,
}

/// Settings of the source (`dwcp-dataplane migrate`).
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Guest memory file.
    pub memory: PathBuf,
    /// Destination HOST:PORT.
    pub destination: String,
    /// Pre-shared key file.
    pub key_file: Option<PathBuf>,
    /// The pre-shared key in memory (the serve loop's jobs), used when there is no key file.
    pub key: Option<Arc<PreSharedKey>>,
    /// Explicit plaintext mode.
    pub insecure_plaintext: bool,
    /// Streams; `None` derives them from the bandwidth-delay product
    /// ([`crate::source::window_plan`]).
    pub streams: Option<u16>,
    /// Link bandwidth assumed for the stream count and the in-flight window,
    /// and the most the switch-over plans with, in Mbit/s.
    pub link_mbps: u64,
    /// The floor of the in-flight window: full frames per stream (and the
    /// frame buffers of each stream and of its queue); the window in bytes
    /// grows from there with the bandwidth-delay product.
    pub inflight_frames: usize,
    /// The fewest pages a raw frame is cut at when little is in flight
    /// (`dwcp_dataplane_core::frame_size`); 64 keeps every frame full.
    pub frame_pages_min: usize,
    /// Pace sending to this rate, Mbit/s (`None`: as fast as the link goes).
    pub rate_limit_mbps: Option<u64>,
    /// Downtime budget.
    pub downtime_ms: u64,
    /// Pre-copy round limit.
    pub max_rounds: u32,
    /// Non-converging rounds that count as a stall.
    pub stall_rounds: u32,
    /// Pause hook.
    pub pause: PauseConfig,
    /// Core of the engine thread.
    pub engine_core: Option<usize>,
    /// Core of the transport thread.
    pub transport_core: Option<usize>,
    /// Connect timeout.
    pub connect_timeout_ms: u64,
    /// Give up on a broken stream after this long.
    pub reconnect_timeout_ms: u64,
    /// Wait this long for the verdict.
    pub verify_timeout_ms: u64,
    /// Frame buffer backing.
    pub hugepages: HugepagePolicy,
    /// Live progress on stderr.
    pub progress: bool,
    /// Write the page path's stage histograms here (HdrHistogram interval log).
    pub stage_log: Option<PathBuf>,
    /// Test hooks.
    pub faults: SourceFaultConfig,
    /// Encode pages with the page codec (when the destination supports it).
    pub codec: bool,
    /// The link tier: the ladder of zstd levels the codec moves on.
    pub link_tier: dwcp_dataplane_core::level_control::LinkTier,
    /// A fixed zstd level (0: none) instead of the adaptive one.
    pub compression_level: Option<i32>,
    /// Delta cache of the codec, MiB (0: no deltas).
    pub delta_cache_mib: u64,
    /// Threads that compress the codec's batches beside the engine (0: on
    /// the engine thread); at most one per stream is used.
    pub finisher_threads: usize,
}

/// Largest `--delta-cache-mib`: 64 GiB.
pub const DELTA_CACHE_MIB_MAX: u64 = 64 * 1024;

impl SourceConfig {
    /// Defaults for everything but the memory file, destination and key.
    pub const DEFAULTS: SourceConfig = SourceConfig {
        memory: PathBuf::new(),
        destination: String::new(),
        key_file: None,
        key: None,
        insecure_plaintext: false,
        streams: None,
        link_mbps: 10_000,
        inflight_frames: 16,
        frame_pages_min: dwcp_dataplane_core::frame_size::FRAME_PAGES_MIN,
        rate_limit_mbps: None,
        downtime_ms: 300,
        max_rounds: 30,
        stall_rounds: 3,
        pause: PauseConfig::None,
        engine_core: None,
        transport_core: None,
        connect_timeout_ms: 5_000,
        reconnect_timeout_ms: 10_000,
        verify_timeout_ms: 60_000,
        hugepages: HugepagePolicy::Prefer,
        progress: false,
        stage_log: None,
        faults: SourceFaultConfig {
            cut_stream_after: None,
            tamper_frame: None,
            skip_commit: false,
        },
        codec: true,
        link_tier: dwcp_dataplane_core::level_control::LinkTier::Datacenter,
        compression_level: None,
        delta_cache_mib: 256,
        finisher_threads: 0,
    };

    /// Checks every value; returns the config unchanged when valid.
    pub fn validate(self, cores: &[usize]) -> Result<Self, ConfigError> {
        check_key(
            self.key_file.is_some() || self.key.is_some(),
            self.insecure_plaintext,
        )?;
        check_address("--to", &self.destination)?;
        if let Some(streams) = self.streams {
            if streams == 0 || streams > STREAMS_MAX {
                return Err(ConfigError::Streams {
                    value: streams,
                    max: STREAMS_MAX,
                });
            }
            if let Some((stream, _)) = self.faults.cut_stream_after {
                if stream >= streams {
                    return Err(ConfigError::FaultStream { stream, streams });
                }
            }
        }
        if self.inflight_frames == 0 || self.inflight_frames > INFLIGHT_FRAMES_MAX {
            return Err(ConfigError::InflightFrames {
                value: self.inflight_frames,
                max: INFLIGHT_FRAMES_MAX,
            });
        }
        if let Some(rate) = self
            .rate_limit_mbps
            .filter(|&r| r == 0 || r > RATE_LIMIT_MBPS_MAX)
        {
            return Err(ConfigError::RateLimit {
                value: rate,
                max: RATE_LIMIT_MBPS_MAX,
            });
        }
        if self.downtime_ms == 0 || self.downtime_ms > DOWNTIME_MS_MAX {
            return Err(ConfigError::Downtime {
                value: self.downtime_ms,
                max: DOWNTIME_MS_MAX,
            });
        }
        let rounds_max = dwcp_dataplane_core::switchover::ROUNDS_MAX;
        if self.max_rounds == 0 || self.max_rounds > rounds_max {
            return Err(ConfigError::Rounds {
                value: self.max_rounds,
                max: rounds_max,
            });
        }
        if self.stall_rounds == 0 || self.stall_rounds > rounds_max {
            return Err(ConfigError::StallRounds {
                value: self.stall_rounds,
                max: rounds_max,
            });
        }
        if !dwcp_dataplane_core::frame_size::is_valid_pages_min(self.frame_pages_min) {
            return Err(ConfigError::FramePagesMin {
                value: self.frame_pages_min,
                min: dwcp_dataplane_core::frame_size::FRAME_PAGES_MIN,
                max: usize::from(dwcp_shared::limits::PAGES_PER_BATCH_MAX),
            });
        }
        if self.link_mbps == 0 || self.link_mbps > RATE_LIMIT_MBPS_MAX {
            return Err(ConfigError::LinkMbps {
                value: self.link_mbps,
                max: RATE_LIMIT_MBPS_MAX,
            });
        }
        let streams_max = self.streams.map_or(STREAMS_DERIVED_MAX, u64::from);
        let window_bytes =
            streams_max * self.inflight_frames as u64 * crate::FRAME_BUFFER_LEN as u64;
        if window_bytes > WINDOW_BYTES_MAX {
            return Err(ConfigError::Window {
                streams: streams_max,
                inflight_frames: self.inflight_frames,
                bytes: window_bytes,
                max: WINDOW_BYTES_MAX,
            });
        }
        check_timeout("--connect-timeout-ms", self.connect_timeout_ms)?;
        check_timeout("--reconnect-timeout-ms", self.reconnect_timeout_ms)?;
        check_timeout("--verify-timeout-ms", self.verify_timeout_ms)?;
        check_core("--engine-core", self.engine_core, cores)?;
        check_core("--transport-core", self.transport_core, cores)?;
        if let Some(level) = self.compression_level {
            let range = dwcp_codec::zstd_level_range();
            let (min, max) = (*range.start(), *range.end());
            if !(min..=max).contains(&level) {
                return Err(ConfigError::CompressionLevel {
                    value: level,
                    min,
                    max,
                });
            }
        }
        if self.finisher_threads > crate::source::batch_finishers::FINISHER_THREADS_MAX {
            return Err(ConfigError::FinisherThreads {
                value: self.finisher_threads,
                max: crate::source::batch_finishers::FINISHER_THREADS_MAX,
            });
        }
        if self.delta_cache_mib > DELTA_CACHE_MIB_MAX {
            return Err(ConfigError::DeltaCache {
                value: self.delta_cache_mib,
                max: DELTA_CACHE_MIB_MAX,
            });
        }
        Ok(self)
    }

    /// Finisher threads for `streams` streams: the operator's number, at
    /// most one per stream (a stream has one batch in flight at a time).
    /// Off by default: on the 2-core machine this was measured on, the
    /// finishers had no free core to run on (docs/codec.md).
    pub fn finisher_threads(&self, streams: usize) -> usize {
        self.finisher_threads.min(streams)
    }

    /// Delta cache pages for the codec.
    pub fn delta_cache_pages(&self) -> usize {
        usize::try_from(self.delta_cache_mib * 256).expect("bounded by DELTA_CACHE_MIB_MAX")
    }
}

/// Settings of the destination (`dwcp-dataplane receive`).
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    /// Address to listen on.
    pub listen: String,
    /// Guest memory file to write.
    pub memory: PathBuf,
    /// Expected memory size; the source's must match.
    pub memory_size: Option<u64>,
    /// Pre-shared key file.
    pub key_file: Option<PathBuf>,
    /// The pre-shared key in memory (the serve loop's jobs), used when there is no key file.
    pub key: Option<Arc<PreSharedKey>>,
    /// Explicit plaintext mode.
    pub insecure_plaintext: bool,
    /// How the image is verified.
    pub verify: VerifyMode,
    /// Core of the decoder thread.
    pub decoder_core: Option<usize>,
    /// Core of the transport thread.
    pub transport_core: Option<usize>,
    /// Fail when no stream is connected for this long.
    pub peer_timeout_ms: u64,
    /// Wait this long for the first connection (0 = forever).
    pub accept_timeout_ms: u64,
    /// Keep a memory file the migration created if the migration fails.
    pub keep_on_failure: bool,
    /// Frame buffer backing.
    pub hugepages: HugepagePolicy,
    /// Live progress on stderr.
    pub progress: bool,
}

impl DestinationConfig {
    /// Defaults for everything but the address, memory file and key.
    pub const DEFAULTS: DestinationConfig = DestinationConfig {
        listen: String::new(),
        memory: PathBuf::new(),
        memory_size: None,
        key_file: None,
        key: None,
        insecure_plaintext: false,
        verify: VerifyMode::Incremental,
        decoder_core: None,
        transport_core: None,
        peer_timeout_ms: 10_000,
        accept_timeout_ms: 0,
        keep_on_failure: false,
        hugepages: HugepagePolicy::Prefer,
        progress: false,
    };

    /// Checks every value; returns the config unchanged when valid.
    pub fn validate(self, cores: &[usize]) -> Result<Self, ConfigError> {
        check_key(
            self.key_file.is_some() || self.key.is_some(),
            self.insecure_plaintext,
        )?;
        check_address("--listen", &self.listen)?;
        check_timeout("--peer-timeout-ms", self.peer_timeout_ms)?;
        if self.accept_timeout_ms > TIMEOUT_MS_MAX {
            return Err(ConfigError::AcceptTimeout {
                value: self.accept_timeout_ms,
                max: TIMEOUT_MS_MAX,
            });
        }
        check_core("--decoder-core", self.decoder_core, cores)?;
        check_core("--transport-core", self.transport_core, cores)?;
        Ok(self)
    }
}

fn check_key(has_key: bool, insecure: bool) -> Result<(), ConfigError> {
    match (has_key, insecure) {
        (false, false) => Err(ConfigError::KeyRequired),
        (true, true) => Err(ConfigError::KeyAndPlaintext),
        _ => Ok(()),
    }
}

fn check_address(flag: &'static str, value: &str) -> Result<(), ConfigError> {
    let valid = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if valid {
        Ok(())
    } else {
        Err(ConfigError::Address {
            flag,
            value: value.to_owned(),
        })
    }
}

fn check_timeout(flag: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 || value > TIMEOUT_MS_MAX {
        return Err(ConfigError::Timeout {
            flag,
            value,
            max: TIMEOUT_MS_MAX,
        });
    }
    Ok(())
}

fn check_core(
    flag: &'static str,
    core: Option<usize>,
    available: &[usize],
) -> Result<(), ConfigError> {
    match core {
        Some(core) if !available.contains(&core) => Err(ConfigError::Core {
            flag,
            core,
            available: format!("{available:?}"),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> SourceConfig {
        SourceConfig {
            memory: "/dev/shm/x".into(),
            destination: "127.0.0.1:7000".into(),
            key_file: Some("/k".into()),
            ..SourceConfig::DEFAULTS
        }
    }

    #[test]
    fn defaults_validate() {
        assert!(source().validate(&[0, 1]).is_ok());
    }

    #[test]
    fn each_bad_value_is_named() {
        let bad = |c: SourceConfig| c.validate(&[0, 1]).expect_err("must be rejected");
        assert_eq!(
            bad(SourceConfig {
                streams: Some(0),
                ..source()
            }),
            ConfigError::Streams {
                value: 0,
                max: STREAMS_MAX
            }
        );
        assert_eq!(
            bad(SourceConfig {
                streams: Some(65),
                ..source()
            }),
            ConfigError::Streams {
                value: 65,
                max: STREAMS_MAX
            }
        );
        assert!(matches!(
            bad(SourceConfig {
                inflight_frames: 0,
                ..source()
            }),
            ConfigError::InflightFrames { .. }
        ));
        for value in [0, 3, 24, 128] {
            assert_eq!(
                bad(SourceConfig {
                    frame_pages_min: value,
                    ..source()
                }),
                ConfigError::FramePagesMin {
                    value,
                    min: 1,
                    max: 64
                }
            );
        }
        assert_eq!(
            bad(SourceConfig {
                finisher_threads: 65,
                ..source()
            }),
            ConfigError::FinisherThreads { value: 65, max: 64 }
        );
        assert_eq!(
            SourceConfig {
                finisher_threads: 8,
                ..source()
            }
            .finisher_threads(3),
            3,
            "one finisher per stream at most"
        );
        assert!(matches!(
            bad(SourceConfig {
                downtime_ms: 0,
                ..source()
            }),
            ConfigError::Downtime { .. }
        ));
        assert!(matches!(
            bad(SourceConfig {
                rate_limit_mbps: Some(0),
                ..source()
            }),
            ConfigError::RateLimit { .. }
        ));
        assert!(matches!(
            bad(SourceConfig {
                max_rounds: 0,
                ..source()
            }),
            ConfigError::Rounds { .. }
        ));
        assert!(matches!(
            bad(SourceConfig {
                engine_core: Some(2),
                ..source()
            }),
            ConfigError::Core { core: 2, .. }
        ));
        assert_eq!(
            bad(SourceConfig {
                key_file: None,
                ..source()
            }),
            ConfigError::KeyRequired
        );
        assert_eq!(
            bad(SourceConfig {
                insecure_plaintext: true,
                ..source()
            }),
            ConfigError::KeyAndPlaintext
        );
        assert!(matches!(
            bad(SourceConfig {
                destination: "nohost".into(),
                ..source()
            }),
            ConfigError::Address { .. }
        ));
        assert!(matches!(
            bad(SourceConfig {
                destination: "h:99999".into(),
                ..source()
            }),
            ConfigError::Address { .. }
        ));
        assert!(matches!(
            bad(SourceConfig {
                connect_timeout_ms: 0,
                ..source()
            }),
            ConfigError::Timeout { .. }
        ));
        let cut = SourceFaultConfig {
            cut_stream_after: Some((4, 1)),
            tamper_frame: None,
            skip_commit: false,
        };
        assert!(matches!(
            bad(SourceConfig {
                streams: Some(4),
                faults: cut,
                ..source()
            }),
            ConfigError::FaultStream { .. }
        ));
    }
}
