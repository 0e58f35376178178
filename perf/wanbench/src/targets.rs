//! The targets, computed from the rows of one profile's run:
//!
//! 1. `internet`, incompressible memory: DWCP's goodput ≥ 90 % of the link
//!    rate, and above one plain TCP stream's on the same link;
//! 2. `internet`, the real 1 GiB guest live: DWCP's total time ≤ 0.7x the
//!    time `zstd -1 -T0 | TCP` needs to copy the static image once.
//!
//! The same figures are computed on every profile; only `internet` gets a
//! verdict. With several DWCP stream policies, each gets its own set; the
//! first policy's set is the primary one (it decides the exit status).

use crate::guest::GuestKind;
use crate::peers::Contender;
use crate::row::{Row, Status};
use serde::Serialize;

/// The profile the targets are set for.
pub const TARGET_PROFILE: &str = "internet";
/// Target 1a: DWCP's goodput at least this fraction of the link rate.
pub const GOODPUT_MIN: f64 = 0.90;
/// Target 1b: DWCP's goodput over one TCP stream's, more than this.
pub const VS_TCP_MIN: f64 = 1.0;
/// Target 2: DWCP's time over zstd | TCP's, at most this.
pub const VS_ZSTD_MAX: f64 = 0.7;

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Met.
    #[serde(rename = "PASS")]
    Pass,
    /// Measured and not met.
    #[serde(rename = "MISS")]
    Miss,
    /// A row it needs failed.
    #[serde(rename = "ERROR")]
    Error,
    /// A row it needs was skipped.
    #[serde(rename = "SKIPPED")]
    Skipped,
    /// Not the target's profile: the figure is shown, not judged.
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Verdict {
    /// As printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Miss => "MISS",
            Self::Error => "ERROR",
            Self::Skipped => "SKIPPED",
            Self::NotApplicable => "n/a",
        }
    }
}

/// One target's outcome.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Target {
    /// Stable id.
    pub id: &'static str,
    /// DWCP's stream policy these figures are of.
    pub dwcp_streams: Option<String>,
    /// The first policy's: decides the exit status.
    pub primary: bool,
    /// What it says.
    pub description: &'static str,
    /// The measured figure.
    pub measured: Option<f64>,
    /// `>=`, `>` or `<=`.
    pub comparison: &'static str,
    /// The bound.
    pub threshold: f64,
    /// The verdict.
    pub verdict: Verdict,
}

fn find<'a>(
    rows: &'a [Row],
    guest: GuestKind,
    contender: Contender,
    variant: Option<&str>,
) -> Option<&'a Row> {
    rows.iter().find(|r| {
        r.guest == guest
            && r.contender == contender
            && (contender != Contender::Dwcp || r.variant.as_deref() == variant)
    })
}

/// The figure from the rows it needs, or the verdict that stands in for it.
fn figure(needed: &[Option<&Row>], f: impl Fn(&[&Row]) -> Option<f64>) -> Result<f64, Verdict> {
    let mut rows = Vec::new();
    for row in needed {
        match row {
            None => return Err(Verdict::Skipped),
            Some(r) if r.status == Status::Skipped => return Err(Verdict::Skipped),
            Some(r) if r.status == Status::Error => return Err(Verdict::Error),
            Some(r) => rows.push(*r),
        }
    }
    f(&rows).ok_or(Verdict::Error)
}

/// Where a target's figures come from.
struct Scope<'a> {
    applies: bool,
    variant: Option<&'a str>,
    primary: bool,
}

fn judge(
    scope: &Scope<'_>,
    id: &'static str,
    description: &'static str,
    measured: Result<f64, Verdict>,
    comparison: &'static str,
    threshold: f64,
) -> Target {
    let (measured, verdict) = match measured {
        Ok(value) => {
            let met = match comparison {
                ">=" => value >= threshold,
                ">" => value > threshold,
                _ => value <= threshold,
            };
            (Some(value), if met { Verdict::Pass } else { Verdict::Miss })
        }
        Err(verdict) => (None, verdict),
    };
    Target {
        id,
        dwcp_streams: scope.variant.map(str::to_owned),
        primary: scope.primary,
        description,
        measured,
        comparison,
        threshold,
        verdict: if scope.applies {
            verdict
        } else {
            Verdict::NotApplicable
        },
    }
}

/// The targets for one profile's rows: a set per DWCP stream policy, in
/// the order the rows name them.
pub fn evaluate(profile: &str, rows: &[Row]) -> Vec<Target> {
    let mut variants: Vec<Option<&str>> = Vec::new();
    for row in rows.iter().filter(|r| r.contender == Contender::Dwcp) {
        if !variants.contains(&row.variant.as_deref()) {
            variants.push(row.variant.as_deref());
        }
    }
    if variants.is_empty() {
        variants.push(None);
    }
    variants
        .iter()
        .enumerate()
        .flat_map(|(i, variant)| {
            let scope = Scope {
                applies: profile == TARGET_PROFILE,
                variant: *variant,
                primary: i == 0,
            };
            evaluate_one(&scope, rows)
        })
        .collect()
}

fn evaluate_one(scope: &Scope<'_>, rows: &[Row]) -> Vec<Target> {
    let dwcp_inc = find(
        rows,
        GuestKind::Incompressible,
        Contender::Dwcp,
        scope.variant,
    );
    let tcp_inc = find(rows, GuestKind::Incompressible, Contender::Tcp, None);
    let dwcp_real = find(rows, GuestKind::Snapshots, Contender::Dwcp, scope.variant);
    let zstd_real = find(rows, GuestKind::Snapshots, Contender::ZstdTcp, None);
    vec![
        judge(
            scope,
            "incompressible_goodput",
            "incompressible memory: DWCP goodput / link rate",
            figure(&[dwcp_inc], |r| r[0].goodput_fraction),
            ">=",
            GOODPUT_MIN,
        ),
        judge(
            scope,
            "incompressible_vs_tcp",
            "incompressible memory: DWCP goodput / one TCP stream's",
            figure(&[dwcp_inc, tcp_inc], |r| {
                let (d, t) = (r[0].goodput_fraction?, r[1].goodput_fraction?);
                (t > 0.0).then(|| d / t)
            }),
            ">",
            VS_TCP_MIN,
        ),
        judge(
            scope,
            "real_guest_vs_zstd",
            "real 1 GiB guest, live: DWCP time / zstd -1 -T0 | TCP time (static image)",
            figure(&[dwcp_real, zstd_real], |r| {
                let (d, z) = (r[0].time_s?, r[1].time_s?);
                (z > 0.0).then(|| d / z)
            }),
            "<=",
            VS_ZSTD_MAX,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u64 = 200_000_000;
    const IMAGE: u64 = 1 << 30;

    fn ok(guest: GuestKind, contender: Contender, time_s: f64) -> Row {
        let variant = (contender == Contender::Dwcp).then(|| "bdp".to_owned());
        Row::empty(guest, contender, IMAGE, Status::Skipped, "".into())
            .with_variant(variant)
            .measured(time_s, RATE)
    }

    fn ideal_s() -> f64 {
        IMAGE as f64 * 8.0 / RATE as f64
    }

    fn rows(dwcp_inc_s: f64, tcp_inc_s: f64, dwcp_real_s: f64, zstd_real_s: f64) -> Vec<Row> {
        vec![
            ok(GuestKind::Incompressible, Contender::Dwcp, dwcp_inc_s),
            ok(GuestKind::Incompressible, Contender::Tcp, tcp_inc_s),
            ok(GuestKind::Snapshots, Contender::Dwcp, dwcp_real_s),
            ok(GuestKind::Snapshots, Contender::ZstdTcp, zstd_real_s),
        ]
    }

    fn verdicts(targets: &[Target]) -> Vec<Verdict> {
        targets.iter().map(|t| t.verdict).collect()
    }

    #[test]
    fn all_met_passes() {
        let t = evaluate(
            "internet",
            &rows(ideal_s() / 0.95, ideal_s() / 0.6, 6.0, 10.0),
        );
        assert_eq!(verdicts(&t), [Verdict::Pass; 3]);
        assert!((t[0].measured.expect("m") - 0.95).abs() < 1e-9);
        assert!((t[1].measured.expect("m") - 0.95 / 0.6).abs() < 1e-9);
        assert!((t[2].measured.expect("m") - 0.6).abs() < 1e-9);
    }

    #[test]
    fn each_bound_can_miss() {
        // 0.85 of the link, slower than TCP, 0.8x zstd.
        let t = evaluate(
            "internet",
            &rows(ideal_s() / 0.85, ideal_s() / 0.9, 8.0, 10.0),
        );
        assert_eq!(verdicts(&t), [Verdict::Miss; 3]);
        // Exactly at the bounds: >= 0.9 passes, > 1 needs strictly more, <= 0.7 passes.
        let mut r = rows(1.0, 1.0, 7.0, 10.0);
        r[0].goodput_fraction = Some(0.9);
        r[1].goodput_fraction = Some(0.9);
        let t = evaluate("internet", &r);
        assert_eq!(verdicts(&t), [Verdict::Pass, Verdict::Miss, Verdict::Pass]);
    }

    #[test]
    fn each_stream_policy_gets_its_own_set_and_the_first_is_primary() {
        let mut r = rows(ideal_s() / 0.5, ideal_s() / 0.6, 8.0, 10.0);
        let mut cp_inc = ok(GuestKind::Incompressible, Contender::Dwcp, ideal_s() / 0.95);
        cp_inc.variant = Some("control-plane".into());
        let mut cp_real = ok(GuestKind::Snapshots, Contender::Dwcp, 5.0);
        cp_real.variant = Some("control-plane".into());
        r.push(cp_inc);
        r.push(cp_real);
        let t = evaluate("internet", &r);
        assert_eq!(t.len(), 6);
        assert_eq!(verdicts(&t[..3]), [Verdict::Miss; 3]);
        assert_eq!(verdicts(&t[3..]), [Verdict::Pass; 3]);
        assert!(t[..3]
            .iter()
            .all(|x| x.primary && x.dwcp_streams.as_deref() == Some("bdp")));
        assert!(t[3..]
            .iter()
            .all(|x| !x.primary && x.dwcp_streams.as_deref() == Some("control-plane")));
    }

    #[test]
    fn other_profiles_show_the_figures_without_a_verdict() {
        let t = evaluate("regional", &rows(10.0, 20.0, 6.0, 10.0));
        assert_eq!(verdicts(&t), [Verdict::NotApplicable; 3]);
        assert!(t.iter().all(|x| x.measured.is_some()));
    }

    #[test]
    fn failed_or_skipped_rows_give_error_or_skipped() {
        let mut r = rows(10.0, 20.0, 6.0, 10.0);
        r[1] = Row::error(
            GuestKind::Incompressible,
            Contender::Tcp,
            IMAGE,
            "boom".into(),
        );
        r[2] = Row::empty(
            GuestKind::Snapshots,
            Contender::Dwcp,
            IMAGE,
            Status::Skipped,
            "absent".into(),
        )
        .with_variant(Some("bdp".into()));
        let t = evaluate("internet", &r);
        assert_eq!(
            verdicts(&t),
            [Verdict::Pass, Verdict::Error, Verdict::Skipped]
        );
        assert_eq!(t[1].measured, None);
        let t = evaluate("internet", &[]);
        assert_eq!(verdicts(&t), [Verdict::Skipped; 3]);
    }
}
