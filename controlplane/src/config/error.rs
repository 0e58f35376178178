//! `ConfigError`: every reason a configuration is refused.
//!
//! Validation errors carry the dotted field name as it appears in the TOML
//! file (`migration.downtime_ms`, `peers[1].id`), the offending value and
//! what would have been accepted, so the message alone says what to fix.

use std::path::PathBuf;

/// Why a configuration could not be read, parsed or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}", path.display())]
    Io {
        /// The file that was being read.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML, or does not have the configuration's shape: a
    /// wrong type, an unknown field, a missing section, an integer too
    /// large for its field. The message is toml's, with line and column and
    /// the offending line (which names the key).
    #[error("{message}")]
    Parse {
        /// toml's message, including line and column.
        message: String,
    },
    /// A number outside its allowed range.
    #[error("{field} = {value} is out of range (allowed {allowed})")]
    OutOfRange {
        /// Dotted field name, e.g. `migration.downtime_ms`.
        field: String,
        /// The value as written (formatted back).
        value: String,
        /// The accepted range, e.g. `1..=60000` or `> 0`.
        allowed: String,
    },
    /// A value of the right type that is not acceptable for another reason:
    /// a duplicate peer id, NaN, a relative path, a malformed address.
    #[error("{field} = {value} is invalid: {reason}")]
    Invalid {
        /// Dotted field name, e.g. `peers[1].id`.
        field: String,
        /// The value as written (strings quoted).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or directory named by the configuration is missing or unusable
    /// (only from `validate_files`).
    #[error("{field} = {}: {reason}", path.display())]
    File {
        /// Dotted field name, e.g. `peer.ca`.
        field: String,
        /// The path that was checked.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl ConfigError {
    /// The dotted name of the field the error is about; `None` for I/O and
    /// parse errors (a parse error's message shows the offending line).
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Io { .. } | Self::Parse { .. } => None,
            Self::OutOfRange { field, .. }
            | Self::Invalid { field, .. }
            | Self::File { field, .. } => Some(field),
        }
    }

    /// An `OutOfRange` error for `field`.
    pub(crate) fn out_of_range(field: &str, value: impl ToString, allowed: impl ToString) -> Self {
        Self::OutOfRange {
            field: field.to_owned(),
            value: value.to_string(),
            allowed: allowed.to_string(),
        }
    }

    /// An `Invalid` error for `field`.
    pub(crate) fn invalid(field: &str, value: impl ToString, reason: impl ToString) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}
