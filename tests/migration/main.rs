//! End-to-end migration tests: the release binaries of `dwcp-dataplane` and
//! `dwcp-guest-sim` as separate processes on real sockets, a guest stand-in
//! writing to its memory while it is migrated, and the destination checked
//! byte for byte against the (paused) source.
//!
//! Binaries: `DWCP_BIN_DIR`, else `<target>/release` (built once if missing).
//! Logs: `DWCP_TEST_LOG=debug cargo test -p dwcp-tests -- --nocapture`.

mod t10_basic;
mod t12_frame_size;
mod t20_netns;
mod t30_stream_cut;
mod t31_control_stream_cut_at_end;
mod t32_cut_at_commit;
mod t40_wrong_key;
mod t41_tamper;
mod t42_failure_after_pause;
mod t43_no_commit;
mod t50_destination_killed;
mod t60_bad_input;
mod t62_hugetlbfs_1g;
mod t70_real_snapshots;
mod t80_idle_cpu;
mod t81_idle_dataplane;
mod t90_codec;
