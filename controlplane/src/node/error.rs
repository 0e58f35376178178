//! Errors of the control plane's operations, each with the HTTP status the
//! API answers with.

use thiserror::Error;

/// Why an operation failed.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// The request is malformed or names something invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// No such migration (404).
    #[error("no migration with id {0}")]
    NotFound(String),
    /// The request conflicts with the migration's state (409).
    #[error("{0}")]
    Conflict(String),
    /// The data plane or the tables are not usable now (503).
    #[error("{0}")]
    Unavailable(String),
    /// The peer's control plane refused or could not be reached (502).
    #[error("peer {peer}: {message}")]
    Peer {
        /// The peer host's id.
        peer: String,
        /// What went wrong.
        message: String,
    },
    /// Writing the tables failed (500).
    #[error("shared-memory tables: {0}")]
    Tables(#[from] dwcp_shared::tables::TablesError),
}

impl ServiceError {
    /// The HTTP status code for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::Unavailable(_) => 503,
            Self::Peer { .. } => 502,
            Self::Tables(_) => 500,
        }
    }
}
