//! `ClientError`: why a call to the control plane's HTTP API did not give the
//! answer `dwcpctl` asked for. Each variant names the API address or the
//! request, so the one line `dwcpctl` prints on stderr says what to fix.

use super::exit_code;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The `--api` address is not a plain `http://host:port` URL.
    #[error("bad API address {url:?}: {reason}")]
    BadUrl {
        /// The address as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A migration id that cannot be a path segment of the API.
    #[error("bad migration id {id:?}: expected 1..={max} characters of [A-Za-z0-9_-]", max = super::client::MIGRATION_ID_LEN_MAX)]
    BadId {
        /// The id as given.
        id: String,
    },
    /// No TCP connection, or it broke before an HTTP answer came.
    #[error("cannot reach the control plane at {api}: {reason}")]
    Unreachable {
        /// The API base URL.
        api: String,
        /// What the operating system or HTTP layer said.
        reason: String,
    },
    /// The control plane took longer than the client's time-out.
    #[error("the control plane at {api} did not answer {method} {path} within {timeout_ms} ms")]
    Timeout {
        /// The API base URL.
        api: String,
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// The time-out that expired.
        timeout_ms: u64,
    },
    /// The control plane answered with a 4xx or 5xx status.
    #[error("{method} {path}: {status} {message}")]
    Api {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// HTTP status code.
        status: u16,
        /// The `ApiError` body's `error`, or the start of the body when it is
        /// not an `ApiError`.
        message: String,
    },
    /// A 2xx answer whose body is not the JSON the API documents.
    #[error("{method} {path}: unexpected answer from the control plane: {reason}")]
    Decode {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// What did not parse.
        reason: String,
    },
}

impl ClientError {
    /// The HTTP status of an `Api` error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the control plane could not be reached at all (no connection
    /// or no answer in time): worth retrying while following a migration,
    /// since the control plane may be restarting.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Timeout { .. })
    }

    /// `dwcpctl`'s exit status for this error: `exit_code::CONTROL_PLANE_FAILED`
    /// for a 5xx answer or a malformed one (a control plane fault),
    /// `exit_code::BAD_INPUT` for everything else (bad input, unreachable API,
    /// a 4xx answer).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Api { status, .. } if *status >= 500 => exit_code::CONTROL_PLANE_FAILED,
            Self::Decode { .. } => exit_code::CONTROL_PLANE_FAILED,
            _ => exit_code::BAD_INPUT,
        }
    }
}
