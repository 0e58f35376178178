//! The library half of `dwcpctl`, the operators' CLI for the control plane's
//! HTTP API (`src/bin/dwcpctl.rs` is the thin binary: flags, Ctrl-C, output).
//!
//! - `client`: `ApiClient`, one blocking method per API endpoint, typed
//!   `ClientError`s (`error`).
//! - `follow`: polls a migration until it is final, drawing its progress.
//! - `render`: pure formatting of numbers, the progress line, tables and the
//!   `show`/`status` texts.
//!
//! Output contract: progress and messages go to stderr, results to stdout;
//! with `--json` stdout carries exactly one JSON document, on one line.
//! `migrate` always ends stdout with the final summary as one line of JSON
//! (`render::final_json_line`).

pub mod client;
pub mod error;
pub mod follow;
pub mod render;

use crate::api_types::MigrationState;

/// Process exit statuses of `dwcpctl`.
pub mod exit_code {
    /// Success; for `migrate`, the migration completed.
    pub const OK: u8 = 0;
    /// The migration failed or was cancelled.
    pub const MIGRATION_FAILED: u8 = 1;
    /// `status`: the node answered, and `/health` says it is unhealthy.
    pub const UNHEALTHY: u8 = 1;
    /// The control plane answered 5xx or something malformed.
    pub const CONTROL_PLANE_FAILED: u8 = 1;
    /// Bad input, an unreachable API, or a 4xx answer.
    pub const BAD_INPUT: u8 = 2;
    /// `migrate` stopped waiting on Ctrl-C (128 + SIGINT); the migration goes on.
    pub const STOPPED_WAITING: u8 = 130;
}

/// The exit status for a migration in `state` when `dwcpctl` stops following
/// it: `OK` for completed, `MIGRATION_FAILED` for failed or cancelled, `None`
/// while it is not final.
pub fn exit_code_for_state(state: MigrationState) -> Option<u8> {
    match state {
        MigrationState::Completed => Some(exit_code::OK),
        MigrationState::Failed | MigrationState::Cancelled | MigrationState::InDoubt => {
            Some(exit_code::MIGRATION_FAILED)
        }
        MigrationState::Pending
        | MigrationState::Listening
        | MigrationState::Running
        | MigrationState::Paused
        | MigrationState::Verifying => None,
    }
}
