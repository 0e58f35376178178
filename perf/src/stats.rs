//! Pure arithmetic on measurements: medians, rates, ratios.

/// Median of `values` (mean of the two middle values for an even count);
/// `None` for an empty slice. NaNs are ignored.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// Median of integer samples, as f64.
pub fn median_u64(values: &[u64]) -> Option<f64> {
    let as_f64: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    median(&as_f64)
}

/// GB/s (10^9 bytes per second) from bytes and milliseconds; `None` for 0 ms.
pub fn gbps(bytes: u64, millis: f64) -> Option<f64> {
    (millis > 0.0).then(|| bytes as f64 / (millis * 1e6))
}

/// Mbit/s (10^6 bits per second) from bytes and milliseconds, rounded down;
/// `None` for 0 ms.
pub fn mbit_per_s(bytes: u64, millis: u64) -> Option<u64> {
    // bytes * 8 / 1e6 / (ms / 1e3) = bytes * 8 / (ms * 1000)
    let denominator = millis.checked_mul(1000).filter(|&d| d > 0)?;
    Some(bytes.saturating_mul(8) / denominator)
}

/// `value / baseline`; `None` when the baseline is not positive.
pub fn ratio(value: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0 && baseline.is_finite()).then(|| value / baseline)
}

/// True if `ratio` reaches `target`, allowing for the 3 decimals printed.
pub fn meets(ratio: f64, target: f64) -> bool {
    ratio + 1e-9 >= target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median_u64(&[10, 30, 20]), Some(20.0));
    }

    #[test]
    fn rates() {
        // 1 GiB in 1000 ms = 1.073741824 GB/s.
        let g = gbps(1 << 30, 1000.0).expect("positive time");
        assert!((g - 1.073_741_824).abs() < 1e-12);
        assert_eq!(gbps(1, 0.0), None);
        // 125 MB in 1 s = 1000 Mbit/s.
        assert_eq!(mbit_per_s(125_000_000, 1000), Some(1000));
        assert_eq!(mbit_per_s(125_000_000, 0), None);
    }

    #[test]
    fn ratios_and_targets() {
        assert_eq!(ratio(0.9, 1.0), Some(0.9));
        assert_eq!(ratio(1.0, 0.0), None);
        assert!(meets(0.8, 0.8));
        assert!(meets(0.81, 0.8));
        assert!(!meets(0.79, 0.8));
    }
}
