use std::path::Path;
use std::time::Duration;

use super::*;

fn parse(text: &str, format: TraceFormat) -> Result<BandwidthTrace, TraceError> {
    BandwidthTrace::parse(text, format, Path::new("dir/t.log"))
}

fn line_fault(result: Result<BandwidthTrace, TraceError>) -> (usize, LineFault, String) {
    match result {
        Err(error @ TraceError::Line { .. }) => {
            let message = error.to_string();
            let TraceError::Line { line, fault, .. } = error else {
                unreachable!()
            };
            (line, fault, message)
        }
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn hsdpa_parses_steps_relative_to_the_first_line() {
    let trace = parse("10.0\t2.0\n11.5\t4\n\n13.0\t0.5\n", TraceFormat::Hsdpa).expect("valid");
    let TraceShape::Steps {
        starts_ns,
        bits_per_s,
    } = trace.shape()
    else {
        panic!("steps")
    };
    assert_eq!(starts_ns, &[0, 1_500_000_000, 3_000_000_000]);
    assert_eq!(bits_per_s, &[2e6, 4e6, 0.5e6]);
    // The last step lasts as long as the one before: period 4.5 s.
    assert_eq!(trace.period(), Duration::from_millis(4500));
    let expected_bits = 2e6 * 1.5 + 4e6 * 1.5 + 0.5e6 * 1.5;
    assert!((trace.bits_per_period() - expected_bits).abs() < 1.0);
    assert!((trace.mean_bits_per_s() - expected_bits / 4.5).abs() < 1.0);
    assert_eq!(trace.peak_bits_per_s(Duration::from_millis(100)), 4e6);
}

#[test]
fn mahimahi_parses_opportunities_and_their_mean_rate() {
    let trace = parse("0\n0\n5\n10\n", TraceFormat::Mahimahi).expect("valid");
    assert_eq!(trace.period(), Duration::from_millis(10));
    // 4 opportunities of 12000 bits in 10 ms.
    assert!((trace.mean_bits_per_s() - 4.8e6).abs() < 1.0);
    // The busiest 1 ms window holds the two opportunities at 0 ms.
    assert!((trace.peak_bits_per_s(Duration::from_millis(1)) - 24e6).abs() < 1.0);
}

#[test]
fn errors_name_the_file_and_the_line() {
    let (line, fault, message) = line_fault(parse("0\t1\n1\tfast\n", TraceFormat::Hsdpa));
    assert_eq!(line, 2);
    assert_eq!(
        fault,
        LineFault::NotANumber {
            field: "fast".into()
        }
    );
    assert!(message.contains("dir/t.log:2"), "{message}");

    let (line, fault, _) = line_fault(parse("0\t1\n\n1\t2\t3\n", TraceFormat::Hsdpa));
    assert_eq!(
        (line, fault),
        (
            3,
            LineFault::FieldCount {
                expected: 2,
                found: 3
            }
        )
    );

    let (line, fault, _) = line_fault(parse("0\t1\n2\t1\n2\t1\n", TraceFormat::Hsdpa));
    assert_eq!((line, fault), (3, LineFault::TimeNotIncreasing));

    let (line, fault, _) = line_fault(parse("0\t1\n1\t-3\n", TraceFormat::Hsdpa));
    assert_eq!(line, 2);
    assert!(matches!(fault, LineFault::OutOfRange { .. }));

    let (line, fault, _) = line_fault(parse("3\n4\n2\n", TraceFormat::Mahimahi));
    assert_eq!((line, fault), (3, LineFault::TimeNotIncreasing));

    let (line, fault, _) = line_fault(parse("1\n1.5\n", TraceFormat::Mahimahi));
    assert_eq!(line, 2);
    assert!(matches!(fault, LineFault::NotANumber { .. }));
}

#[test]
fn unusable_traces_are_refused() {
    let unusable = |text: &str, format| match parse(text, format) {
        Err(TraceError::Unusable { reason, .. }) => reason,
        other => panic!("{text:?}: expected unusable, got {other:?}"),
    };
    assert!(unusable("", TraceFormat::Mahimahi).contains("at least one"));
    assert!(unusable("0\n0\n", TraceFormat::Mahimahi).contains("zero length"));
    assert!(unusable("0\t5\n", TraceFormat::Hsdpa).contains("two lines"));
    assert!(unusable("0\t0\n1\t0\n", TraceFormat::Hsdpa).contains("never delivers"));
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let error = BandwidthTrace::load(Path::new("/nonexistent/x.down"), TraceFormat::Mahimahi)
        .expect_err("no such file");
    assert!(matches!(error, TraceError::Io { .. }));
    assert!(error.to_string().contains("/nonexistent/x.down"));
}
