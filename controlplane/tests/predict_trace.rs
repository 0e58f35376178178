//! Trace parsing: each format on hand-made text with hand-computed
//! samples, format detection, every error with its line, and the file
//! shell (paths in errors, directory listing, name filter).

mod common;

use common::TempDir;

use dwcp_controlplane::predict::trace::{
    collect_trace_files, detect_format, load_trace_file, parse_trace, CsvColumns, NameFilter,
    ParseOptions, TraceError, TraceFileError, TraceFormat,
};
use dwcp_controlplane::predict::SeriesError;
use std::path::{Path, PathBuf};

/// A directory under the system temp dir, removed on drop (also when a
fn options(step_s: f64) -> ParseOptions {
    ParseOptions { step_s, csv: None }
}

fn csv_options(throughput: &str, time: Option<&str>) -> ParseOptions {
    ParseOptions {
        step_s: 1.0,
        csv: Some(CsvColumns {
            throughput: throughput.to_owned(),
            time: time.map(str::to_owned),
        }),
    }
}

fn parse(text: &str, options: &ParseOptions) -> (TraceFormat, Vec<f64>) {
    let (format, series) = parse_trace(text, options).expect("a valid trace");
    (format, series.mbps().to_vec())
}

fn parse_err(text: &str, options: &ParseOptions) -> TraceError {
    parse_trace(text, options).expect_err("an invalid trace")
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{got:?} vs {want:?}");
    }
}

#[test]
fn seconds_mbps_rates_hold_until_the_next_line_and_the_last_line_ends_the_trace() {
    let (format, mbps) = parse("0.0\t2.0\n1.0\t4.0\n2.0\t6.0\n", &options(1.0));
    assert_eq!(format, TraceFormat::SecondsMbps);
    assert_close(&mbps, &[2.0, 4.0]);
}

#[test]
fn seconds_mbps_with_jittered_times_is_time_weighted_per_step() {
    // [0, 1.5) at 1, [1.5, 2) at 3: step 1 is half 1, half 3.
    let (_, mbps) = parse("0.0 1.0\n1.5 3.0\n2.0 5.0\n", &options(1.0));
    assert_close(&mbps, &[1.0, 2.0]);
}

#[test]
fn fcc_five_second_samples_are_held_over_one_second_steps() {
    let (_, mbps) = parse("0 1\n5 2\n10 3\n", &options(1.0));
    assert_close(&mbps, &[1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0]);
    let (_, mbps) = parse("0 1\n5 2\n10 3\n", &options(5.0));
    assert_close(&mbps, &[1.0, 2.0]);
}

#[test]
fn seconds_mbps_time_starts_at_the_first_line_and_a_partial_step_is_dropped() {
    let (_, mbps) = parse("100 1\n101 2\n102.5 3\n", &options(1.0));
    assert_close(&mbps, &[1.0, 2.0]);
}

#[test]
fn blank_and_comment_lines_are_skipped() {
    let (_, mbps) = parse("# a comment\n\n0 1\r\n  \n1 2\n# end\n2 0\n", &options(1.0));
    assert_close(&mbps, &[1.0, 2.0]);
}

#[test]
fn mahimahi_counts_1500_byte_opportunities_per_step() {
    // Step 0 has 3 opportunities, step 1 has 2; the one at 2000 ms ends the
    // trace and falls in a partial step.
    let text = "0\n0\n500\n1000\n1999\n2000\n";
    let (format, mbps) = parse(text, &options(1.0));
    assert_eq!(format, TraceFormat::Mahimahi);
    let per_opportunity = 1500.0 * 8.0 / 1e6;
    assert_close(&mbps, &[3.0 * per_opportunity, 2.0 * per_opportunity]);
    // Half-second steps: 2, 1, 1, 1 opportunities over 0.5 s each.
    let (_, mbps) = parse(text, &options(0.5));
    let per_half = per_opportunity / 0.5;
    assert_close(&mbps, &[2.0 * per_half, per_half, per_half, per_half]);
}

#[test]
fn csv_with_and_without_a_time_column() {
    let text = "time_s,mbps,rtt_ms\n0,1,5\n1,2,5\n2,3,5\n";
    let (format, mbps) = parse(text, &csv_options("mbps", Some("time_s")));
    assert_eq!(format, TraceFormat::Csv);
    assert_close(&mbps, &[1.0, 2.0]);
    // Without a time column each row lasts one second, the last included.
    let (_, mbps) = parse(text, &csv_options("mbps", None));
    assert_close(&mbps, &[1.0, 2.0, 3.0]);
    // Quoted header names and a single-column CSV.
    let (_, mbps) = parse("\"a\", \"mbps\"\n9,1\n9,2\n", &csv_options("mbps", None));
    assert_close(&mbps, &[1.0, 2.0]);
    let (format, mbps) = parse("mbps\n4\n5\n", &csv_options("mbps", None));
    assert_eq!(format, TraceFormat::Csv);
    assert_close(&mbps, &[4.0, 5.0]);
}

#[test]
fn detection_follows_the_first_data_line() {
    assert_eq!(detect_format("# x\n12\n", None), Ok(TraceFormat::Mahimahi));
    assert_eq!(
        detect_format("0.0 1.5\n", None),
        Ok(TraceFormat::SecondsMbps)
    );
    assert_eq!(detect_format("a,b\n", None), Ok(TraceFormat::Csv));
    assert_eq!(
        detect_format("1 2 3\n", None),
        Err(TraceError::UnknownFormat { line: 1 })
    );
    assert_eq!(detect_format("\n\n", None), Err(TraceError::Empty));
}

#[test]
fn errors_name_the_line() {
    let one = options(1.0);
    assert_eq!(parse_err("", &one), TraceError::Empty);
    assert_eq!(parse_err("# only\n\n", &one), TraceError::Empty);
    assert_eq!(
        parse_err("0 1\n1 x\n", &one),
        TraceError::NotANumber {
            line: 2,
            field: "x".into()
        }
    );
    assert!(matches!(
        parse_err("0 1\n\n1 -2\n", &one),
        TraceError::OutOfRange {
            line: 3,
            what: "throughput",
            ..
        }
    ));
    assert!(matches!(
        parse_err("0 1\n1 NaN\n", &one),
        TraceError::OutOfRange { line: 2, .. }
    ));
    assert!(matches!(
        parse_err("0 1\n5 1\n4 1\n", &one),
        TraceError::TimeBackwards { line: 3, .. }
    ));
    assert!(matches!(
        parse_err("0 1\n1 2 3\n", &one),
        TraceError::FieldCount {
            line: 2,
            expected: 2,
            found: 3,
            ..
        }
    ));
    assert!(matches!(
        parse_err("0\n10\n5\n", &one),
        TraceError::TimeBackwards { line: 3, .. }
    ));
    assert!(matches!(
        parse_err("0\n1.5\n", &one),
        TraceError::NotANumber { line: 2, .. }
    ));
    assert!(matches!(
        parse_err("0\n5 6\n", &one),
        TraceError::FieldCount {
            line: 2,
            expected: 1,
            found: 2,
            ..
        }
    ));
    let long_field = "y".repeat(100);
    match parse_err(&format!("0 1\n1 {long_field}\n"), &one) {
        TraceError::NotANumber { field, .. } => assert_eq!(field.len(), 40),
        other => panic!("expected NotANumber, got {other:?}"),
    }
}

#[test]
fn degenerate_traces_are_reported() {
    let one = options(1.0);
    assert!(matches!(
        parse_err("0 1\n", &one),
        TraceError::TooShort { .. }
    ));
    assert!(matches!(
        parse_err("0 1\n0.5 1\n", &one),
        TraceError::TooShort { .. }
    ));
    assert!(matches!(
        parse_err("0\n0\n0\n", &one),
        TraceError::TooShort { .. }
    ));
    assert!(matches!(
        parse_err("0 1\n1e300 1\n", &one),
        TraceError::TooLong { .. }
    ));
    assert!(matches!(
        parse_err("0\n18446744073709551615\n", &one),
        TraceError::TooLong { .. }
    ));
    assert!(matches!(
        parse_err("0 1\n1 1\n", &options(0.0)),
        TraceError::Series(SeriesError::Step(_))
    ));
}

#[test]
fn csv_errors_list_the_columns() {
    let text = "time_s,mbps\n0,1\n1,2\n";
    assert_eq!(
        parse_err(text, &options(1.0)),
        TraceError::CsvColumnNotGiven {
            columns: vec!["time_s".into(), "mbps".into()]
        }
    );
    assert!(matches!(
        parse_err(text, &csv_options("kbps", None)),
        TraceError::CsvNoSuchColumn { column, .. } if column == "kbps"
    ));
    assert!(matches!(
        parse_err(text, &csv_options("mbps", Some("t"))),
        TraceError::CsvNoSuchColumn { column, .. } if column == "t"
    ));
    assert!(matches!(
        parse_err("time_s,mbps\n0,1\n1\n", &csv_options("mbps", None)),
        TraceError::FieldCount {
            line: 3,
            expected: 2,
            found: 1,
            ..
        }
    ));
    assert!(matches!(
        parse_err("mbps\n", &csv_options("mbps", None)),
        TraceError::Empty
    ));
}

fn message(err: &TraceFileError) -> String {
    dwcp_controlplane::predict::eval::error_chain(err)
}

#[test]
fn file_errors_name_the_file_and_the_line() {
    let dir = TempDir::new("file-errors");
    let bad = dir.write("bad.log", b"0 1\n1 oops\n");
    let err = load_trace_file(&bad, &options(1.0)).expect_err("a bad trace");
    assert_eq!(err.path(), bad.as_path());
    let text = message(&err);
    assert!(
        text.contains("bad.log") && text.contains("line 2"),
        "{text}"
    );

    let binary = dir.write("binary.log", [0xff, 0xfe, 0x00, 0x01]);
    let err = load_trace_file(&binary, &options(1.0)).expect_err("not text");
    assert!(matches!(err, TraceFileError::NotText { .. }), "{err:?}");

    let missing = dir.0.join("missing.log");
    let err = load_trace_file(&missing, &options(1.0)).expect_err("no file");
    assert!(matches!(err, TraceFileError::Io { .. }) && message(&err).contains("missing.log"));

    let good = dir.write("good.log", b"0 1\n1 2\n2 3\n");
    let trace = load_trace_file(&good, &options(1.0)).expect("a good trace");
    assert_eq!(trace.format, TraceFormat::SecondsMbps);
    assert_eq!(trace.series.mbps(), &[1.0, 2.0]);
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

#[test]
fn directories_list_their_trace_files_sorted_and_filtered() {
    let dir = TempDir::new("listing");
    for name in ["b.log", "a.log", "trace_1", ".hidden", "README.md"] {
        dir.write(name, b"0 1\n1 1\n");
    }
    std::fs::create_dir(dir.0.join("sub")).expect("a subdirectory");
    let all = collect_trace_files(std::slice::from_ref(&dir.0), &NameFilter::default())
        .expect("a listing");
    assert_eq!(names(&all), ["a.log", "b.log", "trace_1"]);
    let no_fcc = NameFilter {
        include_prefixes: vec![],
        exclude_prefixes: vec!["trace_".into()],
    };
    let listed = collect_trace_files(std::slice::from_ref(&dir.0), &no_fcc).expect("a listing");
    assert_eq!(names(&listed), ["a.log", "b.log"]);
    let only_fcc = NameFilter {
        include_prefixes: vec!["trace_".into()],
        exclude_prefixes: vec![],
    };
    let listed = collect_trace_files(std::slice::from_ref(&dir.0), &only_fcc).expect("a listing");
    assert_eq!(names(&listed), ["trace_1"]);
    // A file named directly is taken whatever its name.
    let direct = [dir.0.join("README.md")];
    let listed = collect_trace_files(&direct, &only_fcc).expect("a listing");
    assert_eq!(names(&listed), ["README.md"]);
    let missing = [Path::new("/nonexistent/dwcp-traces").to_owned()];
    assert!(collect_trace_files(&missing, &NameFilter::default()).is_err());
}
