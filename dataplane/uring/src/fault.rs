//! How a connection's failure is classified.

/// Why a stream's connection cannot go on.
#[derive(Debug)]
pub enum StreamFault {
    /// The connection failed (I/O error, EOF, reset): re-establish it.
    Broken(String),
    /// The peer sent something malformed, unauthenticated or
    /// impossible: the migration fails; reconnecting would not help.
    Protocol(String),
    /// This side's own machinery failed (io_uring submission).
    Local(String),
}

/// A failed read or write (`result` is a negative errno).
pub fn io_cause(op: &str, result: i32) -> StreamFault {
    StreamFault::Broken(format!(
        "{op} failed: {}",
        std::io::Error::from_raw_os_error(-result)
    ))
}

/// A failure of this side's own machinery.
pub fn local(err: impl std::fmt::Display) -> StreamFault {
    StreamFault::Local(err.to_string())
}

/// A protocol violation.
pub fn protocol(err: impl std::fmt::Display) -> StreamFault {
    StreamFault::Protocol(err.to_string())
}
