//! CPU time the hypervisor took from this machine (`steal` in /proc/stat).
//!
//! On a virtual machine a vCPU that the host does not run for a while
//! stops every thread on it: frames then wait milliseconds whatever the
//! data plane does. Each stages run records the steal that happened while
//! it ran, so a slow tail can be told apart from the page path.

/// The aggregate `cpu` line's steal field of /proc/stat, in clock ticks.
pub fn parse_steal_ticks(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    line.split_whitespace().nth(8)?.parse().ok()
}

/// Steal of all CPUs so far, in milliseconds (`None` where /proc/stat has none).
pub fn steal_ms_now() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks = parse_steal_ticks(&text)?;
    // SAFETY: sysconf has no preconditions.
    let per_s = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
    (per_s > 0).then(|| ticks * 1000 / per_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_aggregate_lines_steal() {
        let text = "cpu  4776646 2116179 2329044 5145832 339243 0 67101 148813 0 0\n\
                    cpu0 2232490 985138 1186583 2787561 163742 0 31481 74110 0 0\n";
        assert_eq!(parse_steal_ticks(text), Some(148_813));
        assert_eq!(
            parse_steal_ticks("cpu0 1 2 3 4 5 6 7 8\n"),
            None,
            "no aggregate line"
        );
        assert_eq!(
            parse_steal_ticks("cpu  1 2 3 4 5 6 7\n"),
            None,
            "a kernel without steal"
        );
    }

    #[test]
    fn this_machine_reports_a_steal_counter() {
        // Linux has had the field since 2.6.11; a missing one would hide stalls.
        assert!(steal_ms_now().is_some());
    }
}
