//! The split of trace files into training, validation and test sets
//! (docs/prediction.md §8), decided by file name alone, before training.
//!
//! Files are grouped so that near-copies land together: a name whose last
//! `_` is followed by four digits and a letter (the HSDPA logs'
//! `_HHMMCEST.log` start time) belongs to the group named by what comes
//! before (`bus.ljansbakken-oslo-report.2010-09-29`: one route on one day);
//! any other name is its own group (each FCC `trace_N_…`). A group goes to
//! a set by the 64-bit FNV-1a hash of its key modulo 100: below
//! [`TEST_PERCENT`] test, then [`VALIDATION_PERCENT`] validation, then
//! [`CALIBRATION_PERCENT`] calibration, the rest training. (The
//! calibration share was carved out of training when it was added, so the
//! test and validation files did not change.) The seed of the training run plays no part, so every model
//! trained on the same files is scored on the same test files.

/// Share of groups in the test set, percent.
pub const TEST_PERCENT: u64 = 20;
/// Share of groups in the validation set, percent.
pub const VALIDATION_PERCENT: u64 = 10;
/// Share of groups in the calibration set, percent.
pub const CALIBRATION_PERCENT: u64 = 15;

/// Which set a trace file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SplitSet {
    /// Trained on.
    Train,
    /// Chooses the epoch (and calibrates with the calibration set).
    Validation,
    /// Only fits the point blend and the band calibration.
    Calibration,
    /// Never read in training.
    Test,
}

impl SplitSet {
    /// `"train"`, `"validation"`, `"calibration"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Validation => "validation",
            Self::Calibration => "calibration",
            Self::Test => "test",
        }
    }
}

/// The group of the file called `name` (module documentation).
pub fn group_key(name: &str) -> &str {
    let Some(at) = name.rfind('_') else {
        return name;
    };
    let tail = &name.as_bytes()[at + 1..];
    let is_start_time =
        tail.len() > 4 && tail[..4].iter().all(u8::is_ascii_digit) && tail[4].is_ascii_alphabetic();
    if is_start_time {
        &name[..at]
    } else {
        name
    }
}

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The set of the file called `name`.
pub fn split_of(name: &str) -> SplitSet {
    const _: () = assert!(TEST_PERCENT + VALIDATION_PERCENT + CALIBRATION_PERCENT < 100);
    let bucket = fnv1a64(group_key(name).as_bytes()) % 100;
    if bucket < TEST_PERCENT {
        SplitSet::Test
    } else if bucket < TEST_PERCENT + VALIDATION_PERCENT {
        SplitSet::Validation
    } else if bucket < TEST_PERCENT + VALIDATION_PERCENT + CALIBRATION_PERCENT {
        SplitSet::Calibration
    } else {
        SplitSet::Train
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsdpa_runs_of_one_route_and_day_share_a_group() {
        let a = "bus.ljansbakken-oslo-report.2010-09-29_1628CEST.log";
        let b = "bus.ljansbakken-oslo-report.2010-09-29_1823CEST.log";
        assert_eq!(group_key(a), "bus.ljansbakken-oslo-report.2010-09-29");
        assert_eq!(group_key(a), group_key(b));
        assert_eq!(split_of(a), split_of(b));
        let other_day = "bus.ljansbakken-oslo-report.2010-09-30_1058CEST.log";
        assert_ne!(group_key(a), group_key(other_day));
    }

    #[test]
    fn other_names_are_their_own_group() {
        for name in [
            "trace_26689_http---www.amazon.com",
            "ATT-LTE-driving.down",
            "x_1234",
            "x_12345",
        ] {
            assert_eq!(group_key(name), name);
        }
    }

    #[test]
    fn the_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
