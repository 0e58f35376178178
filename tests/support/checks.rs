//! Assertions over the two summaries of one migration.

use crate::proc::Finished;
use crate::summary::Summary;

/// Both sides exited 0 and verified the same digest, with no error;
/// returns (source, destination) summaries.
pub fn assert_verified_pair(source: &Finished, destination: &Finished) -> (Summary, Summary) {
    let context = || format!("\n{}\n\n{}", source.describe(), destination.describe());
    assert_eq!(source.code(), Some(0), "source did not exit 0{}", context());
    assert_eq!(
        destination.code(),
        Some(0),
        "destination did not exit 0{}",
        context()
    );
    let (s, d) = (source.summary(), destination.summary());
    assert!(
        s.verified(),
        "source summary not verified: {s}{}",
        context()
    );
    assert!(
        d.verified(),
        "destination summary not verified: {d}{}",
        context()
    );
    assert_eq!(s.error(), None, "source reports an error: {s}");
    assert_eq!(d.error(), None, "destination reports an error: {d}");
    assert_eq!(s.str("role"), Some("source"), "{s}");
    assert_eq!(d.str("role"), Some("destination"), "{d}");
    let digest = s
        .digest()
        .unwrap_or_else(|| panic!("source summary has no digest: {s}"));
    assert_eq!(
        Some(digest),
        d.digest(),
        "the two sides report different digests\nsource: {s}\ndestination: {d}"
    );
    assert_eq!(s.u64("memory_bytes"), d.u64("memory_bytes"), "{s}\n{d}");
    (s, d)
}

/// A failed side: exit code 1, not verified, an error that contains every
/// one of `needles` (case-insensitive); returns the summary.
pub fn assert_failed_with(finished: &Finished, needles: &[&str]) -> Summary {
    assert_eq!(
        finished.code(),
        Some(1),
        "expected exit code 1 (migration failed)\n{}",
        finished.describe()
    );
    let summary = finished.summary();
    assert!(
        !summary.verified(),
        "a failed migration reports verified: {summary}"
    );
    let error = summary.error_lower();
    for needle in needles {
        assert!(
            error.contains(&needle.to_lowercase()),
            "{}'s error does not mention {needle:?}: {:?}\n{}",
            finished.name,
            summary.error(),
            finished.describe()
        );
    }
    summary
}
