//! Errors of a migration, one variant per cause.

use dwcp_dataplane_core::handshake::HandshakeError;
use dwcp_dataplane_core::keys::KeyError;
use thiserror::Error;

/// The class of a failure, for the summary's `error_kind` and the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// Bad flags or configuration values.
    Config,
    /// The key file is missing or unusable.
    Key,
    /// The guest memory file is missing, misaligned, or has no room.
    Memory,
    /// Local resources: buffers, io_uring, threads.
    Resources,
    /// The peer could not be reached, or a handshake failed.
    Connect,
    /// The migration failed while running.
    Transfer,
    /// The destination's image did not verify.
    Verify,
    /// An operator cancelled it.
    Cancelled,
    /// The source committed the hand-over but the destination never
    /// confirmed it: which host owns the guest is unknown, so the guest
    /// stays paused on the source.
    #[serde(rename = "in_doubt")]
    InDoubt,
}

impl ErrorKind {
    /// True for failures of the operator's input (exit status 2).
    pub fn is_bad_input(self) -> bool {
        matches!(self, ErrorKind::Config | ErrorKind::Key | ErrorKind::Memory)
    }
}

/// Why a migration (either side) failed.
#[derive(Debug, Error)]
pub enum MigrationError {
    /// An operator cancelled the migration.
    #[error("cancelled by the operator")]
    Cancelled,
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// The key file could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The guest memory file could not be used.
    #[error(transparent)]
    Memory(#[from] crate::guest_memory::MemoryError),
    /// The frame buffer pool could not be set up.
    #[error("cannot allocate frame buffers")]
    Buffers(#[from] dwcp_hugepages::HugepageError),
    /// The io_uring transport could not start.
    #[error("cannot start the io_uring transport")]
    Transport(#[from] dwcp_uring::ring::RingError),
    /// A connection could not be made.
    #[error("cannot connect to {addr}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// Listening failed.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// A handshake failed.
    #[error("handshake on stream {stream_id} failed")]
    Handshake {
        /// The stream.
        stream_id: u16,
        /// Why.
        #[source]
        cause: HandshakeError,
    },
    /// A connection closed, timed out or sent garbage before a ClientHello
    /// (a port probe, a stray client): not the source's migration.
    #[error("a connection ended before sending a ClientHello: {message}")]
    NoHello {
        /// What happened.
        message: String,
    },
    /// The handshake's transport failed.
    #[error("handshake on stream {stream_id} failed: {message}")]
    HandshakeIo {
        /// The stream.
        stream_id: u16,
        /// What happened.
        message: String,
    },
    /// The pause or resume hook failed.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// A thread could not be started.
    #[error("cannot start the {role} thread")]
    Spawn {
        /// Which.
        role: &'static str,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// The migration failed while running.
    #[error("{0}")]
    Failed(String),
    /// The destination aborted the migration.
    #[error("the destination aborted the migration ({code:?}): {reason}")]
    DestinationAborted {
        /// Its code.
        code: dwcp_shared::control::AbortCode,
        /// Its reason.
        reason: String,
    },
    /// The source sent `Commit` but no acknowledgement of it came back. The
    /// destination may or may not have it, so the source must not resume the
    /// guest (both hosts could run it); it stays paused for the operator.
    #[error("the hand-over is in doubt: the destination verified the image and the source committed, but the destination never acknowledged the commit ({cause}); the guest stays PAUSED on the source: check the destination's result before resuming or discarding it")]
    HandoverInDoubt {
        /// Why the acknowledgement did not come.
        cause: String,
    },
    /// The destination's image does not match the source's.
    #[error("verification failed: destination digest {destination} differs from source digest {source_digest}")]
    VerifyMismatch {
        /// Source digest, hex.
        source_digest: String,
        /// Destination digest, hex.
        destination: String,
    },
}

impl MigrationError {
    /// The class of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            MigrationError::Config(_) => ErrorKind::Config,
            MigrationError::Key(_) => ErrorKind::Key,
            MigrationError::Memory(_) => ErrorKind::Memory,
            MigrationError::Buffers(_)
            | MigrationError::Transport(_)
            | MigrationError::Spawn { .. } => ErrorKind::Resources,
            MigrationError::Connect { .. }
            | MigrationError::Listen { .. }
            | MigrationError::Handshake { .. }
            | MigrationError::NoHello { .. }
            | MigrationError::HandshakeIo { .. } => ErrorKind::Connect,
            MigrationError::Hook(_)
            | MigrationError::Failed(_)
            | MigrationError::DestinationAborted { .. } => ErrorKind::Transfer,
            MigrationError::VerifyMismatch { .. } => ErrorKind::Verify,
            MigrationError::Cancelled => ErrorKind::Cancelled,
            MigrationError::HandoverInDoubt { .. } => ErrorKind::InDoubt,
        }
    }
}
