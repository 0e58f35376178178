//! `dwcp-controlplane predict-eval`, the real binary: its last stdout line
//! on synthetic trace directories (exact answers), unusable files,
//! argument errors, and a plausibility check against the real traces'
//! README (SKIPPED when the traces are absent).

mod common;

use common::{controlplane, Outcome, TempDir};

use dwcp_controlplane::predict::eval::EvalReport;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn predict_eval(args: &[&str]) -> Outcome {
    controlplane(std::iter::once("predict-eval").chain(args.iter().copied()))
}

/// The report on the last stdout line of a successful run.
fn report(args: &[&str]) -> (EvalReport, String) {
    let out = predict_eval(args);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let last = out.stdout.lines().last().expect("a last stdout line");
    let report = serde_json::from_str(last).expect("the last line is the JSON report");
    (report, out.stderr)
}

/// A "seconds Mbps" trace: one line per second with these rates, plus the
/// line that ends it.
fn seconds_mbps(rates: &[f64]) -> String {
    let mut text = String::new();
    for (t, rate) in rates.iter().enumerate() {
        let _ = writeln!(text, "{t}.0\t{rate}");
    }
    let _ = writeln!(text, "{}.0\t0", rates.len());
    text
}

#[test]
fn constant_traces_in_every_format_score_perfectly() {
    let dir = TempDir::new("constant");
    dir.write("steady.log", seconds_mbps(&[4.0; 120]));
    // One opportunity every 10 ms: 100 × 1500 × 8 bit/s = 1.2 Mbit/s.
    let mahimahi: String = (0..=12_000).map(|i| format!("{}\n", i * 10)).collect();
    dir.write("steady.down", &mahimahi);
    let csv: String = std::iter::once("mbps\n".to_owned())
        .chain((0..120).map(|_| "2.5\n".to_owned()))
        .collect();
    dir.write("steady.csv", &csv);
    let path = dir.0.to_str().expect("a UTF-8 temp path");
    let (report, _) = report(&["--traces", path, "--horizon", "30", "--csv-column", "mbps"]);
    assert_eq!(report.horizon_s, 30.0);
    assert_eq!(report.step_s, 1.0);
    assert_eq!(report.traces, 3);
    // 120 samples each: t from 9 to 89.
    assert_eq!(report.samples, 3 * 81);
    assert_eq!(report.files_skipped, 0);
    let formats: Vec<(&str, usize)> = report
        .formats
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(formats, [("csv", 1), ("mahimahi", 1), ("seconds-mbps", 1)]);
    let names: Vec<&str> = report.predictors.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "ewma",
            "harmonic_mean",
            "holt_damped",
            "last_value",
            "mean_last_h"
        ]
    );
    for (name, r) in &report.predictors {
        assert!(r.mape < 1e-12 && r.rmse_mbps < 1e-12, "{name}: {r:?}");
        assert!((r.one_minus_mape - (1.0 - r.mape)).abs() < 1e-15);
        assert_eq!((r.within_20pct, r.band_coverage), (1.0, 1.0), "{name}");
        assert_eq!((r.traces, r.samples), (3, 243), "{name}");
    }
    assert!(report.predictors.contains_key(&report.best_baseline));
    assert_eq!(report.model_mape_reduction, None);
}

#[test]
fn a_square_wave_separates_the_baselines() {
    let dir = TempDir::new("square");
    let square: Vec<f64> = (0..200)
        .map(|i| if i % 2 == 0 { 1.0 } else { 3.0 })
        .collect();
    dir.write("square.log", seconds_mbps(&square));
    let path = dir.0.to_str().expect("a UTF-8 temp path");
    let (report, stderr) = report(&["--traces", path, "--horizon", "30"]);
    assert_eq!(report.samples, 200 - 10 - 30 + 1);
    // The next 30 s average 2; the last value is 1 or 3: off by half.
    let last = &report.predictors["last_value"];
    assert!((last.mape - 0.5).abs() < 1e-12, "{last:?}");
    assert_eq!(last.within_20pct, 0.0);
    assert!((last.rmse_mbps - 1.0).abs() < 1e-12);
    // The mean of the last 30 s is exactly 2 once 30 s are held (before,
    // an odd number of samples is off by 1/(2n)); the EWMA keeps
    // oscillating by α/(2−α) = 1/15 around 2.
    let mean = &report.predictors["mean_last_h"];
    assert!(mean.mape < 0.005, "{mean:?}");
    let ewma = &report.predictors["ewma"];
    assert!((ewma.mape - 1.0 / 30.0).abs() < 0.005, "{ewma:?}");
    assert_eq!(report.best_baseline, "mean_last_h");
    assert!(
        stderr.contains("mean_last_h") && stderr.contains("(best baseline)"),
        "{stderr}"
    );
}

#[test]
fn unusable_files_are_reported_and_the_rest_evaluated() {
    let dir = TempDir::new("unusable");
    dir.write("good.log", seconds_mbps(&[4.0; 60]));
    dir.write("empty.log", "");
    dir.write("corrupt.log", "0 1\n1 zz\n2 1\n");
    dir.write("short.log", seconds_mbps(&[4.0; 5]));
    dir.write("table.csv", "time,mbps\n0,1\n");
    let path = dir.0.to_str().expect("a UTF-8 temp path");
    let (report, stderr) = report(&["--traces", path, "--horizon", "5"]);
    assert_eq!(
        (report.traces, report.files_skipped, report.traces_too_short),
        (1, 3, 1)
    );
    assert_eq!(report.samples, 60 - 10 - 5 + 1);
    assert!(
        stderr.contains("corrupt.log: line 2: \"zz\" is not a number"),
        "{stderr}"
    );
    assert!(stderr.contains("empty.log: no data"), "{stderr}");
    assert!(
        stderr.contains("table.csv: a CSV trace needs --csv-column"),
        "{stderr}"
    );
    assert!(
        stderr.contains("too short: ") && stderr.contains("short.log"),
        "{stderr}"
    );
}

#[test]
fn argument_and_input_errors_have_their_exit_status() {
    let dir = TempDir::new("errors");
    dir.write("good.log", seconds_mbps(&[4.0; 60]));
    let model = dir.write("model.bin", "not a model");
    let path = dir.0.to_str().expect("a UTF-8 temp path");

    let out = predict_eval(&["--traces", path, "--horizon", "2.5"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("not a whole number"), "{}", out.stderr);

    let model = model.to_str().expect("a UTF-8 temp path");
    let out = predict_eval(&["--traces", path, "--horizon", "30", "--model", model]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("corrupt model file"), "{}", out.stderr);
    assert!(
        out.stdout.is_empty(),
        "no report without the model: {}",
        out.stdout
    );

    let missing = dir.0.join("missing.model");
    let missing = missing.to_str().expect("a UTF-8 temp path");
    let out = predict_eval(&["--traces", path, "--horizon", "30", "--model", missing]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot read the model file"),
        "{}",
        out.stderr
    );

    // 60 samples cannot score a 60 s horizon after 10 s of warmup.
    let out = predict_eval(&["--traces", path, "--horizon", "60"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("no step scored"), "{}", out.stderr);

    let empty = TempDir::new("errors-empty");
    let out = predict_eval(&[
        "--traces",
        empty.0.to_str().expect("UTF-8"),
        "--horizon",
        "5",
    ]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("no trace files"), "{}", out.stderr);

    let out = predict_eval(&["--traces", path]);
    assert_eq!(out.code, Some(2), "clap rejects a missing --horizon");
}

/// The real traces, or `None` with a SKIPPED line.
fn real_traces() -> Option<PathBuf> {
    let dir = match std::env::var_os("DWCP_TRACES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/bandwidth-traces"),
    };
    if dir.join("hsdpa-fcc").is_dir() && dir.join("mahimahi").is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: real-trace check: no traces at {} (set DWCP_TRACES_DIR)",
            dir.display()
        );
        None
    }
}

fn assert_near(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: {got:.3}, the README says {want:.3} (tolerance {tolerance})"
    );
}

/// Checks the metric implementation against the baselines measured in the
/// traces' README (H = 30 s). Not a hard-coded result: a tolerance wide
/// enough for a different EWMA gain or scoring detail, narrow enough to
/// catch a wrong target, horizon or cap.
#[test]
fn real_traces_give_the_readme_baselines() {
    let Some(dir) = real_traces() else { return };
    let hsdpa_fcc = dir.join("hsdpa-fcc");
    let hsdpa_fcc = hsdpa_fcc.to_str().expect("a UTF-8 path");
    let mahimahi = dir.join("mahimahi");
    let mahimahi = mahimahi.to_str().expect("a UTF-8 path");

    let (hsdpa, _) = report(&[
        "--traces",
        hsdpa_fcc,
        "--exclude-prefix",
        "trace_",
        "--horizon",
        "30",
    ]);
    assert_eq!(hsdpa.traces + hsdpa.traces_too_short, 68);
    let ewma = &hsdpa.predictors["ewma"];
    assert_near("HSDPA EWMA 1-MAPE", ewma.one_minus_mape, 0.717, 0.03);
    assert_near("HSDPA EWMA within 20%", ewma.within_20pct, 0.492, 0.05);

    let (fcc, _) = report(&[
        "--traces",
        hsdpa_fcc,
        "--include-prefix",
        "trace_",
        "--horizon",
        "30",
    ]);
    assert_eq!(fcc.traces + fcc.traces_too_short, 59);
    let mean = &fcc.predictors["mean_last_h"];
    assert_near(
        "FCC mean-of-last-H 1-MAPE",
        mean.one_minus_mape,
        0.888,
        0.03,
    );
    assert_near(
        "FCC mean-of-last-H within 20%",
        mean.within_20pct,
        0.847,
        0.05,
    );

    let (cellular, _) = report(&["--traces", mahimahi, "--horizon", "30"]);
    assert_eq!(cellular.traces, 7);
    let ewma = &cellular.predictors["ewma"];
    assert_near("mahimahi EWMA 1-MAPE", ewma.one_minus_mape, 0.597, 0.04);
    assert_near("mahimahi EWMA within 20%", ewma.within_20pct, 0.317, 0.05);
}

/// A one-unit model (all weights 0: it predicts the window's level) that
/// lists `seen.log` among its training files and the series of
/// `fingerprinted` among its validation files.
fn model_trained_on(fingerprinted: &[f64]) -> String {
    let series = dwcp_controlplane::predict::ThroughputSeries::new(1.0, fingerprinted.to_vec())
        .expect("a series");
    let zeros = |n: usize| vec![vec![0.0]; n];
    serde_json::json!({
        "format": "dwcp-bandwidth-lstm", "format_version": 2, "step_s": 1.0,
        "window_steps": 10, "horizons_steps": [1, 30], "quantiles": [0.1, 0.5, 0.9],
        "target": "log_ratio_to_level",
        "band_calibration": {"method": "mondrian_cqr", "statistic": "cv_30s", "coverage": 0.8,
            "bin_edges": [[], []], "margins_log": [[0.0], [0.0]], "steps": [0, 0]},
        "features": {
            "used": {"rtt": false, "loss": false, "jitter": false, "time_of_day": false},
            "level_floor_mbps": 0.01,
            "inputs": [{"name": "throughput_mbps", "transform": "log_ratio_to_level",
                        "mean": 0.0, "std": 1.0}]
        },
        "architecture": {"cell": "lstm", "layers": 1, "hidden": 1, "gate_order": "ifgo",
                         "output": "band_median_point"},
        "training": {
            "seed": 1,
            "train_files": [{"name": "seen.log", "fingerprint": "0000000000000000"}],
            "validation_files": [{"name": "elsewhere.log",
                                  "fingerprint": format!("{:016x}", series.fingerprint())}],
            "test_files": [], "settings": {}, "validation_loss": [1.0], "best_epoch": 1
        },
        "weights": {
            "layers": [{"w_input": zeros(4), "w_hidden": zeros(4), "bias": [0.0, 0.0, 0.0, 0.0]}],
            "head": {"weight": zeros(8), "bias": vec![0.0; 8]}
        }
    })
    .to_string()
}

#[test]
fn a_model_is_not_scored_on_files_it_was_trained_on() {
    let dir = TempDir::new("trained-on");
    let copied: Vec<f64> = (0..80).map(|i| f64::from(i % 7 + 1)).collect();
    dir.write("seen.log", seconds_mbps(&[3.0; 80]));
    dir.write("renamed-copy.log", seconds_mbps(&copied));
    dir.write("fresh.log", seconds_mbps(&[5.0; 80]));
    let model = dir.write("model.json", model_trained_on(&copied));
    let traces = dir.0.to_str().expect("a UTF-8 temp path");
    let model = model.to_str().expect("a UTF-8 temp path");

    let out = predict_eval(&["--traces", traces, "--horizon", "30", "--model", model]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("2 of the trace files were used to train")
            && out.stderr.contains("seen.log: training")
            && out.stderr.contains("renamed-copy.log: validation"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);

    let (report, stderr) = report(&[
        "--traces",
        traces,
        "--horizon",
        "30",
        "--model",
        model,
        "--held-out-only",
    ]);
    assert_eq!(report.traces, 1, "only fresh.log is scored: {stderr}");
    assert_eq!(report.model_files_excluded, Some(2));
    assert!(stderr.contains("left out: 2 files"), "{stderr}");
    // All weights 0: the model predicts its window's level, exact here.
    let scored = &report.predictors["model"];
    assert_eq!(scored.mape, 0.0);
    // The baselines' report without a model keeps its old shape.
    let (plain, _) = report_without_model(traces);
    assert_eq!(plain.model_files_excluded, None);
}

fn report_without_model(traces: &str) -> (EvalReport, String) {
    report(&["--traces", traces, "--horizon", "30"])
}

#[cfg(not(feature = "train"))]
#[test]
fn train_predictor_says_how_to_build_it() {
    let out = controlplane(["train-predictor", "--traces", "x", "--out", "y"]);
    let stderr = out.stderr;
    assert_eq!(out.code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--features train") && stderr.contains("train-predictor"),
        "{stderr}"
    );
}
