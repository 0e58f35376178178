use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::model::config::{
    GilbertElliott, JitterConfig, JitterDistribution, QueueLimit, RateConfig,
};
use crate::trace::{BandwidthTrace, TraceFormat, TraceShape};

const SEED: u64 = 0x5eed;
const BIG_QUEUE: QueueLimit = QueueLimit {
    packets: 1 << 20,
    bytes: 1 << 30,
};

fn constant(bits_per_s: u64) -> DirectionConfig {
    DirectionConfig {
        rate: RateConfig::Constant { bits_per_s },
        delay: Duration::ZERO,
        jitter: None,
        loss: 0.0,
        burst_loss: None,
        queue: BIG_QUEUE,
    }
    .validate()
    .expect("valid test config")
}

fn deliver_at(verdict: Verdict) -> Instant {
    match verdict {
        Verdict::Deliver { at } => at,
        Verdict::Drop(cause) => panic!("dropped by {cause:?}"),
    }
}

fn ns(nanos: u64) -> Duration {
    Duration::from_nanos(nanos)
}

#[test]
fn back_to_back_packets_depart_one_serialisation_time_apart() {
    let t0 = Instant::now();
    let mut link = LinkDirection::new(constant(10_000_000), SEED, t0);
    // 1500 B at 10 Mbit/s = 1.2 ms each.
    for k in 1..=100u64 {
        let at = deliver_at(link.offer(t0, 1500));
        assert_eq!(at - t0, ns(k * 1_200_000), "packet {k}");
    }
    assert_eq!(link.queued_packets(), 100);
}

#[test]
fn fractional_serialisation_times_do_not_drift() {
    let t0 = Instant::now();
    let mut link = LinkDirection::new(constant(3_000_000), SEED, t0);
    // 8000 bits at 3 Mbit/s = 2.666.. ms: the carry keeps packet k at
    // exactly floor(k * 8000e9 / 3e6) ns.
    for k in 1..=300u64 {
        let at = deliver_at(link.offer(t0, 1000));
        let exact = u128::from(k) * 8_000 * 1_000_000_000 / 3_000_000;
        assert_eq!((at - t0).as_nanos(), exact, "packet {k}");
    }
}

#[test]
fn an_idle_link_serves_a_packet_from_its_arrival() {
    let t0 = Instant::now();
    let mut config = constant(8_000_000);
    config.delay = Duration::from_millis(30);
    let mut link = LinkDirection::new(config, SEED, t0);
    let first = deliver_at(link.offer(t0, 1000));
    assert_eq!(first - t0, Duration::from_millis(31));
    let later = t0 + Duration::from_secs(1);
    let second = deliver_at(link.offer(later, 1000));
    assert_eq!(second - later, Duration::from_millis(31));
}

#[test]
fn queue_overflow_tail_drops_then_accepts_once_a_packet_left() {
    let t0 = Instant::now();
    let mut config = constant(12_000_000); // 1 ms per 1500 B
    config.queue = QueueLimit {
        packets: 10,
        bytes: 1 << 30,
    };
    let mut link = LinkDirection::new(config, SEED, t0);
    for k in 0..20 {
        let verdict = link.offer(t0, 1500);
        if k < 10 {
            assert!(matches!(verdict, Verdict::Deliver { .. }), "packet {k}");
        } else {
            assert_eq!(verdict, Verdict::Drop(DropCause::Queue), "packet {k}");
        }
    }
    // After 1 ms the first packet has left: exactly one more fits.
    let t1 = t0 + Duration::from_millis(1);
    let accepted = deliver_at(link.offer(t1, 1500));
    assert_eq!(accepted - t0, Duration::from_millis(11));
    assert_eq!(link.offer(t1, 1500), Verdict::Drop(DropCause::Queue));
    let stats = link.stats();
    assert_eq!(stats.dropped_queue, 11);
    assert_eq!(stats.packets_delivered, 11);
}

#[test]
fn queue_byte_limit_drops_and_an_empty_queue_takes_any_packet() {
    let t0 = Instant::now();
    let mut config = constant(12_000_000);
    config.queue = QueueLimit {
        packets: 1000,
        bytes: 4000,
    };
    let mut link = LinkDirection::new(config, SEED, t0);
    assert!(matches!(link.offer(t0, 1500), Verdict::Deliver { .. }));
    assert!(matches!(link.offer(t0, 1500), Verdict::Deliver { .. }));
    assert_eq!(link.offer(t0, 1500), Verdict::Drop(DropCause::Queue));
    assert!(matches!(link.offer(t0, 1000), Verdict::Deliver { .. }));
    // Long after, the queue is empty: a packet above the byte limit passes.
    let later = t0 + Duration::from_secs(1);
    assert!(matches!(link.offer(later, 9000), Verdict::Deliver { .. }));
}

#[test]
fn random_loss_rate_over_100k_packets_is_within_tolerance() {
    const PACKETS: u64 = 100_000;
    const LOSS: f64 = 0.02;
    let run = |seed: u64| {
        let t0 = Instant::now();
        let mut config = constant(1_000_000_000);
        config.loss = LOSS;
        let mut link = LinkDirection::new(config, seed, t0);
        let mut pattern = Vec::new();
        for k in 0..PACKETS {
            let verdict = link.offer(t0 + ns(k * 100_000), 1000);
            pattern.push(verdict == Verdict::Drop(DropCause::Loss));
        }
        (link.stats().dropped_loss, pattern)
    };
    let (lost, pattern) = run(SEED);
    // 5 standard deviations: sqrt(100k * 0.02 * 0.98) = 44.3.
    let expected = LOSS * PACKETS as f64;
    let sigma = (expected * (1.0 - LOSS)).sqrt();
    assert!(
        (lost as f64 - expected).abs() < 5.0 * sigma,
        "lost {lost}, expected {expected}"
    );
    let (again, same_pattern) = run(SEED);
    assert_eq!(again, lost);
    assert_eq!(same_pattern, pattern, "a seed reproduces its losses");
    let (_, other_pattern) = run(SEED + 1);
    assert_ne!(other_pattern, pattern, "another seed loses other packets");
}

#[test]
fn gilbert_elliott_mean_burst_length_and_loss_rate() {
    const PACKETS: u64 = 400_000;
    let ge = GilbertElliott {
        p_good_to_bad: 0.01,
        p_bad_to_good: 0.25,
        loss_bad: 1.0,
    };
    let t0 = Instant::now();
    let mut config = constant(1_000_000_000);
    config.burst_loss = Some(ge);
    let mut link = LinkDirection::new(config, SEED, t0);
    let mut bursts = 0u64;
    let mut lost = 0u64;
    let mut in_burst = false;
    for k in 0..PACKETS {
        let dropped = link.offer(t0 + ns(k * 100_000), 1000) == Verdict::Drop(DropCause::Loss);
        if dropped {
            lost += 1;
            if !in_burst {
                bursts += 1;
            }
        }
        in_burst = dropped;
    }
    let mean_burst = lost as f64 / bursts as f64;
    // Expected 1 / p_bg = 4 packets; the sample mean over ~1500 bursts has a
    // standard error of about 0.09.
    assert!((3.6..=4.4).contains(&mean_burst), "mean burst {mean_burst}");
    let rate = lost as f64 / PACKETS as f64;
    let expected = ge.mean_loss();
    assert!(
        (rate - expected).abs() < 0.1 * expected,
        "loss {rate}, expected {expected}"
    );
}

#[test]
fn independent_loss_has_bursts_near_one_packet() {
    // The contrast to the Gilbert–Elliott test: same loss rate, no bursts.
    let t0 = Instant::now();
    let mut config = constant(1_000_000_000);
    config.loss = 0.0385;
    let mut link = LinkDirection::new(config, SEED, t0);
    let (mut lost, mut bursts, mut in_burst) = (0u64, 0u64, false);
    for k in 0..200_000u64 {
        let dropped = link.offer(t0 + ns(k * 100_000), 1000) == Verdict::Drop(DropCause::Loss);
        lost += u64::from(dropped);
        bursts += u64::from(dropped && !in_burst);
        in_burst = dropped;
    }
    let mean_burst = lost as f64 / bursts as f64;
    assert!((1.0..1.1).contains(&mean_burst), "mean burst {mean_burst}");
}

fn jittered(distribution: JitterDistribution) -> DirectionConfig {
    let mut config = constant(1_000_000_000);
    config.delay = Duration::from_millis(20);
    config.jitter = Some(JitterConfig {
        scale: Duration::from_millis(10),
        distribution,
    });
    config
}

#[test]
fn jitter_never_reorders_and_does_vary() {
    for distribution in [JitterDistribution::Uniform, JitterDistribution::Normal] {
        let t0 = Instant::now();
        let mut link = LinkDirection::new(jittered(distribution), SEED, t0);
        let mut previous = t0;
        let mut largest_extra = Duration::ZERO;
        for k in 0..50_000u64 {
            let now = t0 + ns(k * 50_000);
            let at = deliver_at(link.offer(now, 1000));
            assert!(at >= previous, "{distribution:?}: packet {k} reordered");
            let floor = now + ns(8_000) + Duration::from_millis(20);
            assert!(at >= floor, "{distribution:?}: packet {k} early");
            largest_extra = largest_extra.max(at - floor);
            previous = at;
        }
        assert!(
            largest_extra > Duration::from_millis(5),
            "{distribution:?}: jitter never above 5 ms"
        );
    }
}

#[test]
fn sparse_uniform_jitter_has_the_documented_mean() {
    let t0 = Instant::now();
    let mut link = LinkDirection::new(jittered(JitterDistribution::Uniform), SEED, t0);
    let mut extra_total = Duration::ZERO;
    const PACKETS: u32 = 20_000;
    for k in 0..u64::from(PACKETS) {
        // 100 ms apart: longer than any jitter, so no packet waits for another.
        let now = t0 + Duration::from_millis(100 * k);
        let at = deliver_at(link.offer(now, 1000));
        extra_total += at - now - ns(8_000) - Duration::from_millis(20);
    }
    let mean_ms = (extra_total / PACKETS).as_secs_f64() * 1e3;
    assert!((4.8..5.2).contains(&mean_ms), "mean extra {mean_ms} ms");
}

fn trace(text: &str, format: TraceFormat) -> Arc<BandwidthTrace> {
    Arc::new(BandwidthTrace::parse(text, format, Path::new("test")).expect("valid trace"))
}

fn traced(trace: Arc<BandwidthTrace>, scale: f64) -> DirectionConfig {
    let mut config = constant(1_000_000);
    config.rate = RateConfig::Trace { trace, scale };
    config
}

/// Offers `count` back-to-back packets at `t0`; returns how many depart in
/// each whole second.
fn departures_per_second(
    link: &mut LinkDirection,
    t0: Instant,
    count: usize,
    len: usize,
) -> Vec<u64> {
    let mut per_second = Vec::new();
    for _ in 0..count {
        let at = deliver_at(link.offer(t0, len));
        let elapsed = at - t0;
        let second = usize::try_from(elapsed.as_secs()).expect("small");
        // A departure exactly on a boundary belongs to the second it ends.
        let on_boundary = elapsed.subsec_nanos() == 0 && second > 0;
        let index = second - usize::from(on_boundary);
        if per_second.len() <= index {
            per_second.resize(index + 1, 0);
        }
        per_second[index] += 1;
    }
    per_second
}

#[test]
fn hsdpa_steps_replay_their_rates_and_loop() {
    // 8, 16, 0 and 8 Mbit/s for one second each, period 4 s.
    let steps = trace("0\t8\n1\t16\n2\t0\n3\t8\n", TraceFormat::Hsdpa);
    let t0 = Instant::now();
    let mut link = LinkDirection::new(traced(steps, 1.0), SEED, t0);
    // 8000-bit packets: 1000, 2000, 0, 1000 per second, then again.
    let per_second = departures_per_second(&mut link, t0, 8000, 1000);
    assert_eq!(per_second, vec![1000, 2000, 0, 1000, 1000, 2000, 0, 1000]);
}

#[test]
fn hsdpa_scale_scales_the_rate() {
    let steps = trace("0\t8\n1\t8\n", TraceFormat::Hsdpa);
    let t0 = Instant::now();
    let mut link = LinkDirection::new(traced(steps, 0.5), SEED, t0);
    assert_eq!(
        departures_per_second(&mut link, t0, 1000, 1000),
        vec![500, 500]
    );
}

#[test]
fn mahimahi_opportunities_pace_packets_and_loop() {
    // One opportunity per ms at 1..=100 ms, period 100 ms: 12 Mbit/s.
    let text: String = (1..=100).map(|ms| format!("{ms}\n")).collect();
    let t0 = Instant::now();
    let mut link = LinkDirection::new(traced(trace(&text, TraceFormat::Mahimahi), 1.0), SEED, t0);
    for k in 1..=300u64 {
        let at = deliver_at(link.offer(t0, 1500));
        assert_eq!(at - t0, Duration::from_millis(k), "packet {k}");
    }
}

#[test]
fn mahimahi_small_packets_share_an_opportunity_and_idle_ones_are_wasted() {
    let text: String = (1..=100).map(|ms| format!("{ms}\n")).collect();
    let t0 = Instant::now();
    let mut link = LinkDirection::new(traced(trace(&text, TraceFormat::Mahimahi), 1.0), SEED, t0);
    let at: Vec<Instant> = (0..4).map(|_| deliver_at(link.offer(t0, 500))).collect();
    let ms = Duration::from_millis;
    assert_eq!(
        at.iter().map(|&a| a - t0).collect::<Vec<_>>(),
        [ms(1), ms(1), ms(1), ms(2)]
    );
    // Arriving at 50.5 ms after the link idled: the next opportunity is at
    // 51 ms; the 1000 bytes left at 2 ms are gone.
    let late = t0 + Duration::from_micros(50_500);
    assert_eq!(deliver_at(link.offer(late, 1500)) - t0, ms(51));
    // A 4000-byte packet spans three opportunities.
    assert_eq!(deliver_at(link.offer(late, 4000)) - t0, ms(54));
}

fn shared_traces_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os(crate::profile::TRACES_DIR_ENV).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/bandwidth-traces"),
        std::path::PathBuf::from,
    );
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("SKIPPED: no traces folder at {}", dir.display());
        None
    }
}

#[test]
fn real_mahimahi_trace_delivers_one_packet_per_line_when_saturated() {
    let Some(dir) = shared_traces_dir() else {
        return;
    };
    let path = dir.join("mahimahi/TMobile-LTE-short.down");
    let trace = Arc::new(BandwidthTrace::load(&path, TraceFormat::Mahimahi).expect("loads"));
    let TraceShape::Opportunities { times_ns } = trace.shape() else {
        panic!("an opportunity trace")
    };
    let lines = times_ns.len();
    let t0 = Instant::now();
    let mut link = LinkDirection::new(traced(Arc::clone(&trace), 1.0), SEED, t0);
    let mut last = t0;
    for _ in 0..lines {
        last = deliver_at(link.offer(t0, 1500));
    }
    assert_eq!(last - t0, trace.period(), "the last line's time");
    let mean_mbit = trace.mean_bits_per_s() / 1e6;
    assert!((16.0..17.5).contains(&mean_mbit), "mean {mean_mbit} Mbit/s");
}

#[test]
fn real_hsdpa_trace_delivers_its_bits_per_period() {
    let Some(dir) = shared_traces_dir() else {
        return;
    };
    let path = dir.join("hsdpa-fcc/bus.ljansbakken-oslo-report.2010-09-28_1407CEST.log");
    let trace = Arc::new(BandwidthTrace::load(&path, TraceFormat::Hsdpa).expect("loads"));
    let t0 = Instant::now();
    let mut link = LinkDirection::new(traced(Arc::clone(&trace), 1.0), SEED, t0);
    let end = t0 + trace.period();
    let mut delivered_bits = 0.0;
    loop {
        let at = deliver_at(link.offer(t0, 1500));
        if at > end {
            break;
        }
        delivered_bits += 12_000.0;
    }
    let expected = trace.bits_per_period();
    assert!(
        (delivered_bits - expected).abs() < 24_000.0,
        "delivered {delivered_bits} bits, trace holds {expected}"
    );
}
